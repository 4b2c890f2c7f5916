import { validationError } from "../../../events/errors.js";
import { rules, strict } from "../../../lib/params.js";
import type { Place } from "../../../events/types.js";

/**
 * What a group's place may be (API.md §6.4): the limits, the broker validator's params for creating
 * and editing one, and the checks the validator cannot express. The validator refuses wrong types
 * and ranges (422 with the fields); `normalizePlaceName` then decides the name as stored.
 */

/** A place as the API shows it (API.md §6.4): the shared contract's type. */
export type { Place };

/** Smaller than a house plot is below what a phone's fix can tell apart. */
export const PLACE_RADIUS_MIN_M = 25;
/** A town; beyond that "arrived" means little. */
export const PLACE_RADIUS_MAX_M = 5000;
/** Characters (code points, so an emoji counts once) after trimming: fits a notification line ("Ada arrived at …"). */
export const PLACE_NAME_MAX = 60;
/** Every sample of every sharing member is checked against all of a group's places, and phones get them all as geofences. */
export const MAX_PLACES_PER_GROUP = 50;

/** The 409 answer when a group already has MAX_PLACES_PER_GROUP places. */
export const PLACE_LIMIT_MESSAGE = `A group can have at most ${MAX_PLACES_PER_GROUP} places; delete one first`;

/** True while the group may get one more place. */
export const canAddPlace = (existing: number, max = MAX_PLACES_PER_GROUP): boolean => existing < max;

// ---- params (the validator's schema and the handler's type side by side)

// A code point is at most two UTF-16 units, and the validator counts units: its bound lets every
// valid name through and refuses absurd ones early; normalizePlaceName counts characters.
const nameRule = () => ({ type: "string", min: 1, max: 2 * PLACE_NAME_MAX, trim: true }) as const;
const radiusRule = () => ({ type: "number", min: PLACE_RADIUS_MIN_M, max: PLACE_RADIUS_MAX_M, finite: true }) as const;

/** `POST /groups/:groupId/places`. */
export const createPlaceParams = {
	...strict,
	groupId: rules.id,
	name: nameRule(),
	latitude: rules.latitude,
	longitude: rules.longitude,
	radius: radiusRule(),
};
export interface CreatePlaceParams {
	groupId: string;
	name: string;
	latitude: number;
	longitude: number;
	radius: number;
}

/** `PATCH /groups/:groupId/places/:placeId`: any of the fields; none is a no-op that answers the place as it is. */
export const patchPlaceParams = {
	...strict,
	groupId: rules.id,
	placeId: rules.id,
	name: { ...nameRule(), optional: true },
	latitude: { ...rules.latitude, optional: true },
	longitude: { ...rules.longitude, optional: true },
	radius: { ...radiusRule(), optional: true },
};
export interface PatchPlaceParams {
	groupId: string;
	placeId: string;
	name?: string;
	latitude?: number;
	longitude?: number;
	radius?: number;
}

/** `GET /groups/:groupId/places`. */
export const groupPlacesParams = { ...strict, groupId: rules.id };
/** `DELETE /groups/:groupId/places/:placeId`. */
export const placeParams = { ...strict, groupId: rules.id, placeId: rules.id };

// ---- checks

/**
 * C0 and C1 control characters other than whitespace, and the bidi embeddings, overrides and isolates:
 * nothing a person types into a name, and in "Ada arrived at …" they break the line or reverse the text.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u;

/**
 * The name as stored: NFC, every run of whitespace (newlines, tabs) one space, trimmed, 1..PLACE_NAME_MAX
 * characters, no control characters. Throws VALIDATION_ERROR (422) on the `name` field otherwise.
 */
export function normalizePlaceName(name: string): string {
	if (CONTROL.test(name)) throw nameError("must not contain control characters", "string");
	const normal = name.normalize("NFC").replace(/\s+/gu, " ").trim();
	const length = [...normal].length;
	if (length < 1 || length > PLACE_NAME_MAX)
		throw nameError(`must be 1 to ${PLACE_NAME_MAX} characters after trimming`, length < 1 ? "stringMin" : "stringMax");
	return normal;
}

function nameError(message: string, type: string) {
	return validationError(`A place's name has 1 to ${PLACE_NAME_MAX} characters`, [{ field: "name", message, type }]);
}

export interface PlaceFieldProblem {
	field: "name" | "latitude" | "longitude" | "radius";
	message: string;
}

const inRange = (value: unknown, min: number, max: number): boolean => typeof value === "number" && Number.isFinite(value) && value >= min && value <= max;

/**
 * The same limits as the params above, for a place that does not come through the validator (a
 * stored one read back, a test fixture): every field that is wrong, [] when the place is fine.
 */
export function placeProblems(place: { name: unknown; latitude: unknown; longitude: unknown; radius: unknown }): PlaceFieldProblem[] {
	const problems: PlaceFieldProblem[] = [];
	if (typeof place.name !== "string") problems.push({ field: "name", message: "must be a string" });
	else {
		try {
			if (normalizePlaceName(place.name) !== place.name) problems.push({ field: "name", message: "must be trimmed, with single spaces" });
		} catch {
			problems.push({ field: "name", message: `must be 1 to ${PLACE_NAME_MAX} characters, without control characters` });
		}
	}
	const { latitude, longitude } = rules;
	if (!inRange(place.latitude, latitude.min, latitude.max))
		problems.push({ field: "latitude", message: `must be a number from ${latitude.min} to ${latitude.max}` });
	if (!inRange(place.longitude, longitude.min, longitude.max))
		problems.push({ field: "longitude", message: `must be a number from ${longitude.min} to ${longitude.max}` });
	if (!inRange(place.radius, PLACE_RADIUS_MIN_M, PLACE_RADIUS_MAX_M))
		problems.push({ field: "radius", message: `must be ${PLACE_RADIUS_MIN_M} to ${PLACE_RADIUS_MAX_M} metres` });
	return problems;
}

/** The fields a PATCH changes (absent ones keep their value). */
export type PlaceChanges = Partial<Pick<Place, "name" | "latitude" | "longitude" | "radius">>;

/** The changes a validated PATCH asks for, the name normalized; `{}` when it asks for none. */
export function placeChanges(params: PatchPlaceParams): PlaceChanges {
	const changes: PlaceChanges = {};
	if (params.name !== undefined) changes.name = normalizePlaceName(params.name);
	if (params.latitude !== undefined) changes.latitude = params.latitude;
	if (params.longitude !== undefined) changes.longitude = params.longitude;
	if (params.radius !== undefined) changes.radius = params.radius;
	return changes;
}

/** The place after an edit; the identity, creator and creation time never change. */
export const applyPlaceChanges = (place: Place, changes: PlaceChanges): Place => ({ ...place, ...changes });
