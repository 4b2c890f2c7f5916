import { randomUUID } from "node:crypto";
import { conflict } from "../../events/errors.js";
import type { UserRef } from "../../events/types.js";
import { decideGroupCommand, type GroupCommand, type GroupOutcome, type GroupState } from "./groups.js";
import { outcomeEvents } from "./group-events.js";
import { confirmListed, listGroupFor, membershipDelta, unlistGroupFor } from "./group-index.js";
import type { NamedSnapshot } from "./members.js";
import type { GroupDoc, UsersModels } from "./models.js";

/**
 * Writes group changes: the group document and the events that announce the change go in one
 * conditional update (the outbox), so a change is never stored without its events nor announced
 * without being stored; the per-user group lists are kept a superset around it (group-index.ts).
 */

export interface GroupStoreDeps {
	models: Pick<UsersModels, "User" | "Group">;
	/** The group's snapshot for its events (members read now). */
	snapshot(state: GroupState): Promise<NamedSnapshot>;
	/** Publishes the group's pending outbox events soon. */
	kickOutbox(modelName: "Group", docId: string): void;
}

/** A stored change: the group as written and what happened to it. */
export interface GroupWrite {
	doc: GroupDoc;
	outcomes: GroupOutcome[];
}

/** Attempts of a command against a group that other writers keep changing. */
const MAX_VERSION_RETRIES = 8;

export const toState = (doc: GroupDoc): GroupState => ({
	id: doc._id,
	name: doc.name,
	createdBy: doc.createdBy,
	createdAt: doc.createdAt,
	memberIds: [...doc.memberIds],
	version: doc.version,
	deleted: doc.deleted,
});

/**
 * The filter that matches the group's `invitesRev` as read: writes that depend on how many
 * invitations are pending (sending one, joining by link) fail when one was sent in between.
 */
export const invitesRevAsRead = (doc: Pick<GroupDoc, "invitesRev">) =>
	doc.invitesRev === undefined || doc.invitesRev === null ? { $exists: false } : doc.invitesRev;

export class GroupStore {
	constructor(private readonly deps: GroupStoreDeps) {}

	/** A group as stored, deleted ones too (`deleted`), by `_id`. */
	find(groupId: string): Promise<GroupDoc | null> {
		return this.deps.models.Group.findById(groupId).lean();
	}

	/** A new group with `creatorId` as its only member (everyone else joins by consent), announced as created. */
	async create(creatorId: string, name: string): Promise<GroupWrite> {
		const { models, snapshot, kickOutbox } = this.deps;
		const state: GroupState = {
			id: randomUUID(),
			name,
			createdBy: creatorId,
			createdAt: new Date(),
			memberIds: [creatorId],
			version: 1,
			deleted: false,
		};
		const outcomes: GroupOutcome[] = [{ change: "created", userId: creatorId }];
		const doc: GroupDoc = {
			_id: state.id,
			name: state.name,
			createdBy: state.createdBy,
			createdAt: state.createdAt,
			memberIds: state.memberIds,
			version: state.version,
			deleted: false,
			outbox: outcomeEvents(state, outcomes, creatorId, await snapshot(state)),
		};
		// Listed for every member first: the lists stay a superset of the memberships.
		await listGroupFor(models, state.memberIds, state.id);
		await models.Group.create(doc);
		kickOutbox("Group", state.id);
		return { doc, outcomes };
	}

	/**
	 * Applies a membership command with optimistic concurrency: decided on the group as read,
	 * written only if nobody changed it since (its `version`, and no invitation was sent to it:
	 * `invitesRev`), read and decided again otherwise. `check` adds a rule that needs more than
	 * the group (room for one more member), decided on the same read.
	 */
	async apply(actorId: string, groupId: string, command: GroupCommand, check?: (doc: GroupDoc) => Promise<void>): Promise<GroupWrite> {
		const { models, snapshot, kickOutbox } = this.deps;
		for (let attempt = 0; attempt < MAX_VERSION_RETRIES; attempt++) {
			const doc = await models.Group.findById(groupId).lean();
			const current = doc ? toState(doc) : null;
			// Throws the client error when the command is not allowed (which also rules out a missing group).
			const { next, outcomes } = decideGroupCommand(current, actorId, command);
			await check?.(doc!);
			const before = current!;
			// Names of removed members (and of an inviter who left since) are needed for the events: resolve them too.
			const named = await snapshot({
				...next,
				memberIds: [...new Set([...before.memberIds, ...next.memberIds, ...outcomes.flatMap(o => (o.by ? [o.by] : []))])],
			});
			const nextSnapshot = { ...named, members: named.members.filter((m: UserRef) => next.memberIds.includes(m.id)) };
			const events = outcomeEvents(next, outcomes, actorId, nextSnapshot);
			const { added, removed } = membershipDelta(before.memberIds, next.memberIds);
			// Listed before the write that adds them (the lists stay a superset; a lost race leaves a stale id, filtered on read).
			await listGroupFor(models, added, groupId);
			const changed = { name: next.name, memberIds: next.memberIds, deleted: next.deleted, version: next.version };
			const result = await models.Group.updateOne(
				{ _id: groupId, version: before.version, invitesRev: invitesRevAsRead(doc!) },
				{ $set: changed, $push: { outbox: { $each: events } } },
			);
			if (result.matchedCount === 1) {
				kickOutbox("Group", groupId);
				// Unlisted only after the write that removed them; both sides re-check for the other.
				await Promise.all([confirmListed(models, added, groupId), unlistGroupFor(models, removed, groupId)]);
				return { doc: { ...doc!, ...changed }, outcomes };
			}
		}
		throw conflict("The group is changing too fast, try again");
	}
}
