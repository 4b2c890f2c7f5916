import type { Point, PositionSource } from "../../events/types.js";
import { pointOf, type PositionDetails } from "./point.js";

/**
 * Checks on times that the broker's validator cannot express (they depend on the clock).
 * Each returns the field error to report (422), or null when the value is fine.
 */

export interface FieldProblem {
	field: string;
	message: string;
	type: string;
}

/** A device clock may run a little ahead of ours; more than this and the timestamp is refused. */
export const MAX_CLOCK_SKEW_MS = 30_000;

/** A sample's timestamp: a real instant, not in the future beyond the allowed clock skew. */
export function sampleTimestampProblem(timestamp: string, now: number, skewMs = MAX_CLOCK_SKEW_MS): FieldProblem | null {
	const at = Date.parse(timestamp);
	if (Number.isNaN(at)) return { field: "timestamp", message: "The 'timestamp' field must be an ISO-8601 date.", type: "date" };
	if (at > now + skewMs) return { field: "timestamp", message: "The 'timestamp' field must not be in the future.", type: "dateMax" };
	return null;
}

/** A journey's ETA: a real instant in the future. */
export function etaProblem(eta: string, now: number): FieldProblem | null {
	const at = Date.parse(eta);
	if (Number.isNaN(at)) return { field: "eta", message: "The 'eta' field must be an ISO-8601 date.", type: "date" };
	if (at <= now) return { field: "eta", message: "The 'eta' field must be in the future.", type: "dateMin" };
	return null;
}

/**
 * A sample as sent (its timestamp already checked): stored in UTC whatever offset the device used
 * (API.md: all times in UTC), at `now` when it has none, with the details the sender knew.
 */
export function samplePoint(
	sample: { latitude: number; longitude: number; timestamp?: string } & PositionDetails,
	now: number,
	source: PositionSource = "web",
): Point {
	const timestamp = new Date(sample.timestamp === undefined ? now : Date.parse(sample.timestamp)).toISOString();
	return pointOf(sample, timestamp, source);
}
