import type { Point, SessionPlace } from "../../../events/types.js";
import { applyDeviceTransition, currentPlace, detectCrossings, rebasePlace, type CrossingKind, type DeviceTransition, type GeofencePlace } from "./geofence.js";

/**
 * A session's places (API.md §6.4): the geofence rules of geofence.ts applied to what a session
 * stores — the ids of the places the user is inside, and the version of each place that set was
 * decided against. Pure, so the state machine stays pure.
 *
 * Why versions: a place created where Ada stands, or moved onto her, must not announce "Ada arrived".
 * Any place whose version the session has not seen (new, moved, resized) is decided afresh from her
 * previous position, silently, before her new sample is checked for crossings; a deleted place is
 * forgotten silently. So the rule holds on whichever instance, after whatever restart or missed
 * broadcast, and the eager rebase after a change (placesChanged) is only for Session.place to show it at once.
 */

/** A place as detection needs it: the geofence and its geometry version. */
export interface VersionedPlace extends GeofencePlace {
	version: number;
}

/** Stored with the session: the places the user is inside, and the versions `inside` was decided against. */
export interface GeofenceState {
	inside: string[];
	known: Record<string, number>;
}

export interface PlaceCrossingNotice {
	place: SessionPlace;
	kind: CrossingKind;
}

export interface PlacesOutcome {
	geofence: GeofenceState;
	place: SessionPlace | null;
	crossings: PlaceCrossingNotice[];
}

const knownOf = (places: readonly VersionedPlace[]): Record<string, number> => Object.fromEntries(places.map(place => [place.id, place.version]));

/** The inside-set once the places the session has not seen (in these versions) are decided from `position`, silently. */
export function reconcile(state: GeofenceState | null, places: readonly VersionedPlace[], position: Point | null): string[] {
	let inside = state?.inside ?? [];
	const known = state?.known ?? {};
	for (const place of places) if (known[place.id] !== place.version) inside = rebasePlace(inside, place, position);
	const ids = new Set(inside);
	return places.filter(place => ids.has(place.id)).map(place => place.id);
}

function outcome(places: readonly VersionedPlace[], inside: string[], position: Point | null, crossings: PlaceCrossingNotice[] = []): PlacesOutcome {
	return { geofence: { inside, known: knownOf(places) }, place: currentPlace(places, inside, position), crossings };
}

const named = (places: readonly VersionedPlace[], crossings: { placeId: string; kind: CrossingKind }[]): PlaceCrossingNotice[] =>
	crossings.map(({ placeId, kind }) => {
		const place = places.find(p => p.id === placeId)!;
		return { place: { id: place.id, name: place.name }, kind };
	});

/**
 * A sample of a sharing member (`previous`: the session's position before it). The first position a
 * session ever gets decides where the user is silently: nobody saw them arrive.
 */
export function placesOnSample(state: GeofenceState | null, places: readonly VersionedPlace[], previous: Point | null, sample: Point): PlacesOutcome {
	if (!previous) return outcome(places, reconcile(null, places, sample), sample);
	const { inside, crossings } = detectCrossings(places, reconcile(state, places, previous), sample);
	return outcome(places, inside, sample, named(places, crossings));
}

/** An OwnTracks transition (the phone's geofence for one place fired): one crossing at most, deduplicated against the same inside-set. */
export function placesOnTransition(
	state: GeofenceState | null,
	places: readonly VersionedPlace[],
	position: Point | null,
	transition: DeviceTransition,
): PlacesOutcome {
	const { inside, crossings } = applyDeviceTransition(places, reconcile(state, places, position), transition);
	return outcome(places, inside, position, named(places, crossings));
}

/** The group's places changed: the user is where they were, in the places as they are now (no crossing). */
export function placesRebased(state: GeofenceState | null, places: readonly VersionedPlace[], position: Point | null): PlacesOutcome {
	return outcome(places, reconcile(state, places, position), position);
}

/** Session.place changed (for the live update: a rename shows too). */
export const samePlace = (a: SessionPlace | null, b: SessionPlace | null): boolean =>
	a === null ? b === null : b !== null && a.id === b.id && a.name === b.name;

/** Operators: each place with the members whose session is inside it now (in the members' order). */
export function withOccupants<P extends { id: string }>(
	places: readonly P[],
	memberIds: readonly string[],
	geofenceOf: (userId: string) => GeofenceState | null | undefined,
): (P & { inside: string[] })[] {
	return places.map(place => ({ ...place, inside: memberIds.filter(userId => geofenceOf(userId)?.inside.includes(place.id)) }));
}
