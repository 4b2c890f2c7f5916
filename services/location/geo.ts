/** Great-circle geometry on a spherical Earth: accurate to ~0.5 %, plenty for radii of tens of metres. */

export interface LatLng {
	latitude: number;
	longitude: number;
}

/** Mean Earth radius (IUGG), in metres. */
export const EARTH_RADIUS_M = 6_371_008.8;

const toRadians = (degrees: number) => (degrees * Math.PI) / 180;

/** Haversine distance in metres; well-conditioned for the short distances the alerts compare. */
export function distanceMeters(a: LatLng, b: LatLng): number {
	const dLat = toRadians(b.latitude - a.latitude);
	const dLng = toRadians(b.longitude - a.longitude);
	const h = Math.sin(dLat / 2) ** 2 + Math.cos(toRadians(a.latitude)) * Math.cos(toRadians(b.latitude)) * Math.sin(dLng / 2) ** 2;
	return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** True when `point` lies within `radiusM` metres of `centre` (the boundary counts as inside). */
export function withinRadius(point: LatLng, centre: LatLng, radiusM: number): boolean {
	return distanceMeters(point, centre) <= radiusM;
}
