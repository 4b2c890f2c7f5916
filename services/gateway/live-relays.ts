import type { Context } from "moleculer";
import { LiveEvents } from "../../events/live.js";
import type { LiveSockets } from "./sockets.js";

/**
 * Which fan-out of this gateway's sockets (gateway/sockets.ts) each live broadcast goes to, one line per event.
 * Every gateway instance hears every broadcast and tells its own sockets only; the data itself is in the databases.
 */

/** The LiveSockets methods that take one live payload. */
type Relay = "location" | "chat" | "presence" | "notification" | "notificationsRead" | "group" | "invitation" | "locateRequest" | "place" | "shareEnded";

const relays = {
	[LiveEvents.location]: "location",
	[LiveEvents.chat]: "chat",
	[LiveEvents.presence]: "presence",
	[LiveEvents.notification]: "notification",
	[LiveEvents.notificationsRead]: "notificationsRead",
	[LiveEvents.group]: "group",
	[LiveEvents.invitation]: "invitation",
	[LiveEvents.locate]: "locateRequest",
	[LiveEvents.place]: "place",
	[LiveEvents.shareEnded]: "shareEnded",
} as const satisfies Record<string, Relay>;

type RelayHandler = (this: { sockets: LiveSockets }, ctx: Context<unknown>) => void;

/** The gateway's event handlers that pass a live broadcast's payload to its sockets (`live.revoked` does more: the service's own). */
export function liveRelays(): Record<keyof typeof relays, RelayHandler> {
	const handlers = {} as Record<keyof typeof relays, RelayHandler>;
	for (const [event, method] of Object.entries(relays) as [keyof typeof relays, Relay][]) {
		handlers[event] = function (ctx) {
			(this.sockets[method] as (payload: unknown) => void).call(this.sockets, ctx.params);
		};
	}
	return handlers;
}
