/**
 * Words the client writes itself, as pure functions (unit-tested without a browser): times in the
 * viewer's own zone, and the server's field errors as plain sentences.
 */

/** The facts a notification carries besides its words (an extra field of Notification). */
export interface NoticeFacts {
	eta?: string;
	position?: { timestamp: string };
}

const dayKey = (date: Date, timeZone?: string) =>
	new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit", timeZone }).format(date);

/** "08:33" today, "Fri 08:33" within a week, "5 Dec 08:33" further: in the viewer's zone (or `timeZone`). */
export function localTime(iso: string, now = new Date(), timeZone?: string): string {
	const date = new Date(iso);
	if (Number.isNaN(date.getTime())) return iso;
	const time = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", timeZone }).format(date);
	if (dayKey(date, timeZone) === dayKey(now, timeZone)) return time;
	const days = Math.abs(date.getTime() - now.getTime()) / 86_400_000;
	const day = new Intl.DateTimeFormat("en-GB", days < 6 ? { weekday: "short", timeZone } : { day: "numeric", month: "short", timeZone }).format(date);
	return `${day} ${time}`;
}

const UTC_STAMP = /(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}) UTC/g;

/**
 * A notification's text with every time in the viewer's zone. The server writes times as
 * "2025-03-14 18:30 UTC"; each is rewritten from the notification's data (the ETA, the position's
 * time) when it names that instant, else from the stamp itself.
 */
export function localizeTimes(text: string, facts?: NoticeFacts, now = new Date(), timeZone?: string): string {
	const exact = [facts?.eta, facts?.position?.timestamp].filter((t): t is string => typeof t === "string" && !Number.isNaN(Date.parse(t)));
	return text.replace(UTC_STAMP, (_stamp, y: string, mo: string, d: string, h: string, mi: string) => {
		const minute = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi));
		const iso = exact.find(t => Math.floor(Date.parse(t) / 60_000) * 60_000 === minute) ?? new Date(minute).toISOString();
		return localTime(iso, now, timeZone);
	});
}

/** One field problem as the API reports it (moleculer's validator, or a service's own check). */
export interface FieldProblem {
	field?: string;
	message?: string;
	type?: string;
	expected?: unknown;
	actual?: unknown;
}

const FIELD_NAMES: Record<string, string> = {
	name: "the name",
	surname: "the last name",
	email: "the email address",
	password: "the password",
	currentPassword: "your current password",
	phone: "the phone number",
	text: "the message",
	eta: "the arrival time",
	mode: "the way of travelling",
	"destination.name": "the destination's name",
	destination: "the destination",
	"destination.latitude": "the destination",
	"destination.longitude": "the destination",
	memberEmails: "the email addresses",
	radius: "the radius",
	title: "the title",
};

/** "destination.name" → "the destination's name"; an unknown "maxUses" → "the max uses". */
export function fieldName(field: string): string {
	const path = field.replace(/\[\d+\]/g, "");
	const known = FIELD_NAMES[path] ?? FIELD_NAMES[path.split(".").at(-1)!];
	if (known) return known;
	const last = path.split(".").at(-1)!;
	return `the ${last.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase()}`;
}

const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** A field problem as a plain sentence: "The destination's name can be at most 100 characters long." */
export function fieldProblemText(problem: FieldProblem): string {
	const what = problem.field ? fieldName(problem.field) : "a value";
	const n = typeof problem.expected === "number" ? problem.expected : Number(problem.expected);
	switch (problem.type) {
		case "required":
		case "stringEmpty":
		case "arrayEmpty":
			return `Please fill in ${what}.`;
		case "stringMin":
			return `${capital(what)} must be at least ${n} character${n === 1 ? "" : "s"} long.`;
		case "stringMax":
			return `${capital(what)} can be at most ${n} characters long.`;
		case "arrayMax":
			return `${capital(what)} can hold at most ${n}.`;
		case "numberMin":
			return `${capital(what)} must be at least ${n}.`;
		case "numberMax":
			return `${capital(what)} can be at most ${n}.`;
		case "email":
			return "That does not look like an email address.";
		case "phone":
			return "Write the phone number with its country code, like +39 333 123 4567.";
		case "date":
			return `${capital(what)} is not a valid time.`;
		case "stringPattern":
			return `${capital(what)} contains characters that are not allowed.`;
		case "enumValue":
			return `Choose one of the offered values for ${what}.`;
		case "string":
		case "number":
		case "boolean":
		case "object":
		case "array":
			return `${capital(what)} has the wrong kind of value.`;
		default: {
			// A service's own message is already a sentence; the validator's name fields in quotes.
			const message = (problem.message ?? "").replace(/The '([^']+)' field/g, (_m, f: string) => capital(fieldName(f))).trim();
			if (!message) return `${capital(what)} is not valid.`;
			return /[.!?]$/.test(message) ? capital(message) : `${capital(message)}.`;
		}
	}
}
