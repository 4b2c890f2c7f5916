import { Schema, type Connection, type Model } from "mongoose";
import type { Context, Service, ServiceSchema } from "moleculer";
import type { DomainEventType, DomainPayloads, Envelope } from "../events/domain.js";
import { OUTLIVES_STREAMS_MS } from "../events/streams.js";
import { ExclusiveRun } from "../lib/concurrency.js";
import { isDuplicateKey } from "../lib/mongo-errors.js";

/**
 * Consuming durable domain events (JetStream through @moleculer/channels) exactly once in effect.
 * Delivery is at least once; each handled event id is recorded after its handler succeeded, and a
 * redelivery of a recorded id is skipped. A consumer may also name a step that is harmless to
 * repeat (e.g. storing a versioned snapshot): it runs for every delivery at the same time as the
 * duplicate check, so its effect is not delayed by it.
 *
 * The records are needed as long as JetStream may still deliver their events, and are purged
 * after that by this mixin's own timer.
 */

/** `attempt`: 0 for the first delivery, then the JetStream redelivery count. */
export interface Delivery {
	attempt: number;
}

/**
 * Thrown by a handler that cannot do its work YET (e.g. it waits for another event): the event
 * is retried later with the usual backoff, and the expected wait is not logged as a failure.
 */
export class RetryLater extends Error {
	override name = "RetryLater";
}

/** Handles one event once (a crash before it is recorded runs it again: it must be idempotent). */
export type EventHandler<S, T extends DomainEventType> = (
	this: S,
	envelope: Envelope<DomainPayloads[T]>,
	ctx: Context<Envelope<DomainPayloads[T]>>,
	delivery: Delivery,
) => Promise<void>;

/** Runs for every delivery of an event, duplicates included, before `handler`: must be harmless to repeat. */
export type EveryDelivery<S, T extends DomainEventType> = (
	this: S,
	envelope: Envelope<DomainPayloads[T]>,
	ctx: Context<Envelope<DomainPayloads[T]>>,
) => Promise<void>;

export type Consumer<S, T extends DomainEventType> = EventHandler<S, T> | { everyDelivery: EveryDelivery<S, T>; handler: EventHandler<S, T> };

/** Event type → how the service handles it. */
export type Consumers<S> = { [T in DomainEventType]?: Consumer<S, T> };

export const PROCESSED_EVENTS_COLLECTION = "processedevents";

export interface ProcessedEvent {
	_id: string;
	at: Date;
	/** Deliveries of this event recognised as duplicates and skipped (redeliveries, republished copies). */
	duplicates?: number;
}

export function processedEventModel(connection: Connection): Model<ProcessedEvent> {
	return (
		(connection.models.ProcessedEvent as Model<ProcessedEvent> | undefined) ??
		connection.model<ProcessedEvent>(
			"ProcessedEvent",
			new Schema<ProcessedEvent>({ _id: String, at: Date, duplicates: Number }, { versionKey: false, collection: PROCESSED_EVENTS_COLLECTION }),
		)
	);
}

/** The calls made on the record of handled events (a mongoose model, or a stand-in in unit tests). */
export interface ProcessedStore {
	exists(filter: { _id: string }): PromiseLike<unknown>;
	create(doc: { _id: string; at: Date }): PromiseLike<unknown>;
	updateOne(filter: { _id: string }, update: { $inc: { duplicates: number } }): PromiseLike<unknown>;
	deleteMany(filter: { at: { $lt: Date } }): PromiseLike<{ deletedCount?: number }>;
}

/** The record of handled events, and the one-handling rule over it. */
export class ProcessedEvents {
	constructor(private readonly store: ProcessedStore) {}

	/**
	 * Runs `handle` unless this event id was handled before, and records it afterwards.
	 * `everyDelivery` (harmless to repeat) runs in any case, alongside the duplicate check.
	 */
	async consumeOnce(id: string, handle: () => Promise<void>, everyDelivery?: () => Promise<void>): Promise<"handled" | "duplicate"> {
		const [duplicate] = await Promise.all([this.store.exists({ _id: id }), everyDelivery?.()]);
		if (duplicate) {
			// Counted so operators (and the fault tests) see how much at-least-once delivery repeated.
			await Promise.resolve(this.store.updateOne({ _id: id }, { $inc: { duplicates: 1 } })).catch(() => undefined);
			return "duplicate";
		}
		await handle();
		// An insert, not an upsert: FerretDB answers an update by scanning the collection, and this
		// one keeps every event of the last days. Another instance that handled the same delivery
		// concurrently already recorded it (duplicate key): nothing left to do.
		try {
			await this.store.create({ _id: id, at: new Date() });
		} catch (err) {
			if (!isDuplicateKey(err)) throw err;
		}
		return "handled";
	}

	/** Forgets events handled before `before`; returns how many. */
	async purge(before: Date): Promise<number> {
		return (await this.store.deleteMany({ at: { $lt: before } })).deletedCount ?? 0;
	}
}

type AnyEnvelope = Envelope<DomainPayloads[DomainEventType]>;

/**
 * Whether a message is an envelope as events/domain.ts defines it. The producers are this
 * codebase's own; only the id, which the duplicate check needs, is checked.
 */
const isEnvelope = (value: unknown): value is AnyEnvelope => typeof value === "object" && value !== null && typeof (value as { id?: unknown }).id === "string";

