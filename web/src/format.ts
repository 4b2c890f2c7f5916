import type { Journey, SessionState, UserRef } from "./types";

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
