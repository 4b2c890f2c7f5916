/**
 * The users service's group actions: create, list, show, rename, delete and leave groups, remove a member,
 * and the membership answers other services and operators ask for. Changes go through `changeGroup`.
 */
import type { Context } from "moleculer";
import { callerOf, rules, strict } from "../../lib/params.js";
import { notFound } from "../../events/errors.js";
import type { Group, Meta } from "../../events/types.js";
import { groupsOfUser } from "./group-index.js";
import { toState } from "./group-store.js";
import { assertCanSee, isMember } from "./groups.js";
import type { SharedReads } from "./members.js";
import type { UsersActions } from "./service-types.js";
import { userParams, type UserParams } from "./account-actions.js";
import { repeatable } from "../../lib/repeatable.js";

const createGroupParams = {
	...strict,
	name: rules.name,
	memberEmails: { type: "array", items: rules.email, max: 100, optional: true },
};
interface CreateGroupParams {
	name: string;
	memberEmails?: string[];
}

export const groupParams = () => ({ ...strict, groupId: rules.id });
export interface GroupParams {
	groupId: string;
}

const renameGroupParams = { ...strict, groupId: rules.id, name: rules.name };
interface RenameGroupParams {
	groupId: string;
	name: string;
}

/** A shared schema is a function: Moleculer drops repeated object references when it publishes action schemas. */
const memberParams = () => ({ ...strict, groupId: rules.id, userId: rules.id });
interface MemberParams {
	groupId: string;
	userId: string;
}

export const groupActions: UsersActions = {
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
		...repeatable(),
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
		...repeatable(),
		params: groupParams(),
		async handler(ctx: Context<GroupParams, Meta>): Promise<Group> {
			const caller = callerOf(ctx);
			const doc = await this.groups.find(ctx.params.groupId);
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
		...repeatable(),
		visibility: "public",
		params: memberParams(),
		async handler(ctx: Context<MemberParams>) {
			const doc = await this.groups.find(ctx.params.groupId);
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

	/** Ids of the groups a user belongs to (for services and the gateway's socket rooms). */
	groupIdsOf: {
		...repeatable(),
		visibility: "public",
		params: userParams(),
		async handler(ctx: Context<UserParams>): Promise<string[]> {
			const user = await this.models.User.findById(ctx.params.userId).lean();
			if (!user) return [];
			return (await groupsOfUser(this.models, user)).map(doc => doc._id);
		},
	},

	/** One group with its members, without a caller (operators). */
	inspectGroup: {
		...repeatable(),
		visibility: "public",
		params: groupParams(),
		async handler(ctx: Context<GroupParams>): Promise<Group> {
			const doc = await this.groups.find(ctx.params.groupId);
			if (!doc || doc.deleted) throw notFound("Group");
			return this.groupView(doc);
		},
	},
};
