/**
 * Revoked access tokens: one token logged out (a RevokedToken, kept until the token would have expired)
 * or every token of a user issued before their `tokensValidAfter`. A token counts only if neither revokes it.
 */
import { notFound, unauthorized } from "../../events/errors.js";
import type { AuthToken } from "../../events/types.js";
import type { UserDoc, UsersModels } from "./models.js";
import { issuedBeforeRevocation, type VerifiedToken } from "./tokens.js";

export class Revocations {
	constructor(private readonly models: Pick<UsersModels, "User" | "RevokedToken">) {}

	/** Logs `token` of `userId` out everywhere. */
	async revoke(userId: string, token: AuthToken): Promise<void> {
		await this.models.RevokedToken.updateOne({ _id: token.jti }, { $set: { userId, expiresAt: new Date(token.expiresAt) } }, { upsert: true });
	}

	/** The active account a verified token stands for; 401 "Token revoked" when it is gone or the token revoked. */
	async holderOf(claims: VerifiedToken): Promise<UserDoc> {
		// By `_id` alone (answered from the index); the deletion is checked here, not in the filter.
		const [user, revoked] = await Promise.all([this.models.User.findById(claims.userId).lean(), this.models.RevokedToken.exists({ _id: claims.jti })]);
		if (!user || user.deletedAt || revoked || issuedBeforeRevocation(claims, user.tokensValidAfter)) throw unauthorized("Token revoked");
		return user;
	}

	/** Revokes every token of `userId` issued until `now` (404 for no such user); returns `now`. */
	async revokeAllOf(userId: string, now = Date.now()): Promise<number> {
		const result = await this.models.User.updateOne({ _id: userId }, { $set: { tokensValidAfter: now } });
		if (result.matchedCount === 0) throw notFound("User");
		return now;
	}

	/** Forgets logged-out tokens that have expired anyway (FerretDB has no TTL index). */
	async purgeExpired(now = Date.now()): Promise<void> {
		await this.models.RevokedToken.deleteMany({ expiresAt: { $lt: new Date(now) } });
	}
}
