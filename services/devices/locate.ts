import { forbidden, notFound } from "../../events/errors.js";
import type { NotificationSend } from "../../events/domain.js";
import type { MembershipAnswer } from "../../events/membership.js";
import type { UserRef } from "../../events/types.js";
import { fullName } from "../../lib/names.js";

/**
 * "Where are you now?" (API.md §6.3): a member asks another member's phones to report. Only members
 * of a group may ask, only about a member of that group, and each asker may ask each member at most
 * once a minute — it wakes a phone and notifies a person, so it must not become a way to nag.
 */

/** One request per asker and member per this long (429 sooner). */
export const LOCATE_EVERY_MS = 60_000;

export const locateKey = (askerId: string, memberId: string): string => `${askerId}:${memberId}`;

export interface LocateParties {
	groupName: string;
	asker: UserRef;
	member: UserRef;
}

/**
 * The asker and the member, from the users service's answer about the asker's membership: 404 when
 * the group does not exist, 403 when the asker is not in it, 404 when the member is not.
 */
export function locateParties(answer: MembershipAnswer, askerId: string, memberId: string): LocateParties {
	if (!answer.exists || !answer.group) throw notFound("Group");
	if (!answer.isMember) throw forbidden("You are not a member of this group");
	const members = answer.group.members;
	const asker = members.find(m => m.id === askerId);
	const member = members.find(m => m.id === memberId);
	if (!member) throw notFound("Member", { userId: memberId });
	return { groupName: answer.group.name, asker: asker ?? { id: askerId, name: "", surname: "" }, member };
}

/** How long until the asker may ask about this member again (0: now), given when they last asked. */
export function locateWaitMs(lastAskedAt: Date | null | undefined, now: number): number {
	if (!lastAskedAt) return 0;
	return Math.max(0, lastAskedAt.getTime() + LOCATE_EVERY_MS - now);
}

/**
 * The member's notification (kind LOCATE_REQUESTED), to the member alone; none when someone asks
 * about themself (they asked their own phones, from their own screen).
 */
export function locateNotification(groupId: string, { groupName, asker, member }: LocateParties): NotificationSend | null {
	if (asker.id === member.id) return null;
	const who = fullName(asker, "A member");
	return {
		target: { userIds: [member.id] },
		kind: "LOCATE_REQUESTED",
		title: `${who} asked where you are`,
		body: `${who} (${groupName}) would like to see your current position. Your phone was asked to report it; open PositionPal to share it now.`,
		groupId,
		subjectUserId: asker.id,
	};
}
