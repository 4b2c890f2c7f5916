import type { Context, ServiceBroker } from "moleculer";
import { LiveEvents, type LiveLocation, type LiveLocationBatch } from "../../events/live.js";
import { toApiSession, type SessionData } from "./session.js";
import type { Precision } from "./precision.js";
import { sessionFor } from "./precision-settings.js";

/**
 * Coalesces live updates: everything published during one turn of the event loop goes out as
 * ONE broadcast, right after that turn (setImmediate), so the added latency is bounded by the
 * turn itself. At low rates a batch holds one update; under load, when many requests are read
 * from the transporter per turn, batches grow with the load and each gateway receives, decodes
 * and dispatches one message per batch instead of one per update.
 */
export class LiveBatcher<T, C> {
	private items: { item: T; ctx: C | null }[] = [];
	private sending?: Promise<void>;

	/**
	 * `sendOne` sends a lone update (with the context of the request that caused it), `sendMany`
	 * a batch of several, in the order they were added.
	 */
	constructor(
		private readonly sendOne: (item: T, ctx: C | null) => Promise<unknown>,
		private readonly sendMany: (items: T[]) => Promise<unknown>,
	) {}

	/** Resolves once the batch holding `item` has been handed to the transporter. */
	add(item: T, ctx: C | null): Promise<void> {
		this.items.push({ item, ctx });
		this.sending ??= new Promise<void>(resolve => setImmediate(resolve)).then(() => this.flush());
		return this.sending;
	}

	private async flush(): Promise<void> {
		const batch = this.items;
		this.items = [];
		this.sending = undefined;
		if (batch.length === 1) await this.sendOne(batch[0]!.item, batch[0]!.ctx);
		else if (batch.length > 1) await this.sendMany(batch.map(entry => entry.item));
	}
}

/**
 * Publishes changed sessions on `live.location` to every gateway: alone, as the child of the request
 * that changed it; several in one turn, as one batch that is nobody's child and carries no caller's meta.
 * A session shared approximately (`precisionOf`, API.md §6.6) also carries `others`, what the other
 * members are shown; `session` (exact) then goes to its subject's own sockets only.
 */
export function liveLocations(
	broker: ServiceBroker,
	precisionOf: (groupId: string, userId: string) => Precision = () => "exact",
): (session: SessionData, origin: Context | null) => Promise<void> {
	const batcher = new LiveBatcher<LiveLocation, Context>(
		(payload, ctx) => (ctx ? ctx.broadcast(LiveEvents.location, payload) : broker.broadcast(LiveEvents.location, payload)),
		updates => broker.broadcast(LiveEvents.location, { updates } satisfies LiveLocationBatch),
	);
	return (session, origin) => batcher.add(liveLocationOf(session, precisionOf(session.groupId, session.userId)), origin);
}

/** The `live.location` update of a session: `others` only when the other members are shown something else. */
export function liveLocationOf(session: SessionData, precision: Precision): LiveLocation {
	const api = toApiSession(session);
	const own = sessionFor(session.userId, api, precision);
	const others = sessionFor(null, api, precision);
	return { groupId: session.groupId, session: own, ...(others.position !== own.position ? { others } : {}) };
}
