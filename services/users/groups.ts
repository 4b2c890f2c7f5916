import { conflict, forbidden, notFound } from "../../events/errors.js";
import type { GroupChange } from "../../events/live.js";
import { isMember } from "../../events/membership.js";

/** A group as the users service stores it; `version` grows with every change. */
export interface GroupState {
	id: string;
	name: string;
	createdBy: string;
	createdAt: Date;
	memberIds: string[];
	version: number;
	deleted: boolean;
}

export type GroupCommand =
	{ kind: "rename"; name: string } | { kind: "addMember"; userId: string } | { kind: "removeMember"; userId: string } | { kind: "leave" } | { kind: "delete" };

/** One observable consequence of a command; the service turns each into a domain event. */
export interface GroupOutcome {
	change: GroupChange;
	/** The member added or removed. */
	userId?: string;
}

export interface GroupDecision {
	next: GroupState;
	outcomes: GroupOutcome[];
}

/** The one membership rule every service shares (events/membership.ts). */
export { isMember };

/** Only members see a group or act on it; a deleted group does not exist. */
export function assertCanSee(group: GroupState | null | undefined, actorId: string): asserts group is GroupState {
	if (!group || group.deleted) throw notFound("Group", { type: "group" });
	if (!isMember(group, actorId)) throw forbidden("You are not a member of this group");
}

/**
 * The rules of SPEC §4: any member renames, adds, removes or leaves; the last member to leave
 * deletes the group; only the creator deletes it. Throws the client error when not allowed.
 */
export function decideGroupCommand(group: GroupState | null | undefined, actorId: string, command: GroupCommand): GroupDecision {
	assertCanSee(group, actorId);
	const bump = (changes: Partial<GroupState>): GroupState => ({ ...group, ...changes, version: group.version + 1 });

	switch (command.kind) {
		case "rename":
			return { next: bump({ name: command.name }), outcomes: [{ change: "renamed" }] };
		case "addMember":
			if (group.memberIds.includes(command.userId)) throw conflict("That user is already a member of this group");
			return {
				next: bump({ memberIds: [...group.memberIds, command.userId] }),
				outcomes: [{ change: "memberAdded", userId: command.userId }],
			};
		case "removeMember":
			if (!group.memberIds.includes(command.userId)) throw notFound("Member", { type: "member" });
			return removeMember(group, command.userId);
		case "leave":
			return removeMember(group, actorId);
		case "delete":
			if (group.createdBy !== actorId) throw forbidden("Only the creator can delete the group");
			return { next: bump({ memberIds: [], deleted: true }), outcomes: [{ change: "deleted" }] };
	}
}

function removeMember(group: GroupState, userId: string): GroupDecision {
	const memberIds = group.memberIds.filter(id => id !== userId);
	const removed: GroupOutcome = { change: "memberRemoved", userId };
	if (memberIds.length === 0) {
		return {
			next: { ...group, memberIds, deleted: true, version: group.version + 1 },
			outcomes: [removed, { change: "deleted" }],
		};
	}
	return { next: { ...group, memberIds, version: group.version + 1 }, outcomes: [removed] };
}

/** Emails are unique regardless of case and surrounding spaces. */
export const normalizeEmail = (email: string) => email.trim().toLowerCase();
