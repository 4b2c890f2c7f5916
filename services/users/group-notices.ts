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

/** "Bob Lee joined Family": to the group and to the member who was added. */
export function memberAddedNotice(group: NoticeGroup, member: UserRef, actor: UserRef): NotificationSend {
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

/** "Bob Lee left Family": to the group and to the member who left or was removed. */
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
	};
}
