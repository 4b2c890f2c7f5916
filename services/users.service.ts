import { createHash } from "node:crypto";
import type { Context, Service, ServiceSchema } from "moleculer";
import type { Connection } from "mongoose";
import { MongooseMixin } from "../mixins/mongoose.mixin.js";
import { newEnvelope, OutboxRelay } from "../mixins/outbox-relay.mixin.js";
import { config, isProduction } from "../lib/config.js";
import { callerOf, rules, strict, traceOnly } from "../lib/params.js";
import { MongoAttempts } from "../lib/attempt-limits.js";
import { notFound, unauthorized } from "../events/errors.js";
import { DomainEvents } from "../events/domain.js";
import { LiveEvents, type LiveGroup, type LiveInvitation, type LiveRevoked } from "../events/live.js";
import type { AuthToken, Group, GroupInvitation, Invitation, Meta, User } from "../events/types.js";
import { MEMBER_CHANGED_EVENT, MemberCache, type MemberChanged } from "./users/member-cache.js";
import { Members, toUser, type SharedReads } from "./users/members.js";
import { usersModels, type GroupDoc, type UsersModels } from "./users/models.js";
import { backfillClaims, findActiveByEmail, releaseClaim } from "./users/email-index.js";
import { Accounts, type NewAccount, type ProfileChange } from "./users/accounts.js";
import { groupsOfUser } from "./users/group-index.js";
import { GroupStore, toState } from "./users/group-store.js";
import { defaultLoginThrottle, LoginThrottle } from "./users/login-throttle.js";
import { issuedBeforeRevocation, issueToken, randomSecret, verifyToken } from "./users/tokens.js";
import { assertCanSee, isMember, type GroupCommand, type GroupOutcome } from "./users/groups.js";
import { InvitationStore, type ConsentOutcome, type CreatedInviteLink, type InviteLinkPreview, type InviteLinkView } from "./users/invitation-store.js";
import { INVITATION_TTL_MS, INVITE_LINK_DEFAULTS } from "./users/invitations.js";

/**
 * Accounts, access tokens and groups (SPEC §3–4). Accounts live in users/accounts.ts and are
 * found by email through claims (users/email-index.ts), a user's groups through per-user lists
 * (users/group-index.ts); group changes are decided by users/groups.ts and written with their
 * events by users/group-store.ts; members are shown by users/members.ts. Nobody becomes a member
 * without consent: invitations and invite links are decided by users/invitations.ts and stored
 * by users/invitation-store.ts, and a member who accepts joins through the group command path.
 */

// ---- params (the validator's schema and the handler's type side by side; a shared schema is a
// function, since Moleculer drops repeated object references when it publishes action schemas)

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
const ADDRESS_ATTEMPT_SCOPES = ["auth-address"] as const;
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

const createGroupParams = {
	...strict,
	name: rules.name,
	memberEmails: { type: "array", items: rules.email, max: 100, optional: true },
};
interface CreateGroupParams {
	name: string;
	memberEmails?: string[];
}

const groupParams = () => ({ ...strict, groupId: rules.id });
interface GroupParams {
	groupId: string;
}

const renameGroupParams = { ...strict, groupId: rules.id, name: rules.name };
interface RenameGroupParams {
	groupId: string;
	name: string;
}

const inviteParams = { ...strict, groupId: rules.id, email: rules.email };
interface InviteParams {
	groupId: string;
	email: string;
}

const groupInvitationParams = () => ({
	...strict,
	groupId: rules.id,
	invitationId: rules.id,
});
interface GroupInvitationParams {
	groupId: string;
	invitationId: string;
}

const invitationParams = () => ({ ...strict, invitationId: rules.id });
interface InvitationParams {
	invitationId: string;
}

const declineParams = {
	...strict,
	invitationId: rules.id,
	block: { type: "boolean", optional: true },
};
interface DeclineParams {
	invitationId: string;
	block?: boolean;
}

