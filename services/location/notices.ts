import type { NotificationSend } from "../../events/domain.js";
import type { Journey, NotificationData, Point, UserRef } from "../../events/types.js";
import { fullName } from "../../lib/names.js";
import type { Thresholds } from "./session.js";
import type { Notice } from "./state-machine.js";

/**
 * The words of the notifications the location service sends (API.md §3: titles name the user;
 * bodies say what happened and, for journeys, where to and by when). Pure, so the texts are
 * reviewed and tested in one place.
 */

export interface NoticeSubject {
	userId: string;
	/** The user's name as the membership projection knows it (null: not known yet). */
	user: Pick<UserRef, "name" | "surname"> | null;
	groupId: string;
	/** The group version the projection had: lets the notification service know how fresh our view was. */
	groupVersion?: number;
}

/** The user as texts name them; "A member" when the projection does not know them (yet). */
export const memberName = (user: Pick<UserRef, "name" | "surname"> | null): string => fullName(user, "A member");

/** "2025-03-14 18:30 UTC": unambiguous for readers in any time zone. */
export function formatTime(iso: string): string {
	const date = new Date(iso);
	return Number.isNaN(date.getTime()) ? iso : `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** "45 s", "5 min", "1 h 30 min": thresholds as people say them. */
export function formatDuration(ms: number): string {
	const seconds = Math.round(ms / 1000);
	if (seconds < 60) return `${seconds} s`;
	const minutes = Math.round(seconds / 60);
	if (minutes < 60) return `${minutes} min`;
	const hours = Math.floor(minutes / 60);
	return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
}

const formatPlace = (point: Point) => `${point.latitude.toFixed(5)}, ${point.longitude.toFixed(5)}`;
const lastKnown = (point: Point | null | undefined) =>
	point ? `Last known position: ${formatPlace(point)} at ${formatTime(point.timestamp)}.` : "No position is known yet.";
const trip = (journey: Journey) => `to ${journey.destination.name} (${journey.mode}), expected by ${formatTime(journey.eta)}`;

/** Title and body of one notice. */
export function noticeText(notice: Notice, subject: NoticeSubject, t: Thresholds): { title: string; body: string } {
	const who = memberName(subject.user);
	const journey = notice.journey;
	const onTheWay = journey ? ` on the way ${trip(journey)}` : "";
	switch (notice.kind) {
		case "JOURNEY_STARTED":
			return { title: `${who} started a journey`, body: `${who} is on the way${journey ? ` ${trip(journey)}` : ""}.` };
		case "JOURNEY_ENDED":
			return { title: `${who} ended their journey`, body: `${who} stopped the journey${journey ? ` ${trip(journey)}` : ""} before arriving.` };
		case "ARRIVED":
			return journey
				? {
						title: `${who} arrived at ${journey.destination.name}`,
						body: `${who} arrived safely at ${journey.destination.name} (expected by ${formatTime(journey.eta)}).`,
					}
				: { title: `${who} arrived`, body: `${who} arrived safely.` };
		case "LATE":
			return { title: `${who} is late`, body: `${who} has not arrived yet${onTheWay}.` };
		case "STUCK":
			return { title: `${who} seems stuck`, body: `${who} has not moved more than ${t.stuckRadiusM} m for ${formatDuration(t.stuckAfterMs)}${onTheWay}.` };
		case "OFFLINE":
			return journey
				? { title: `${who} went offline`, body: `No position from ${who} for ${formatDuration(t.offlineAfterMs)}${onTheWay}.` }
				: {
						title: `${who} went offline during an SOS`,
						body: `No position from ${who} for ${formatDuration(t.offlineAfterMs)} since the SOS. ${lastKnown(notice.position)}`,
					};
		case "SOS":
			return { title: `${who} raised an SOS`, body: `${who} needs help now. ${lastKnown(notice.position)}` };
		case "PLACE_ARRIVED": {
			const place = notice.place?.name ?? "a place";
			return { title: `${who} arrived at ${place}`, body: `${who} arrived at ${place}.` };
		}
		case "PLACE_LEFT": {
			const place = notice.place?.name ?? "a place";
			return { title: `${who} left ${place}`, body: `${who} left ${place}.` };
		}
		case "JOURNEY_UPDATED":
			return journey
				? {
						title: `${who} now expects to arrive by ${formatTime(journey.eta)}`,
						body: `${who} moved the arrival time: on the way ${trip(journey)}.`,
					}
				: { title: `${who} changed their journey`, body: `${who} changed their journey.` };
		case "SOS_ENDED":
			return { title: `${who}'s SOS is over`, body: `${who} stopped the SOS. ${lastKnown(notice.position)}` };
		default:
			return { title: `${who}: ${notice.kind}`, body: who };
	}
}

/**
 * The facts a notice's texts are written from, as data: a client writes the ETA and the position's
 * time in its viewer's own time zone instead of the texts' UTC.
 */
export function noticeData(notice: Notice): NotificationData | undefined {
	const data: NotificationData = {};
	const journey = notice.journey;
	if (journey) {
		const { name, latitude, longitude } = journey.destination;
		Object.assign(data, { eta: journey.eta, destination: { name, latitude, longitude }, mode: journey.mode });
	}
	if (notice.position) data.position = { latitude: notice.position.latitude, longitude: notice.position.longitude, timestamp: notice.position.timestamp };
	if (notice.place?.name) data.place = { name: notice.place.name };
	return Object.keys(data).length ? data : undefined;
}

/** The `notifications.send` command for a notice (API.md §5). */
export function notificationCommand(notice: Notice, subject: NoticeSubject, t: Thresholds): NotificationSend {
	const { title, body } = noticeText(notice, subject, t);
	const data = noticeData(notice);
	if (notice.audience === "coMembers") {
		// Everyone sharing a group with the user, each once, whatever the number of shared groups.
		return { target: { coMembersOf: subject.userId }, kind: notice.kind, title, body, subjectUserId: subject.userId, ...(data ? { data } : {}) };
	}
	return {
		target: { groupId: subject.groupId },
		kind: notice.kind,
		title,
		body,
		groupId: subject.groupId,
		subjectUserId: subject.userId,
		...(data ? { data } : {}),
		...(subject.groupVersion !== undefined ? { groupVersion: subject.groupVersion } : {}),
	};
}
