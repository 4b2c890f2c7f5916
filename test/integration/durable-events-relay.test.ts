import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Schema, type Connection, type Model } from "mongoose";
import { ServiceBroker, type ServiceSchema } from "moleculer";
import { connect, type NatsConnection } from "nats";
import { brokerOptions } from "../../moleculer.config.js";
import { MongooseMixin } from "../../mixins/mongoose.mixin.js";
import { OutboxRelay, outboxField } from "../../mixins/outbox-relay.mixin.js";
import { MembershipProjection, type GroupProjectionDoc } from "../../mixins/membership.mixin.js";
import { DomainEvents, type Envelope, type GroupSnapshot } from "../../events/domain.js";
import { streamName } from "../../events/streams.js";
import { testNamespace } from "../support/system.js";
import { waitFor } from "../support/wait.js";

/**
 * The outbox relay and the group projection on the real NATS JetStream and database, with the
 * races the fast path opens: a writer's targeted relay running into the safety-net scan and into
 * more writes to the same document, and two instances storing snapshots of one group at once.
 */

const namespace = testNamespace();
let nats: NatsConnection;
const brokers: ServiceBroker[] = [];

interface ThingDoc {
	_id: string;
	outbox: Envelope[];
}

const relayService: ServiceSchema = {
	name: "relayprobe",
	mixins: [
		MongooseMixin({
			db: "relayprobe",
			models: (connection: Connection) => ({
				Thing: connection.model<ThingDoc>("Thing", new Schema<ThingDoc>({ _id: String, ...outboxField }, { versionKey: false })),
			}),
		}),
		OutboxRelay<{ Thing: Model<ThingDoc> }>({ models: ["Thing"] }),
	],
};

const projectionService: ServiceSchema = {
	name: "snapshotprobe",
	mixins: [MongooseMixin({ db: "snapshotprobe", models: () => ({}) }), MembershipProjection()],
};

async function startBroker(schema: ServiceSchema, nodeID: string) {
	const broker = new ServiceBroker(brokerOptions({ namespace, nodeID: `${nodeID}-${process.pid}`, logger: false }));
	broker.createService(schema);
	await broker.start();
	brokers.push(broker);
	return broker;
}

before(async () => {
	process.env.MONGO_DB_PREFIX = namespace;
	nats = await connect({ servers: (process.env.TRANSPORTER ?? "nats://127.0.0.1:4222").replace("nats://", "") });
});

after(async () => {
	for (const broker of brokers) await broker.stop();
	await nats?.close();
});

/** Every envelope stored in the namespace's `groups.renamed` stream, in stream order. */
async function storedRenames(): Promise<Envelope<{ groupId: string; version: number }>[]> {
	const jsm = await nats.jetstreamManager();
	const stream = streamName(namespace, DomainEvents.groupRenamed);
	const info = await jsm.streams.info(stream);
	const list: Envelope<{ groupId: string; version: number }>[] = [];
	for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
		const stored = await jsm.streams.getMessage(stream, { seq });
		list.push(JSON.parse(Buffer.from(stored.data).toString("utf8")));
	}
	return list;
}

test("writes relayed by their writers while scans run publish every event exactly once, in order per document", async () => {
	const broker = await startBroker(relayService, "relay");
	const service = broker.getLocalService("relayprobe") as unknown as {
		models: { Thing: Model<ThingDoc> };
		kickOutbox(model?: string, id?: string): void;
		flushOutbox(): Promise<void>;
	};
	const Thing = service.models.Thing;
	const things = Array.from({ length: 12 }, () => randomUUID());
	await Thing.insertMany(things.map(_id => ({ _id, outbox: [] })));
	const ROUNDS = 5;
	for (let round = 1; round <= ROUNDS; round++) {
		await Promise.all(
			things.map(async (groupId, i) => {
				const envelope: Envelope = {
					id: randomUUID(),
					type: "groups.renamed",
					occurredAt: new Date().toISOString(),
					payload: { groupId, name: `r${round}`, version: round, members: [] },
				};
				await Thing.updateOne({ _id: groupId }, { $push: { outbox: envelope } });
				// The writer's kick, a second writer's kick of the same document, and the safety-net
				// scan, all while earlier relays of the document may still be publishing.
				service.kickOutbox("Thing", groupId);
				if (i % 2 === 0) service.kickOutbox("Thing", groupId);
				if (i % 3 === 0) void service.flushOutbox();
			}),
		);
	}
	await waitFor(async () => (await Thing.countDocuments({ "outbox.0": { $exists: true } })) === 0, { what: "every outbox emptied" });
	const expected = things.length * ROUNDS;
	await waitFor(async () => (await storedRenames()).length >= expected, { what: `${expected} events in the stream` });
	await service.flushOutbox(); // nothing left: it must publish nothing more
	const stored = await storedRenames();
	assert.equal(new Set(stored.map(e => e.id)).size, expected, "no event lost");
	assert.equal(stored.length, expected, "no event published twice");
	for (const groupId of things) {
		const versions = stored.filter(e => e.payload.groupId === groupId).map(e => e.payload.version);
		assert.deepEqual(versions, [1, 2, 3, 4, 5], `events of ${groupId} in the order they were written`);
	}
});

test("two instances storing snapshots of one group at once keep the newest; an older one never overwrites it", async () => {
	const a = (await startBroker(projectionService, "snap-a")).getLocalService("snapshotprobe") as unknown as ProjectionService;
	const b = (await startBroker(projectionService, "snap-b")).getLocalService("snapshotprobe") as unknown as ProjectionService;
	const snapshot = (version: number): GroupSnapshot => ({
		version,
		name: `v${version}`,
		members: Array.from({ length: version }, (_, i) => ({ id: `u${i}`, name: `U${i}`, surname: "S" })),
	});
	for (let trial = 0; trial < 4; trial++) {
		const groupId = randomUUID();
		// Versions 1..6 arriving in a scrambled order, split between the two instances, all at once.
		const versions = [4, 1, 6, 2, 5, 3].map(v => ((v + trial) % 6) + 1);
		await Promise.all(versions.map((v, i) => (i % 2 ? a : b).storeSnapshot(groupId, snapshot(v))));
		const stored = await a.groupProjection().findById(groupId).lean();
		assert.equal(stored?.version, 6, `trial ${trial}: the newest version is kept`);
		assert.equal(stored?.name, "v6");
		assert.equal(stored?.memberIds.length, 6);
	}
	// A late redelivery of an old version, and a repeat of the current one, change nothing.
	const groupId = randomUUID();
	await a.storeSnapshot(groupId, snapshot(5));
	await b.storeSnapshot(groupId, snapshot(3));
	await a.storeSnapshot(groupId, { ...snapshot(5), name: "same version again" });
	const stored = await b.groupProjection().findById(groupId).lean();
	assert.deepEqual([stored?.version, stored?.name, stored?.memberIds.length], [5, "v5", 5]);
	// A deleted group's snapshot empties the members.
	await b.storeSnapshot(groupId, { version: 6, name: "v5", members: [], deleted: true });
	const deleted = await a.groupProjection().findById(groupId).lean();
	assert.deepEqual([deleted?.version, deleted?.deleted, deleted?.memberIds], [6, true, []]);
});

interface ProjectionService {
	storeSnapshot(groupId: string, snapshot: GroupSnapshot): Promise<void>;
	groupProjection(): Model<GroupProjectionDoc>;
}
