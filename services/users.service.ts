import type { Context, ServiceSchema } from "moleculer";
import { MongooseMixin } from "../mixins/mongoose.mixin.js";
import { OutboxRelay } from "../mixins/outbox-relay.mixin.js";
import { config, isProduction } from "../lib/config.js";
import { callerOf } from "../lib/params.js";
import { MongoAttempts } from "../lib/attempt-limits.js";
import { LiveEvents, type LiveGroup, type LiveInvitation, type LiveRevoked } from "../events/live.js";
import type { Group, Meta } from "../events/types.js";
import { MEMBER_CHANGED_EVENT, MemberCache, type MemberChanged } from "./users/member-cache.js";
import { Members, type SharedReads } from "./users/members.js";
import { usersModels, type GroupDoc, type UsersModels } from "./users/models.js";
import { backfillClaims } from "./users/email-index.js";
import { Accounts } from "./users/accounts.js";
import { Revocations } from "./users/revocations.js";
import { GroupStore } from "./users/group-store.js";
import { defaultLoginThrottle, LoginThrottle } from "./users/login-throttle.js";
import { randomSecret } from "./users/tokens.js";
import type { GroupCommand, GroupOutcome } from "./users/groups.js";
import { InvitationStore, type ConsentOutcome } from "./users/invitation-store.js";
import { INVITATION_TTL_MS } from "./users/invitations.js";
import type { UsersMethods, UsersSettings, UsersThis, UsersVars } from "./users/service-types.js";
import { accountActions } from "./users/account-actions.js";
import { groupActions } from "./users/group-actions.js";
import { invitationActions } from "./users/invitation-actions.js";

/**
 * Accounts, access tokens and groups (SPEC §3–4). Accounts live in users/accounts.ts and are
 * found by email through claims (users/email-index.ts), a user's groups through per-user lists
 * (users/group-index.ts); group changes are decided by users/groups.ts and written with their
 * events by users/group-store.ts; members are shown by users/members.ts. Nobody becomes a member
 * without consent: invitations and invite links are decided by users/invitations.ts and stored
 * by users/invitation-store.ts, and a member who accepts joins through the group command path.
 *
 * The actions, with their params, are in three groups by concern: users/account-actions.ts,
 * users/group-actions.ts and users/invitation-actions.ts; `this` is typed by users/service-types.ts.
 * Revoked tokens are kept by users/revocations.ts.
 */

/** FerretDB has no TTL indexes: expired revocations, invitations and counters are removed this often instead. */
const REVOCATION_PURGE_EVERY_MS = 10 * 60_000;
/** How often invitations whose delivery a crash interrupted are looked for. */
const DELIVERY_SWEEP_EVERY_MS = 30_000;

const UsersService: ServiceSchema<UsersSettings, UsersMethods, UsersVars, UsersThis> = {
	name: "users",
	mixins: [MongooseMixin({ db: "users", models: usersModels }), OutboxRelay<UsersModels>({ models: ["User", "Group", "Invitation"] })],
	settings: {
		jwtTtlMs: config.jwtTtlMs(),
	},

	actions: {
		...accountActions,
		...groupActions,
		...invitationActions,
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

		/** Every token of the user issued until now stops counting, on every gateway at once. */
		async revokeAllTokens(ctx: Context, userId: string): Promise<number> {
			const before = await this.revocations.revokeAllOf(userId);
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
			kickOutbox: (modelName, docId) => this.kickOutbox(modelName, docId),
		});
		this.revocations = new Revocations(this.models);
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
			this.revocations.purgeExpired().catch(() => undefined);
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
