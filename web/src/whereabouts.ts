import { clockTime } from "./format.js";
import { distanceM, type LatLng } from "./geo.js";
import type { Place, Session, SessionState } from "./types.js";

/**
 * Where a member is and whether the group can trust it, in words (pure: no DOM, no clock of its
 * own): "at Home", "350 m from School", and "Sharing" / "No signal since 14:02" / "Stopped sharing
 * at 14:02" / "Location blocked". Nothing here asks an outside service: the places are the group's.
 */

/** Farther than this from the edge of every place, a position is told by its coordinates. */
export const NEAR_PLACE_M = 2_000;

/** "350 m", "1.2 km" (a distance between places; rounded to what a reader can use). */
export function distanceText(metres: number): string {
	if (metres < 1000) return `${Math.max(10, Math.round(metres / 10) * 10)} m`;
	return `${(metres / 1000).toFixed(metres < 10_000 ? 1 : 0)} km`;
}

/** "44.1379° N, 12.2433° E": four decimals (about 10 m), with the hemispheres. */
export function coordinateText({ latitude, longitude }: LatLng): string {
	const lat = `${Math.abs(latitude).toFixed(4)}° ${latitude < 0 ? "S" : "N"}`;
	const lng = `${Math.abs(longitude).toFixed(4)}° ${longitude < 0 ? "W" : "E"}`;
	return `${lat}, ${lng}`;
}

/**
 * A position in words from the group's places: "at Home" inside one (the smallest, when several
 * overlap; or the place the server says the member is in), "350 m from School" near one (measured
 * from its edge), else its coordinates.
 */
export function placeText(position: LatLng, places: readonly Place[], inside?: { name: string } | null): string {
	if (inside) return `at ${inside.name}`;
	let within: Place | null = null;
	let nearest: { place: Place; metres: number } | null = null;
	for (const place of places) {
		const fromEdge = distanceM(position, place) - place.radius;
		if (fromEdge <= 0) {
			if (!within || place.radius < within.radius) within = place;
		} else if (!nearest || fromEdge < nearest.metres) nearest = { place, metres: fromEdge };
	}
	if (within) return `at ${within.name}`;
	if (nearest && nearest.metres <= NEAR_PLACE_M) return `${distanceText(nearest.metres)} from ${nearest.place.name}`;
	return coordinateText(position);
}

/** What this server adds to a Session (API.md allows extra fields): see services/location/session.ts. */
export type SharedSession = Session & { sharing?: boolean; locationBlocked?: boolean };

/** How far a member's position can be trusted, each with its own look and words. */
export type SharingTone = "live" | "journey" | "warning" | "sos" | "blocked" | "silent" | "stopped" | "off";

export interface SharingStatus {
	tone: SharingTone;
	/** The badge: "Sharing", "No signal", "Stopped sharing", "Location blocked"… */
	label: string;
	/** One sentence with the time and what to do; null when the label says it all. */
	detail: string | null;
}

/** "Location blocked" and how to fix it: for the member themself, or for the group. */
export function blockedStatus(mine: boolean, lastTime: string | null = null): SharingStatus {
	return {
		tone: "blocked",
		label: "Location blocked",
		detail: mine
			? "Your browser does not let PositionPal read your location, so your group is told it is blocked. Allow location for this site (the icon left of the address), then reload the page."
			: `Their device refuses to tell the location${lastTime ? ` (last known at ${lastTime})` : ""}. Ask them to allow location for PositionPal.`,
	};
}

const LIVE: Record<Exclude<SessionState, "INACTIVE">, [SharingTone, string]> = {
	ACTIVE: ["live", "Sharing"],
	ROUTING: ["journey", "On a journey"],
	WARNING: ["warning", "Needs attention"],
	SOS: ["sos", "SOS"],
};

/**
 * The status of a member's sharing as the group (`mine` false) or the member themself (`mine`
 * true) should read it. A deliberate stop and a silent device look different, and each says what
 * to do; a device that refuses to tell its location is never shown as sharing.
 */
export function sharingStatus(session: SharedSession | undefined, mine = false): SharingStatus {
	if (!session) return { tone: "off", label: "Not sharing", detail: null };
	const lastTime = session.position ? clockTime(session.position.timestamp) : null;
	if (session.locationBlocked && session.state !== "SOS") return blockedStatus(mine, lastTime);
	if (session.state !== "INACTIVE") {
		const [tone, label] = LIVE[session.state];
		return { tone, label, detail: session.locationBlocked ? "Location blocked on the device: the position may be old." : null };
	}
	if (session.sharing) {
		const since = lastTime ?? clockTime(session.updatedAt);
		return {
			tone: "silent",
			label: "No signal",
			detail: mine
				? `No signal since ${since}: keep this page open in front (browsers stop sending from a background tab), or use the phone app.`
				: `No signal since ${since} — phone may be off or app in background. “Where are you now?” asks it to report.`,
		};
	}
	if (session.position) {
		const at = clockTime(session.updatedAt);
		return {
			tone: "stopped",
			label: "Stopped sharing",
			detail: mine
				? `You stopped sharing at ${at}. Press “Share my location” to start again.`
				: `Stopped sharing at ${at} (on purpose). Ask in the chat if you need to know where they are.`,
		};
	}
	return { tone: "off", label: "Not sharing", detail: null };
}

/** Whether positions should go to this session: sharing is on (also when it went silent), or a journey or SOS runs. */
export const sharesIn = (session: Session): boolean => session.state !== "INACTIVE" || (session as SharedSession).sharing === true;
