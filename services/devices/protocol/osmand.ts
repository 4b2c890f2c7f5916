/**
 * The OsmAnd protocol (API.md §6.2) as pure translation: what a Traccar Client, OsmAnd or another logger
 * sent to `GET|POST /api/osmand` → a position sample of one device, or why not. No I/O: the route looks the
 * device id up (401, rate limits) and the devices service records the sample.
 *
 * Sources, as the server side that defines the protocol reads it:
 * - traccar/traccar src/main/java/org/traccar/protocol/OsmAndProtocolDecoder.java: the query/form
 *   parameters (`id`/`deviceid`, `lat`, `lon`, `location`, `timestamp`, `speed` in knots, `bearing`/`heading`,
 *   `altitude`, `accuracy`, `hdop`, `batt`, `charge`, `alarm`) and, since Traccar 6.7 (seen in the
 *   AussieTraccar/traccar copy of that file), `decodeJson` for Traccar Client 9's body;
 * - traccar.org/osmand: the same list, with JSON `speed` in m/s and `battery.level` a fraction 0–1.
 * What clients really send: see test/fixtures/osmand/requests.ts.
 */
import type { FieldIssue, Invalid, PositionSample } from "./types.js";
import {
	ACCURACY_M,
	ALTITUDE_M,
	BATTERY_PCT,
	HEADING_DEG,
	LATITUDE,
	LONGITUDE,
	SPEED_MPS,
	checkNumber,
	epochMsToIso,
	isRecord,
	isNoFix,
	noFix,
	normalHeading,
	own,
	round2,
	sampleOf,
	type Range,
} from "./values.js";

/** What the route got: parsed query string, parsed form body, parsed JSON body, each optional. */
export interface OsmAndRequest {
	query?: unknown;
	form?: unknown;
	json?: unknown;
}

export type OsmAndInbound =
	| { kind: "position"; deviceId: string; sample: PositionSample; alarm?: "sos" | (string & {}) }
	| Invalid
	/**
	 * No device id at all. The route answers 400 like Traccar does: it is a client set up without an id, not
	 * a wrong or revoked credential (401, rate-limited per address), and needs no database lookup to refuse.
	 */
	| { kind: "noDevice" };

type Canonical = "id" | "lat" | "lon" | "timestamp" | "speed" | "heading" | "altitude" | "accuracy" | "battery" | "charge" | "alarm";

/** One value as a source gave it: form-like values are text to parse, JSON values already typed. */
interface RawValue {
	value: unknown;
	/** The name the client used, for error messages: `lat`, `location`, `location.coords.speed`. */
	field: string;
	encoding: "text" | "json";
	/** Units differ by source: `speed` is knots in parameters but m/s in Traccar Client's JSON; `batt` percent, `battery.level` a fraction. */
	unit?: "knots" | "mps" | "percent" | "fraction";
}

type RawValues = Map<Canonical, RawValue>;

/** Parameter names per canonical field, the first present wins within one source. */
const TEXT_PARAMETERS: [Canonical, string[], RawValue["unit"]?][] = [
	["id", ["id", "deviceid"]],
	["timestamp", ["timestamp"]],
	["speed", ["speed"], "knots"],
	["heading", ["bearing", "heading"]],
	["altitude", ["altitude"]],
	// OsmAnd's `{3}` placeholder, documented by Traccar as `hdop=`, is Location.getAccuracy() in metres
	// (osmandapp/OsmAnd .../monitoring/LiveMonitoringHelper.java): used when no `accuracy` is sent.
	["accuracy", ["accuracy", "hdop"]],
	["battery", ["batt", "battery"], "percent"],
	["charge", ["charge"]],
	["alarm", ["alarm"]],
];

const MAX_ID_LENGTH = 256;
const MAX_ALARM_LENGTH = 64;
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const EPOCH = /^\d{1,16}(?:\.\d+)?$/;
// ISO-8601 as the clients write it (`2024-12-03T10:24:00.512Z`, offsets, no zone) and Traccar's
// "yyyy-MM-dd HH:mm:ss" fallback; times without a zone are taken as UTC.
// A "+01:00" offset left unencoded in a query string arrives as " 01:00" and is read as such.
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+ -](?:[01]\d|2[0-3])(?::?[0-5]\d)?)?$/i;
/** Epoch values below this are seconds, above it milliseconds (1e11 s is the year 5138, 1e11 ms is 1973). */
const SECONDS_BELOW = 1e11;

