import type { AnswerCommands, AnswerPlace, OwnTracksTransition } from "./protocol/owntracks.js";
import type { KnownDevice } from "./device-cache.js";
import { ErrorTypes } from "../../events/errors.js";

/**
 * What an OwnTracks answer carries besides people (API.md §6.2): `reportLocation` when someone asked
 * where the user is (§6.3), and `setWaypoints` when the user's places changed since this device last
 * got them. The places are the location service's (`location.placesOfUser`: every place of every
 * group the user is in, with a version); a user who never had places is never sent an empty list.
 */

/** A user's places as waypoints need them, and a version that changes whenever they do ("" for none). */
export interface PlacesOfUser {
	version: string;
	places: AnswerPlace[];
}

/** The places of a user. */
export type PlacesSource = (userId: string) => Promise<PlacesOfUser>;

export const NO_PLACES: PlacesOfUser = { version: "", places: [] };
export const noPlaces: PlacesSource = async () => NO_PLACES;

/**
 * A region crossing the app detected at one of the user's places (`placeId` = the waypoint's rid).
 * `call` calls an action as the device's owner.
 */
export type TransitionSink = (userId: string, transition: OwnTracksTransition, call: (action: string, params: object) => Promise<unknown>) => Promise<void>;
export const ignoreTransitions: TransitionSink = async () => undefined;

/**
 * What a transition can never become, and is acknowledged and dropped for (the app deletes a message
 * on any 4xx): a region the app made itself or a place since deleted (404, or an id that cannot be
 * ours: 422), a group the user left (403), a group where they do not share (409).
 */
const DROPPED = new Set<unknown>([ErrorTypes.NOT_FOUND, ErrorTypes.VALIDATION_ERROR, ErrorTypes.FORBIDDEN, ErrorTypes.INVALID_STATE]);

/**
 * The location service takes the transition as the crossing (API.md §6.4): an arrival or departure
 * that notifies the group once, whichever of the app and the server's own detection saw it first.
 */
export const placeTransition: TransitionSink = async (_userId, transition, call) => {
	try {
		await call("location.placeTransition", { placeId: transition.placeId, event: transition.event });
	} catch (err) {
		if (!DROPPED.has((err as { type?: unknown } | null)?.type)) throw err;
	}
};

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
