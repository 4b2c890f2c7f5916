import type { Point } from "../../../events/types.js";

/**
 * A user's own position history (API.md §6.6) written out as JSON, GPX 1.1 or GeoJSON, and the
 * retention rule that says which points are expired. Pure: points in, a document out; the points
 * are sorted by time first, so the caller may hand them over in any order.
 *
 * Days are UTC days (API.md: all times in UTC): a GPX track has one segment per day, a GeoJSON
 * collection one LineString per day, each split exactly at 00:00:00.000Z.
 */

/** A stored history point: a Point, with its altitude when the sender knew it (API.md §6.3). */
export type HistoryPoint = Point;

export const HistoryFormats = ["json", "gpx", "geojson"] as const;
export type HistoryFormat = (typeof HistoryFormats)[number];

/** Content-Type and file extension of each export (GPX: API.md §6.6; GeoJSON: RFC 7946's registered type). */
export const HISTORY_EXPORTS: Record<HistoryFormat, { contentType: string; extension: string }> = {
	json: { contentType: "application/json; charset=utf-8", extension: "json" },
	gpx: { contentType: "application/gpx+xml; charset=utf-8", extension: "gpx" },
	geojson: { contentType: "application/geo+json; charset=utf-8", extension: "geojson" },
};

const DAY_MS = 86_400_000;

/** Oldest first; points with the same time keep their order. */
const byTime = <P extends Point>(points: readonly P[]): P[] => [...points].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));

/** The UTC day ("2026-12-03") of a point, and its time normalized to ISO-8601 UTC. */
const utcDay = (timestamp: string): string => new Date(timestamp).toISOString().slice(0, 10);
const utcTime = (timestamp: string): string => new Date(timestamp).toISOString();

/** Consecutive runs of points (already sorted) on the same UTC day. */
function splitByDay<P extends Point>(points: readonly P[]): { day: string; points: P[] }[] {
	const days: { day: string; points: P[] }[] = [];
	for (const point of points) {
		const day = utcDay(point.timestamp);
		const last = days[days.length - 1];
		if (last?.day === day) last.points.push(point);
		else days.push({ day, points: [point] });
	}
	return days;
}

// ---- JSON

/** `format=json`: `{ points: Point[] }`, oldest first. */
export function historyJson<P extends Point>(points: readonly P[]): { points: P[] } {
	return { points: byTime(points) };
}

// ---- GPX 1.1

export const GPX_NAMESPACE = "http://www.topografix.com/GPX/1/1";
export const GPX_CREATOR = "PositionPal";

/**
 * Text and attribute values for XML 1.0: the five special characters escaped, and the characters XML
 * 1.0 cannot carry at all (control characters but tab, newline and return; lone surrogates; U+FFFE and
 * U+FFFF) removed, since no escape makes them legal.
 */
