import { invalidState } from "../../events/errors.js";
import type { AlertKind, Journey, NotificationKind, Point, SessionPlace } from "../../events/types.js";
import { placesOnSample, placesOnTransition, placesRebased, samePlace, type PlacesOutcome, type VersionedPlace } from "./places/session-places.js";
import { hasArrived, isStale, lateDue, leftStuckCircle, nextCheckAt, offlineDue, stuckDue } from "./rules.js";
import { compactPoint } from "./point.js";
import type { JourneyData, NewJourney, SessionData, Thresholds } from "./session.js";

/**
 * The session state machine of SPEC §5 as one pure function: a session, an event, the clock and
 * the thresholds in; the next session, what happens to the route and which notifications to
 * send out. An event that does not apply to the current state throws INVALID_STATE (409) and
 * changes nothing.
 */

export type LocationEvent =
	| { type: "sharingStarted" }
	| { type: "sharingStopped" }
	/** The member's device may not read their location (permission denied); the next sample clears it. */
	| { type: "locationBlocked" }
	/** `places`: the group's places, for arrivals and departures (absent: the places are left as they were). */
	| { type: "sample"; point: Point; places?: readonly VersionedPlace[] }
	/** The group's places changed: Session.place is decided again from the last position, silently. */
	| { type: "placesChanged"; places: readonly VersionedPlace[] }
	/** An OwnTracks transition: the phone saw the user enter or leave one of the group's places. */
	| { type: "placeTransition"; places: readonly VersionedPlace[]; placeId: string; event: "enter" | "leave" }
	/** A running journey's ETA moves (API.md §6.4). */
	| { type: "etaChanged"; eta: string }
	| { type: "journeyStarted"; journey: NewJourney }
	| { type: "journeyStopped" }
	/** `lead`: this session announces the SOS (and later its going offline) for all the user's groups. */
	| { type: "sosRaised"; point: Point; lead: boolean }
	/** `announce`: this session carries the one "SOS is over" notification. */
	| { type: "sosStopped"; announce: boolean }
	/** The periodic check: time-based rules only. */
	| { type: "timer" };

export type RouteChange = { kind: "keep" } | { kind: "append"; points: Point[] } | { kind: "reset"; points: Point[] };

/** A notification to send: to the session's group, or once to everyone sharing a group with the user. */
export interface Notice {
	kind: NotificationKind;
	audience: "group" | "coMembers";
	/** The journey it is about (for the text), also when the journey just ended. */
	journey?: Journey;
	/** The user's last known position (for SOS texts). */
	position?: Point | null;
	/** The place arrived at or left (PLACE_ARRIVED, PLACE_LEFT). */
	place?: SessionPlace;
}

export interface Transition {
	session: SessionData;
	/** Something visible changed (state, position, journey): members are told live. */
	changed: boolean;
	route: RouteChange;
	notices: Notice[];
}

const KEEP: RouteChange = { kind: "keep" };
const RESET: RouteChange = { kind: "reset", points: [] };

const publicJourney = ({ notified: _notified, ...journey }: JourneyData): Journey => journey;
/** Positions and route points keep what the sender knew (accuracy, battery, source…), and nothing else. */
const toPoint = compactPoint;
const without = (alerts: AlertKind[], kind: AlertKind) => alerts.filter(alert => alert !== kind);

function reject(session: SessionData, event: LocationEvent, why: string): never {
	throw invalidState(why, { state: session.state, event: event.type });
}

/** Applies one event. Throws INVALID_STATE when the event does not apply to the session's state. */
export function decide(session: SessionData, event: LocationEvent, now: number, t: Thresholds): Transition {
	const applied = applyEvent(session, event, now, t);
	if (!applied) {
		// Ignored (a stale sample): nothing changes, not even the timers.
		return { session, changed: false, route: KEEP, notices: [] };
	}
	const timed = applyTimers(applied.session, now, t);
	const changed = applied.changed || timed.changed;
	const next: SessionData = { ...timed.session, updatedAt: changed ? new Date(now).toISOString() : session.updatedAt };
	next.nextCheckAt = nextCheckAt(next, t);
	return { session: next, changed, route: applied.route, notices: [...applied.notices, ...timed.notices] };
}

interface Step {
	session: SessionData;
	changed: boolean;
	route: RouteChange;
	notices: Notice[];
}

