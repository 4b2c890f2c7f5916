import { randomUUID } from "node:crypto";
import type { Context, ServiceSchema } from "moleculer";
import { MongooseMixin } from "../mixins/mongoose.mixin.js";
import { newEnvelope, OutboxRelay } from "../mixins/outbox-relay.mixin.js";
import { config, isProduction, numberFromEnv, secretFromEnv } from "../lib/config.js";
import { callerOf, rules, strict, traceOnly } from "../lib/params.js";
import { conflict, invalidCredentials, notFound, rateLimited, unauthorized, validationError } from "../events/errors.js";
import { DomainEvents, type Envelope, type GroupSnapshot } from "../events/domain.js";
import { LiveEvents, type LiveGroup, type LiveRevoked } from "../events/live.js";
import type { AuthToken, Group, Meta, User, UserRef } from "../events/types.js";
import { MEMBER_CHANGED_EVENT, MemberCache, type MemberChanged, type MemberFields } from "./users/member-cache.js";
import { usersModels, type GroupDoc, type UserDoc, type UsersModels } from "./users/models.js";
import { backfillClaims, findActiveByEmail, isDuplicateKey, pointClaimAt, releaseClaim, repairClaim } from "./users/email-index.js";
import { confirmListed, groupsOfUser, listGroupFor, mapLimit, membershipDelta, unlistGroupFor } from "./users/group-index.js";
import { decoyPasswordHash, hashPassword, passwordNeedsRehash, verifyPassword } from "./users/passwords.js";
import { defaultLoginThrottle, LoginThrottle } from "./users/login-throttle.js";
import { issuedBeforeRevocation, issueToken, randomSecret, verifyToken } from "./users/tokens.js";
import { assertCanSee, decideGroupCommand, isMember, type GroupCommand, type GroupOutcome, type GroupState } from "./users/groups.js";

interface UsersSettings {
	jwtTtlMs: number;
}

interface UsersThis {
	models: UsersModels;
	loginThrottle: LoginThrottle;
	jwtSecret: string;
	revocationPurgeTimer?: NodeJS.Timeout;
	/** Publishes pending outbox events soon; with a model and id, just that document's. */
	kickOutbox(modelName?: string, docId?: string): void;
	toUser(doc: MemberFields): User;
	toRef(doc: MemberFields): UserRef;
	memberCache: MemberCache;
	membersByIds(ids: readonly string[], known?: Map<string, Promise<UserDoc | null>>): Promise<Map<string, MemberFields>>;
	memberChanged(ctx: Context, userId: string): Promise<void>;
	loadActiveUser(id: string): Promise<UserDoc>;
	usersByIds(ids: readonly string[], known?: Map<string, Promise<UserDoc | null>>): Promise<Map<string, UserDoc>>;
	toGroup(doc: GroupDoc, viewerId?: string, known?: Map<string, Promise<UserDoc | null>>): Promise<Group>;
	snapshot(state: GroupState): Promise<GroupSnapshot & { refs: Map<string, UserRef> }>;
	applyGroupCommand(ctx: Context<unknown, Meta>, groupId: string, command: GroupCommand): Promise<GroupDoc>;
	outcomeEvents(state: GroupState, outcomes: GroupOutcome[], actorId: string, snapshot: GroupSnapshot & { refs: Map<string, UserRef> }): Envelope[];
	broadcastGroupChanges(ctx: Context, groupId: string, outcomes: GroupOutcome[]): Promise<void>;
	revokeAllTokens(ctx: Context, userId: string): Promise<number>;
}

const toState = (doc: GroupDoc): GroupState => ({
	id: doc._id,
	name: doc.name,
	createdBy: doc.createdBy,
	createdAt: doc.createdAt,
	memberIds: [...doc.memberIds],
	version: doc.version,
	deleted: doc.deleted,
});

