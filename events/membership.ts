import type { GroupSnapshot } from "./domain.js";

/**
 * Who is in a group, the same rule for every service: the users service's groups, and the
 * copies the other services keep of them. A member is listed in a group that is not deleted.
 */

/** The part of a group (a users' group, a projection, a snapshot's ids) membership is read from. */
export interface Membership {
	memberIds: readonly string[];
	deleted?: boolean;
}

/** Whether `userId` is a member of `group` (never of a deleted or unknown group). */
export function isMember(group: Membership | null | undefined, userId: string): boolean {
	return Boolean(group && !group.deleted && group.memberIds.includes(userId));
}

/** The members of `group` (none for a deleted or unknown group). */
export function memberIdsOf(group: Membership | null | undefined): string[] {
	return group && !group.deleted ? [...group.memberIds] : [];
}

/** The users service's authoritative answer (`users.membership`), for copies that have not seen a change yet. */
export interface MembershipAnswer {
	/** The group exists and is not deleted. */
	exists: boolean;
	isMember: boolean;
	/** The group's current snapshot (also for a deleted group); null for an unknown one. */
	group: (GroupSnapshot & { groupId: string }) | null;
}
