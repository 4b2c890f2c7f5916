/**
 * What the phone protocols translate into: one position sample in PositionPal's own units (API.md §6.3),
 * whichever app sent it. Degrees, metres, m/s, percent, ISO-8601 UTC; optional fields are absent when
 * the app did not know them, never zero or -1 stand-ins.
 */
import type { Point, PositionSource } from "../../../events/types.js";

export type { PositionSource };

/**
 * The shared contract's Point (events/types.ts), with its source always known. Its `timestamp` is when
 * the fix was taken; future skew is judged later, by the location rules.
 */
export interface PositionSample extends Point {
	source: PositionSource;
}

/** One reason a message is refused, named after the field as the app spelled it (`tst`, `location.coords.latitude`). */
export interface FieldIssue {
	field: string;
	message: string;
}

export interface Invalid {
	kind: "invalid";
	fields: FieldIssue[];
}
