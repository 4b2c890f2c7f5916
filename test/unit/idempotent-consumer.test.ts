import { after, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { ServiceBroker, type Context } from "moleculer";
import { IdempotentConsumer, processedEventModel, ProcessedEvents, type ProcessedStore } from "../../mixins/idempotent-consumer.mixin.js";
import { MembershipConsumers, type MembershipChange, type MembershipThis } from "../../mixins/membership.mixin.js";
import { MongooseMixin, type MongooseVars } from "../../mixins/mongoose.mixin.js";
import { DomainEvents, type Envelope, type GroupSnapshot } from "../../events/domain.js";
import { MembershipEvents, OUTLIVES_STREAMS_MS, Subscriptions } from "../../events/streams.js";
import { waitFor } from "../support/wait.js";

/**
 * The idempotent consumer's steps and their order, with a stand-in for the record of handled
 * events; and its purge, on a real broker and database. (The real JetStream path:
 * test/integration/durable-events*.test.ts.)
 */

function consumer() {
	const handled = new Map<string, { duplicates: number }>();
	const steps: string[] = [];
	const store: ProcessedStore = {
		exists: async filter => {
			steps.push("check");
			return handled.has(filter._id) ? { _id: filter._id } : null;
		},
		create: async doc => {
			// FerretDB's wording of a duplicate key, without MongoDB's code.
			if (handled.has(doc._id)) throw new Error("UNIQUE constraint failed: processedevents._id");
			steps.push("record");
			handled.set(doc._id, { duplicates: 0 });
		},
		updateOne: async filter => {
			handled.get(filter._id)!.duplicates++;
			return {};
		},
		deleteMany: async () => ({ deletedCount: 0 }),
	};
	return { handled, steps, processed: new ProcessedEvents(store) };
}

test("an event is handled once and recorded after its handler; a redelivery is counted, not handled", async () => {
	const c = consumer();
	let handledTimes = 0;
	const handle = async () => {
		handledTimes++;
		c.steps.push("handle");
	};
	assert.equal(await c.processed.consumeOnce("ev-1", handle), "handled");
	assert.equal(await c.processed.consumeOnce("ev-1", handle), "duplicate");
	assert.equal(handledTimes, 1);
	assert.deepEqual(c.steps, ["check", "handle", "record", "check"]);
	assert.equal(c.handled.get("ev-1")!.duplicates, 1);
});

test("the every-delivery step runs for duplicates too, and always before the handler", async () => {
	const c = consumer();
	const every = async () => void c.steps.push("snapshot");
	const handle = async () => void c.steps.push("handle");
	await c.processed.consumeOnce("ev-1", handle, every);
	await c.processed.consumeOnce("ev-1", handle, every);
	assert.deepEqual(
		c.steps.filter(s => s !== "check"),
		["snapshot", "handle", "record", "snapshot"],
	);
});

test("a failing handler leaves the event unrecorded, so the redelivery handles it", async () => {
	const c = consumer();
	await assert.rejects(
		c.processed.consumeOnce("ev-1", async () => {
			throw new Error("database down");
		}),
	);
	assert.equal(c.handled.has("ev-1"), false);
	let handled = false;
	await c.processed.consumeOnce("ev-1", async () => void (handled = true));
	assert.equal(handled, true);
	assert.equal(c.handled.has("ev-1"), true);
});

test("a record written meanwhile by another instance handling the same delivery is not an error", async () => {
	const c = consumer();
	assert.equal(await c.processed.consumeOnce("ev-1", async () => void c.handled.set("ev-1", { duplicates: 0 })), "handled");
	assert.equal(c.handled.has("ev-1"), true);
});

/** A stand-in for the projection a membership consumer runs on, recording what it is asked to do. */
function projectionProbe() {
	const calls: string[] = [];
	const changes: MembershipChange[] = [];
	const self = {
		async storeSnapshot(groupId: string, snapshot: GroupSnapshot) {
			calls.push(`snapshot ${groupId}@${snapshot.version}`);
		},
		async membershipChanged(change: MembershipChange) {
			calls.push(`change ${change.type}`);
			changes.push(change);
		},
	} as unknown as MembershipThis;
	return { self, calls, changes };
}

test("group events store their snapshot on every delivery, then announce the change; user deletions carry no snapshot", async () => {
	const members = [{ id: "u1", name: "Ada", surname: "Lovelace" }];
	for (const type of [DomainEvents.groupCreated, DomainEvents.groupRenamed, DomainEvents.groupDeleted, DomainEvents.memberAdded, DomainEvents.memberRemoved]) {
		const consumer = MembershipConsumers[type];
		assert.ok(typeof consumer === "object", `${type} has an every-delivery step`);
		const probe = projectionProbe();
		const envelope = {
			id: "e1",
			type,
			occurredAt: "2026-01-01T00:00:00.000Z",
			payload: { groupId: "g1", name: "G", version: 3, members, member: members[0], by: "u2", createdBy: members[0] },
		};
		const ctx = {} as Context<never>;
		await consumer.everyDelivery.call(probe.self, envelope as never, ctx);
		await consumer.handler.call(probe.self, envelope as never, ctx, { attempt: 0 });
		assert.deepEqual(probe.calls, ["snapshot g1@3", `change ${type}`]);
		assert.equal(probe.changes[0]!.occurredAt, "2026-01-01T00:00:00.000Z");
	}
	const probe = projectionProbe();
	const deleted = MembershipConsumers[DomainEvents.userDeleted];
	assert.equal(typeof deleted, "function");
	const envelope: Envelope<{ userId: string }> = {
		id: "e2",
		type: DomainEvents.userDeleted,
		occurredAt: "2026-01-01T00:00:00.000Z",
		payload: { userId: "u1" },
	};
	await (deleted as (this: MembershipThis, e: typeof envelope, ctx: Context<never>, d: { attempt: number }) => Promise<void>).call(
		probe.self,
		envelope,
		{} as Context<never>,
		{ attempt: 0 },
	);
	assert.deepEqual(probe.calls, ["change users.deleted"]);
	assert.equal(probe.changes[0]!.deletedUserId, "u1");
});

test("a consumer must handle exactly the events its service subscribes to", () => {
	const noop = async () => undefined;
	assert.throws(() => IdempotentConsumer({ events: Subscriptions.notification, consume: MembershipConsumers }), /notifications\.send/);
	assert.throws(
		() => IdempotentConsumer({ events: MembershipEvents, consume: { ...MembershipConsumers, [DomainEvents.notificationSend]: noop } }),
		/notifications\.send/,
	);
	assert.doesNotThrow(() => IdempotentConsumer({ events: Subscriptions.chat, consume: MembershipConsumers }));
});

// ---- the purge, on a real broker and the real database

const brokers: ServiceBroker[] = [];
after(async () => {
	for (const broker of brokers) await broker.stop();
});

test("a service that only consumes purges the records of events older than the streams keep, and keeps the rest", async () => {
	// Before the split, only a service with an outbox purged: chat and notification kept every record forever.
	const previousPrefix = process.env.MONGO_DB_PREFIX;
	process.env.MONGO_DB_PREFIX = `unit_${randomBytes(4).toString("hex")}`;
	const broker = new ServiceBroker({ logger: false, nodeID: `purge-${process.pid}` });
	brokers.push(broker);
	broker.createService({
		name: "consumeronly",
		mixins: [
			MongooseMixin({ db: "consumeronly", models: () => ({}) }),
			IdempotentConsumer({ events: MembershipEvents, consume: MembershipConsumers, purgeEveryMs: 100 }),
		],
	});
	try {
		await broker.start();
	} finally {
		process.env.MONGO_DB_PREFIX = previousPrefix;
	}
	const service = broker.getLocalService("consumeronly") as unknown as MongooseVars<object>;
	const processed = processedEventModel(service.connection);
	try {
		const now = Date.now();
		await processed.insertMany([
			{ _id: "expired", at: new Date(now - OUTLIVES_STREAMS_MS - 60_000) },
			{ _id: "recent", at: new Date(now - 24 * 3600 * 1000) },
			{ _id: "fresh", at: new Date(now) },
		]);
		await waitFor(async () => !(await processed.exists({ _id: "expired" })), { timeoutMs: 10_000, what: "the expired record to be purged" });
		const left = (await processed.find({}, { _id: 1 }).lean()).map(doc => doc._id).sort();
		assert.deepEqual(left, ["fresh", "recent"]);
	} finally {
		await service.connection.dropDatabase();
	}
});
