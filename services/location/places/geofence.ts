import { distanceMeters, type LatLng } from "../geo.js";

/**
 * Arrival at and departure from a group's places (API.md §6.4), as pure functions of the places,
 * the ids of the places the user is inside now, and one position sample. The inside-set is the
 * only state: kept with the user's session in that group, it is what makes a crossing notify once.
 *
 * The rule, with `d` the distance from the place's centre and `u` the sample's accuracy (m; 0 when
 * the sender did not say):
 * - ARRIVE when `u ≤ radius` and `d + u/2 ≤ radius`: the fix is at least as precise as the place is
 *   big and its centre lies half its accuracy inside the edge, so most of its accuracy circle (at
 *   least ~2/3 of it, whatever the sizes) is inside the place. A fix whose circle is mostly outside
 *   never arrives.
 * - LEAVE when `d − u > radius + max(25 m, 10 % of radius)`: the whole accuracy circle lies beyond
 *   the exit ring, so the person is out for certain whatever the fix's error. A poor fix (a wifi
 *   position jumping 150 m at home) never makes anyone leave; a real departure is only seen a few
 *   samples later, because people who leave keep moving. A false "left home" + "arrived home" pair
 *   is worse than a late "left home".
 * - A fix worse than MAX_FIX_ACCURACY_M (a cell-tower guess) is ignored for both.
 * Between the two thresholds nothing changes: a fix honest about its accuracy (the person within its
 * circle) cannot make someone standing inside the exit ring leave, however it jitters, so jitter at
 * the edge gives at most one arrival and one departure.
 */

/** What the rule needs of a place (API.md §6.4's Place has more). */
export interface GeofencePlace {
	id: string;
	name: string;
	latitude: number;
	longitude: number;
	/** Metres, 25–5000. */
	radius: number;
}

export interface GeofenceSample extends LatLng {
	/** Horizontal accuracy radius, metres; absent (or 0) when the sender did not know it. */
	accuracy?: number;
}

export type CrossingKind = "arrived" | "left";

export interface PlaceCrossing {
	placeId: string;
	kind: CrossingKind;
}

export interface GeofenceResult {
	/** The places the user is inside after the sample, in the order of `places`. Store it as the new state. */
	inside: string[];
	/** One entry per place crossed by this sample: a PLACE_ARRIVED / PLACE_LEFT notification each. */
	crossings: PlaceCrossing[];
}

/** Leaving needs this far beyond the radius, at least: a parking lot's worth of GPS wander. */
export const EXIT_MARGIN_MIN_M = 25;
/** ... or this fraction of the radius, for big places (a campus, a town). */
export const EXIT_MARGIN_FRACTION = 0.1;
/** Fixes with a worse accuracy than this say little about any place: they change nothing. */
export const MAX_FIX_ACCURACY_M = 500;

/** The radius beyond which a person inside a place is seen to leave it. */
export const exitRadius = (radius: number): number => radius + Math.max(EXIT_MARGIN_MIN_M, EXIT_MARGIN_FRACTION * radius);

/** A usable accuracy: finite and positive, else unknown (0); the broker's validator already refuses the rest. */
const accuracyOf = (sample: GeofenceSample): number =>
	sample.accuracy !== undefined && Number.isFinite(sample.accuracy) && sample.accuracy > 0 ? sample.accuracy : 0;

const usable = (sample: GeofenceSample): boolean =>
	Number.isFinite(sample.latitude) && Number.isFinite(sample.longitude) && accuracyOf(sample) <= MAX_FIX_ACCURACY_M;

/** The sample puts the user in the place (for someone who was not in it). */
export function arrives(place: GeofencePlace, sample: GeofenceSample): boolean {
	const u = accuracyOf(sample);
	return usable(sample) && u <= place.radius && distanceMeters(sample, place) + u / 2 <= place.radius;
}

/** The sample puts the user out of the place (for someone who was in it). */
export function leaves(place: GeofencePlace, sample: GeofenceSample): boolean {
	return usable(sample) && distanceMeters(sample, place) - accuracyOf(sample) > exitRadius(place.radius);
}

/**
 * Applies one position sample of a sharing member to the group's places. Ids in `inside` that are
 * no longer places of the group (a deleted place) are dropped silently: nobody "left" a place that
 * no longer exists. An unusable sample changes nothing but that.
 */
