/** Small spherical geometry for the simulated walk (metres, degrees). */

export interface LatLng {
	latitude: number;
	longitude: number;
}

const EARTH_RADIUS_M = 6_371_000;
const rad = (deg: number) => (deg * Math.PI) / 180;
const deg = (r: number) => (r * 180) / Math.PI;

export function distanceM(a: LatLng, b: LatLng): number {
	const dLat = rad(b.latitude - a.latitude);
	const dLng = rad(b.longitude - a.longitude);
	const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.latitude)) * Math.cos(rad(b.latitude)) * Math.sin(dLng / 2) ** 2;
	return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** The point `metres` from `from` towards `to`, or `to` itself when it is closer than that. */
export function stepTowards(from: LatLng, to: LatLng, metres: number): LatLng {
	const total = distanceM(from, to);
	if (total <= metres || total === 0) return { latitude: to.latitude, longitude: to.longitude };
	const f = metres / total;
	// Short hops: linear interpolation in degrees is accurate enough and keeps it simple.
	return { latitude: from.latitude + (to.latitude - from.latitude) * f, longitude: from.longitude + (to.longitude - from.longitude) * f };
}

/** `from` moved `north` and `east` metres. */
export function offset(from: LatLng, north: number, east: number): LatLng {
	const latitude = from.latitude + deg(north / EARTH_RADIUS_M);
	const longitude = from.longitude + deg(east / (EARTH_RADIUS_M * Math.cos(rad(from.latitude))));
	return { latitude, longitude };
}
