import { notFound, validationError } from "../../../events/errors.js";
import type { Destination } from "../../../events/types.js";
import type { PlaceDoc } from "../models.js";

/**
 * A journey's destination as the start command gives it: coordinates with a name, or one of the
 * group's places (API.md §6.4), resolved once at the start (a later move of the place leaves it be).
 */

export interface DestinationParams {
	name?: string;
	latitude?: number;
	longitude?: number;
	placeId?: string;
}

/** The destination of a journey in `groupId`: 404 for an unknown place, 422 for another group's or for missing coordinates. */
export async function resolveDestination(
	groupId: string,
	destination: DestinationParams,
	findPlace: (placeId: string) => Promise<PlaceDoc | null>,
): Promise<Destination> {
	if (destination.placeId !== undefined) {
		const place = await findPlace(destination.placeId);
		if (!place) throw notFound("Place", { placeId: destination.placeId });
		if (place.groupId !== groupId)
			throw validationError("Parameters validation error!", [{ field: "destination.placeId", message: "is not a place of this group", type: "place" }]);
		return { name: place.name, latitude: place.latitude, longitude: place.longitude, placeId: place._id, radius: place.radius };
	}
	const { name, latitude, longitude } = destination;
	if (name === undefined || latitude === undefined || longitude === undefined) {
		const missing = (["name", "latitude", "longitude"] as const).filter(field => destination[field] === undefined);
		throw validationError(
			"Parameters validation error!",
			missing.map(field => ({ field: `destination.${field}`, message: "is required (or give destination.placeId)", type: "required" })),
		);
	}
	return { name, latitude, longitude };
}
