/**
 * What `this` is inside the users service: its settings, the stores it builds when it starts and its
 * methods. The service file and its action groups (account-, group-, invitation-actions.ts) share it.
 */
import type { ActionSchema, Context, Service } from "moleculer";
import type { Connection } from "mongoose";
import type { MongoAttempts } from "../../lib/attempt-limits.js";
import type { Group, Meta } from "../../events/types.js";
import type { Accounts } from "./accounts.js";
import type { Revocations } from "./revocations.js";
import type { GroupStore } from "./group-store.js";
import type { GroupCommand, GroupOutcome } from "./groups.js";
import type { ConsentOutcome, InvitationStore } from "./invitation-store.js";
import type { LoginThrottle } from "./login-throttle.js";
import type { MemberCache } from "./member-cache.js";
import type { Members, SharedReads } from "./members.js";
import type { GroupDoc, UsersModels } from "./models.js";

export interface UsersSettings {
	jwtTtlMs: number;
}

export interface UsersVars {
	/** From MongooseMixin, set when it starts. */
	models: UsersModels;
	connection: Connection;
	memberCache: MemberCache;
	accounts: Accounts;
	revocations: Revocations;
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

export interface UsersMethods {
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

export type UsersThis = Service<UsersSettings> & UsersVars & UsersMethods;

/** An action group of the service, spread into its `actions`: handlers see the same typed `this`. */
export type UsersActions = Record<string, ActionSchema<UsersThis>>;
