/**
 * The users service's account actions: register, log in and out, check a token, change or delete one's
 * account, and the operators' account tools. Each validates, then calls users/accounts.ts or the stores.
 */
import { createHash } from "node:crypto";
import type { Context } from "moleculer";
import { callerOf, rules, strict, traceOnly } from "../../lib/params.js";
import { notFound, unauthorized } from "../../events/errors.js";
import { LiveEvents, type LiveRevoked } from "../../events/live.js";
import type { AuthToken, Meta, User } from "../../events/types.js";
import type { NewAccount, ProfileChange } from "./accounts.js";
import { findActiveByEmail } from "./email-index.js";
import { groupsOfUser } from "./group-index.js";
import { toUser } from "./members.js";
import type { UsersActions } from "./service-types.js";
import { issueToken, verifyToken } from "./tokens.js";
import { repeatable } from "../../lib/repeatable.js";

const registerParams = {
	...strict,
	name: rules.name,
	surname: rules.name,
	email: rules.email,
	password: rules.password,
};
type RegisterParams = NewAccount;

const loginParams = {
	...strict,
	email: rules.email,
	password: { type: "string", min: 1, max: 1024 },
};
interface LoginParams {
	email: string;
	password: string;
}

const resolveTokenParams = {
	...strict,
	token: { type: "string", min: 1, max: 4096 },
	withGroupIds: { type: "boolean", optional: true },
};
interface ResolveTokenParams {
	token: string;
	withGroupIds?: boolean;
}

/** Scopes of `reserveAttempt`: counters the gateway keeps per client address, in this database. */
const ADDRESS_ATTEMPT_SCOPES = ["auth-address", "shared-address"] as const;
const reserveAttemptParams = {
	...strict,
	scope: { type: "enum", values: ADDRESS_ATTEMPT_SCOPES },
	subject: { type: "string", min: 1, max: 200 },
	limit: { type: "number", integer: true, min: 1 },
	windowMs: { type: "number", integer: true, min: 1, max: 86_400_000 },
};
interface ReserveAttemptParams {
	scope: (typeof ADDRESS_ATTEMPT_SCOPES)[number];
	subject: string;
	limit: number;
	windowMs: number;
}

const updateParams = {
	...strict,
	name: { ...rules.name, optional: true },
	surname: { ...rules.name, optional: true },
	email: { ...rules.email, optional: true },
	phone: { type: "string", max: 40, optional: true, nullable: true },
	password: { ...rules.password, optional: true },
	currentPassword: { type: "string", min: 1, max: 1024, optional: true },
};
type UpdateParams = ProfileChange;

const removeParams = {
	...strict,
	currentPassword: { type: "string", min: 1, max: 1024 },
};
interface RemoveParams {
	currentPassword: string;
}

/** A shared schema is a function: Moleculer drops repeated object references when it publishes action schemas. */
export const userParams = () => ({ ...strict, userId: rules.id });
export interface UserParams {
	userId: string;
}

const emailParams = { ...strict, email: rules.email };
interface EmailParams {
	email: string;
}