const createLinkParams = {
	...strict,
	groupId: rules.id,
	expiresIn: {
		type: "number",
		integer: true,
		min: 60,
		max: INVITE_LINK_DEFAULTS.maxExpiresInS,
		optional: true,
	},
	maxUses: {
		type: "number",
		integer: true,
		min: 1,
		max: INVITE_LINK_DEFAULTS.maxMaxUses,
		optional: true,
	},
};
interface CreateLinkParams {
	groupId: string;
	expiresIn?: number;
	maxUses?: number;
}

const groupLinkParams = { ...strict, groupId: rules.id, linkId: rules.id };
interface GroupLinkParams {
	groupId: string;
	linkId: string;
}

/** Invite codes are 22 characters; anything else is answered 404 (looksLikeInviteCode) without a read. */
const codeParams = () => ({
	...strict,
	code: { type: "string", min: 1, max: 64 },
});
interface CodeParams {
	code: string;
}

const inspectInvitationsParams = {
	...strict,
	target: { type: "string", min: 1, max: 254, trim: true },
};
interface InspectInvitationsParams {
	target: string;
}

const memberParams = () => ({ ...strict, groupId: rules.id, userId: rules.id });
interface MemberParams {
	groupId: string;
	userId: string;
}

const userParams = () => ({ ...strict, userId: rules.id });
interface UserParams {
	userId: string;
}

const emailParams = { ...strict, email: rules.email };
interface EmailParams {
	email: string;
}

/** FerretDB has no TTL indexes: expired revocations, invitations and counters are removed this often instead. */
const REVOCATION_PURGE_EVERY_MS = 10 * 60_000;
/** How often invitations whose delivery a crash interrupted are looked for. */
const DELIVERY_SWEEP_EVERY_MS = 30_000;

// ---- this

interface UsersSettings {
	jwtTtlMs: number;
}

interface UsersVars {
	/** From MongooseMixin, set when it starts. */
	models: UsersModels;
	connection: Connection;
	memberCache: MemberCache;
	accounts: Accounts;
	members: Members;
	groups: GroupStore;
	invitations: InvitationStore;
	loginThrottle: LoginThrottle;
	/** Password guesses (users/login-throttle.ts) and invitations sent, counted in this service's database under distinct keys. */
	attempts: MongoAttempts;
	jwtSecret: string;
	revocationPurgeTimer?: NodeJS.Timeout;
	deliverySweepTimer?: NodeJS.Timeout;
}

interface UsersMethods {
	// From the mixins.
	/** Publishes pending outbox events soon; with a model and id, just that document's. */
	kickOutbox(modelName?: string, docId?: string): void;
	// Own.
	memberChanged(ctx: Context, userId: string): Promise<void>;
	changeGroup(ctx: Context<unknown, Meta>, groupId: string, command: GroupCommand): Promise<GroupDoc>;
	announceGroupChanges(ctx: Context, groupId: string, outcomes: readonly GroupOutcome[]): Promise<void>;
	groupView(doc: GroupDoc, viewerId?: string, known?: SharedReads): Promise<Group>;
	joined(ctx: Context<unknown, Meta>, outcome: ConsentOutcome): Promise<Group>;
	deliverSoon(invitationIds: readonly string[]): void;
	revokeAllTokens(ctx: Context, userId: string): Promise<number>;
}

type UsersThis = Service<UsersSettings> & UsersVars & UsersMethods;