function applyEvent(s: SessionData, event: LocationEvent, now: number, t: Thresholds): Step | null {
	const step = (session: SessionData, route: RouteChange = KEEP, notices: Notice[] = []): Step => ({ session, changed: true, route, notices });
	switch (event.type) {
		case "sharingStarted":
			if (s.state !== "INACTIVE") reject(s, event, `Sharing is already on (${s.state})`);
			return step({ ...s, state: "ACTIVE", sharing: true, blocked: false, lastSeenAt: now });

		case "sharingStopped":
			switch (s.state) {
				case "ACTIVE":
					return step({ ...s, state: "INACTIVE", sharing: false, blocked: false });
				case "INACTIVE":
					if (!s.sharing) reject(s, event, "Sharing is not on");
					return step({ ...s, sharing: false, blocked: false });
				case "ROUTING":
				case "WARNING":
					// Stopping sharing ends the journey: the group must not keep waiting for an arrival.
					return step({ ...s, state: "INACTIVE", sharing: false, blocked: false, journey: null, anchor: null }, RESET, [
						{ kind: "JOURNEY_ENDED", audience: "group", journey: publicJourney(s.journey!) },
					]);
				case "SOS":
					return reject(s, event, "Sharing cannot be stopped during an SOS; stop the SOS first");
			}
			break;

		case "locationBlocked":
			if (!s.sharing && s.state !== "SOS") reject(s, event, "Sharing is not on in this group");
			if (s.blocked) return null;
			// No position will come: the group must not see "Sharing" with an old one. Sharing stays on,
			// so the first position after the member allows it again brings the session back (as after
			// going silent); a journey or an SOS goes on, marked, and its own offline alert still fires.
			return step({ ...s, blocked: true, state: s.state === "ACTIVE" ? "INACTIVE" : s.state });

		case "sample": {
			const step = applySample(s, event, now, t);
			if (!step || !event.places) return step;
			return withPlaces(step, placesOnSample(s.geofence, event.places, s.position, step.session.position!));
		}

		case "placesChanged": {
			const placed = placesRebased(s.geofence, event.places, s.position);
			// Nothing visible changed: nothing to write (the next sample decides the same, from the same position).
			if (samePlace(placed.place, s.place)) return null;
			return { session: { ...s, geofence: placed.geofence, place: placed.place }, changed: true, route: KEEP, notices: [] };
		}

		case "placeTransition": {
			if (!s.sharing && s.state !== "SOS") reject(s, event, "Sharing is not on in this group");
			const placed = placesOnTransition(s.geofence, event.places, s.position, { placeId: event.placeId, event: event.event });
			if (!placed.crossings.length && samePlace(placed.place, s.place)) return null;
			return withPlaces({ session: s, changed: true, route: KEEP, notices: [] }, placed);
		}

		case "etaChanged": {
			if (s.state !== "ROUTING" && s.state !== "WARNING") reject(s, event, "There is no journey to update");
			const before = s.journey!;
			const moved = { ...before, eta: event.eta };
			// A LATE alert clears when the new ETA is ahead, and may announce itself again if that one passes too.
			const clears = before.alerts.includes("LATE") && !lateDue(moved, now);
			const journey: JourneyData = clears ? { ...moved, alerts: without(before.alerts, "LATE"), notified: before.notified.filter(k => k !== "LATE") } : moved;
			return step({ ...s, state: journey.alerts.length ? "WARNING" : "ROUTING", journey }, KEEP, [
				{ kind: "JOURNEY_UPDATED", audience: "group", journey: publicJourney(journey) },
			]);
		}

		case "journeyStarted":
			if (s.state !== "INACTIVE" && s.state !== "ACTIVE") reject(s, event, `A journey cannot start now (${s.state})`);
			{
				const journey: JourneyData = {
					...event.journey,
					destination: { ...event.journey.destination },
					startedAt: new Date(now).toISOString(),
					alerts: [],
					notified: [],
				};
				const anchor = s.position ? { latitude: s.position.latitude, longitude: s.position.longitude, since: now } : null;
				return step({ ...s, state: "ROUTING", sharing: true, lastSeenAt: now, journey, anchor }, RESET, [
					{ kind: "JOURNEY_STARTED", audience: "group", journey: publicJourney(journey) },
				]);
			}

		case "journeyStopped":
			if (s.state !== "ROUTING" && s.state !== "WARNING") reject(s, event, "There is no journey to stop");
			return step({ ...s, state: "ACTIVE", journey: null, anchor: null }, RESET, [
				{ kind: "JOURNEY_ENDED", audience: "group", journey: publicJourney(s.journey!) },
			]);

		case "sosRaised": {
			if (s.state === "SOS") reject(s, event, "An SOS is already on");
			const point = toPoint(event.point);
			// The SOS supersedes a journey: the route restarts from where the SOS was raised.
			const session: SessionData = {
				...s,
				state: "SOS",
				sharing: true,
				position: point,
				lastSeenAt: now,
				journey: null,
				anchor: null,
				sos: { startedAt: new Date(now).toISOString(), lead: event.lead, offlineNotified: false },
			};
			return step(session, { kind: "reset", points: [point] }, event.lead ? [{ kind: "SOS", audience: "coMembers", position: point }] : []);
		}

		case "sosStopped":
			if (s.state !== "SOS") reject(s, event, "There is no SOS to stop");
			return step({ ...s, state: "ACTIVE", sos: null }, RESET, event.announce ? [{ kind: "SOS_ENDED", audience: "coMembers", position: s.position }] : []);

		case "timer":
			return { session: s, changed: false, route: KEEP, notices: [] };
	}
	return null;
}

