/**
 * Reading untrusted protocol values. Only own properties are read (an inherited `lat`, or the `__proto__`
 * key JSON.parse creates, is never taken for data), numbers only when finite and inside a plausible range,
 * and nothing here throws: every problem becomes a FieldIssue the caller answers with 4xx.
 */
import type { FieldIssue, PositionSample } from "./types.js";

export function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function own(record: Record<string, unknown>, key: string): unknown {
	return Object.hasOwn(record, key) ? record[key] : undefined;
}

export interface Range {
	min: number;
	max: number;
	/**
	 * Values below zero mean "not known" to the apps (CoreLocation's -1 speed and course, a -1 battery level on
	 * simulators, Traccar's JSON branch skipping `speed < 0`): absent, not refused.
	 */
	negativeIsUnknown?: boolean;
	/** OwnTracks and Traccar Client send 0 for an accuracy they do not have (booklet json.md; Position.kt). */
	zeroIsUnknown?: boolean;
}

// Generous bounds: wide enough for every real phone, narrow enough to refuse the 1e308 a broken client sends.
export const LATITUDE: Range = { min: -90, max: 90 };
export const LONGITUDE: Range = { min: -180, max: 180 };
export const ACCURACY_M: Range = { min: 0, max: 1_000_000, negativeIsUnknown: true, zeroIsUnknown: true };
export const ALTITUDE_M: Range = { min: -12_000, max: 100_000 };
export const SPEED_MPS: Range = { min: 0, max: 1_000, negativeIsUnknown: true };
export const HEADING_DEG: Range = { min: 0, max: 360, negativeIsUnknown: true };
export const BATTERY_PCT: Range = { min: 0, max: 100, negativeIsUnknown: true };

/** The last second ISO-8601 writes with four year digits; later instants are a unit mix-up, not a fix. */
export const MAX_EPOCH_MS = Date.UTC(9999, 11, 31, 23, 59, 59);

/**
 * A number already decoded (JSON) checked against a range: the number, undefined when absent or "unknown",
 * or undefined with an issue pushed. `null` counts as absent for optional fields.
 */
export function checkNumber(issues: FieldIssue[], field: string, value: unknown, range: Range, required = false): number | undefined {
	if (value === undefined || value === null) {
		if (required) issues.push({ field, message: `'${field}' is required.` });
		return undefined;
	}
	if (typeof value !== "number" || !Number.isFinite(value)) {
		issues.push({ field, message: `'${field}' must be a number.` });
		return undefined;
	}
	if (range.negativeIsUnknown && value < 0) return undefined;
	if (range.zeroIsUnknown && value === 0) return undefined;
	if (value < range.min || value > range.max) {
		issues.push({ field, message: `'${field}' must be between ${range.min} and ${range.max}.` });
		return undefined;
	}
	return value;
}

/** An epoch in milliseconds as the sample's ISO timestamp, or an issue when it is before 1970 or past year 9999. */
export function epochMsToIso(issues: FieldIssue[], field: string, ms: number): string | undefined {
	if (!Number.isFinite(ms) || ms < 0 || ms > MAX_EPOCH_MS) {
		issues.push({ field, message: `'${field}' is not a plausible time.` });
		return undefined;
	}
	return new Date(ms).toISOString();
}

/** Speeds and converted values to the centimetre: 36 km/h is 10 m/s, not 9.999999999999998. */
export const round2 = (value: number): number => Math.round(value * 100) / 100;

/** 360° and 0° are the same course; the sample keeps 0 ≤ heading < 360. */
export const normalHeading = (degrees: number): number => (degrees === 360 ? 0 : degrees);

/**
 * Traccar treats 0,0 as "no fix" (OsmAndProtocolDecoder falls back to the last position), and OwnTracks
 * Android's MessageLocation defaults lat/lon to 0.0: a sample there would move a person into the Gulf of Guinea.
 */
export const isNoFix = (latitude: number | undefined, longitude: number | undefined): boolean => latitude === 0 && longitude === 0;

export const noFix = (field: string): FieldIssue => ({ field, message: "0,0 is what a phone reports without a fix." });

type SampleParts = Omit<PositionSample, "source">;

/** The sample with absent fields left out (not set to undefined), so it serialises and compares cleanly. */
export function sampleOf(parts: SampleParts, source: PositionSample["source"]): PositionSample {
	const sample: PositionSample = { latitude: parts.latitude, longitude: parts.longitude, timestamp: parts.timestamp, source };
	if (parts.accuracy !== undefined) sample.accuracy = parts.accuracy;
	if (parts.altitude !== undefined) sample.altitude = parts.altitude;
	if (parts.speed !== undefined) sample.speed = parts.speed;
	if (parts.heading !== undefined) sample.heading = parts.heading;
	if (parts.battery !== undefined) sample.battery = parts.battery;
	if (parts.charging !== undefined) sample.charging = parts.charging;
	return sample;
}
