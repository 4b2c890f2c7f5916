import { createHash } from "node:crypto";

/**
 * A user's places as their OwnTracks devices get them (API.md §6.2 `setWaypoints`): the places of every
 * group they are in, with a version that changes whenever any of them is created, renamed, moved,
 * resized or deleted, or the user joins or leaves a group that has places. The devices service sends
 * the waypoints again when the version differs from the one a device last got.
 */

export interface UserPlace {
	id: string;
	name: string;
	latitude: number;
	longitude: number;
	radius: number;
	createdAt: string;
}

export interface PlacesOfUser {
	/** "" for no places at all: a device that never had any is not sent an empty list. */
	version: string;
	places: UserPlace[];
}

/** What the phone shows of each place, in a fixed order, hashed. */
export function placesVersion(places: readonly UserPlace[]): string {
	if (!places.length) return "";
	const shown = [...places]
		.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
		.map(place => [place.id, place.name, place.latitude, place.longitude, place.radius, place.createdAt]);
	return createHash("sha256").update(JSON.stringify(shown)).digest("base64url").slice(0, 22);
}