export const accountActions: UsersActions = {
	/** Creates an account; the email must not be taken. */
	register: {
		tracing: traceOnly("name", "surname", "email"),
		params: registerParams,
		async handler(ctx: Context<RegisterParams, Meta>): Promise<User> {
			const created = await this.accounts.register(ctx.params);
			// Invitations sent to this email before it had an account are its own now.
			this.deliverSoon(await this.invitations.addressedTo(created.email, created._id));
			ctx.meta.$statusCode = 201;
			return toUser(created);
		},
	},

	/** Exchanges email and password for an access token. */
	login: {
		tracing: traceOnly("email"),
		params: loginParams,
		async handler(ctx: Context<LoginParams, Meta>) {
			const user = await this.accounts.login(ctx.params.email, ctx.params.password, ctx.meta.clientAddress);
			const issued = issueToken(user._id, this.jwtSecret, this.settings.jwtTtlMs);
			return {
				token: issued.token,
				expiresAt: new Date(issued.expiresAt).toISOString(),
				user: toUser(user),
			};
		},
	},

	/** Revokes the caller's current token everywhere. */
	logout: {
		params: { ...strict },
		async handler(ctx: Context<unknown, Meta>) {
			const user = callerOf(ctx);
			const token = ctx.meta.token;
			if (!token) throw unauthorized();
			await this.revocations.revoke(user.id, token);
			await ctx.broadcast(LiveEvents.revoked, {
				userId: user.id,
				jti: token.jti,
			} satisfies LiveRevoked);
			ctx.meta.$statusCode = 204;
			return null;
		},
	},

	/** Checks an access token (signature, expiry, revocation) and returns its user. */
	resolveToken: {
		...repeatable(),
		visibility: "public",
		tracing: traceOnly(),
		params: resolveTokenParams,
		async handler(ctx: Context<ResolveTokenParams>): Promise<{ user: User; token: AuthToken; groupIds?: string[] }> {
			const claims = verifyToken(ctx.params.token, this.jwtSecret);
			if (!claims) throw unauthorized("Invalid or expired token");
			const user = await this.revocations.holderOf(claims);
			const answer = {
				user: toUser(user),
				token: {
					jti: claims.jti,
					issuedAt: claims.issuedAt,
					expiresAt: claims.expiresAt,
				},
			};
			// A socket handshake needs the caller's rooms too: from the same read of the user.
			if (!ctx.params.withGroupIds) return answer;
			const groups = await groupsOfUser(this.models, user);
			return { ...answer, groupIds: groups.map(group => group._id) };
		},
	},

	/** The caller's own account. */
	me: {
		...repeatable(),
		params: { ...strict },
		async handler(ctx: Context<unknown, Meta>): Promise<User> {
			return toUser(await this.accounts.active(callerOf(ctx).id));
		},
	},

	/** Updates the caller's profile; email and password changes need the current password. */
	update: {
		tracing: traceOnly("name", "surname", "email"),
		params: updateParams,
		async handler(ctx: Context<UpdateParams, Meta>): Promise<User> {
			const user = await this.accounts.active(callerOf(ctx).id);
			const { updated, tokensValidAfter } = await this.accounts.update(user, ctx.params);
			await this.memberChanged(ctx, user._id);
			if (updated.email !== user.email) this.deliverSoon(await this.invitations.addressedTo(updated.email, updated._id));
			if (tokensValidAfter)
				await ctx.broadcast(LiveEvents.revoked, {
					userId: user._id,
					before: tokensValidAfter,
				} satisfies LiveRevoked);
			return toUser(updated);
		},
	},

	/** Deletes the caller's account: leaves every group, then announces the deletion. */
	remove: {
		tracing: traceOnly(),
		params: removeParams,
		async handler(ctx: Context<RemoveParams, Meta>) {
			const user = await this.accounts.active(callerOf(ctx).id);
			await this.accounts.checkPassword(user, ctx.params.currentPassword);
			// Each departure is an ordinary membership change, with its own events.
			for (const group of await groupsOfUser(this.models, user)) await this.changeGroup(ctx, group._id, { kind: "leave" });
			const before = await this.accounts.remove(user);
			await this.memberChanged(ctx, user._id);
			await ctx.broadcast(LiveEvents.revoked, {
				userId: user._id,
				before,
			} satisfies LiveRevoked);
			ctx.meta.$statusCode = 204;
			return null;
		},
	},

	/**
	 * Counts one attempt on a per-address counter of the gateway's (the auth routes' AUTH_RATE_LIMIT):
	 * in this database, beside the login counters, so the limit holds across gateways, users
	 * instances and restarts (see gateway/shared-rate-limit.ts for why here and not in NATS KV).
	 */
	reserveAttempt: {
		visibility: "public",
		params: reserveAttemptParams,
		async handler(ctx: Context<ReserveAttemptParams>) {
			const { scope, subject, limit, windowMs } = ctx.params;
			// The address hashed, as the login counters: the collection is not a log of who tried.
			return this.attempts.reserve(`${scope}:${createHash("sha256").update(subject).digest("base64url")}`, limit, windowMs);
		},
	},

	/** Looks a user up by email (operators). */
	findByEmail: {
		...repeatable(),
		visibility: "public",
		params: emailParams,
		async handler(ctx: Context<EmailParams>) {
			const user = await findActiveByEmail(this.models, ctx.params.email);
			if (!user) throw notFound("User");
			const groups = await groupsOfUser(this.models, user);
			return {
				...toUser(user),
				groups: groups.map(g => ({ id: g._id, name: g.name })),
			};
		},
	},

	/** Password checks made and guesses refused by this instance since it started (operators). */
	authStats: {
		...repeatable(),
		visibility: "public",
		params: { ...strict },
		handler() {
			return {
				nodeID: this.broker.nodeID,
				...this.accounts.stats,
				...this.loginThrottle.stats,
			};
		},
	},

	/** Revokes every token of a user issued until now (operators). */
	revokeTokens: {
		visibility: "public",
		params: userParams(),
		async handler(ctx: Context<UserParams>) {
			const before = await this.revokeAllTokens(ctx, ctx.params.userId);
			return {
				userId: ctx.params.userId,
				revokedBefore: new Date(before).toISOString(),
			};
		},
	},
};
