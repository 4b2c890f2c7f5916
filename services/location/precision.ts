import type { Point, SessionState } from "../../events/types.js";
import { EARTH_RADIUS_M, type LatLng } from "./geo.js";

/**
 * Approximate sharing (API.md §6.6): in a group where a member shares "approximate", the others see
 * the centre of the ~1 km grid cell the member is in, and no route; SOS is exact, and so is one's own
 * view. The grid is fixed: the same place always gives the same cell, so averaging many samples
 * learns nothing more (random noise per sample would average out to the true position).
 *
 * The grid: 20 000 latitude bands of 0.009° (~1 km) from pole to pole; each band is cut into a whole
 * number of equal columns, as many as fit ~1 km wide at the band's middle latitude, so columns are
 * ~1–2 km wide at every latitude (2 km only within a few km of the poles), tile the band exactly
 * with no sliver at the antimeridian, and never move. A cell's centre is always a valid coordinate.
 *
 * Known limit, left as is: someone living right on a cell edge shows in one cell or its neighbour as
 * the fix jitters, which tells that they are near that edge. Keeping the previous cell until the user
 * is well inside another would need the previous cell as state.
 */

/** Latitude bands from the south pole to the north pole. */
export const LATITUDE_BANDS = 20_000;
/** 0.009°: one band, ~1 km north to south. */
export const BAND_DEG = 180 / LATITUDE_BANDS;
const BAND_M = (BAND_DEG * Math.PI * EARTH_RADIUS_M) / 180;

const toRadians = (degrees: number) => (degrees * Math.PI) / 180;
/** Six decimals (~10 cm): the centre's floating-point noise (45.004499999999) never reaches a client. */
const round6 = (value: number) => Math.round(value * 1e6) / 1e6;

export interface GridCell {
	/** 0 (at the south pole) .. LATITUDE_BANDS − 1. */
	band: number;
	/** 0 (from −180°, eastwards) .. columns − 1. */
	column: number;
	/** Columns in this band. */
	columns: number;
	/** The cell's centre: what the other members see. */
	latitude: number;
	longitude: number;
	/** Metres from the centre to the farthest corner: how far the true position may be. */
	halfDiagonalM: number;
}

/** How many columns band `band` has: as many ~1 km ones as fit around its middle latitude, at least one. */
export function columnsOfBand(band: number): number {
	const middle = -90 + (band + 0.5) * BAND_DEG;
	return Math.max(1, Math.floor((360 * Math.cos(toRadians(middle))) / BAND_DEG));
}

/** The grid cell holding a position. Latitudes are clamped to ±90°, longitudes wrapped into −180..180 (180° is −180°). */
export function gridCell(position: LatLng): GridCell {
	if (!Number.isFinite(position.latitude) || !Number.isFinite(position.longitude)) throw new RangeError("A grid cell needs a finite position");
	const latitude = Math.min(90, Math.max(-90, position.latitude));
	const longitude = ((((position.longitude + 180) % 360) + 360) % 360) - 180;
	const band = Math.min(LATITUDE_BANDS - 1, Math.floor(((latitude + 90) * LATITUDE_BANDS) / 180));
	const columns = columnsOfBand(band);
	const column = Math.min(columns - 1, Math.floor(((longitude + 180) * columns) / 360));
	const south = -90 + band * BAND_DEG;
	const north = south + BAND_DEG;
	// Measured on the band's parallel nearest the equator, where the cell is widest: the bound holds across the cell.
	const widestAt = south <= 0 && north >= 0 ? 0 : Math.min(Math.abs(south), Math.abs(north));
	const widthM = toRadians(360 / columns) * EARTH_RADIUS_M * Math.cos(toRadians(widestAt));
	return {
		band,
		column,
		columns,
		latitude: round6(south + BAND_DEG / 2),
		longitude: round6(-180 + ((column + 0.5) * 360) / columns),
		halfDiagonalM: Math.ceil(Math.hypot(BAND_M / 2, widthM / 2)),
	};
}

/** A position as shown to others: the shared Point (events/types.ts), with the optional fields of API.md §6.3. */
export type SharedPoint = Point;

/**
 * What the other members of an "approximate" group see of a position: the cell's centre, with an
 * accuracy that covers the whole cell (or the fix's own, rounded up to 100 m, when that is worse).
 * Altitude (the floor of a building), speed and heading (driving, and where to) are dropped; the time,
 * the battery and the source tell nothing about where the person is and are kept.
 */
export function approximatePoint(point: SharedPoint): SharedPoint {
	const cell = gridCell(point);
	const ownAccuracy = point.accuracy !== undefined && Number.isFinite(point.accuracy) ? Math.ceil(point.accuracy / 100) * 100 : 0;
	const shown: SharedPoint = {
		latitude: cell.latitude,
		longitude: cell.longitude,
		timestamp: point.timestamp,
		accuracy: Math.max(cell.halfDiagonalM, ownAccuracy),
	};
	if (point.battery !== undefined) shown.battery = point.battery;
	if (point.charging !== undefined) shown.charging = point.charging;
	if (point.source !== undefined) shown.source = point.source;
	return shown;
}

export const Precisions = ["exact", "approximate"] as const;
export type Precision = (typeof Precisions)[number];

export interface PrecisionView {
	/** Who looks. */
	viewerId: string;
	/** Whose session it is. */
	subjectId: string;
	/** What the subject chose for this group. */
	precision: Precision;
	/** The subject's session state in this group. */
	state: SessionState;
}

/** Exact for the subject themselves, for a group they share exactly with, and for everyone during an SOS. */
export const seesExact = (view: PrecisionView): boolean => view.viewerId === view.subjectId || view.precision === "exact" || view.state === "SOS";

/** The position `view.viewerId` is shown of the subject's `point`. */
export function positionFor<P extends SharedPoint>(view: PrecisionView, point: P | null): P | SharedPoint | null {
	if (point === null) return null;
	return seesExact(view) ? point : approximatePoint(point);
}

/** The route `view.viewerId` is shown: none at all when the position is approximate (a route is a trail of exact points). */
export const routeFor = <P extends Point>(view: PrecisionView, route: readonly P[]): readonly P[] => (seesExact(view) ? route : []);