export function xmlEscape(text: string): string {
	return (
		text
			// eslint-disable-next-line no-control-regex
			.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "")
			.replace(/&/g, "&amp;")
			.replace(/</g, "&lt;")
			.replace(/>/g, "&gt;")
			.replace(/"/g, "&quot;")
			.replace(/'/g, "&apos;")
	);
}

/** xsd:decimal, which has no exponent: 1e-7 must be written 0.0000001. Trailing zeros dropped. */
function decimal(value: number, digits: number): string {
	const fixed = value.toFixed(digits);
	const trimmed = fixed.includes(".") ? fixed.replace(/0+$/, "").replace(/\.$/, "") : fixed;
	return trimmed === "-0" ? "0" : trimmed;
}

/** GPX's longitudeType is −180 ≤ lon < 180: the antimeridian is written −180. */
const gpxLongitude = (longitude: number) => (longitude >= 180 ? longitude - 360 : longitude);

export interface GpxOptions {
	/** The track's name (the user's name, the dates): escaped, so any text is safe. */
	name?: string;
	/** When the file was made (metadata `<time>`); left out when not given, so the output depends on the points only. */
	createdAt?: Date;
}

/**
 * `format=gpx`: a GPX 1.1 document with one track and one `<trkseg>` per UTC day; each `<trkpt>` has
 * `<ele>` when the point has an altitude, then `<time>` (the schema's order). No points: a valid
 * document with metadata and no track.
 */
export function historyGpx(points: readonly HistoryPoint[], options: GpxOptions = {}): string {
	const lines = [
		`<?xml version="1.0" encoding="UTF-8"?>`,
		`<gpx version="1.1" creator="${GPX_CREATOR}" xmlns="${GPX_NAMESPACE}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="${GPX_NAMESPACE} ${GPX_NAMESPACE}/gpx.xsd">`,
	];
	const name = options.name === undefined ? "" : `<name>${xmlEscape(options.name)}</name>`;
	const time = options.createdAt === undefined ? "" : `<time>${options.createdAt.toISOString()}</time>`;
	if (name || time) lines.push(`\t<metadata>${name}${time}</metadata>`);
	const days = splitByDay(byTime(points));
	if (days.length) {
		lines.push(`\t<trk>`);
		if (name) lines.push(`\t\t${name}`);
		for (const day of days) {
			lines.push(`\t\t<trkseg>`);
			for (const point of day.points) {
				const ele = point.altitude !== undefined && Number.isFinite(point.altitude) ? `<ele>${decimal(point.altitude, 2)}</ele>` : "";
				lines.push(
					`\t\t\t<trkpt lat="${decimal(point.latitude, 7)}" lon="${decimal(gpxLongitude(point.longitude), 7)}">${ele}<time>${utcTime(point.timestamp)}</time></trkpt>`,
				);
			}
			lines.push(`\t\t</trkseg>`);
		}
		lines.push(`\t</trk>`);
	}
	lines.push(`</gpx>`, "");
	return lines.join("\n");
}

// ---- GeoJSON (RFC 7946)

/** [longitude, latitude] or [longitude, latitude, altitude]. */
export type Position = [number, number] | [number, number, number];

export interface DayFeature {
	type: "Feature";
	geometry: { type: "LineString"; coordinates: Position[] };
	/** `times[i]` is the time of `coordinates[i]`. */
	properties: { day: string; times: string[] };
}

export interface HistoryFeatureCollection {
	type: "FeatureCollection";
	features: DayFeature[];
}

/**
 * `format=geojson`: a FeatureCollection with one LineString Feature per UTC day (API.md §6.6).
 * - Altitude is the third coordinate only when every point of that day has one: a line mixing 2- and
 *   3-element positions is legal but most tools mishandle it, and a made-up 0 m would be a lie.
 * - A day with a single point is still a LineString, since the contract promises one per day: RFC 7946
 *   asks for two or more positions, so the point is repeated (a line of length zero), and so is its
 *   time, keeping `times` aligned with `coordinates`.
 * No points: an empty FeatureCollection.
 */
export function historyGeoJson(points: readonly HistoryPoint[]): HistoryFeatureCollection {
	const features = splitByDay(byTime(points)).map(({ day, points: dayPoints }): DayFeature => {
		const withAltitude = dayPoints.every(point => point.altitude !== undefined && Number.isFinite(point.altitude));
		let coordinates: Position[] = dayPoints.map(point =>
			withAltitude ? [point.longitude, point.latitude, point.altitude as number] : [point.longitude, point.latitude],
		);
		let times = dayPoints.map(point => utcTime(point.timestamp));
		if (coordinates.length === 1) {
			coordinates = [coordinates[0], [...coordinates[0]] as Position];
			times = [times[0], times[0]];
		}
		return { type: "Feature", geometry: { type: "LineString", coordinates }, properties: { day, times } };
	});
	return { type: "FeatureCollection", features };
}

// ---- retention

/** True when HISTORY_DAYS keeps anything at all (0: history is not kept). */
export function keepsHistory(historyDays: number): boolean {
	return historyDays > 0;
}

/**
 * The retention cutoff: points timed before it are expired and purged; at or after it they are kept.
 * A rolling window of `historyDays` × 24 h back from `now`; with 0 nothing is kept, so the cutoff is
 * `now` itself (everything already stored is expired, and nothing new should be stored).
 */
export function historyCutoff(historyDays: number, now: Date | number): Date {
	if (!Number.isInteger(historyDays) || historyDays < 0) throw new RangeError(`HISTORY_DAYS must be a whole number of days ≥ 0, not ${historyDays}`);
	const at = typeof now === "number" ? now : now.getTime();
	return new Date(at - historyDays * DAY_MS);
}

/** True when a point of the history has expired at `now`. */
export const isExpired = (point: Pick<Point, "timestamp">, historyDays: number, now: Date | number): boolean =>
	Date.parse(point.timestamp) < historyCutoff(historyDays, now).getTime();

// ---- the answer of a history read

/** A read's answer: JSON's object as is; a file (GPX, GeoJSON) with its type and its download name. */
export type HistoryDownload = { body: { points: Point[] } } | { body: string; contentType: string; filename: string };

/** The points of `window` in `format`; a file is named for the window's first UTC day. */
export function historyDownload(points: Point[], format: HistoryFormat, window: { from: Date; to: Date }): HistoryDownload {
	if (format === "json") return { body: historyJson(points) };
	const { contentType, extension } = HISTORY_EXPORTS[format];
	const day = (date: Date) => date.toISOString().slice(0, 10);
	const filename = `positionpal-history-${day(window.from)}.${extension}`;
	if (format === "gpx") return { body: historyGpx(points, { name: `PositionPal ${day(window.from)} – ${day(window.to)}` }), contentType, filename };
	return { body: JSON.stringify(historyGeoJson(points)), contentType, filename };
}
