import type { Point } from "../../events/types.js";
import { distanceMeters, withinRadius, type LatLng } from "./geo.js";
import type { Anchor, JourneyData, SessionData, Thresholds } from "./session.js";

/**
 * The time- and distance-based rules of SPEC §5, each a pure function of the session, the
 * thresholds and an injected clock (`now`, ms), so each is testable without waiting.
 */

/** No sign of life for `offlineAfter`. */
export function offlineDue(lastSeenAt: number | null, now: number, t: Pick<Thresholds, "offlineAfterMs">): boolean {
	return lastSeenAt !== null && now - lastSeenAt >= t.offlineAfterMs;
}

/** The ETA has passed and the user has not arrived. */
export function lateDue(journey: Pick<JourneyData, "eta">, now: number): boolean {
	return now > Date.parse(journey.eta);
}

/** The user has not left the stuck circle for `stuckAfter`. */
export function stuckDue(anchor: Anchor | null, now: number, t: Pick<Thresholds, "stuckAfterMs">): boolean {
	return anchor !== null && now - anchor.since >= t.stuckAfterMs;
}

/** Within `arrivalRadius` of the destination, or within the place's radius when the journey goes to a bigger place (API.md §6.4). */
export function hasArrived(point: LatLng, journey: Pick<JourneyData, "destination">, t: Pick<Thresholds, "arrivalRadiusM">): boolean {
	return withinRadius(point, journey.destination, Math.max(t.arrivalRadiusM, journey.destination.radius ?? 0));
}

/** Out of the stuck circle: the user is moving again, and the circle moves with them. */
export function leftStuckCircle(point: LatLng, anchor: Anchor, t: Pick<Thresholds, "stuckRadiusM">): boolean {
	return distanceMeters(point, anchor) > t.stuckRadiusM;
}

type Fix = Pick<Point, "timestamp" | "latitude" | "longitude">;

/**
 * A sample older than the current position is stale: it must not move the session back in time.
 * One of the same millisecond is stale only when it is the same fix (a resend: the phone apps send
 * again what they think was not received); another place in the same millisecond is accepted, after
 * the first (a client that stamps samples to the millisecond may well send two in one; acknowledging
 * the second and dropping it lost it without a word).
 */
export function isStale(sample: Fix, position: Fix | null): boolean {
	if (position === null) return false;
	const at = Date.parse(sample.timestamp);
	const current = Date.parse(position.timestamp);
	return at < current || (at === current && sample.latitude === position.latitude && sample.longitude === position.longitude);
}

/**
 * When the periodic check must look at this session next (ms), or null when no timer can fire.
 * Persisted with the session, so a restarted (or another) instance knows what is due.
 */
export function nextCheckAt(session: SessionData, t: Thresholds): number | null {
	const candidates: number[] = [];
	const offlineAt = session.lastSeenAt === null ? null : session.lastSeenAt + t.offlineAfterMs;
	switch (session.state) {
		case "ACTIVE":
			if (offlineAt !== null) candidates.push(offlineAt);
			break;
		case "ROUTING":
		case "WARNING": {
			const journey = session.journey;
			if (!journey) break;
			if (!journey.alerts.includes("OFFLINE") && offlineAt !== null) candidates.push(offlineAt);
			// LATE is due strictly after the ETA.
			if (!journey.alerts.includes("LATE")) candidates.push(Date.parse(journey.eta) + 1);
			if (!journey.alerts.includes("STUCK") && session.anchor) candidates.push(session.anchor.since + t.stuckAfterMs);
			break;
		}
		case "SOS":
			if (session.sos?.lead && !session.sos.offlineNotified && offlineAt !== null) candidates.push(offlineAt);
			break;
		case "INACTIVE":
			break;
	}
	return candidates.length ? Math.min(...candidates) : null;
}
