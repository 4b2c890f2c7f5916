import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import jwt from "jsonwebtoken";
import { issuedBeforeRevocation, issueToken, verifyToken } from "../../services/users/tokens.js";

const SECRET = "unit-test-secret-with-enough-entropy-0123456789";

test("an issued token verifies to its user, jti and expiry", () => {
	const now = Date.UTC(2026, 0, 1);
	const issued = issueToken("user-1", SECRET, 3_600_000, now);
	const claims = verifyToken(issued.token, SECRET, now + 1000);
	assert.ok(claims);
	assert.equal(claims.userId, "user-1");
	assert.equal(claims.jti, issued.jti);
	assert.equal(claims.issuedAt, now);
	assert.equal(claims.expiresAt, now + 3_600_000);
});

test("expired, forged, unsigned and algorithm-confused tokens are refused", () => {
	const now = Date.UTC(2026, 0, 1);
	const issued = issueToken("user-1", SECRET, 60_000, now);
	assert.equal(verifyToken(issued.token, SECRET, now + 61_000), undefined, "expired");
	assert.equal(verifyToken(issued.token, "another-secret", now), undefined, "wrong signature");

	const [header, payload] = issued.token.split(".");
	const none = `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")}.${payload}.`;
	assert.equal(verifyToken(none, SECRET, now), undefined, "alg none");
	assert.ok(header);

	const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
	const rs256 = jwt.sign({ sub: "user-1", jti: "x" }, privateKey, { algorithm: "RS256" });
	assert.equal(verifyToken(rs256, SECRET, now), undefined, "RS256 token");
	const hs384 = jwt.sign({ sub: "user-1", jti: "x" }, SECRET, { algorithm: "HS384" });
	assert.equal(verifyToken(hs384, SECRET), undefined, "other HMAC algorithm");
	assert.equal(verifyToken("not a token", SECRET), undefined, "garbage");
});

test("tokens issued before a password change are revoked, later ones are not", () => {
	const changedAt = 1_000_000;
	assert.equal(issuedBeforeRevocation({ jti: "a", issuedAt: changedAt - 1, expiresAt: 0 }, changedAt), true);
	assert.equal(issuedBeforeRevocation({ jti: "b", issuedAt: changedAt, expiresAt: 0 }, changedAt), false);
});