/** Waits before a failed handler is retried, longer each time (JetStream redelivers at once). */
const backoffMs = (attempt: number) => Math.min(5_000, 100 * 2 ** Math.min(attempt, 6));

/** How often records older than `keepMs` are purged. */
const PURGE_EVERY_MS = 3600_000;

export interface IdempotentConsumerOptions<S> {
	/**
	 * The event types the service subscribes to: its entry in events/streams.ts `Subscriptions`
	 * (the tests read the same list). `consume` must handle exactly these.
	 */
	events: readonly DomainEventType[];
	consume: Consumers<S>;
	/** How long handled ids are remembered: longer than JetStream may still deliver their events. */
	keepMs?: number;
	/** How often older records are purged. */
	purgeEveryMs?: number;
}

interface ConsumerVars {
	/** Set by MongooseMixin once connected. */
	connection: Connection;
	processedEvents?: ProcessedEvents;
	processedPurge: ExclusiveRun;
	processedPurgeTimer?: NodeJS.Timeout;
}

interface ConsumerMethods {
	/** The record of handled events on this service's own connection. */
	processed(): ProcessedEvents;
	/** Forgets handled events older than `keepMs` (one purge at a time). */
	purgeProcessed(): Promise<void>;
}

type ConsumerThis = Service & ConsumerVars & ConsumerMethods;

/** A channel handler as @moleculer/channels calls it: the message as `ctx.params`, the raw JetStream message second. */
interface ChannelSchema<S> {
	context: true;
	handler(this: S, ctx: Context<unknown>, raw?: { info?: { redeliveryCount?: number } }): Promise<void>;
}

function channelOf<S extends ConsumerThis>(type: string, consumer: Consumer<S, DomainEventType>): ChannelSchema<S> {
	const { handler, everyDelivery } = typeof consumer === "function" ? { handler: consumer, everyDelivery: undefined } : consumer;
	return {
		// No `group`: it defaults to the service name, so all instances of a service share one
		// durable consumer and split its messages.
		context: true,
		async handler(ctx, raw) {
			const envelope = ctx.params;
			if (!isEnvelope(envelope)) {
				this.logger.warn("Dropping a malformed domain event", envelope);
				return;
			}
			const typed = ctx as Context<AnyEnvelope>;
			// JetStream counts deliveries from 1.
			const attempt = Math.max(0, (raw?.info?.redeliveryCount ?? 1) - 1);
			try {
				await this.processed().consumeOnce(
					envelope.id,
					() => handler.call(this, envelope, typed, { attempt }),
					everyDelivery && (() => everyDelivery.call(this, envelope, typed)),
				);
			} catch (err) {
				if (err instanceof RetryLater) this.logger.debug(`Handling ${type} ${envelope.id} postponed (attempt ${attempt + 1}):`, err.message);
				else this.logger.warn(`Handling ${type} ${envelope.id} failed (attempt ${attempt + 1}), will retry:`, (err as Error).message);
				await new Promise(resolve => setTimeout(resolve, backoffMs(attempt)));
				throw err;
			}
		},
	};
}

/**
 * Subscribes the service to `events` through one durable consumer group per service, handles
 * each event once with `consume`, and purges its record of handled events on its own timer.
 */
export function IdempotentConsumer<S extends Service>(opts: IdempotentConsumerOptions<S>): Partial<ServiceSchema> {
	const handled = Object.keys(opts.consume).sort();
	const subscribed = [...opts.events].sort();
	if (handled.join() !== subscribed.join()) throw new Error(`IdempotentConsumer: handles [${handled.join(", ")}] but subscribes to [${subscribed.join(", ")}]`);
	const keepMs = opts.keepMs ?? OUTLIVES_STREAMS_MS;

	const channels: Record<string, ChannelSchema<S & ConsumerThis>> = {};
	// Each entry pairs an event type with its own handler, so the handler gets that type's envelope.
	for (const [type, consumer] of Object.entries(opts.consume) as [DomainEventType, Consumer<S & ConsumerThis, DomainEventType>][]) {
		channels[type] = channelOf(type, consumer);
	}

	const schema: Partial<ServiceSchema<object, ConsumerMethods, ConsumerVars, ConsumerThis>> & { channels: typeof channels } = {
		channels,
		methods: {
			processed() {
				return (this.processedEvents ??= new ProcessedEvents(processedEventModel(this.connection)));
			},
			async purgeProcessed() {
				await this.processedPurge.runIfIdle(async () => {
					const purged = await this.processed().purge(new Date(Date.now() - keepMs));
					if (purged) this.logger.debug(`Purged ${purged} records of handled events`);
				});
			},
		},
		created() {
			this.processedPurge = new ExclusiveRun();
		},
		started() {
			this.processedPurgeTimer = setInterval(() => {
				this.purgeProcessed().catch((err: Error) => this.logger.warn("Purging handled events failed:", err.message));
			}, opts.purgeEveryMs ?? PURGE_EVERY_MS);
			this.processedPurgeTimer.unref();
		},
		async stopped() {
			clearInterval(this.processedPurgeTimer);
			// A purge in progress ends before the connection closes (MongooseMixin stops after this mixin).
			await this.processedPurge.idle(3_000);
			this.processedEvents = undefined;
		},
	};
	return schema as Partial<ServiceSchema>;
}
