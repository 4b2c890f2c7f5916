import type { Journey, SessionState, UserRef } from "./types.js";

/** Human wording for the contract's codes and times. */

export const fullName = (user: Pick<UserRef, "name" | "surname"> | undefined | null) => (user ? `${user.name} ${user.surname}`.trim() : "Someone");

export const initials = (user: Pick<UserRef, "name" | "surname"> | undefined | null) =>
	user ? `${user.name.charAt(0)}${user.surname.charAt(0)}`.toUpperCase() : "?";

export const STATE_LABELS: Record<SessionState, string> = {
	ACTIVE: "Sharing",
	INACTIVE: "Not sharing",
	ROUTING: "On a journey",
	WARNING: "Needs attention",
	SOS: "SOS",
};

export const ALERT_LABELS: Record<string, string> = { LATE: "late", STUCK: "not moving", OFFLINE: "offline" };

export const MODE_LABELS: Record<string, string> = { walking: "walking", cycling: "cycling", driving: "driving" };

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export const clockTime = (iso: string) => timeFormat.format(new Date(iso));
export const dateTime = (iso: string) => dateTimeFormat.format(new Date(iso));

/** "just now", "5 min ago", "2 h ago", or a date for older times. */
export function ago(iso: string, now = Date.now()): string {
	const seconds = Math.round((now - Date.parse(iso)) / 1000);
	if (!Number.isFinite(seconds)) return "";
	if (seconds < 0) return "just now";
	if (seconds < 45) return "just now";
	if (seconds < 90) return "1 min ago";
	const minutes = Math.round(seconds / 60);
	if (minutes < 60) return `${minutes} min ago`;
	const hours = Math.round(minutes / 60);
	if (hours < 24) return `${hours} h ago`;
	return dateTime(iso);
}

export const coords = (lat: number, lng: number) => `${lat.toFixed(5)}, ${lng.toFixed(5)}`;

export function journeySummary(journey: Journey): string {
	return `To ${journey.destination.name} by ${clockTime(journey.eta)} (${MODE_LABELS[journey.mode] ?? journey.mode})`;
}

/** "in 5 min", "in 3 h", "in 6 days" (for expiry times); "now" once past. */
export function until(iso: string, now = Date.now()): string {
	const minutes = Math.round((Date.parse(iso) - now) / 60_000);
	if (!Number.isFinite(minutes)) return "";
	if (minutes <= 0) return "now";
	if (minutes < 60) return `in ${minutes} min`;
	const hours = Math.round(minutes / 60);
	if (hours < 48) return `in ${hours} h`;
	return `in ${Math.round(hours / 24)} days`;
}

export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

// ---- the details of a position (API.md §6.3); each is absent when the sender did not know it

/** Below this a battery is shown as low (the phone may soon stop reporting). */
export const LOW_BATTERY = 20;

/** "34 %". */
export const batteryLevel = (battery: number) => `${Math.round(battery)} %`;

/** The app a position came from, when it is a phone app; nothing for the web client. */
export const SOURCE_LABELS: Record<string, string> = { owntracks: "OwnTracks", osmand: "Traccar/OsmAnd" };

/** "±80 m", "±1.2 km" (an accuracy radius). */
export function accuracyText(metres: number): string {
	return metres < 1000 ? `±${Math.round(metres)} m` : `±${(metres / 1000).toFixed(1)} km`;
}

/** "12 km/h" from metres per second. */
export const speedText = (metresPerSecond: number) => `${Math.round(metresPerSecond * 3.6)} km/h`;

const COMPASS = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"];
/** "NE (45°)" from degrees clockwise from north. */
export const headingText = (degrees: number) => `${COMPASS[Math.round(degrees / 45) % 8]} (${Math.round(degrees)}°)`;

/** "35 m above sea level". */
export const altitudeText = (metres: number) => `${Math.round(metres)} m above sea level`;
