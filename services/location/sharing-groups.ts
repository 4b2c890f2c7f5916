import { invalidState } from "../../events/errors.js";
import type { LocationEvent } from "./state-machine.js";
import type { Membership } from "./membership.js";
import type { ApplyOptions, SessionStore } from "./session-store.js";
import type { SessionData } from "./session.js";

/**
 * A command about "my position" (a sample, "my location is blocked") goes to every group where the
 * caller's position goes now: where they share or are in an SOS, and are still a member.
 */

/** Those groups, sorted, from memory (this instance owns the caller's sessions); 409 when there are none. */
export async function sharingGroupsNow(store: SessionStore, membership: Membership, userId: string): Promise<string[]> {
	const groupIds = await membership.groupsWithMember(await store.sharingGroupsOf(userId), userId);
	if (!groupIds.length) throw invalidState("You are not sharing your location in any group");
	return groupIds;
}

/** The event applied in each group; where it no longer applies (sharing stopped in between), the session as it is. */
export function applyInEach(store: SessionStore, groupIds: string[], userId: string, event: LocationEvent, options: ApplyOptions): Promise<SessionData[]> {
	return Promise.all(groupIds.map(async groupId => (await store.tryApply(groupId, userId, event, options)) ?? store.get(groupId, userId)));
}