/**
 * Merges the request's parameters (query < form < JSON body) and translates them. `now` (epoch ms) stands
 * in for a missing `timestamp`, as in Traccar. Never throws.
 */
export function parseOsmAnd(request: OsmAndRequest, now: number): OsmAndInbound {
	const issues: FieldIssue[] = [];
	const values: RawValues = new Map([
		...fromParameters(issues, "query", request.query),
		...fromParameters(issues, "form", request.form),
		...fromTraccarClientJson(issues, request.json),
	]);

	const id = values.get("id");
	if (id === undefined || id.value === null || id.value === "") return { kind: "noDevice" };
	if (typeof id.value !== "string" || id.value.length > MAX_ID_LENGTH) {
		issues.push({ field: id.field, message: `'${id.field}' must be one device id.` });
	}

	const latitude = readNumber(issues, values.get("lat"), LATITUDE, "lat");
	const longitude = readNumber(issues, values.get("lon"), LONGITUDE, "lon");
	if (isNoFix(latitude, longitude)) issues.push(noFix(values.get("lat")!.field));
	const timestamp = readTimestamp(issues, values.get("timestamp"), now);
	const speed = readSpeed(issues, values.get("speed"));
	const heading = readNumber(issues, values.get("heading"), HEADING_DEG);
	const altitude = readNumber(issues, values.get("altitude"), ALTITUDE_M);
	const accuracy = readNumber(issues, values.get("accuracy"), ACCURACY_M);
	const battery = readBattery(issues, values.get("battery"));
	const charging = readCharge(issues, values.get("charge"));
	const alarm = readAlarm(issues, values.get("alarm"));

	if (issues.length > 0 || latitude === undefined || longitude === undefined || timestamp === undefined) return { kind: "invalid", fields: issues };
	const sample = sampleOf(
		{ latitude, longitude, timestamp, accuracy, altitude, speed, heading: heading === undefined ? undefined : normalHeading(heading), battery, charging },
		"osmand",
	);
	const position: OsmAndInbound = { kind: "position", deviceId: id.value as string, sample };
	if (alarm !== undefined) position.alarm = alarm;
	return position;
}

// ─── Sources ─────────────────────────────────────────────────────────────────────────────────────────────

/** Query string or form body: name → text (a repeated name arrives as an array and is refused later). */
function fromParameters(issues: FieldIssue[], source: "query" | "form", params: unknown): RawValues {
	const values: RawValues = new Map();
	if (params === undefined || params === null) return values;
	if (!isRecord(params)) {
		issues.push({ field: source, message: `The ${source} parameters could not be read.` });
		return values;
	}
	for (const [canonical, names, unit] of TEXT_PARAMETERS) {
		const name = names.find(n => present(own(params, n)));
		if (name !== undefined) values.set(canonical, { value: own(params, name), field: name, encoding: "text", unit });
	}
	// `lat`/`lon` win over `location=lat,lon` when both are sent.
	const location = own(params, "location");
	if (present(location)) {
		const parts = typeof location === "string" ? location.split(",") : [];
		if (parts.length === 2) {
			values.set("lat", { value: parts[0].trim(), field: "location", encoding: "text" });
			values.set("lon", { value: parts[1].trim(), field: "location", encoding: "text" });
		} else {
			issues.push({ field: "location", message: "'location' must be 'latitude,longitude'." });
		}
	}
	for (const axis of ["lat", "lon"] as const) {
		if (present(own(params, axis))) values.set(axis, { value: own(params, axis), field: axis, encoding: "text" });
	}
	return values;
}

/** An empty parameter (`&altitude=&`, a template placeholder left blank) is no parameter. */
const present = (value: unknown): boolean => value !== undefined && value !== null && value !== "";

/**
 * Traccar Client 9's body: `{ location: { timestamp, coords: {...}, battery: {...}, extras, ... }, device_id }`
 * (traccar/traccar-client lib/preferences.dart: `_locationTemplate()` inside the SDK's `location` root,
 * `params: { device_id }` merged into the root). An SOS puts `alarm` in the record's extras, which the SDK
 * version in use merges into the location object itself (lib/quick_actions.dart; Traccar reads both places).
 */
