import { randomUUID } from "node:crypto";
import { Schema } from "mongoose";
import type { Context, Service, ServiceBroker, ServiceSchema } from "moleculer";
import type { DomainEventType, DomainPayloads, Envelope } from "../events/domain.js";
import { ExclusiveRun } from "../lib/concurrency.js";

/**
 * Publishing durable domain events through an outbox. A service writes its state change and the
 * events announcing it in ONE document write (an `outbox` array on the changed document), so the
 * two cannot get out of step. The relay publishes pending events to JetStream and removes them
 * once JetStream has them; a crash in between only means they are published again, which the
 * consumers absorb (see idempotent-consumer.mixin.ts).
 *
 * The writer names the document it just changed (`kickOutbox(model, id)`), and the relay reads
 * that one document by `_id` (the only lookup FerretDB answers from an index) and publishes its
 * events at once. A periodic scan of every outbox is only the safety net for a crash between a
 * write and its publication. Relays of one document never overlap on an instance (targeted or from
 * the scan), so its events go out in order and none is published twice by that instance.
 */

/** Schema fragment for a document that can carry pending events. */
// Mixed (not an array of Mixed) so events are stored exactly as written: the relay removes them by exact value.
export const outboxField = { outbox: { type: Schema.Types.Mixed, default: () => [] } };

/** A new event for an outbox, with its unique id (what makes consuming it idempotent). */
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
/** How long a stopping service waits for relays in progress before its connection closes. */
const STOP_WAIT_MS = 3_000;

const HAS_PENDING = { "outbox.0": { $exists: true } } as const;

/** The calls the relay makes on a model whose documents carry an outbox (a mongoose model, or a stand-in in tests). */
export interface OutboxModel {
	findById(id: string, projection: { outbox: 1 }): { lean(): PromiseLike<{ outbox?: Envelope[] } | null> };
	find(filter: typeof HAS_PENDING, projection: { _id: 1 }): { limit(n: number): { lean(): PromiseLike<{ _id: string }[]> } };
	find(filter: typeof HAS_PENDING, projection: { outbox: 1 }): { lean(): PromiseLike<{ outbox?: Envelope[] }[]> };
	updateOne(filter: { _id: string }, update: { $pullAll: { outbox: Envelope[] } }): PromiseLike<unknown>;
}

/** Names of the models in `M` whose documents carry an outbox. */
export type OutboxModelName<M> = { [K in keyof M]: M[K] extends OutboxModel ? K : never }[keyof M] & string;

export interface OutboxPublisherOptions {
	/** The outbox models, by name (undefined while the database is not connected). */
	model(name: string): OutboxModel | undefined;
	/** Every outbox model, for the safety-net scan. */
	names: readonly string[];
	/** Sends one event to JetStream; resolves once it is stored there. */
	publish(envelope: Envelope): Promise<void>;
	warn(message: string, err: Error): void;
}

/** Resolves when `promise` settles or after `ms`, whichever comes first. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<void> {
	let timer: NodeJS.Timeout | undefined;
	await Promise.race([promise.catch(() => undefined), new Promise<void>(resolve => (timer = setTimeout(resolve, Math.max(0, ms))))]);
	clearTimeout(timer);
}

/** The relay itself, without a broker: what the mixin runs, and what the unit tests drive. */
export class OutboxPublisher {
	/** Events this instance published (for operators). */
	published = 0;
	private readonly relays = new Map<string, { again: boolean; done: Promise<void> }>();
	private readonly scan = new ExclusiveRun();
	private scanAgain = false;
	private scanKicked = false;
	/** Until `start`, and again after `close`: kicks are ignored (the database may be gone). */
	private closed = true;

	constructor(private readonly opts: OutboxPublisherOptions) {}

	/** Takes kicks from now on, and scans at once: events a crashed predecessor left behind need not wait for the first period. */
	start(): void {
		this.closed = false;
		this.kick();
	}

	/**
	 * Publishes pending events soon; called after every write that adds some. With the model and
	 * `_id` of the written document, only that document is read and relayed, at once; without,
	 * every outbox is scanned (coalesced: one scan for a burst of calls).
	 */
	kick(modelName?: string, docId?: string): void {
		if (this.closed) return;
		if (modelName !== undefined && docId !== undefined) {
			this.relayDocument(modelName, docId).catch((err: Error) =>
				this.opts.warn(`Outbox relay of ${modelName} ${docId} failed (the periodic scan retries):`, err),
			);
			return;
		}
		if (this.scanKicked) return;
		this.scanKicked = true;
		setImmediate(() => {
			this.scanKicked = false;
			if (!this.closed) this.flush().catch((err: Error) => this.opts.warn("Outbox flush failed:", err));
		});
	}

