import type { LiveLocation, LiveLocationEvent } from "../../events/live.js";

/** The updates a `live.location` broadcast carries (one, or a location instance's batch), in order. */
export function locationUpdates(payload: LiveLocationEvent): LiveLocation[] {
	return "updates" in payload ? payload.updates : [payload];
}