export function detectCrossings(places: readonly GeofencePlace[], inside: Iterable<string>, sample: GeofenceSample): GeofenceResult {
	const was = new Set(inside);
	const next: string[] = [];
	const crossings: PlaceCrossing[] = [];
	for (const place of places) {
		if (was.has(place.id)) {
			if (leaves(place, sample)) crossings.push({ placeId: place.id, kind: "left" });
			else next.push(place.id);
		} else if (arrives(place, sample)) {
			crossings.push({ placeId: place.id, kind: "arrived" });
			next.push(place.id);
		}
	}
	return { inside: next, crossings };
}

/** An OwnTracks `transition` message (API.md §6.2): the phone's own geofence for place `placeId` fired. */
export interface DeviceTransition {
	placeId: string;
	event: "enter" | "leave";
}

/**
 * A device's transition counts as the crossing (API.md §6.4), against the same inside-set as the
 * server's own detection: whichever of the two reports a crossing first notifies, and the other,
 * agreeing with the state it finds, yields no crossing. So an "enter" after the server already saw
 * the arrival (or an "enter" repeated by a phone retrying its post) notifies nothing. A transition
 * for a place that is not one of `places` (deleted, or another group's) changes nothing.
 */
export function applyDeviceTransition(places: readonly GeofencePlace[], inside: Iterable<string>, transition: DeviceTransition): GeofenceResult {
	const known = new Set(places.map(place => place.id));
	const was = new Set([...inside].filter(id => known.has(id)));
	const crossings: PlaceCrossing[] = [];
	if (known.has(transition.placeId)) {
		if (transition.event === "enter" && !was.has(transition.placeId)) {
			was.add(transition.placeId);
			crossings.push({ placeId: transition.placeId, kind: "arrived" });
		} else if (transition.event === "leave" && was.has(transition.placeId)) {
			was.delete(transition.placeId);
			crossings.push({ placeId: transition.placeId, kind: "left" });
		}
	}
	return { inside: places.filter(place => was.has(place.id)).map(place => place.id), crossings };
}

/**
 * A place was created, moved or resized: whether the user is in it is decided afresh from their last
 * known position, silently. Nobody arrived or left: the map changed, not the person (pinning "Home"
 * where Ada stands does not announce "Ada arrived at Home"; moving a misplaced pin away from her does
 * not announce that she left). The same thresholds apply, so someone inside stays inside while within
 * the new exit ring. Without a position the user is in no place.
 */
export function rebasePlace(inside: Iterable<string>, place: GeofencePlace, position: GeofenceSample | null): string[] {
	const ids = [...inside];
	const others = ids.filter(id => id !== place.id);
	if (!position) return others;
	const wasInside = others.length !== ids.length;
	const isInside = wasInside ? !leaves(place, position) : arrives(place, position);
	return isInside ? [...others, place.id] : others;
}

/** True when an edit changes where a place is or how big it is (so `rebasePlace` must run). */
export const geometryChanged = (before: GeofencePlace, after: GeofencePlace): boolean =>
	before.latitude !== after.latitude || before.longitude !== after.longitude || before.radius !== after.radius;

/**
 * The place Session.place shows: of the places the user is inside, the most specific one (the
 * smallest radius; then the nearest centre, then the id). "Nearest" alone is ambiguous where places
 * nest (the Library on a Campus: she is at the Library), and it would flip between two overlapping
 * places as the fix jitters, each flip a live update; this choice changes only when the inside-set
 * does. Unknown ids are skipped; null when the user is in no place.
 */
export function currentPlace(places: readonly GeofencePlace[], inside: Iterable<string>, position?: LatLng | null): { id: string; name: string } | null {
	const ids = new Set(inside);
	const candidates = places.filter(place => ids.has(place.id));
	if (!candidates.length) return null;
	const distance = (place: GeofencePlace) => (position ? distanceMeters(position, place) : 0);
	const best = candidates.reduce((a, b) => {
		if (a.radius !== b.radius) return a.radius < b.radius ? a : b;
		const da = distance(a);
		const db = distance(b);
		if (da !== db) return da < db ? a : b;
		return a.id <= b.id ? a : b;
	});
	return { id: best.id, name: best.name };
}
