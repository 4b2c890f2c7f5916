import { randomUUID } from "node:crypto";
import { Schema, type Connection, type Model } from "mongoose";
import type { Context, ServiceSchema } from "moleculer";
import type { DomainEventType, DomainPayloads, Envelope } from "../events/domain.js";

/**
 * Durable domain events over NATS JetStream (through @moleculer/channels).
 *
 * Publishing uses an outbox: a service writes its state change and the events announcing it in
 * ONE document write (an `outbox` array on the changed document), so the two cannot get out of
 * step. A relay publishes pending events and removes them after JetStream acknowledged them; a
 * crash in between only means the events are published again, which consumers absorb.
 *
 * The writer names the document it just changed (`kickOutbox(model, id)`), and the relay reads
 * that one document by `_id` (the only lookup FerretDB answers from an index) and publishes its
 * events at once. A periodic scan of every outbox is only the safety net for a crash between a
 * write and its publication. Relays of one document never overlap on an instance (targeted or from
 * the scan), so its events go out in order and none is published twice by that instance.
 *
 * Consuming is idempotent: each handled event id is recorded, and a redelivery is skipped. A
 * consumer may also name a step that is harmless to repeat (e.g. storing a versioned snapshot): it
 * runs for every delivery at the same time as the duplicate check, so its effect is not delayed by it.
 */

/** `attempt`: 0 for the first delivery, then the JetStream redelivery count. */
export type ConsumerHandler = (envelope: Envelope<any>, ctx: Context, delivery: { attempt: number }) => Promise<void>;

/**
 * Thrown by a handler that cannot do its work YET (e.g. it waits for another event): the event
 * is retried later with the usual backoff, and the expected wait is not logged as a failure.
 */
export class RetryLater extends Error {
	override name = "RetryLater";
}

/**
 * How a service consumes an event type: the name of a method handling the envelope once, or that
 * plus `everyDelivery`, a method `(envelope, ctx)` run for every delivery (duplicates included) at
 * the same time as the duplicate check and before `handler`. It must be harmless to repeat.
 */
export type ConsumerSpec = string | { handler: string; everyDelivery: string };

export interface DurableEventsOptions {
	/** Names of models (in `this.models`) whose documents carry an `outbox` array. */
	outboxModels?: string[];
	/** Event type → how the service handles it. */
	consume?: Partial<Record<DomainEventType, ConsumerSpec>>;
}

/** Schema fragment for a document that can carry pending events. */
// Mixed (not an array of Mixed) so events are stored exactly as written: the relay removes them by exact value.
export const outboxField = { outbox: { type: Schema.Types.Mixed, default: () => [] } };

export function newEnvelope<T extends DomainEventType>(type: T, payload: DomainPayloads[T], now = new Date()): Envelope<DomainPayloads[T]> {
	return { id: randomUUID(), type, occurredAt: now.toISOString(), payload };
}

/**
 * The safety-net scan reads every document of every outbox model (a collection scan on FerretDB),
 * so it runs rarely: writers that name their document are relayed at once without it.
 */
const OUTBOX_SCAN_MS = 5_000;
/** Documents per scan query; the scan queries again while it finds this many. */
const OUTBOX_SCAN_BATCH = 200;
const PROCESSED_KEEP_MS = 8 * 24 * 3600 * 1000; // a little longer than the streams keep events

interface ProcessedEvent {
	_id: string;
	at: Date;
	/** Deliveries of this event recognised as duplicates and skipped (redeliveries, republished copies). */
	duplicates?: number;
}

function processedModel(connection: Connection): Model<ProcessedEvent> {
	return (
		(connection.models.ProcessedEvent as Model<ProcessedEvent>) ??
		connection.model<ProcessedEvent>("ProcessedEvent", new Schema<ProcessedEvent>({ _id: String, at: Date, duplicates: Number }, { versionKey: false }))
	);
}

/** Waits before a failed handler is retried, longer each time (JetStream redelivers at once). */
const backoffMs = (attempt: number) => Math.min(5_000, 100 * 2 ** Math.min(attempt, 6));