function fromTraccarClientJson(issues: FieldIssue[], body: unknown): RawValues {
	const values: RawValues = new Map();
	if (body === undefined || body === null) return values;
	if (!isRecord(body)) {
		issues.push({ field: "body", message: "The JSON body must be one object." });
		return values;
	}
	const json = (value: unknown, field: string, unit?: RawValue["unit"]): RawValue => ({ value, field, encoding: "json", unit });
	const put = (canonical: Canonical, raw: RawValue) => {
		if (raw.value !== undefined) values.set(canonical, raw);
	};
	put("id", json(own(body, "device_id"), "device_id"));
	const location = own(body, "location");
	if (location === undefined || location === null) return values;
	if (!isRecord(location)) {
		issues.push({ field: "location", message: "'location' must be one object (batches are not accepted)." });
		return values;
	}
	put("timestamp", json(own(location, "timestamp"), "location.timestamp"));
	const coords = nested(issues, location, "coords", "location.coords");
	put("lat", json(own(coords, "latitude"), "location.coords.latitude"));
	put("lon", json(own(coords, "longitude"), "location.coords.longitude"));
	put("accuracy", json(own(coords, "accuracy"), "location.coords.accuracy"));
	put("speed", json(own(coords, "speed"), "location.coords.speed", "mps"));
	put("heading", json(own(coords, "heading"), "location.coords.heading"));
	put("altitude", json(own(coords, "altitude"), "location.coords.altitude"));
	const battery = nested(issues, location, "battery", "location.battery");
	put("battery", json(own(battery, "level"), "location.battery.level", "fraction"));
	put("charge", json(own(battery, "is_charging"), "location.battery.is_charging"));
	const extras = nested(issues, location, "extras", "location.extras");
	const alarm = own(location, "alarm");
	put("alarm", alarm != null ? json(alarm, "location.alarm") : json(own(extras, "alarm"), "location.extras.alarm"));
	return values;
}

/** A nested object of the JSON body; an empty one when absent, an issue when it is something else. */
function nested(issues: FieldIssue[], parent: Record<string, unknown>, key: string, field: string): Record<string, unknown> {
	const value = own(parent, key);
	if (isRecord(value)) return value;
	if (value !== undefined && value !== null) issues.push({ field, message: `'${field}' must be an object.` });
	return {};
}

// ─── Values ──────────────────────────────────────────────────────────────────────────────────────────────

/**
 * A number from either encoding. Text must be one plain decimal (Java's Double.parseDouble would also take
 * "NaN", "Infinity" and hex, which no client sends on purpose); JSON must already be a number.
 */
function readNumber(issues: FieldIssue[], raw: RawValue | undefined, range: Range, requiredField?: string): number | undefined {
	if (raw === undefined) {
		if (requiredField !== undefined) issues.push({ field: requiredField, message: `'${requiredField}' is required.` });
		return undefined;
	}
	if (raw.encoding === "json") return checkNumber(issues, raw.field, raw.value, range, requiredField !== undefined);
	if (typeof raw.value !== "string") {
		issues.push({ field: raw.field, message: `'${raw.field}' must be given once, as a number.` });
		return undefined;
	}
	if (!DECIMAL.test(raw.value)) {
		issues.push({ field: raw.field, message: `'${raw.field}' must be a number.` });
		return undefined;
	}
	return checkNumber(issues, raw.field, Number(raw.value), range, requiredField !== undefined);
}

const SPEED_KNOTS: Range = { ...SPEED_MPS, max: (SPEED_MPS.max * 3600) / 1852 };

/** Knots in parameters (Traccar converts with `convertSpeed(value, "kn")`), m/s in Traccar Client's JSON. */
function readSpeed(issues: FieldIssue[], raw: RawValue | undefined): number | undefined {
	if (raw === undefined) return undefined;
	const knots = raw.unit === "knots";
	const value = readNumber(issues, raw, knots ? SPEED_KNOTS : SPEED_MPS);
	if (value === undefined) return undefined;
	return round2(knots ? (value * 1852) / 3600 : value);
}

/** `batt` is a percentage; Traccar Client 9's `battery.level` a fraction 0–1 (-1 when unknown). */
function readBattery(issues: FieldIssue[], raw: RawValue | undefined): number | undefined {
	if (raw === undefined) return undefined;
	if (raw.unit !== "fraction") return readNumber(issues, raw, BATTERY_PCT);
	const level = readNumber(issues, raw, { min: 0, max: 1, negativeIsUnknown: true });
	return level === undefined ? undefined : Math.round(level * 100);
}

