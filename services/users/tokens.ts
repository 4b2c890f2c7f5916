import { randomBytes, randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import type { AuthToken } from "../../events/types.js";

/**
 * Access tokens: HS256 JWTs with the user id as subject, a unique id (jti) and an expiry.
 * The algorithm is pinned on verification, so `alg: none` or an RS256/HS256 confusion is refused.
 */
const ALGORITHM = "HS256" as const;

export interface IssuedToken {
	token: string;
	jti: string;
	issuedAt: number;
	expiresAt: number;
}

export function issueToken(userId: string, secret: string, ttlMs: number, now = Date.now()): IssuedToken {
	const jti = randomUUID();
	const expiresAt = now + ttlMs;
	const token = jwt.sign({ iat_ms: now, iat: Math.floor(now / 1000), exp: Math.floor(expiresAt / 1000) }, secret, {
		algorithm: ALGORITHM,
		subject: userId,
		jwtid: jti,
		noTimestamp: false,
	});
	return { token, jti, issuedAt: now, expiresAt: Math.floor(expiresAt / 1000) * 1000 };
}

export interface VerifiedToken extends AuthToken {
	userId: string;
}

/** Returns the token's claims, or undefined when it is malformed, forged, of another algorithm or expired. */
export function verifyToken(token: string, secret: string, now = Date.now()): VerifiedToken | undefined {
	try {
		const claims = jwt.verify(token, secret, { algorithms: [ALGORITHM], clockTimestamp: Math.floor(now / 1000) });
		if (typeof claims !== "object" || typeof claims.sub !== "string" || typeof claims.jti !== "string") return undefined;
		const issuedAt = typeof claims.iat_ms === "number" ? claims.iat_ms : (claims.iat ?? 0) * 1000;
		return { userId: claims.sub, jti: claims.jti, issuedAt, expiresAt: (claims.exp ?? 0) * 1000 };
	} catch {
		return undefined;
	}
}

/** A token issued before the user's `tokensValidAfter` (password change, deletion) is revoked. */
export const issuedBeforeRevocation = (token: AuthToken, tokensValidAfter: number) => token.issuedAt < tokensValidAfter;

/** In development a random per-run key: nothing guessable is ever used to sign tokens. */
export const randomSecret = () => randomBytes(48).toString("base64url");
