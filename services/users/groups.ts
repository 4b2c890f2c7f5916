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
	| { kind: "rename"; name: string }
	/**
	 * The actor joins by consent: accepting `invitedBy`'s invitation, or through their invite link.
	 * There is no command that makes someone else a member (API.md §6.1).
	 */
	| { kind: "join"; invitedBy: string; via: JoinedVia }
	| { kind: "removeMember"; userId: string }
	| { kind: "leave" }
	| { kind: "delete" };

/** How a member who joined by consent came in (API.md §6.1). */
export type JoinedVia = "invitation" | "link";

/** One observable consequence of a command; the service turns each into a domain event. */
export interface GroupOutcome {
	change: GroupChange;
	/** The member added or removed. */
	userId?: string;
	/** Who added the member, when not the actor: the inviter, or the invite link's creator. */
	by?: string;
	via?: JoinedVia;
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
 * The rules of SPEC §4: any member renames, removes or leaves; anyone joins by consent (the
 * invitation or link is checked by the caller); the last member to leave deletes the group; only
 * the creator deletes it. Throws the client error when not allowed.
 */
export function decideGroupCommand(group: GroupState | null | undefined, actorId: string, command: GroupCommand): GroupDecision {
	if (command.kind === "join") return join(group, actorId, command.invitedBy, command.via);
	assertCanSee(group, actorId);
	const bump = (changes: Partial<GroupState>): GroupState => ({ ...group, ...changes, version: group.version + 1 });

	switch (command.kind) {
		case "rename":
			return { next: bump({ name: command.name }), outcomes: [{ change: "renamed" }] };
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

/** Anyone may join by consent (the invitation or link was checked by the caller); the group must exist. */
function join(group: GroupState | null | undefined, userId: string, invitedBy: string, via: JoinedVia): GroupDecision {
	if (!group || group.deleted) throw notFound("Group", { type: "group" });
	if (group.memberIds.includes(userId)) throw conflict("You are already a member of this group");
	return {
		next: { ...group, memberIds: [...group.memberIds, userId], version: group.version + 1 },
		outcomes: [{ change: "memberAdded", userId, by: invitedBy, via }],
	};
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
