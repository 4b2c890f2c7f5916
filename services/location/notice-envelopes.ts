import { DomainEvents, type Envelope } from "../../events/domain.js";
import type { User } from "../../events/types.js";
import { newEnvelope } from "../../mixins/outbox-relay.mixin.js";
import type { GroupProjectionDoc } from "../../mixins/membership.mixin.js";
import { notificationCommand } from "./notices.js";
import type { Precision } from "./precision.js";
import type { SessionData, Thresholds } from "./session.js";
import type { Notice } from "./state-machine.js";

/** Builds the outbox envelopes of a transition's notices (`[]` when there are none). */
export type NoticeEnvelopes = (session: SessionData, notices: Notice[], now: number, caller?: User) => Promise<Envelope[]>;

/**
 * Whether the group is told of a notice, given how precisely the subject shares in it. A place can be
 * 25 m across: "arrived at Home" would give away what approximate sharing hides (API.md §6.6), so
 * place crossings of a member sharing approximately are not announced. Journeys and SOS are: the
 * member chose to tell where they go, and an SOS is exact.
 */
export const announcedAt = (notice: Notice, precision: Precision): boolean =>
	precision === "exact" || (notice.kind !== "PLACE_ARRIVED" && notice.kind !== "PLACE_LEFT");

/**
 * The `notifications.send` commands for a transition's notices, naming the user as the group knows
 * them (the caller's own name when the projection does not list them yet).
 */
export function noticeEnvelopes(
	loadGroup: (groupId: string) => Promise<GroupProjectionDoc | null>,
	t: Thresholds,
	precisionOf: (groupId: string, userId: string) => Precision,
): NoticeEnvelopes {
	return async (session, allNotices, now, caller) => {
		const precision = precisionOf(session.groupId, session.userId);
		const notices = allNotices.filter(notice => announcedAt(notice, precision));
		if (!notices.length) return [];
		const group = await loadGroup(session.groupId);
		const member = group?.members.find(m => m.id === session.userId);
		const user = member ?? (caller?.id === session.userId ? caller : null);
		const subject = { userId: session.userId, user, groupId: session.groupId, groupVersion: group?.version };
		return notices.map(notice => newEnvelope(DomainEvents.notificationSend, notificationCommand(notice, subject, t), new Date(now)));
	};
}