/** `charge=true|false` (Traccar reads Boolean.parseBoolean; 1/0 are accepted too), or the JSON boolean. */
function readCharge(issues: FieldIssue[], raw: RawValue | undefined): boolean | undefined {
	if (raw === undefined || raw.value === null) return undefined;
	if (raw.encoding === "json") {
		if (typeof raw.value === "boolean") return raw.value;
	} else if (typeof raw.value === "string") {
		const text = raw.value.toLowerCase();
		if (text === "true" || text === "1") return true;
		if (text === "false" || text === "0") return false;
	}
	issues.push({ field: raw.field, message: `'${raw.field}' must be true or false.` });
	return undefined;
}

/** `alarm=sos` raises an SOS (§6.2); other Traccar alarm names are passed on as given. */
function readAlarm(issues: FieldIssue[], raw: RawValue | undefined): string | undefined {
	if (raw === undefined || raw.value === null) return undefined;
	if (typeof raw.value !== "string" || raw.value.length > MAX_ALARM_LENGTH) {
		issues.push({ field: raw.field, message: `'${raw.field}' must be one alarm name.` });
		return undefined;
	}
	const alarm = raw.value.trim();
	if (alarm === "") return undefined;
	return alarm.toLowerCase() === "sos" ? "sos" : alarm;
}

/**
 * `timestamp`: epoch seconds or milliseconds (told apart by size; Traccar splits at Integer.MAX_VALUE, which
 * stops working in 2038), ISO-8601, or "yyyy-MM-dd HH:mm:ss"; absent → now.
 */
function readTimestamp(issues: FieldIssue[], raw: RawValue | undefined, now: number): string | undefined {
	if (raw === undefined || raw.value === null) return new Date(now).toISOString();
	const { value, field } = raw;
	if (typeof value === "number" && raw.encoding === "json") return epochToIso(issues, field, value);
	if (typeof value !== "string") {
		issues.push({ field, message: `'${field}' must be given once, as a time.` });
		return undefined;
	}
	if (EPOCH.test(value)) return epochToIso(issues, field, Number(value));
	const ms = dateTimeMs(value);
	if (ms === undefined) {
		issues.push({ field, message: `'${field}' must be epoch seconds, epoch milliseconds or an ISO-8601 time.` });
		return undefined;
	}
	return epochMsToIso(issues, field, ms);
}

function epochToIso(issues: FieldIssue[], field: string, epoch: number): string | undefined {
	return epochMsToIso(issues, field, epoch < SECONDS_BELOW ? epoch * 1000 : epoch);
}

/** Milliseconds of an ISO-8601 / "yyyy-MM-dd HH:mm:ss" time, or undefined when it is not a real calendar time. */
function dateTimeMs(text: string): number | undefined {
	const match = DATE_TIME.exec(text);
	if (!match) return undefined;
	const [, y, mo, d, h, mi, s = "0", fraction = "", zone = "Z"] = match;
	const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map(Number);
	const local = Date.UTC(year, month - 1, day, hour, minute, second, Number(fraction.padEnd(3, "0").slice(0, 3)));
	const check = new Date(local);
	// Date.UTC rolls 2024-02-30 over to March; a time that does not come back unchanged did not exist.
	if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) return undefined;
	if (check.getUTCHours() !== hour || check.getUTCMinutes() !== minute || check.getUTCSeconds() !== second) return undefined;
	return local - offsetMinutes(zone) * 60_000;
}

function offsetMinutes(zone: string): number {
	if (zone.toUpperCase() === "Z") return 0;
	const sign = zone[0] === "-" ? -1 : 1;
	const digits = zone.slice(1).replace(":", "");
	return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || "0"));
}

/**
 * The device id a request names (the same merge as `parseOsmAnd`: query < form < JSON body), before the
 * rest of it is read: the route needs it to authenticate and rate-limit first. Undefined when there is
 * none, or it is not one string.
 */
export function osmAndDeviceId(request: OsmAndRequest): string | undefined {
	const ignored: FieldIssue[] = [];
	const values: RawValues = new Map([
		...fromParameters(ignored, "query", request.query),
		...fromParameters(ignored, "form", request.form),
		...fromTraccarClientJson(ignored, request.json),
	]);
	const id = values.get("id")?.value;
	return typeof id === "string" && id !== "" ? id : undefined;
}