const fullName = (user: UserRef) => `${user.name} ${user.surname}`.trim();
const MAX_VERSION_RETRIES = 8;
/** Parallel reads by `_id` when resolving a group's members (up to ~100 of them). */
const READ_CONCURRENCY = 16;

const UsersService: ServiceSchema<UsersSettings> & ThisType<UsersThis & any> = {
	name: "users",
	mixins: [MongooseMixin({ db: "users", models: usersModels }), OutboxRelay<UsersModels>({ models: ["User", "Group"] })],
	settings: {
		jwtTtlMs: config.jwtTtlMs(),
	},

	actions: {
		/** Creates an account; the email must not be taken. */
		register: {
			tracing: traceOnly("name", "surname", "email"),
			params: { ...strict, name: rules.name, surname: rules.name, email: rules.email, password: rules.password },
			async handler(ctx: Context<{ name: string; surname: string; email: string; password: string }, Meta>) {
				const { name, surname, email, password } = ctx.params;
				if (await findActiveByEmail(this.models, email)) throw conflict("An account with this email already exists");
				const doc: Partial<UserDoc> = {
					_id: randomUUID(),
					name,
					surname,
					email,
					passwordHash: await hashPassword(password),
					tokensValidAfter: 0,
					createdAt: new Date(),
					groupIds: [],
					groupIdsIndexed: true,
				};
				let created: UserDoc;
				try {
					// The unique email index decides between concurrent registers: exactly one insert succeeds.
					created = (await this.models.User.create(doc)).toObject();
				} catch (err) {
					if (!isDuplicateKey(err)) throw err;
					// The holder had no claim naming it (a crash, an old account): give it one.
					await repairClaim(this.models, email).catch(e => this.logger.warn("Repairing an email claim failed:", (e as Error).message));
					throw conflict("An account with this email already exists");
				}
				await pointClaimAt(this.models, email, created._id);
				ctx.meta.$statusCode = 201;
				return this.toUser(created);
			},
		},

		/** Exchanges email and password for an access token. */
		login: {
			tracing: traceOnly("email"),
			params: { ...strict, email: rules.email, password: { type: "string", min: 1, max: 1024 } },
			async handler(ctx: Context<{ email: string; password: string }, Meta>) {
				const { email } = ctx.params;
				if (this.loginThrottle.isLocked(email)) throw rateLimited("Too many failed logins for this account; try again later");
				const delay = this.loginThrottle.delayMs(email);
				if (delay > 0) await new Promise(resolve => setTimeout(resolve, delay));
				const user = await findActiveByEmail(this.models, email);
				const ok = await verifyPassword(ctx.params.password, user?.passwordHash ?? (await decoyPasswordHash()));
				if (!user || !ok) {
					this.loginThrottle.recordFailure(email);
					throw invalidCredentials();
				}
				this.loginThrottle.recordSuccess(email);
				// Hashes stored with older settings (scrypt) are upgraded while the password is at hand;
				// conditional on the old hash so a password changed meanwhile is never overwritten.
				if (passwordNeedsRehash(user.passwordHash))
					await hashPassword(ctx.params.password)
						.then(passwordHash => this.models.User.updateOne({ _id: user._id, passwordHash: user.passwordHash }, { $set: { passwordHash } }))
						.catch((err: Error) => this.logger.warn(`Password hash upgrade for ${user._id} deferred: ${err.message}`));
				const issued = issueToken(user._id, this.jwtSecret, this.settings.jwtTtlMs);
				return { token: issued.token, expiresAt: new Date(issued.expiresAt).toISOString(), user: this.toUser(user) };
			},
		},

		/** Revokes the caller's current token everywhere. */
		logout: {
			params: { ...strict },
			async handler(ctx: Context<unknown, Meta>) {
				const user = callerOf(ctx);
				const token = ctx.meta.token;
				if (!token) throw unauthorized();
				await this.models.RevokedToken.updateOne(
					{ _id: token.jti },
					{ $set: { userId: user.id, expiresAt: new Date(token.expiresAt) } },
					{ upsert: true },
				);
				await ctx.broadcast(LiveEvents.revoked, { userId: user.id, jti: token.jti } satisfies LiveRevoked);
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		/** Checks an access token (signature, expiry, revocation) and returns its user. */
		resolveToken: {
			visibility: "public",
			tracing: traceOnly(),
			params: { ...strict, token: { type: "string", min: 1, max: 4096 }, withGroupIds: { type: "boolean", optional: true } },
			async handler(ctx: Context<{ token: string; withGroupIds?: boolean }>): Promise<{ user: User; token: AuthToken; groupIds?: string[] }> {
				const claims = verifyToken(ctx.params.token, this.jwtSecret);
				if (!claims) throw unauthorized("Invalid or expired token");
				// By `_id` alone (answered from the index); the deletion is checked here, not in the filter.
				const [user, revoked] = await Promise.all([
					this.models.User.findById(claims.userId).lean(),
					this.models.RevokedToken.exists({ _id: claims.jti }),
				]);
				if (!user || user.deletedAt || revoked || issuedBeforeRevocation(claims, user.tokensValidAfter)) throw unauthorized("Token revoked");
				const answer = { user: this.toUser(user), token: { jti: claims.jti, issuedAt: claims.issuedAt, expiresAt: claims.expiresAt } };
				// A socket handshake needs the caller's rooms too: from the same read of the user.
				if (!ctx.params.withGroupIds) return answer;
				const groups = await groupsOfUser(this.models, user);
				return { ...answer, groupIds: groups.map(group => group._id) };
			},
		},

		/** The caller's own account. */
		me: {
			params: { ...strict },
			async handler(ctx: Context<unknown, Meta>) {
				return this.toUser(await this.loadActiveUser(callerOf(ctx).id));
			},
		},

		/** Updates the caller's profile; email and password changes need the current password. */
		update: {
			tracing: traceOnly("name", "surname", "email"),
			params: {
				...strict,
				name: { ...rules.name, optional: true },
				surname: { ...rules.name, optional: true },
				email: { ...rules.email, optional: true },
				password: { ...rules.password, optional: true },
				currentPassword: { type: "string", min: 1, max: 1024, optional: true },
			},
			async handler(ctx: Context<{ name?: string; surname?: string; email?: string; password?: string; currentPassword?: string }, Meta>) {
				const caller = callerOf(ctx);
				const user = await this.loadActiveUser(caller.id);
				const { name, surname, email, password, currentPassword } = ctx.params;
				const changes: Partial<UserDoc> = {};
				if (name !== undefined) changes.name = name;
				if (surname !== undefined) changes.surname = surname;
				const sensitive = (email !== undefined && email !== user.email) || password !== undefined;
				if (sensitive) {
					if (!currentPassword)
						throw validationError("The current password is required to change email or password", [
							{ field: "currentPassword", message: "required to change email or password", type: "required" },
						]);
					if (!(await verifyPassword(currentPassword, user.passwordHash))) throw invalidCredentials();
				}
				if (email !== undefined && email !== user.email) {
					if (await findActiveByEmail(this.models, email)) throw conflict("An account with this email already exists");
					changes.email = email;
				}
				if (password !== undefined) {
					changes.passwordHash = await hashPassword(password);
					changes.tokensValidAfter = Date.now();
				}
				let updated: UserDoc | null;
				try {
					updated = await this.models.User.findOneAndUpdate({ _id: user._id }, { $set: changes }, { returnDocument: "after" }).lean();
				} catch (err) {
					if (!isDuplicateKey(err)) throw err;
					await repairClaim(this.models, email!).catch(e => this.logger.warn("Repairing an email claim failed:", (e as Error).message));
					throw conflict("An account with this email already exists");
				}
				if (!updated) throw notFound("User");
				// The user document holds the new email now (the unique index said so): move the claim.
				// A crash in between leaves an orphan old claim (harmless) and the new email unclaimed
				// until the start-up backfill; sending the same email again also claims it.
				if (changes.email) {
					await pointClaimAt(this.models, changes.email, user._id);
					await releaseClaim(this.models, user.email, user._id);
				} else if (email !== undefined) await pointClaimAt(this.models, user.email, user._id);
				await this.memberChanged(ctx, user._id);
				if (changes.tokensValidAfter)
					await ctx.broadcast(LiveEvents.revoked, { userId: user._id, before: changes.tokensValidAfter } satisfies LiveRevoked);
				return this.toUser(updated);
			},
		},

		/** Deletes the caller's account: leaves every group, then announces the deletion. */
		remove: {
			tracing: traceOnly(),
			params: { ...strict, currentPassword: { type: "string", min: 1, max: 1024 } },
			async handler(ctx: Context<{ currentPassword: string }, Meta>) {
				const caller = callerOf(ctx);
				const user = await this.loadActiveUser(caller.id);
				if (!(await verifyPassword(ctx.params.currentPassword, user.passwordHash))) throw invalidCredentials();
				// Each departure is an ordinary membership change, with its own events.
				const groups = await groupsOfUser(this.models, user);
				for (const group of groups) await this.applyGroupCommand(ctx, group._id, { kind: "leave" });
				const now = Date.now();
				// A tombstone frees the email and keeps the pending event until it is published.
				await this.models.User.updateOne(
					{ _id: user._id },
					{
						$set: { deletedAt: new Date(now), email: `deleted:${user._id}`, passwordHash: "", tokensValidAfter: now + 1 },
						$push: { outbox: newEnvelope(DomainEvents.userDeleted, { userId: user._id }) },
					},
				);
				this.kickOutbox("User", user._id);
				// After the tombstone: a crash before this leaves an orphan claim, which blocks nobody.
				await releaseClaim(this.models, user.email, user._id);
				await this.memberChanged(ctx, user._id);
				await ctx.broadcast(LiveEvents.revoked, { userId: user._id, before: now + 1 } satisfies LiveRevoked);
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		/** Creates a group with the caller as first member, optionally adding members by email. */
		createGroup: {
			params: { ...strict, name: rules.name, memberEmails: { type: "array", items: rules.email, max: 100, optional: true } },
			async handler(ctx: Context<{ name: string; memberEmails?: string[] }, Meta>) {
				const caller = callerOf(ctx);
				const creator = await this.loadActiveUser(caller.id);
				const emails = [...new Set(ctx.params.memberEmails ?? [])].filter(email => email !== creator.email);
				const found = await mapLimit(emails, READ_CONCURRENCY, email => findActiveByEmail(this.models, email));
				const missing = emails.filter((_, i) => !found[i]);
				if (missing.length) throw notFound("User", { emails: missing });
				const others = [...new Map(found.map(user => [user!._id, user!])).values()];

				const state: GroupState = {
					id: randomUUID(),
					name: ctx.params.name,
					createdBy: creator._id,
					createdAt: new Date(),
					memberIds: [creator._id, ...others.map(other => other._id)],
					version: 1,
					deleted: false,
				};
				const outcomes: GroupOutcome[] = [
					{ change: "created", userId: creator._id },
					...others.map(other => ({ change: "memberAdded" as const, userId: other._id })),
				];
				const snapshot = await this.snapshot(state);
				const doc: GroupDoc = {
					_id: state.id,
					name: state.name,
					createdBy: state.createdBy,
					createdAt: state.createdAt,
					memberIds: state.memberIds,
					version: state.version,
					deleted: false,
					outbox: this.outcomeEvents(state, outcomes, creator._id, snapshot),
				};
				// Listed for every member first: the lists stay a superset of the memberships.
				await listGroupFor(this.models, state.memberIds, state.id);
				await this.models.Group.create(doc);
				this.kickOutbox("Group", state.id);
				await this.broadcastGroupChanges(ctx, state.id, outcomes);
				ctx.meta.$statusCode = 201;
				return this.toGroup(doc, caller.id);
			},
		},

		/** The caller's groups. */
		listGroups: {
			params: { ...strict },
			async handler(ctx: Context<unknown, Meta>) {
				const caller = callerOf(ctx);
				const user = await this.loadActiveUser(caller.id);
				const docs = await groupsOfUser(this.models, user);
				// Groups often share members: each is read once for the whole answer (the caller not again).
				const known = new Map<string, Promise<UserDoc | null>>([[user._id, Promise.resolve(user)]]);
				return Promise.all(docs.map(doc => this.toGroup(doc, caller.id, known)));
			},
		},

		/** One group, for its members. */
		getGroup: {
			params: { ...strict, groupId: rules.id },
			async handler(ctx: Context<{ groupId: string }, Meta>) {
				const caller = callerOf(ctx);
				const doc = await this.models.Group.findById(ctx.params.groupId).lean();
				assertCanSee(doc ? toState(doc) : null, caller.id);
				return this.toGroup(doc!, caller.id);
			},
		},

		/** Renames a group (any member). */
		renameGroup: {
			params: { ...strict, groupId: rules.id, name: rules.name },
			async handler(ctx: Context<{ groupId: string; name: string }, Meta>) {
				const doc = await this.applyGroupCommand(ctx, ctx.params.groupId, { kind: "rename", name: ctx.params.name });
				return this.toGroup(doc, callerOf(ctx).id);
			},
		},

		/** Deletes a group (its creator only); every member is removed with it. */
		deleteGroup: {
			params: { ...strict, groupId: rules.id },
			async handler(ctx: Context<{ groupId: string }, Meta>) {
				await this.applyGroupCommand(ctx, ctx.params.groupId, { kind: "delete" });
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		/** Adds a registered user, by email, to a group (any member). */
		addMember: {
			params: { ...strict, groupId: rules.id, email: rules.email },
			async handler(ctx: Context<{ groupId: string; email: string }, Meta>) {
				const caller = callerOf(ctx);
				// Check the caller's membership first: a non-member learns nothing about which emails exist.
				const existing = await this.models.Group.findById(ctx.params.groupId).lean();
				assertCanSee(existing ? toState(existing) : null, caller.id);
				const user = await findActiveByEmail(this.models, ctx.params.email);
				if (!user) throw notFound("User", { email: ctx.params.email });
				const doc = await this.applyGroupCommand(ctx, ctx.params.groupId, { kind: "addMember", userId: user._id });
				return this.toGroup(doc, caller.id);
			},
		},

		/** Removes a member from a group (any member). */
		removeMember: {
			params: { ...strict, groupId: rules.id, userId: rules.id },
			async handler(ctx: Context<{ groupId: string; userId: string }, Meta>) {
				const doc = await this.applyGroupCommand(ctx, ctx.params.groupId, { kind: "removeMember", userId: ctx.params.userId });
				return this.toGroup(doc, callerOf(ctx).id);
			},
		},

		/** The caller leaves a group; the last one to leave deletes it. */
		leaveGroup: {
			params: { ...strict, groupId: rules.id },
			async handler(ctx: Context<{ groupId: string }, Meta>) {
				await this.applyGroupCommand(ctx, ctx.params.groupId, { kind: "leave" });
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
			params: { ...strict, groupId: rules.id, userId: rules.id },
			async handler(ctx: Context<{ groupId: string; userId: string }>) {
				const doc = await this.models.Group.findById(ctx.params.groupId).lean();
				if (!doc) return { exists: false, isMember: false, group: null };
				const state = toState(doc);
				const { refs: _refs, ...snapshot } = await this.snapshot(state);
				return { exists: !doc.deleted, isMember: isMember(state, ctx.params.userId), group: { groupId: doc._id, ...snapshot } };
			},
		},

		/** Ids of the groups a user belongs to (for services and the gateway's socket rooms). */
		groupIdsOf: {
			visibility: "public",
			params: { ...strict, userId: rules.id },
			async handler(ctx: Context<{ userId: string }>) {
				const user = await this.models.User.findById(ctx.params.userId).lean();
				if (!user) return [];
				return (await groupsOfUser(this.models, user)).map(doc => doc._id);
			},
		},

		/** Looks a user up by email (operators). */
		findByEmail: {
			visibility: "public",
			params: { ...strict, email: rules.email },
			async handler(ctx: Context<{ email: string }>) {
				const user = await findActiveByEmail(this.models, ctx.params.email);
				if (!user) throw notFound("User");
				const groups = await groupsOfUser(this.models, user);
				return { ...this.toUser(user), groups: groups.map(g => ({ id: g._id, name: g.name })) };
			},
		},

		/** One group with its members, without a caller (operators). */
		inspectGroup: {
			visibility: "public",
			params: { ...strict, groupId: rules.id },
			async handler(ctx: Context<{ groupId: string }>) {
				const doc = await this.models.Group.findById(ctx.params.groupId).lean();
				if (!doc || doc.deleted) throw notFound("Group");
				return this.toGroup(doc);
			},
		},

		/** Revokes every token of a user issued until now (operators). */
		revokeTokens: {
			visibility: "public",
			params: { ...strict, userId: rules.id },
			async handler(ctx: Context<{ userId: string }>) {
				const before = await this.revokeAllTokens(ctx, ctx.params.userId);
				return { userId: ctx.params.userId, revokedBefore: new Date(before).toISOString() };
			},
		},
	},

	methods: {
		toUser(doc: MemberFields): User {
			return { id: doc._id, name: doc.name, surname: doc.surname, email: doc.email };
		},

		toRef(doc: MemberFields): UserRef {
			return { id: doc._id, name: doc.name, surname: doc.surname };
		},

		async loadActiveUser(id: string): Promise<UserDoc> {
			const user = await this.models.User.findById(id).lean();
			if (!user || user.deletedAt) throw unauthorized("This account no longer exists");
			return user;
		},

		/**
		 * Users by id, each read by `_id` (a `$in` query is not answered from the index by the
		 * Mongo-wire server here). `known` shares the reads between the groups of one answer.
		 */
		async usersByIds(ids: readonly string[], known = new Map<string, Promise<UserDoc | null>>()): Promise<Map<string, UserDoc>> {
			const wanted = [...new Set(ids)];
			const users = await mapLimit(wanted, READ_CONCURRENCY, id => {
				let read = known.get(id);
				if (!read) {
					// exec(): a real promise, awaited by every group that shares this member (a query runs once only).
					read = this.models.User.findById(id).lean().exec() as Promise<UserDoc | null>;
					known.set(id, read);
				}
				return read;
			});
			return new Map(users.filter((user): user is UserDoc => Boolean(user)).map(user => [user._id, user]));
		},

		/** Members to show in an answer: from the member cache, else read by id (and cached). */
		async membersByIds(ids: readonly string[], known?: Map<string, Promise<UserDoc | null>>): Promise<Map<string, MemberFields>> {
			const found = new Map<string, MemberFields>();
			const missing: string[] = [];
			for (const id of ids) {
				const member = this.memberCache.get(id);
				if (member) found.set(id, member);
				else missing.push(id);
			}
			if (!missing.length) return found;
			const readSince = this.memberCache.mark();
			for (const [id, user] of await this.usersByIds(missing, known)) {
				if (user.deletedAt) continue;
				found.set(id, user);
				this.memberCache.set(user, readSince);
			}
			return found;
		},

		/** Forgets a changed user here and on every other users instance. */
		async memberChanged(ctx: Context, userId: string) {
			this.memberCache.evict(userId);
			await ctx.broadcast(MEMBER_CHANGED_EVENT, { userId } satisfies MemberChanged, { groups: ["users"] });
		},

		/** The API's Group: members in join order; emails only for the viewer themself. */
		async toGroup(doc: GroupDoc, viewerId?: string, known?: Map<string, Promise<UserDoc | null>>): Promise<Group> {
			const byId: Map<string, MemberFields> = await this.membersByIds(doc.memberIds, known);
			const members = doc.memberIds
				.map(id => byId.get(id))
				.filter((user): user is MemberFields => Boolean(user))
				.map(user => (user._id === viewerId || viewerId === undefined ? this.toUser(user) : this.toRef(user)));
			return { id: doc._id, name: doc.name, createdBy: doc.createdBy, createdAt: new Date(doc.createdAt).toISOString(), members };
		},

		async snapshot(state: GroupState) {
			const users: Map<string, UserDoc> = await this.usersByIds(state.memberIds);
			const refs = new Map<string, UserRef>([...users.values()].map(user => [user._id, this.toRef(user)]));
			const members = state.memberIds.map(id => refs.get(id)).filter((ref): ref is UserRef => Boolean(ref));
			return { version: state.version, name: state.name, members, deleted: state.deleted || undefined, refs };
		},

		/**
		 * Applies a membership command with optimistic concurrency: the group and the events that
		 * announce the change are written in one conditional document update (the outbox), retried
		 * when another writer changed the group in between.
		 */
		async applyGroupCommand(ctx: Context<unknown, Meta>, groupId: string, command: GroupCommand): Promise<GroupDoc> {
			const actorId = callerOf(ctx).id;
			for (let attempt = 0; attempt < MAX_VERSION_RETRIES; attempt++) {
				const doc = await this.models.Group.findById(groupId).lean();
				const current = doc ? toState(doc) : null;
				const { next, outcomes } = decideGroupCommand(current, actorId, command);
				// Names of removed members are needed for the events, so resolve them from the old member list too.
				const snapshot = await this.snapshot({ ...next, memberIds: [...new Set([...current!.memberIds, ...next.memberIds])] });
				const nextSnapshot = { ...snapshot, members: snapshot.members.filter((m: UserRef) => next.memberIds.includes(m.id)) };
				const events = this.outcomeEvents(next, outcomes, actorId, nextSnapshot);
				const { added, removed } = membershipDelta(current!.memberIds, next.memberIds);
				// Listed before the write that adds them (the lists stay a superset; a lost race leaves a stale id, filtered on read).
				await listGroupFor(this.models, added, groupId);
				const result = await this.models.Group.updateOne(
					{ _id: groupId, version: current!.version },
					{
						$set: { name: next.name, memberIds: next.memberIds, deleted: next.deleted, version: next.version },
						$push: { outbox: { $each: events } },
					},
				);
				if (result.matchedCount === 1) {
					this.kickOutbox("Group", groupId);
					// Unlisted only after the write that removed them; both sides re-check for the other.
					await Promise.all([confirmListed(this.models, added, groupId), unlistGroupFor(this.models, removed, groupId)]);
					await this.broadcastGroupChanges(ctx, groupId, outcomes);
					return { ...doc!, ...{ name: next.name, memberIds: next.memberIds, deleted: next.deleted, version: next.version } };
				}
			}
			throw conflict("The group is changing too fast, try again");
		},

		/** Domain events (and the member notifications) that announce a group's outcomes. */
		outcomeEvents(state: GroupState, outcomes: GroupOutcome[], actorId: string, snapshot: GroupSnapshot & { refs: Map<string, UserRef> }): Envelope[] {
			const { refs, ...base } = snapshot;
			const ref = (id: string): UserRef => refs.get(id) ?? { id, name: "Someone", surname: "" };
			const actor = ref(actorId);
			const events: Envelope[] = [];
			for (const outcome of outcomes) {
				switch (outcome.change) {
					case "created":
						events.push(newEnvelope(DomainEvents.groupCreated, { groupId: state.id, createdBy: ref(state.createdBy), ...base }));
						break;
					case "renamed":
						events.push(newEnvelope(DomainEvents.groupRenamed, { groupId: state.id, ...base }));
						break;
					case "deleted":
						events.push(newEnvelope(DomainEvents.groupDeleted, { groupId: state.id, ...base, members: [], deleted: true }));
						break;
					case "memberAdded": {
						const member = ref(outcome.userId!);
						events.push(newEnvelope(DomainEvents.memberAdded, { groupId: state.id, member, by: actorId, ...base }));
						events.push(
							newEnvelope(DomainEvents.notificationSend, {
								target: { groupId: state.id },
								kind: "MEMBER_ADDED",
								title: `${fullName(member)} joined ${state.name}`,
								body: `${fullName(actor)} added ${fullName(member)} to the group "${state.name}".`,
								groupId: state.id,
								subjectUserId: member.id,
								alsoUserIds: [member.id],
								groupVersion: state.version,
							}),
						);
						break;
					}
					case "memberRemoved": {
						const member = ref(outcome.userId!);
						const left = outcome.userId === actorId;
						events.push(newEnvelope(DomainEvents.memberRemoved, { groupId: state.id, member, by: actorId, ...base }));
						events.push(
							newEnvelope(DomainEvents.notificationSend, {
								target: { groupId: state.id },
								kind: "MEMBER_REMOVED",
								title: `${fullName(member)} left ${state.name}`,
								body: left
									? `${fullName(member)} left the group "${state.name}".`
									: `${fullName(actor)} removed ${fullName(member)} from the group "${state.name}".`,
								groupId: state.id,
								subjectUserId: member.id,
								alsoUserIds: [member.id],
								groupVersion: state.version,
							}),
						);
						break;
					}
				}
			}
			return events;
		},

		/** Tells every gateway, so sockets join or leave the group's room at once. */
		async broadcastGroupChanges(ctx: Context, groupId: string, outcomes: GroupOutcome[]) {
			for (const outcome of outcomes) {
				await ctx.broadcast(LiveEvents.group, { groupId, change: outcome.change, userId: outcome.userId } satisfies LiveGroup);
			}
		},

		async revokeAllTokens(ctx: Context, userId: string): Promise<number> {
			const before = Date.now();
			const result = await this.models.User.updateOne({ _id: userId }, { $set: { tokensValidAfter: before } });
			if (result.matchedCount === 0) throw notFound("User");
			await ctx.broadcast(LiveEvents.revoked, { userId, before } satisfies LiveRevoked);
			return before;
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

	created() {
		this.memberCache = new MemberCache();
		const secret = secretFromEnv("JWT_SECRET");
		if (!secret && isProduction()) {
			this.broker.fatal("JWT_SECRET (or JWT_SECRET_FILE) is required when NODE_ENV=production; refusing to start.");
			return;
		}
		if (!secret) this.logger.warn("JWT_SECRET is not set: using a random per-run key (tokens die with this process).");
		this.jwtSecret = secret ?? randomSecret();
		this.loginThrottle = new LoginThrottle({ ...defaultLoginThrottle, lockAfter: numberFromEnv("LOGIN_LOCK_AFTER", defaultLoginThrottle.lockAfter) });
	},

	async started() {
		// Accounts older than the email claims, or left unclaimed by a crash, become findable by email.
		const claimed = await backfillClaims(this.models);
		if (claimed) this.logger.info(`Claimed ${claimed} email(s) that had no claim yet.`);
		// FerretDB has no TTL indexes: expired revocations are removed here instead.
		this.revocationPurgeTimer = setInterval(() => {
			this.models.RevokedToken.deleteMany({ expiresAt: { $lt: new Date() } }).catch(() => undefined);
		}, 10 * 60_000);
		this.revocationPurgeTimer.unref();
	},

	stopped() {
		clearInterval(this.revocationPurgeTimer);
	},
};

export default UsersService;
