import mongoose from "mongoose";
import type { NatsConnection } from "nats";
import { AllDomainEvents, type DomainEventType, type Envelope, type GroupSnapshot } from "../../../events/domain.js";
import { streamName, Subscriptions } from "../../../events/streams.js";
import { databaseName } from "../../../mixins/mongoose.mixin.js";
import { PROCESSED_EVENTS_COLLECTION, type ProcessedEvent } from "../../../mixins/idempotent-consumer.mixin.js";

/**
 * What JetStream holds for a namespace, read back for the fault tests' checks: every message of
 * every domain-event stream, and per consuming service what was sent, delivered and processed.
 * Stream names and subscriptions come from events/streams.ts, as the services use them.
 */

export interface PublishedLog {
	/** Every stored message per event type, duplicates (republished envelopes) included. */
	messages: Map<DomainEventType, Envelope[]>;
	/** Distinct envelopes per id. */
	byId: Map<string, Envelope>;
	/** Group snapshots by `${groupId}@${version}`. */
	snapshots: Map<string, GroupSnapshot>;
}

/** Reads every message of every domain-event stream of the namespace (only the new ones when given the previous read). */
export async function readPublished(nats: NatsConnection, namespace: string, previous?: PublishedLog): Promise<PublishedLog> {
	const jsm = await nats.jetstreamManager();
	const log: PublishedLog = previous ?? { messages: new Map(), byId: new Map(), snapshots: new Map() };
	for (const type of AllDomainEvents) {
		const info = await jsm.streams.info(streamName(namespace, type));
		const list = log.messages.get(type) ?? [];
		log.messages.set(type, list);
		if (info.state.messages === 0) continue;
		for (let seq = Math.max(info.state.first_seq, list.length + 1); seq <= info.state.last_seq; seq++) {
			const stored = await jsm.streams.getMessage(streamName(namespace, type), { seq });
			const envelope = JSON.parse(Buffer.from(stored.data).toString("utf8")) as Envelope;
			list.push(envelope);
			log.byId.set(envelope.id, envelope);
			if (type.startsWith("groups.")) {
				const p = envelope.payload as GroupSnapshot & { groupId: string };
				log.snapshots.set(`${p.groupId}@${p.version}`, { version: p.version, name: p.name, members: p.members, deleted: p.deleted });
			}
		}
	}
	return log;
}

export interface DeliveryCounts {
	service: string;
	/** Distinct events on the streams this service consumes. */
	sent: number;
	/** Deliveries JetStream made to the service's consumer group (redeliveries included). */
	delivered: number;
	/** Deliveries beyond the first of each stored message: retries after a failure or a crash, acks lost with NATS. */
	redelivered: number;
	/** Distinct events the service recorded as processed. */
	received: number;
	/** Redeliveries and republished copies that the service recognised and skipped. */
	duplicatesAbsorbed: number;
	/** Sent but never processed. Must be 0. */
	lost: number;
	lostIds: string[];
}

/** Per consuming service: what was sent, delivered, processed once, skipped as a duplicate, lost. */
export async function deliveryCounts(
	nats: NatsConnection,
	mongoUrl: string,
	namespace: string,
	log: PublishedLog,
	services?: readonly string[],
): Promise<DeliveryCounts[]> {
	const jsm = await nats.jetstreamManager();
	const rows: DeliveryCounts[] = [];
	for (const [service, types] of Object.entries(Subscriptions)) {
		if (services && !services.includes(service)) continue;
		const sentIds = new Set<string>();
		let delivered = 0;
		let firstDeliveries = 0;
		for (const type of types) {
			for (const envelope of log.messages.get(type) ?? []) sentIds.add(envelope.id);
			try {
				const info = await jsm.consumers.info(streamName(namespace, type), service);
				delivered += info.delivered.consumer_seq;
				// Deliver-all consumer of a one-subject stream: messages 1..stream_seq were each delivered at least once.
				firstDeliveries += info.delivered.stream_seq;
			} catch {
				/* no consumer yet: nothing delivered */
			}
		}
		const connection = await mongoose.createConnection(mongoUrl, { dbName: databaseName(service, namespace) }).asPromise();
		try {
			const processed = await connection.collection<ProcessedEvent>(PROCESSED_EVENTS_COLLECTION).find({}).toArray();
			const processedIds = new Set(processed.map(p => p._id));
			const lostIds = [...sentIds].filter(id => !processedIds.has(id));
			rows.push({
				service,
				sent: sentIds.size,
				delivered,
				redelivered: delivered - firstDeliveries,
				received: [...sentIds].filter(id => processedIds.has(id)).length,
				duplicatesAbsorbed: processed.reduce((sum, p) => sum + (p.duplicates ?? 0), 0),
				lost: lostIds.length,
				lostIds,
			});
		} finally {
			await connection.close();
		}
	}
	return rows;
}

export function formatCounts(log: PublishedLog, rows: DeliveryCounts[]): string {
	const stored = [...log.messages.values()].reduce((n, list) => n + list.length, 0);
	const lines = [`events published: ${log.byId.size} distinct, ${stored} stored in JetStream (${stored - log.byId.size} republished copies)`];
	for (const r of rows)
		lines.push(
			`  ${r.service.padEnd(12)} sent ${r.sent}, delivered ${r.delivered} (${r.redelivered} redeliveries), received ${r.received}, duplicates absorbed ${r.duplicatesAbsorbed}, lost ${r.lost}`,
		);
	return lines.join("\n");
}
