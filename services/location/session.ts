import type { AlertKind, Destination, Journey, JourneyMode, Point, Session, SessionPlace, SessionState, UserRef } from "../../events/types.js";
import type { GeofenceState } from "./places/session-places.js";
import { fullName } from "../../lib/names.js";

/**
 * A session as the location service keeps it: one user's state inside one group (SPEC §5).
 * The public `Session` of API.md is a view of it (`toApiSession`); the other fields drive the
 * timers and are persisted, so the checks survive a restart of the service.
 */

/** The thresholds of API.md §1, in milliseconds and metres. */
export interface Thresholds {
	offlineAfterMs: number;
	stuckAfterMs: number;
	stuckRadiusM: number;
	arrivalRadiusM: number;
}

/** Where the user was first seen standing, and since when (server time, ms): the stuck circle's centre. */
export interface Anchor {
	latitude: number;
	longitude: number;
	since: number;
}

export interface JourneyData extends Journey {
	/** Alerts already announced in this journey: each one notifies once, even if it clears and returns. */
	notified: AlertKind[];
}

export interface SosData {
	startedAt: string;
	/** The one session of the user's SOS that announces it going offline (one notification, not one per group). */
	lead: boolean;
	offlineNotified: boolean;
}

export interface SessionData {
	groupId: string;
	userId: string;
	state: SessionState;
	/** Sharing switched on in this group; an INACTIVE session that still shares has gone silent. */
	sharing: boolean;
	/**
	 * The member's device said it may not read their location (permission denied): shown to the
	 * group as `locationBlocked` until the next position arrives or sharing is switched on or off.
	 */
	blocked: boolean;
	position: Point | null;
	/** Server time (ms) of the last sign of life: a sample, or switching sharing, a journey or an SOS on. */
	lastSeenAt: number | null;
	journey: JourneyData | null;
	anchor: Anchor | null;
	sos: SosData | null;
	/** Number of points stored in the route (the route itself is only read when needed). */
	routeLength: number;
	/** The group's places the user is inside, and the place versions that set was decided against (places/session-places.ts). */
	geofence: GeofenceState | null;
	/** Session.place (API.md §6.4): the most specific place of `geofence.inside`, named as it was then. */
	place: SessionPlace | null;
	/** Earliest server time (ms) at which a time-based rule may fire; null when none can. */
	nextCheckAt: number | null;
	updatedAt: string;
	/** Optimistic concurrency: every write is conditional on it and increments it; 0 = not stored yet. */
	version: number;
}

export interface NewJourney {
	destination: Destination;
	eta: string;
	mode: JourneyMode;
}

/** Routes keep at most this many points; beyond it they are thinned, keeping the journey's shape. */
export const MAX_ROUTE_POINTS = 1000;

/** The state of a session that is nowhere: never seen, or its member gone. */
export const BLANK_SESSION_STATE = {
	state: "INACTIVE",
	sharing: false,
	blocked: false,
	position: null,
	lastSeenAt: null,
	journey: null,
	anchor: null,
	sos: null,
	routeLength: 0,
	geofence: null,
	place: null,
	nextCheckAt: null,
} as const;

/** `${groupId}:${userId}`: a session's identity (its primary key, and its key in every map here). */
export const sessionId = (groupId: string, userId: string) => `${groupId}:${userId}`;

/** A never-seen member: invisible, nowhere. */
export function newSession(groupId: string, userId: string, version = 0): SessionData {
	return {
		groupId,
		userId,
		...BLANK_SESSION_STATE,
		// Never changed: the epoch sorts never-seen members last.
		updatedAt: new Date(0).toISOString(),
		version,
	};
}

/** States in which a route is being recorded. */
export const recordsRoute = (state: SessionState) => state === "ROUTING" || state === "WARNING" || state === "SOS";

/**
 * The API's Session, plus extra fields clients may use: `sharing`, and `locationBlocked: true` while
 * the member's device refuses to tell their location (absent otherwise).
 */
export function toApiSession(session: SessionData): Session & { sharing: boolean; locationBlocked?: true } {
	const journey = session.journey;
	return {
		groupId: session.groupId,
		userId: session.userId,
		state: session.state,
		sharing: session.sharing,
		position: session.position ? { ...session.position } : null,
		journey: journey
			? { destination: { ...journey.destination }, eta: journey.eta, mode: journey.mode, startedAt: journey.startedAt, alerts: [...journey.alerts] }
			: null,
		place: session.place ? { ...session.place } : null,
		updatedAt: session.updatedAt,
		...(session.blocked ? { locationBlocked: true as const } : {}),
	};
}

/** What operators see of a member's session (`location.groupStates`): the API view plus the timers. */
export function toOperatorSession(session: SessionData, member: Pick<UserRef, "name" | "surname">) {
	return {
		...toApiSession(session),
		name: fullName(member),
		sos: session.sos,
		lastSeenAt: session.lastSeenAt === null ? null : new Date(session.lastSeenAt).toISOString(),
		nextCheckAt: session.nextCheckAt === null ? null : new Date(session.nextCheckAt).toISOString(),
	};
}

/**
 * Thins a route that grew past `max` points: keeps the first and last points and every second
 * one in between, so a long journey keeps its whole shape at half the resolution.
 */
export function capRoute(points: Point[], max = MAX_ROUTE_POINTS): Point[] {
	let route = points;
	while (route.length > max && route.length > 2) {
		const last = route[route.length - 1];
		route = [...route.filter((_, index) => index % 2 === 0 && index !== route.length - 1), last];
	}
	return route;
}
