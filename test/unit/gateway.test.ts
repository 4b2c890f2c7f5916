import { test } from "node:test";
import assert from "node:assert/strict";
import { Errors } from "moleculer";
import { toErrorBody } from "../../services/gateway/errors.js";
import { TokenCache } from "../../services/gateway/token-cache.js";
import { ackResult, asParams, SocketCommands } from "../../services/gateway/socket-events.js";
import { conflict, invalidState, validationError } from "../../events/errors.js";
import { parseDuration } from "../../lib/config.js";
import { clientFileFor } from "../../services/gateway/static-files.js";

test("documented client errors keep their code, type and data", () => {
	assert.deepEqual(toErrorBody(invalidState("Not on a journey")), { name: "ConflictError", message: "Not on a journey", code: 409, type: "INVALID_STATE" });
	assert.equal(toErrorBody(conflict("dup")).type, "CONFLICT");
	const validation = toErrorBody(validationError("bad", [{ field: "x", message: "required" }]));
	assert.equal(validation.code, 422);
	assert.deepEqual(validation.data, [{ field: "x", message: "required" }]);
});

test("framework and parser errors map to documented types", () => {
	assert.deepEqual(pick(toErrorBody({ status: 400, type: "entity.parse.failed", message: "Unexpected token" })), {
		code: 400,
		type: "BAD_REQUEST",
		message: "Malformed JSON body",
	});
	assert.deepEqual(pick(toErrorBody({ status: 413, type: "entity.too.large", message: "too large" })), {
		code: 400,
		type: "BAD_REQUEST",
		message: "too large",
	});
	assert.equal(toErrorBody(new Errors.ValidationError("Parameters validation error!", "VALIDATION_ERROR", [])).type, "VALIDATION_ERROR");
	assert.equal(toErrorBody({ code: 429, type: "RATE_LIMIT_EXCEEDED", message: "x" }).type, "RATE_LIMITED");
	assert.equal(toErrorBody({ code: 401, type: "INVALID_TOKEN", message: "x" }).type, "UNAUTHORIZED");
});

test("internal failures never leak details; unavailable dependencies are 503", () => {
	const internal = toErrorBody(new TypeError("Cannot read properties of undefined (reading 'secret')"));
	assert.deepEqual(internal, { name: "InternalServerError", message: "Internal server error", code: 500, type: "INTERNAL_ERROR" });
	assert.equal(toErrorBody(new Errors.ServiceNotFoundError({ action: "users.me" })).code, 503);
	assert.equal(toErrorBody(Object.assign(new Error("connect ECONNREFUSED"), { name: "MongoServerSelectionError" })).code, 503);
	assert.ok(!JSON.stringify(internal).includes("secret"));
});

test("the token cache forgets revoked tokens at once and expired entries by itself", () => {
	let now = 1_000;
	const cache = new TokenCache(30_000, 10, () => now);
	const user = { id: "u", name: "A", surname: "B", email: "a@b.c" };
	cache.set("t1", { user, token: { jti: "j1", issuedAt: 500, expiresAt: 100_000 } });
	cache.set("t2", { user, token: { jti: "j2", issuedAt: 900, expiresAt: 100_000 } });
	assert.ok(cache.get("t1"));
	cache.revoke("u", "j1");
	assert.equal(cache.get("t1"), undefined);
	assert.ok(cache.get("t2"));
	cache.revoke("u", undefined, 901);
	assert.equal(cache.get("t2"), undefined);
	cache.set("t3", { user, token: { jti: "j3", issuedAt: 900, expiresAt: 100_000 } });
	now += 30_001;
	assert.equal(cache.get("t3"), undefined, "TTL elapsed");
});

test("an answer asked for before a revocation of its user arrived is not cached", () => {
	const cache = new TokenCache(30_000, 10, () => 1_000);
	const alice = { id: "alice", name: "A", surname: "B", email: "a@b.c" };
	const bob = { id: "bob", name: "B", surname: "C", email: "b@c.d" };
	const answer = (user: typeof alice, jti: string) => ({ user, token: { jti, issuedAt: 500, expiresAt: 100_000 } });
	const askedAt = cache.mark();
	cache.revoke("alice", "j1"); // arrives while users.resolveToken is answering
	cache.set("t1", answer(alice, "j1"), askedAt);
	assert.equal(cache.get("t1"), undefined, "a possibly pre-revocation answer must be asked again");
	cache.set("t2", answer(bob, "j2"), askedAt);
	assert.ok(cache.get("t2"), "another user's answer is unaffected");
	cache.set("t3", answer(alice, "j3"), cache.mark());
	assert.ok(cache.get("t3"), "asked after the revocation: cached");
	const beforeClear = cache.mark();
	cache.clear(); // NATS reconnect: revocations may have been missed
	cache.set("t4", answer(bob, "j4"), beforeClear);
	assert.equal(cache.get("t4"), undefined);
});

test("socket acks carry the result under the documented key", () => {
	assert.deepEqual(ackResult(SocketCommands["sharing:start"]!, { state: "ACTIVE" }), { ok: true, session: { state: "ACTIVE" } });
	assert.deepEqual(ackResult(SocketCommands["location:sample"]!, { sessions: [] }), { ok: true, sessions: [] });
	assert.deepEqual(ackResult(SocketCommands["chat:send"]!, { id: "m" }), { ok: true, message: { id: "m" } });
	assert.deepEqual(asParams("nope"), {});
	assert.deepEqual(asParams([1]), {});
});

test("durations accept plain seconds and units", () => {
	assert.equal(parseDuration("60"), 60_000);
	assert.equal(parseDuration("0.5"), 500);
	assert.equal(parseDuration("250ms"), 250);
	assert.equal(parseDuration("2m"), 120_000);
	assert.throws(() => parseDuration("soon"));
});

function pick(body: { code: number; type: string; message: string }) {
	return { code: body.code, type: body.type, message: body.message };
}

test("the web client's paths: the page and the worker revalidate, hashed assets are immutable, no source map is served", () => {
	assert.deepEqual(clientFileFor("/"), { file: "index.html", cache: "no-cache" });
	assert.deepEqual(clientFileFor("/sw.js"), { file: "sw.js", cache: "no-cache" });
	assert.deepEqual(clientFileFor("/assets/app-3f2a9c.js"), { file: "assets/app-3f2a9c.js", cache: "public, max-age=31536000, immutable" });
	assert.equal(clientFileFor("/sw.js.map"), null, "source maps are not built any more");
	assert.equal(clientFileFor("/api/users/me"), null);
});
