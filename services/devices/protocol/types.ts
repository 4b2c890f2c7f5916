/**
 * What the phone protocols translate into: one position sample in PositionPal's own units (API.md §6.3),
 * whichever app sent it. Degrees, metres, m/s, percent, ISO-8601 UTC; optional fields are absent when
 * the app did not know them, never zero or -1 stand-ins.
 */

export type PositionSource = "web" | "owntracks" | "osmand";

export interface PositionSample {
	latitude: number;
	longitude: number;
	/** When the fix was taken (ISO-8601, UTC). Future skew is judged later, by the location rules. */
	timestamp: string;
	/** Horizontal accuracy radius, metres. */
	accuracy?: number;
	/** Metres above sea level. */
	altitude?: number;
	/** Metres per second. */
	speed?: number;
	/** Degrees clockwise from true north, 0 ≤ heading < 360. */
	heading?: number;
	/** Percent, 0–100. */
	battery?: number;
	charging?: boolean;
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
