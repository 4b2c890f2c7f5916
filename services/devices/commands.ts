import type { AnswerCommands, AnswerPlace, OwnTracksTransition } from "./protocol/owntracks.js";
import type { KnownDevice } from "./device-cache.js";

/**
 * What an OwnTracks answer carries besides people (API.md §6.2): `reportLocation` when someone asked
 * where the user is (§6.3), and `setWaypoints` when the user's places changed since this device last
 * got them. Places are issue 16's: until then every user has none, so the path is built and tested
 * but no waypoints are sent (an empty list would be sent to no purpose).
 */

/** A user's places as waypoints need them, and a version that changes whenever they do ("" for none). */
export interface PlacesOfUser {
	version: string;
	places: AnswerPlace[];
}

/** The places of a user (issue 16 gives the real source). */
export type PlacesSource = (userId: string) => Promise<PlacesOfUser>;

export const NO_PLACES: PlacesOfUser = { version: "", places: [] };
export const noPlaces: PlacesSource = async () => NO_PLACES;

/**
 * A region crossing the app detected at one of the user's places (`placeId` = the waypoint's rid).
 * Issue 16 ("places") decides what it means (an arrival or departure that notifies the group once,
 * whichever of the app and the server saw it first); until then it is acknowledged and dropped.
 */
export type TransitionSink = (userId: string, transition: OwnTracksTransition) => Promise<void>;
export const ignoreTransitions: TransitionSink = async () => undefined;

/** The commands pending for this device now. */
export function pendingCommands(device: Pick<KnownDevice, "reportRequestedAt" | "waypointsVersion">, places: PlacesOfUser): AnswerCommands {
	const commands: AnswerCommands = {};
	if (device.reportRequestedAt !== null) commands.reportLocation = true;
	if (places.version !== device.waypointsVersion) commands.places = places.places;
	return commands;
}

/** What the device was sent, to remember (so each command goes once): the request answered, the places version delivered. */
export function sentCommands(
	device: Pick<KnownDevice, "reportRequestedAt">,
	commands: AnswerCommands,
	places: PlacesOfUser,
): { reportRequestedAt?: number; waypointsVersion?: string } {
	return {
		...(commands.reportLocation && device.reportRequestedAt !== null ? { reportRequestedAt: device.reportRequestedAt } : {}),
		...(commands.places ? { waypointsVersion: places.version } : {}),
	};
}