export function DurableEvents(opts: DurableEventsOptions): Partial<ServiceSchema> {
	const channels: Record<string, unknown> = {};
	for (const [type, spec] of Object.entries(opts.consume ?? {})) {
		const { handler: methodName, everyDelivery } = typeof spec === "string" ? { handler: spec, everyDelivery: undefined } : spec;
		channels[type] = {
			// No `group`: it defaults to the service name, so all instances of a service share one
			// durable consumer and split its messages.
			context: true,
			async handler(this: any, ctx: Context<Envelope>, raw?: { info?: { redeliveryCount?: number } }) {
				// JetStream counts deliveries from 1.
				const attempt = Math.max(0, (raw?.info?.redeliveryCount ?? 1) - 1);
				try {
					await this.consumeOnce(
						ctx.params,
						(envelope: Envelope) => this[methodName](envelope, ctx, { attempt }),
						everyDelivery ? (envelope: Envelope) => this[everyDelivery](envelope, ctx) : undefined,
					);
				} catch (err) {
					if (err instanceof RetryLater) this.logger.debug(`Handling ${type} ${ctx.params?.id} postponed (attempt ${attempt + 1}):`, err.message);
					else this.logger.warn(`Handling ${type} ${ctx.params?.id} failed (attempt ${attempt + 1}), will retry:`, (err as Error).message);
					await new Promise(resolve => setTimeout(resolve, backoffMs(attempt)));
					throw err;
				}
			},
		};
	}

	return {
		channels,
		methods: {
			/**
			 * Runs `handle` unless this event id was handled before; records it afterwards.
			 * `everyDelivery` (harmless to repeat) runs in any case, alongside the duplicate check.
			 */
			async consumeOnce(envelope: Envelope, handle: (envelope: Envelope) => Promise<void>, everyDelivery?: (envelope: Envelope) => Promise<void>) {
				if (!envelope || typeof envelope.id !== "string") {
					this.logger.warn("Dropping a malformed domain event", envelope);
					return;
				}
				const processed = processedModel(this.connection);
				const [duplicate] = await Promise.all([processed.exists({ _id: envelope.id }), everyDelivery?.(envelope)]);
				if (duplicate) {
					// Counted so operators (and the fault tests) see how much at-least-once delivery repeated.
					await processed.updateOne({ _id: envelope.id }, { $inc: { duplicates: 1 } }).catch(() => undefined);
					return;
				}
				await handle(envelope);
				// An insert, not an upsert: FerretDB answers an update by scanning the collection, and
				// this one keeps every event of the last days. Another instance that handled the same
				// delivery concurrently already recorded it (duplicate key): nothing left to do.
				await processed.create({ _id: envelope.id, at: new Date() }).catch((err: { code?: number }) => {
					if (err.code !== 11000) throw err;
				});
			},

			/**
			 * Publishes pending outbox events soon; called after every write that adds some. With the
			 * model and `_id` of the written document, only that document is read and relayed, at
			 * once; without, every outbox is scanned (coalesced: one scan for a burst of calls).
			 */
			kickOutbox(modelName?: string, docId?: string) {
				if (modelName !== undefined && docId !== undefined) {
					this.relayDocument(modelName, docId).catch((err: Error) =>
						this.logger.warn(`Outbox relay of ${modelName} ${docId} failed (the periodic scan retries):`, err.message),
					);
					return;
				}
				if (this.outboxKicked) return;
				this.outboxKicked = true;
				setImmediate(() => {
					this.outboxKicked = false;
					this.flushOutbox().catch((err: Error) => this.logger.warn("Outbox flush failed:", err.message));
				});
			},

			/**
			 * Publishes the pending events of one document, in their order, then removes them. One relay
			 * per document at a time on this instance: a call while one runs makes it read the document
			 * again when it is done (events may have been added after its read), and resolves with it.
			 */
			relayDocument(modelName: string, docId: unknown): Promise<void> {
				const relays: Map<string, { again: boolean; done: Promise<void> }> = (this.outboxRelays ??= new Map());
				const key = `${modelName}/${String(docId)}`;
				const running = relays.get(key);
				if (running) {
					running.again = true;
					return running.done;
				}
				const relay = { again: false, done: Promise.resolve() };
				relay.done = (async () => {
					try {
						do {
							relay.again = false;
							await this.publishPendingOf(modelName, docId);
						} while (relay.again);
					} finally {
						// Reached synchronously after the last check of `again`: no call can slip in between.
						relays.delete(key);
					}
				})();
				relays.set(key, relay);
				return relay.done;
			},

			/** One pass of `relayDocument`: read by `_id`, publish each event in order, remove the published ones. */
			async publishPendingOf(modelName: string, docId: unknown) {
				const model = this.models?.[modelName] as Model<any> | undefined;
				if (!model) throw new Error(`No outbox model ${modelName}`);
				const doc = await model.findById(docId, { outbox: 1 }).lean<{ outbox?: Envelope[] }>();
				const events = doc?.outbox ?? [];
				if (!events.length) return;
				for (const envelope of events) await (this.broker as any).sendToChannel(envelope.type, envelope);
				// One exact-value removal for all of them (FerretDB has no $pull with a condition); events
				// pushed after the read stay for the next pass.
				await model.updateOne({ _id: docId }, { $pullAll: { outbox: events } });
				this.outboxPublished = (this.outboxPublished ?? 0) + events.length;
			},

			/** The safety net: relays every document of every outbox model that has pending events. */
			async flushOutbox() {
				if (this.outboxFlushing) {
					this.outboxFlushAgain = true;
					return;
				}
				this.outboxFlushing = true;
				try {
					do {
						this.outboxFlushAgain = false;
						for (const name of opts.outboxModels ?? []) {
							const model = this.models?.[name] as Model<any> | undefined;
							if (!model) continue;
							const docs = await model
								.find({ "outbox.0": { $exists: true } }, { _id: 1 })
								.limit(OUTBOX_SCAN_BATCH)
								.lean();
							// Through the per-document relay, so a targeted relay running meanwhile is not repeated.
							for (const doc of docs) await this.relayDocument(name, doc._id);
							if (docs.length === OUTBOX_SCAN_BATCH) this.outboxFlushAgain = true;
						}
					} while (this.outboxFlushAgain);
				} finally {
					this.outboxFlushing = false;
				}
			},

			/** How many events wait in this service's outboxes (for operators). */
			async pendingOutboxCount(): Promise<number> {
				let count = 0;
				for (const name of opts.outboxModels ?? []) {
					const model = this.models?.[name] as Model<any> | undefined;
					if (!model) continue;
					const docs = await model.find({ "outbox.0": { $exists: true } }, { outbox: 1 }).lean();
					for (const doc of docs) count += (doc.outbox as unknown[]).length;
				}
				return count;
			},
		},
		actions: {
			/** Pending outbox events of this service instance's database, for the operators' REPL. */
			outboxStatus: {
				visibility: "public",
				async handler() {
					return { pending: await this.pendingOutboxCount(), published: this.outboxPublished ?? 0 };
				},
			},
		},
		started() {
			if (!opts.outboxModels?.length) return;
			// At once too: events a crashed predecessor left behind need not wait for the first period.
			this.kickOutbox();
			this.outboxTimer = setInterval(() => this.kickOutbox(), OUTBOX_SCAN_MS);
			this.outboxTimer.unref?.();
			this.processedPurgeTimer = setInterval(() => {
				processedModel(this.connection)
					.deleteMany({ at: { $lt: new Date(Date.now() - PROCESSED_KEEP_MS) } })
					.catch(() => undefined);
			}, 3600_000);
			this.processedPurgeTimer.unref?.();
		},
		async stopped() {
			clearInterval(this.outboxTimer);
			clearInterval(this.processedPurgeTimer);
			// Give relays in progress the chance to finish before the connection closes.
			const deadline = Date.now() + 3_000;
			const busy = () => this.outboxFlushing || (this.outboxRelays as Map<string, unknown> | undefined)?.size;
			while (busy() && Date.now() < deadline) await new Promise(r => setTimeout(r, 20));
		},
	} as Partial<ServiceSchema>;
}