/** A step with the session's places as `placed` says, and a notice per crossing. */
function withPlaces(step: Step, placed: PlacesOutcome): Step {
	const notices: Notice[] = placed.crossings.map(({ place, kind }) => ({
		kind: kind === "arrived" ? "PLACE_ARRIVED" : "PLACE_LEFT",
		audience: "group",
		place,
	}));
	return { ...step, session: { ...step.session, geofence: placed.geofence, place: placed.place }, notices: [...step.notices, ...notices] };
}

function applySample(s: SessionData, event: Extract<LocationEvent, { type: "sample" }>, now: number, t: Thresholds): Step | null {
	if (!s.sharing && s.state !== "SOS") reject(s, event, "Sharing is not on in this group");
	if (isStale(event.point, s.position)) return null;
	const point = toPoint(event.point);
	// A position came: whatever blocked the device before, it tells the location again.
	const seen: SessionData = { ...s, position: point, lastSeenAt: now, blocked: false };

	switch (s.state) {
		case "INACTIVE":
			// Gone silent while sharing: the first sample brings it back.
			return { session: { ...seen, state: "ACTIVE" }, changed: true, route: KEEP, notices: [] };
		case "ACTIVE":
			return { session: seen, changed: true, route: KEEP, notices: [] };
		case "SOS":
			return { session: seen, changed: true, route: { kind: "append", points: [point] }, notices: [] };
		case "ROUTING":
		case "WARNING": {
			const journey = s.journey!;
			if (hasArrived(point, journey, t)) {
				return {
					session: { ...seen, state: "ACTIVE", journey: null, anchor: null },
					changed: true,
					route: RESET,
					notices: [{ kind: "ARRIVED", audience: "group", journey: publicJourney(journey) }],
				};
			}
			// A sample clears OFFLINE; leaving the circle clears STUCK and moves the circle; LATE stays.
			let alerts = without(journey.alerts, "OFFLINE");
			let anchor = s.anchor;
			if (!anchor || leftStuckCircle(point, anchor, t)) {
				anchor = { latitude: point.latitude, longitude: point.longitude, since: now };
				alerts = without(alerts, "STUCK");
			}
			return {
				session: { ...seen, state: alerts.length ? "WARNING" : "ROUTING", journey: { ...journey, alerts }, anchor },
				changed: true,
				route: { kind: "append", points: [point] },
				notices: [],
			};
		}
	}
}

/** The time-based rules: offline, late, stuck. Each alert notifies once per journey (once per SOS). */
export function applyTimers(s: SessionData, now: number, t: Thresholds): { session: SessionData; changed: boolean; notices: Notice[] } {
	switch (s.state) {
		case "ACTIVE":
			// Silent sharers become invisible, quietly; sharing stays on so the next sample revives them.
			if (offlineDue(s.lastSeenAt, now, t)) return { session: { ...s, state: "INACTIVE" }, changed: true, notices: [] };
			return { session: s, changed: false, notices: [] };

		case "ROUTING":
		case "WARNING": {
			const journey = s.journey!;
			const due: AlertKind[] = [];
			if (!journey.alerts.includes("OFFLINE") && offlineDue(s.lastSeenAt, now, t)) due.push("OFFLINE");
			if (!journey.alerts.includes("LATE") && lateDue(journey, now)) due.push("LATE");
			if (!journey.alerts.includes("STUCK") && stuckDue(s.anchor, now, t)) due.push("STUCK");
			if (!due.length) return { session: s, changed: false, notices: [] };
			const alerts = [...journey.alerts, ...due];
			const fresh = due.filter(kind => !journey.notified.includes(kind));
			const next: JourneyData = { ...journey, alerts, notified: [...journey.notified, ...fresh] };
			return {
				session: { ...s, state: "WARNING", journey: next },
				changed: true,
				notices: fresh.map(kind => ({ kind, audience: "group" as const, journey: publicJourney(next) })),
			};
		}

		case "SOS":
			// Every SOS session goes silent together; only the lead announces it, once per SOS.
			if (s.sos?.lead && !s.sos.offlineNotified && offlineDue(s.lastSeenAt, now, t)) {
				return {
					session: { ...s, sos: { ...s.sos, offlineNotified: true } },
					changed: false,
					notices: [{ kind: "OFFLINE", audience: "coMembers", position: s.position }],
				};
			}
			return { session: s, changed: false, notices: [] };

		case "INACTIVE":
			return { session: s, changed: false, notices: [] };
	}
}

/** Makes this SOS session the lead (its previous lead left the group), so going offline is still announced. */
export function promoteSosLead(s: SessionData, t: Thresholds): SessionData {
	if (s.state !== "SOS" || !s.sos || s.sos.lead) return s;
	const next = { ...s, sos: { ...s.sos, lead: true } };
	return { ...next, nextCheckAt: nextCheckAt(next, t) };
}
