import type { Point, PositionSource } from "../../events/types.js";

/**
 * Positions as the location service keeps them (API.md §6.3): the three fields every Point has,
 * then only the optional fields the sender knew. Routes store thousands of points and pending
 * samples are held in memory, so nothing absent is written as undefined or null.
 */

/** The optional fields of a Point, in the order they are stored and shown. */
export const OPTIONAL_POINT_FIELDS = ["accuracy", "altitude", "speed", "heading", "battery", "charging", "source"] as const;
type OptionalField = (typeof OPTIONAL_POINT_FIELDS)[number];

/** A copy of `point` with its known fields only (anything else it carries is dropped). */
export function compactPoint(point: Point): Point {
	const out: Point = { latitude: point.latitude, longitude: point.longitude, timestamp: point.timestamp };
	for (const field of OPTIONAL_POINT_FIELDS) {
		const value = point[field];
		if (value !== undefined && value !== null) (out as Record<OptionalField, unknown>)[field] = value;
	}
	return out;
}

/** What a sender may tell about a position besides where and when (the params of a sample or an SOS): the shared Point's details but its source. */
export type PositionDetails = Omit<Point, "latitude" | "longitude" | "timestamp" | "source">;

/**
 * The broker validator's rules for those details, with the same ranges the phone protocols accept
 * (services/devices/protocol/values.ts): a phone's report passes through the same action as a
 * browser's sample. A heading of 360° is accepted and stored as 0°.
 */
export const positionDetailRules = () => ({
	accuracy: { type: "number", min: 0, max: 1_000_000, finite: true, optional: true },
	altitude: { type: "number", min: -12_000, max: 100_000, finite: true, optional: true },
	speed: { type: "number", min: 0, max: 1_000, finite: true, optional: true },
	heading: { type: "number", min: 0, max: 360, finite: true, optional: true },
	battery: { type: "number", min: 0, max: 100, finite: true, optional: true },
	charging: { type: "boolean", optional: true },
});

/** A position as sent, at `timestamp` (already checked and in UTC), from `source`. */
export function pointOf(where: { latitude: number; longitude: number } & PositionDetails, timestamp: string, source: PositionSource): Point {
	const { latitude, longitude, accuracy, altitude, speed, heading, battery, charging } = where;
	return compactPoint({ latitude, longitude, timestamp, accuracy, altitude, speed, heading: heading === 360 ? 0 : heading, battery, charging, source });
}
