import type { NotificationSend } from "../../events/domain.js";
import type { UserRef } from "../../events/types.js";
import { fullName } from "../../lib/names.js";

/**
 * The words of the notifications a membership change sends to the group (and to the member it
 * concerns). Pure, so the texts are reviewed and tested in one place.
 */

/** The group as the change left it: its name and the version the notification was written at. */
export interface NoticeGroup {
	id: string;
	name: string;
	version: number;
}

/**
 * "Bob Lee joined Family": to the group and to the member who was added, but not to the member who
 * added them (their own action; an inviter hears "Bob Lee accepted your invitation" instead).
 */
export function memberAddedNotice(group: NoticeGroup, member: UserRef, actor: UserRef): NotificationSend {
	return {
		...memberJoinedNotice(group, member, actor),
		...(actor.id !== member.id ? { exceptUserIds: [actor.id] } : {}),
	};
}

function memberJoinedNotice(group: NoticeGroup, member: UserRef, actor: UserRef): NotificationSend {
	return {
		target: { groupId: group.id },
		kind: "MEMBER_ADDED",
		title: `${fullName(member)} joined ${group.name}`,
		body: `${fullName(actor)} added ${fullName(member)} to the group "${group.name}".`,
		groupId: group.id,
		subjectUserId: member.id,
		alsoUserIds: [member.id],
		groupVersion: group.version,
	};
}

/**
 * "Bob Lee left Family": to the group and to the member who left or was removed, but not to the
 * member who removed them (their own action).
 */
export function memberRemovedNotice(group: NoticeGroup, member: UserRef, actor: UserRef): NotificationSend {
	const left = member.id === actor.id;
	return {
		target: { groupId: group.id },
		kind: "MEMBER_REMOVED",
		title: `${fullName(member)} left ${group.name}`,
		body: left ? `${fullName(member)} left the group "${group.name}".` : `${fullName(actor)} removed ${fullName(member)} from the group "${group.name}".`,
		groupId: group.id,
		subjectUserId: member.id,
		alsoUserIds: [member.id],
		groupVersion: group.version,
		...(left ? {} : { exceptUserIds: [actor.id] }),
	};
}

/** "Bob Lee joined Family" when Bob came in through an invite link: to the group (the link's creator included) and to Bob. */
export function memberJoinedByLinkNotice(group: NoticeGroup, member: UserRef, linkCreator: UserRef): NotificationSend {
	return {
		...memberJoinedNotice(group, member, linkCreator),
		body: `${fullName(member)} joined the group "${group.name}" with an invite link from ${fullName(linkCreator)}.`,
	};
}

/** "Bob Lee accepted your invitation": to the inviter only, written with the membership it reports. */
export function invitationAcceptedNotice(group: NoticeGroup, member: UserRef, inviterId: string): NotificationSend {
	return {
		target: { userIds: [inviterId] },
		kind: "INVITATION_ACCEPTED",
		title: `${fullName(member)} accepted your invitation`,
		body: `${fullName(member)} is now a member of "${group.name}".`,
		groupId: group.id,
		subjectUserId: member.id,
	};
}

/**
 * "Ada Lovelace invited you to Family": to the invitee's account only, once it is known (after the
 * inviter's answer). Until they accept, the group sees nothing of them. No `groupId`: the invitee
 * cannot open the group yet (the invitation, in their list and the `invitation` event, names it).
 */
export function invitedNotice(group: Pick<NoticeGroup, "name">, inviter: UserRef, inviteeId: string): NotificationSend {
	return {
		target: { userIds: [inviteeId] },
		kind: "INVITED",
		title: `${fullName(inviter, "Someone")} invited you to ${group.name}`,
		body: `Accept to join the group "${group.name}", or decline. Nobody in it sees your location unless you accept.`,
		subjectUserId: inviter.id,
	};
}
