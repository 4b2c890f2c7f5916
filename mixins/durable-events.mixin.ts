import { randomUUID } from "node:crypto";
import { Schema, type Connection, type Model } from "mongoose";
import type { Context, ServiceSchema } from "moleculer";
import type { DomainEventType, DomainPayloads, Envelope } from "../events/domain.js";

/**
 * Durable domain events over NATS JetStream (through @moleculer/channels).
 *
 * Publishing uses an outbox: a service writes its state change and the events announcing it in
 * ONE document write (an `outbox` array on the changed document), so the two cannot get out of
 * step. A relay publishes pending events and removes each one after JetStream acknowledged it; a
 * crash in between only means the event is published again, which consumers absorb.
 *
 * Consuming is idempotent: each handled event id is recorded, and a redelivery is skipped.
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

export interface DurableEventsOptions {
	/** Names of models (in `this.models`) whose documents carry an `outbox` array. */
	outboxModels?: string[];
	/** Event type → name of a service method handling the envelope. */
	consume?: Partial<Record<DomainEventType, string>>;
}

/** Schema fragment for a document that can carry pending events. */
// Mixed (not an array of Mixed) so events are stored exactly as written: the relay removes them by exact value.
export const outboxField = { outbox: { type: Schema.Types.Mixed, default: () => [] } };

export function newEnvelope<T extends DomainEventType>(type: T, payload: DomainPayloads[T], now = new Date()): Envelope<DomainPayloads[T]> {
	return { id: randomUUID(), type, occurredAt: now.toISOString(), payload };
}

const OUTBOX_POLL_MS = 1_000;
const PROCESSED_KEEP_MS = 8 * 24 * 3600 * 1000; // a little longer than the streams keep events

interface ProcessedEvent {
	_id: string;
	at: Date;
	/** Deliveries of this event recognised as duplicates and skipped (redeliveries, republished copies). */
	duplicates?: number;
}

function processedModel(connection: Connection): Model<ProcessedEvent> {
	return (connection.models.ProcessedEvent as Model<ProcessedEvent>) ??
		connection.model<ProcessedEvent>("ProcessedEvent", new Schema<ProcessedEvent>({ _id: String, at: Date, duplicates: Number }, { versionKey: false }));
}

/** Waits before a failed handler is retried, longer each time (JetStream redelivers at once). */
const backoffMs = (attempt: number) => Math.min(5_000, 100 * 2 ** Math.min(attempt, 6));

export function DurableEvents(opts: DurableEventsOptions): Partial<ServiceSchema> {
	const channels: Record<string, unknown> = {};
	for (const [type, methodName] of Object.entries(opts.consume ?? {})) {
		channels[type] = {
			// No `group`: it defaults to the service name, so all instances of a service share one
			// durable consumer and split its messages.
			context: true,
			async handler(this: any, ctx: Context<Envelope>, raw?: { info?: { redeliveryCount?: number } }) {
				// JetStream counts deliveries from 1.
				const attempt = Math.max(0, (raw?.info?.redeliveryCount ?? 1) - 1);
				try {
					await this.consumeOnce(ctx.params, (envelope: Envelope) => this[methodName](envelope, ctx, { attempt }));
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
			/** Runs `handle` unless this event id was handled before; records it afterwards. */
			async consumeOnce(envelope: Envelope, handle: (envelope: Envelope) => Promise<void>) {
				if (!envelope || typeof envelope.id !== "string") {
					this.logger.warn("Dropping a malformed domain event", envelope);
					return;
				}
				const processed = processedModel(this.connection);
				if (await processed.exists({ _id: envelope.id })) {
					// Counted so operators (and the fault tests) see how much at-least-once delivery repeated.
					await processed.updateOne({ _id: envelope.id }, { $inc: { duplicates: 1 } }).catch(() => undefined);
					return;
				}
				await handle(envelope);
				await processed.updateOne({ _id: envelope.id }, { $set: { at: new Date() } }, { upsert: true });
			},

			/** Publishes pending outbox events soon (called after every write that adds some). */
			kickOutbox() {
				if (this.outboxKicked) return;
				this.outboxKicked = true;
				setImmediate(() => {
					this.outboxKicked = false;
					this.flushOutbox().catch((err: Error) => this.logger.warn("Outbox flush failed:", err.message));
				});
			},

			/** Publishes every pending event of every outbox model, oldest first per document. */
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
							const docs = await model.find({ "outbox.0": { $exists: true } }, { outbox: 1 }).limit(200).lean();
							for (const doc of docs) {
								for (const envelope of doc.outbox as Envelope[]) {
									await (this.broker as any).sendToChannel(envelope.type, envelope);
									// Exact-element $pull: FerretDB does not support $pull with a condition.
									await model.updateOne({ _id: doc._id }, { $pull: { outbox: envelope } });
									this.outboxPublished = (this.outboxPublished ?? 0) + 1;
								}
							}
							if (docs.length === 200) this.outboxFlushAgain = true;
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
			this.outboxTimer = setInterval(() => this.kickOutbox(), OUTBOX_POLL_MS);
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
			// Give a flush in progress the chance to finish before the connection closes.
			const deadline = Date.now() + 3_000;
			while (this.outboxFlushing && Date.now() < deadline) await new Promise(r => setTimeout(r, 20));
		},
	} as Partial<ServiceSchema>;
}