const UsersService: ServiceSchema<UsersSettings, UsersMethods, UsersVars, UsersThis> = {
	name: "users",
	mixins: [MongooseMixin({ db: "users", models: usersModels }), OutboxRelay<UsersModels>({ models: ["User", "Group", "Invitation"] })],
	settings: {
		jwtTtlMs: config.jwtTtlMs(),
	},

	actions: {
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
				await this.models.RevokedToken.updateOne({ _id: token.jti }, { $set: { userId: user.id, expiresAt: new Date(token.expiresAt) } }, { upsert: true });
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
			visibility: "public",
			tracing: traceOnly(),
			params: resolveTokenParams,
			async handler(ctx: Context<ResolveTokenParams>): Promise<{ user: User; token: AuthToken; groupIds?: string[] }> {
				const claims = verifyToken(ctx.params.token, this.jwtSecret);
				if (!claims) throw unauthorized("Invalid or expired token");
				// By `_id` alone (answered from the index); the deletion is checked here, not in the filter.
				const [user, revoked] = await Promise.all([this.models.User.findById(claims.userId).lean(), this.models.RevokedToken.exists({ _id: claims.jti })]);
				if (!user || user.deletedAt || revoked || issuedBeforeRevocation(claims, user.tokensValidAfter)) throw unauthorized("Token revoked");
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
				const now = Date.now();
				// A tombstone frees the email and keeps the pending event until it is published.
				await this.models.User.updateOne(
					{ _id: user._id },
					{
						$set: {
							deletedAt: new Date(now),
							email: `deleted:${user._id}`,
							passwordHash: "",
							tokensValidAfter: now + 1,
						},
						$push: {
							outbox: newEnvelope(DomainEvents.userDeleted, {
								userId: user._id,
							}),
						},
					},
				);
				this.kickOutbox("User", user._id);
				// After the tombstone: a crash before this leaves an orphan claim, which blocks nobody.
				await releaseClaim(this.models, user.email, user._id);
				await this.memberChanged(ctx, user._id);
				await ctx.broadcast(LiveEvents.revoked, {
					userId: user._id,
					before: now + 1,
				} satisfies LiveRevoked);
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		/** Creates a group with the caller as first member; each email given is invited (API.md §6.1), never added. */
		createGroup: {
			params: createGroupParams,
			async handler(ctx: Context<CreateGroupParams, Meta>): Promise<Group> {
				const caller = callerOf(ctx);
				const creator = await this.accounts.active(caller.id);
				// Nobody's account is looked up here: the answer is the same whoever holds the emails.
				const emails = [...new Set(ctx.params.memberEmails ?? [])].filter(email => email !== creator.email);
				const { write, invitations } = await this.invitations.inviteToNewGroup(creator, emails, () => this.groups.create(creator._id, ctx.params.name));
				await this.announceGroupChanges(ctx, write.doc._id, write.outcomes);
				this.deliverSoon(invitations.map(invitation => invitation.id));
				ctx.meta.$statusCode = 201;
				return {
					...(await this.members.toGroup(write.doc, caller.id)),
					pendingInvitations: invitations.length,
				};
			},
		},

		/** The caller's groups. */
		listGroups: {
			params: { ...strict },
			async handler(ctx: Context<unknown, Meta>): Promise<Group[]> {
				const user = await this.accounts.active(callerOf(ctx).id);
				const docs = await groupsOfUser(this.models, user);
				// Groups often share members: each is read once for the whole answer (the caller not again).
				const known: SharedReads = new Map([[user._id, Promise.resolve(user)]]);
				return Promise.all(docs.map(doc => this.groupView(doc, user._id, known)));
			},
		},

		/** One group, for its members. */
		getGroup: {
			params: groupParams(),
			async handler(ctx: Context<GroupParams, Meta>): Promise<Group> {
				const caller = callerOf(ctx);
				const doc = await this.models.Group.findById(ctx.params.groupId).lean();
				assertCanSee(doc ? toState(doc) : null, caller.id);
				return this.groupView(doc!, caller.id);
			},
		},

		/** Renames a group (any member). */
		renameGroup: {
			params: renameGroupParams,
			async handler(ctx: Context<RenameGroupParams, Meta>): Promise<Group> {
				const doc = await this.changeGroup(ctx, ctx.params.groupId, {
					kind: "rename",
					name: ctx.params.name,
				});
				return this.groupView(doc, callerOf(ctx).id);
			},
		},

		/** Deletes a group (its creator only); every member is removed with it. */
		deleteGroup: {
			params: groupParams(),
			async handler(ctx: Context<GroupParams, Meta>) {
				await this.changeGroup(ctx, ctx.params.groupId, { kind: "delete" });
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		/**
		 * Invites an email to a group (any member): 202 with the invitation, the same answer whether
		 * or not an account holds the email. The account, if any, is told after this answer.
		 */
		invite: {
			params: inviteParams,
			async handler(ctx: Context<InviteParams, Meta>): Promise<{ invitation: GroupInvitation }> {
				const invitation = await this.invitations.invite(callerOf(ctx).id, ctx.params.groupId, ctx.params.email);
				this.deliverSoon([invitation.id]);
				ctx.meta.$statusCode = 202;
				return { invitation };
			},
		},

		/** A group's pending invitations (any member). */
		groupInvitations: {
			params: groupParams(),
			async handler(ctx: Context<GroupParams, Meta>): Promise<GroupInvitation[]> {
				return this.invitations.listForGroup(callerOf(ctx).id, ctx.params.groupId);
			},
		},

		/** Withdraws a pending invitation (any member). */
		revokeInvitation: {
			params: groupInvitationParams(),
			async handler(ctx: Context<GroupInvitationParams, Meta>) {
				await this.invitations.revoke(callerOf(ctx).id, ctx.params.groupId, ctx.params.invitationId);
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		/** The invitations addressed to the caller that they may still answer. */
		myInvitations: {
			params: { ...strict },
			async handler(ctx: Context<unknown, Meta>): Promise<Invitation[]> {
				return this.invitations.listForUser(await this.accounts.active(callerOf(ctx).id));
			},
		},

		/** The caller accepts an invitation addressed to them: they become a member. */
		acceptInvitation: {
			params: invitationParams(),
			async handler(ctx: Context<InvitationParams, Meta>): Promise<Group> {
				const user = await this.accounts.active(callerOf(ctx).id);
				return this.joined(ctx, await this.invitations.accept(user, ctx.params.invitationId));
			},
		},

		/** The caller declines an invitation; `block` keeps that inviter's later invitations away for good. */
		declineInvitation: {
			params: declineParams,
			async handler(ctx: Context<DeclineParams, Meta>) {
				const user = await this.accounts.active(callerOf(ctx).id);
				await this.invitations.decline(user, ctx.params.invitationId, ctx.params.block === true);
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		/** A new invite link to a group (any member); the answer is the only place its code appears. */
		createInviteLink: {
			params: createLinkParams,
			async handler(ctx: Context<CreateLinkParams, Meta>): Promise<CreatedInviteLink> {
				const { groupId, expiresIn, maxUses } = ctx.params;
				const link = await this.invitations.createLink(callerOf(ctx).id, groupId, { expiresIn, maxUses });
				ctx.meta.$statusCode = 201;
				return link;
			},
		},

		/** A group's invite links that still work (any member). */
		inviteLinks: {
			params: groupParams(),
			async handler(ctx: Context<GroupParams, Meta>): Promise<InviteLinkView[]> {
				return this.invitations.listLinks(callerOf(ctx).id, ctx.params.groupId);
			},
		},

		/** Revokes an invite link (any member). */
		revokeInviteLink: {
			params: groupLinkParams,
			async handler(ctx: Context<GroupLinkParams, Meta>) {
				await this.invitations.revokeLink(callerOf(ctx).id, ctx.params.groupId, ctx.params.linkId);
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		/** What an invite link leads to, for the join page of a visitor who is not logged in (no token needed). */
		previewInviteLink: {
			params: codeParams(),
			async handler(ctx: Context<CodeParams>): Promise<InviteLinkPreview> {
				return this.invitations.preview(ctx.params.code);
			},
		},

		/** The caller joins the group of an invite link. */
		joinByInviteLink: {
			params: codeParams(),
			async handler(ctx: Context<CodeParams, Meta>): Promise<Group> {
				const user = await this.accounts.active(callerOf(ctx).id);
				return this.joined(ctx, await this.invitations.joinByLink(user, ctx.params.code));
			},
		},

		/** Removes a member from a group (any member). */
		removeMember: {
			params: memberParams(),
			async handler(ctx: Context<MemberParams, Meta>): Promise<Group> {
				const doc = await this.changeGroup(ctx, ctx.params.groupId, {
					kind: "removeMember",
					userId: ctx.params.userId,
				});
				return this.groupView(doc, callerOf(ctx).id);
			},
		},

		/** The caller leaves a group; the last one to leave deletes it. */
		leaveGroup: {
			params: groupParams(),
			async handler(ctx: Context<GroupParams, Meta>) {
				await this.changeGroup(ctx, ctx.params.groupId, { kind: "leave" });
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		/**
		 * The authoritative membership answer, for services whose projection has not yet seen a
		 * change (read your own writes). Returns the group's current snapshot.
		 */
		membership: {
			visibility: "public",
			params: memberParams(),
			async handler(ctx: Context<MemberParams>) {
				const doc = await this.models.Group.findById(ctx.params.groupId).lean();
				if (!doc) return { exists: false, isMember: false, group: null };
				const state = toState(doc);
				const { refs: _refs, ...snapshot } = await this.members.snapshot(state);
				return {
					exists: !doc.deleted,
					isMember: isMember(state, ctx.params.userId),
					group: { groupId: doc._id, ...snapshot },
				};
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

		/** Ids of the groups a user belongs to (for services and the gateway's socket rooms). */
		groupIdsOf: {
			visibility: "public",
			params: userParams(),
			async handler(ctx: Context<UserParams>): Promise<string[]> {
				const user = await this.models.User.findById(ctx.params.userId).lean();
				if (!user) return [];
				return (await groupsOfUser(this.models, user)).map(doc => doc._id);
			},
		},

		/** Looks a user up by email (operators). */
		findByEmail: {
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

		/** One group with its members, without a caller (operators). */
		inspectGroup: {
			visibility: "public",
			params: groupParams(),
			async handler(ctx: Context<GroupParams>): Promise<Group> {
				const doc = await this.models.Group.findById(ctx.params.groupId).lean();
				if (!doc || doc.deleted) throw notFound("Group");
				return this.groupView(doc);
			},
		},

		/** Invitations to an email, or of a group with its invite links, delivered or not (operators). */
		inspectInvitations: {
			visibility: "public",
			params: inspectInvitationsParams,
			async handler(ctx: Context<InspectInvitationsParams>) {
				return this.invitations.inspect(ctx.params.target);
			},
		},

		/** Password checks made and guesses refused by this instance since it started (operators). */
		authStats: {
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
	},

	events: {
		[MEMBER_CHANGED_EVENT](ctx: Context<MemberChanged>) {
			this.memberCache.evict(ctx.params.userId);
		},
		// A reconnect to NATS may have missed changes made by another instance.
		"$transporter.connected"() {
			this.memberCache?.clear();
		},
	},

	methods: {
		/** Forgets a changed user here and on every other users instance. */
		async memberChanged(ctx: Context, userId: string) {
			this.memberCache.evict(userId);
			await ctx.broadcast(MEMBER_CHANGED_EVENT, { userId } satisfies MemberChanged, { groups: ["users"] });
		},

		/** Applies the caller's membership command to a group, then tells the gateways. */
		async changeGroup(ctx: Context<unknown, Meta>, groupId: string, command: GroupCommand): Promise<GroupDoc> {
			const { doc, outcomes } = await this.groups.apply(callerOf(ctx).id, groupId, command);
			await this.announceGroupChanges(ctx, groupId, outcomes);
			if (outcomes.some(outcome => outcome.change === "deleted"))
				await this.invitations.forgetGroup(groupId).catch((err: Error) => this.logger.warn(`Forgetting the invitations of ${groupId} failed:`, err.message));
			return doc;
		},

		/** The group a consent route led into, once the gateways know of the new member. */
		async joined(ctx: Context<unknown, Meta>, { doc, outcomes }: ConsentOutcome): Promise<Group> {
			if (outcomes) await this.announceGroupChanges(ctx, doc._id, outcomes);
			return this.groupView(doc, callerOf(ctx).id);
		},

		/** The API's Group: members, and how many invitations wait for an answer. */
		async groupView(doc: GroupDoc, viewerId?: string, known?: SharedReads): Promise<Group> {
			const [group, pendingInvitations] = await Promise.all([this.members.toGroup(doc, viewerId, known), this.invitations.pendingCount(doc._id)]);
			return { ...group, pendingInvitations };
		},

		/**
		 * Looks the invitations' addressees up and tells them, after the current answer has gone
		 * (its timing must not depend on whether an account holds the email). A crash first leaves
		 * them to the delivery sweep.
		 */
		deliverSoon(invitationIds: readonly string[]) {
			if (!invitationIds.length) return;
			setImmediate(() => {
				void (async () => {
					for (const id of invitationIds)
						await this.invitations.deliver(id).catch((err: Error) => this.logger.warn(`Delivering invitation ${id} failed (the sweep retries):`, err.message));
				})();
			});
		},

		/** Tells every gateway, so sockets join or leave the group's room at once. */
		async announceGroupChanges(ctx: Context, groupId: string, outcomes: readonly GroupOutcome[]) {
			for (const outcome of outcomes)
				await ctx.broadcast(LiveEvents.group, {
					groupId,
					change: outcome.change,
					userId: outcome.userId,
				} satisfies LiveGroup);
		},

		async revokeAllTokens(ctx: Context, userId: string): Promise<number> {
			const before = Date.now();
			const result = await this.models.User.updateOne({ _id: userId }, { $set: { tokensValidAfter: before } });
			if (result.matchedCount === 0) throw notFound("User");
			await ctx.broadcast(LiveEvents.revoked, {
				userId,
				before,
			} satisfies LiveRevoked);
			return before;
		},
	},

	created() {
		this.memberCache = new MemberCache();
		const secret = config.jwtSecret();
		if (!secret && isProduction()) {
			this.broker.fatal("JWT_SECRET (or JWT_SECRET_FILE) is required when NODE_ENV=production; refusing to start.");
			return;
		}
		if (!secret) this.logger.warn("JWT_SECRET is not set: using a random per-run key (tokens die with this process).");
		this.jwtSecret = secret ?? randomSecret();
	},

	async started() {
		// The mixins have started by now (Moleculer runs their `started` first): the models exist.
		this.attempts = new MongoAttempts(this.connection);
		this.loginThrottle = new LoginThrottle(this.attempts, {
			...defaultLoginThrottle,
			lockAfter: config.loginLockAfter(),
		});
		this.accounts = new Accounts({
			models: this.models,
			throttle: this.loginThrottle,
			warn: this.logger.warn.bind(this.logger),
		});
		this.members = new Members(this.models, this.memberCache);
		this.groups = new GroupStore({
			models: this.models,
			snapshot: state => this.members.snapshot(state),
			kickOutbox: (modelName, docId) => this.kickOutbox(modelName, docId),
		});
		this.invitations = new InvitationStore({
			models: this.models,
			groups: this.groups,
			membersByIds: ids => this.members.membersByIds(ids),
			attempts: this.attempts,
			limits: {
				maxGroupMembers: config.maxGroupMembers(),
				maxGroupsPerUser: config.maxGroupsPerUser(),
				invitesPerHour: config.inviteRateLimit(),
				invitationTtlMs: INVITATION_TTL_MS,
			},
			kickOutbox: (modelName, docId) => this.kickOutbox(modelName, docId),
			announce: (userId, invitation) =>
				this.broker.broadcast(LiveEvents.invitation, {
					userId,
					invitation,
				} satisfies LiveInvitation),
			warn: (message, detail) => this.logger.warn(message, detail ?? ""),
		});
		// Accounts older than the email claims, or left unclaimed by a crash, become findable by email.
		const claimed = await backfillClaims(this.models);
		if (claimed) this.logger.info(`Claimed ${claimed} email(s) that had no claim yet.`);
		this.revocationPurgeTimer = setInterval(() => {
			this.models.RevokedToken.deleteMany({
				expiresAt: { $lt: new Date() },
			}).catch(() => undefined);
			this.invitations.purgeExpired().catch(() => undefined);
			// Ended windows of the password-guess counters, likewise.
			this.attempts.purge().catch(() => undefined);
		}, REVOCATION_PURGE_EVERY_MS);
		this.revocationPurgeTimer.unref();
		// Invitations answered to their inviter just before a crash are delivered now, and on every sweep.
		const sweep = () => void this.invitations.deliverDue().catch((err: Error) => this.logger.warn("Invitation delivery sweep failed:", err.message));
		sweep();
		this.deliverySweepTimer = setInterval(sweep, DELIVERY_SWEEP_EVERY_MS);
		this.deliverySweepTimer.unref();
	},

	stopped() {
		clearInterval(this.revocationPurgeTimer);
		clearInterval(this.deliverySweepTimer);
	},
};

export default UsersService;
