import { DomainEvents, type Envelope } from "../../events/domain.js";
import type { User } from "../../events/types.js";
import { newEnvelope } from "../../mixins/outbox-relay.mixin.js";
import type { GroupProjectionDoc } from "../../mixins/membership.mixin.js";
import { notificationCommand } from "./notices.js";
import type { SessionData, Thresholds } from "./session.js";
import type { Notice } from "./state-machine.js";

/** Builds the outbox envelopes of a transition's notices (`[]` when there are none). */
export type NoticeEnvelopes = (session: SessionData, notices: Notice[], now: number, caller?: User) => Promise<Envelope[]>;

/**
 * The `notifications.send` commands for a transition's notices, naming the user as the group knows
 * them (the caller's own name when the projection does not list them yet).
 */
export function noticeEnvelopes(loadGroup: (groupId: string) => Promise<GroupProjectionDoc | null>, t: Thresholds): NoticeEnvelopes {
	return async (session, notices, now, caller) => {
		if (!notices.length) return [];
		const group = await loadGroup(session.groupId);
		const member = group?.members.find(m => m.id === session.userId);
		const user = member ?? (caller?.id === session.userId ? caller : null);
		const subject = { userId: session.userId, user, groupId: session.groupId, groupVersion: group?.version };
		return notices.map(notice => newEnvelope(DomainEvents.notificationSend, notificationCommand(notice, subject, t), new Date(now)));
	};
}