	/**
	 * Publishes the pending events of one document, in their order, then removes them. One relay
	 * per document at a time on this instance: a call while one runs makes it read the document
	 * again when it is done (events may have been added after its read), and resolves with it.
	 */
	relayDocument(modelName: string, docId: string): Promise<void> {
		const key = `${modelName}/${docId}`;
		const running = this.relays.get(key);
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
				this.relays.delete(key);
			}
		})();
		this.relays.set(key, relay);
		return relay.done;
	}

	/** The safety net: relays every document of every outbox model that has pending events. */
	async flush(): Promise<void> {
		// A scan running now is asked to go round once more (events may have been written after its reads).
		this.scanAgain = true;
		await this.scan.runIfIdle(async () => {
			while (this.scanAgain) {
				this.scanAgain = false;
				for (const name of this.opts.names) {
					const model = this.opts.model(name);
					if (!model) continue;
					const docs = await model.find(HAS_PENDING, { _id: 1 }).limit(OUTBOX_SCAN_BATCH).lean();
					// Through the per-document relay, so a targeted relay running meanwhile is not repeated.
					for (const doc of docs) await this.relayDocument(name, doc._id);
					if (docs.length === OUTBOX_SCAN_BATCH) this.scanAgain = true;
				}
			}
		});
	}

	/** How many events wait in the outboxes (for operators). */
	async pendingCount(): Promise<number> {
		let count = 0;
		for (const name of this.opts.names) {
			const docs = (await this.opts.model(name)?.find(HAS_PENDING, { outbox: 1 }).lean()) ?? [];
			for (const doc of docs) count += doc.outbox?.length ?? 0;
		}
		return count;
	}

	/** Stops taking kicks, and waits (at most `timeoutMs`) for the relays and the scan in progress. */
	async close(timeoutMs: number): Promise<void> {
		this.closed = true;
		const deadline = Date.now() + timeoutMs;
		await this.scan.idle(timeoutMs);
		await settledWithin(Promise.allSettled([...this.relays.values()].map(relay => relay.done)), deadline - Date.now());
	}

	/** One pass of `relayDocument`: read by `_id`, publish each event in order, remove the published ones. */
	private async publishPendingOf(modelName: string, docId: string): Promise<void> {
		const model = this.opts.model(modelName);
		if (!model) throw new Error(`No outbox model ${modelName}`);
		const events = (await model.findById(docId, { outbox: 1 }).lean())?.outbox ?? [];
		if (!events.length) return;
		for (const envelope of events) await this.opts.publish(envelope);
		// One exact-value removal for all of them (FerretDB has no $pull with a condition); events
		// pushed after the read stay for the next pass.
		await model.updateOne({ _id: docId }, { $pullAll: { outbox: events } });
		this.published += events.length;
	}
}

/** What the relay adds to a service. */
export interface OutboxRelayMethods {
	/** Publishes pending outbox events soon; with a model name and `_id`, just that document's, at once. */
	kickOutbox(modelName?: string, docId?: string): void;
	/** Relays every pending event now (the periodic safety net). */
	flushOutbox(): Promise<void>;
}

interface OutboxRelayVars {
	outbox: OutboxPublisher;
	outboxTimer?: NodeJS.Timeout;
	/** Set by MongooseMixin once connected. */
	models?: Partial<Record<string, OutboxModel>>;
}

/** `broker.sendToChannel` is added by the @moleculer/channels middleware. */
interface ChannelSender {
	sendToChannel(channel: string, payload: unknown): Promise<void>;
}

type OutboxRelayThis = Service & OutboxRelayMethods & OutboxRelayVars;

/**
 * The outbox relay of a service whose documents of `models` (names in its MongooseMixin models)
 * carry an outbox: targeted relays on `kickOutbox`, a safety-net scan every few seconds (and at
 * start, for events a crashed predecessor left behind), and the operators' `outboxStatus`.
 */
export function OutboxRelay<M>(opts: { models: readonly OutboxModelName<M>[] }): Partial<ServiceSchema> {
	const schema: Partial<ServiceSchema<object, OutboxRelayMethods, OutboxRelayVars, OutboxRelayThis>> = {
		actions: {
			/** Pending outbox events of this service instance's database, for the operators' REPL. */
			outboxStatus: {
				visibility: "public",
				async handler(this: OutboxRelayThis, _ctx: Context) {
					return { pending: await this.outbox.pendingCount(), published: this.outbox.published };
				},
			},
		},
		methods: {
			kickOutbox(modelName?: string, docId?: string) {
				this.outbox.kick(modelName, docId);
			},
			flushOutbox() {
				return this.outbox.flush();
			},
		},
		created() {
			const broker = this.broker as ServiceBroker & ChannelSender;
			this.outbox = new OutboxPublisher({
				model: name => this.models?.[name],
				names: opts.models,
				publish: envelope => broker.sendToChannel(envelope.type, envelope),
				warn: (message, err) => this.logger.warn(message, err.message),
			});
		},
		started() {
			this.outbox.start();
			this.outboxTimer = setInterval(() => this.outbox.kick(), OUTBOX_SCAN_MS);
			this.outboxTimer.unref();
		},
		async stopped() {
			clearInterval(this.outboxTimer);
			// Relays in progress finish before the connection closes (MongooseMixin stops after this mixin).
			await this.outbox.close(STOP_WAIT_MS);
		},
	};
	return schema as Partial<ServiceSchema>;
}
