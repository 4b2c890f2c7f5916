import type { Context } from "moleculer";
import { LiveEvents, type LivePlace, type PlaceChange } from "../../../events/live.js";
import { isMember } from "../../../events/membership.js";
import type { GroupProjectionDoc } from "../../../mixins/membership.mixin.js";
import type { Place } from "./place-rules.js";

/**
 * What follows a change of a group's places, on every side: each location instance drops its copy, the
 * group's sockets hear it (`place:changed`), each member's Session.place is decided again on their owner.
 */

/** Broadcast to every location instance: a group's places changed, drop the copy held. */
export const PLACES_CHANGED = "location.placesChanged";
export interface PlacesChanged {
	groupId: string;
}

/** Announces `change` of `place`; a member not rebased now is logged (only the display waits for their next sample). */
export async function announcePlaceChange(
	ctx: Context,
	group: GroupProjectionDoc,
	change: PlaceChange,
	place: Place,
	logger: { warn(...args: unknown[]): void },
): Promise<void> {
	await ctx.broadcast(PLACES_CHANGED, { groupId: group._id } satisfies PlacesChanged, { groups: ["location"] });
	await ctx.broadcast(LiveEvents.place, { groupId: group._id, change, placeId: place.id, ...(change === "deleted" ? {} : { place }) } satisfies LivePlace);
	await Promise.all(
		group.members
			.filter(member => isMember(group, member.id))
			.map(member =>
				ctx.call("location.rebasePlaces", { groupId: group._id, userId: member.id }).catch((err: unknown) => {
					// The member's next sample decides the same (session-places.ts): silently, on the instance owning them.
					logger.warn(`Session.place of ${member.id} not rebased now:`, (err as Error).message);
				}),
			),
	);
}
