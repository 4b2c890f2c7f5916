import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ServiceBroker, type ServiceSchema } from "moleculer";
import { connect, type NatsConnection } from "nats";
import { brokerOptions } from "../../moleculer.config.js";
import { MongooseMixin } from "../../mixins/mongoose.mixin.js";
import { IdempotentConsumer } from "../../mixins/idempotent-consumer.mixin.js";
import { MembershipConsumers, MembershipProjection, type MembershipChange } from "../../mixins/membership.mixin.js";
import { MembershipEvents, streamName } from "../../events/streams.js";
import { DomainEvents, type DomainEventType, type Envelope } from "../../events/domain.js";
import { ApiClient } from "../support/client.js";
import { startSystem, type System } from "../support/system.js";
import { waitFor } from "../support/wait.js";

/**
 * Durable domain events over real NATS JetStream between separate brokers: a consumer that was
 * down catches up when it comes back, and a redelivered event is applied once.
 */

let system: System;
let nats: NatsConnection;
const changes: MembershipChange[] = [];

/** A projection-keeping service, as location, chat and notification use, recording what it applies. */
const projectionService = (name: string): ServiceSchema => ({
	name,
	mixins: [
		MongooseMixin({ db: "projectionprobe", models: () => ({}) }),
		IdempotentConsumer({ events: MembershipEvents, consume: MembershipConsumers }),
		MembershipProjection({
			async onChange(change: MembershipChange) {
				changes.push(change);
			},
		}),
	],
});

async function startConsumer(name = "projectionprobe"): Promise<ServiceBroker> {
	const broker = new ServiceBroker(brokerOptions({ namespace: system.env.NAMESPACE, nodeID: `consumer-${Date.now()}`, logger: false }));
	broker.createService(projectionService(name));
	await broker.start();
	return broker;
}

/** Waits until the durable consumer group has nothing pending or unacknowledged on a stream. */
async function drained(type: DomainEventType) {
	const jsm = await nats.jetstreamManager();
	await waitFor(
		async () => {
			const info = await jsm.consumers.info(streamName(system.env.NAMESPACE!, type), "projectionprobe");
			return info.num_pending === 0 && info.num_ack_pending === 0;
		},
		{ what: `consumer drained on ${type}` },
	);
}

before(async () => {
	system = await startSystem({ services: ["users", "gateway"] });
	process.env.MONGO_DB_PREFIX = system.env.MONGO_DB_PREFIX;
	nats = await connect({ servers: (process.env.TRANSPORTER ?? "nats://127.0.0.1:4222").replace("nats://", "") });
});

after(async () => {
	await nats?.close();
	await system?.stopAll();
});

test("a consumer that was down receives the membership events published meanwhile, and applies a redelivery once", async () => {
	// First start creates the durable consumer group, then it goes away.
	let consumer = await startConsumer();
	await consumer.stop();

	const ada = new ApiClient(system.url);
	const bob = new ApiClient(system.url);
	await ada.signUp("Ada", "Lovelace");
	const bobUser = await bob.signUp("Bob", "Babbage");
	const group = await ada.createGroup("While you were away", [bobUser.email]);
	await ada.patch(`/api/groups/${group.id}`, { name: "Renamed while away" });

	consumer = await startConsumer();
	try {
		const service = consumer.getLocalService("projectionprobe") as unknown as {
			groupMembers(groupId: string): Promise<{ id: string }[]>;
			groupProjection(): { findById(id: string): { lean(): Promise<{ name: string; version: number } | null> } };
		};
		await waitFor(async () => (await service.groupProjection().findById(group.id).lean())?.name === "Renamed while away", {
			what: "the projection to catch up",
		});
		assert.deepEqual((await service.groupMembers(group.id)).map(m => m.id).sort(), [ada.user!.id, bobUser.id].sort());
		// Each event type has its own stream: the rename may be applied before the memberAdded is.
		await drained(DomainEvents.memberAdded);
		const added = changes.filter(c => c.groupId === group.id && c.type === "groups.memberAdded");
		assert.equal(added.length, 1);
		assert.equal(added[0]!.added[0]!.id, bobUser.id);

		// Deliver the very same memberAdded envelope again: it must be recognised and skipped.
		const duplicate: Envelope = {
			id: added[0]!.eventId,
			type: "groups.memberAdded",
			occurredAt: new Date().toISOString(),
			payload: { groupId: group.id, member: added[0]!.added[0], by: ada.user!.id, version: 2, name: "x", members: [] },
		};
		await (consumer as unknown as { sendToChannel(name: string, payload: unknown): Promise<void> }).sendToChannel("groups.memberAdded", duplicate);
		await drained(DomainEvents.memberAdded);
		assert.equal(changes.filter(c => c.eventId === duplicate.id).length, 1, "the duplicate was not applied again");
		assert.equal((await service.groupProjection().findById(group.id).lean())?.name, "Renamed while away", "an old snapshot never overwrites a newer one");
	} finally {
		await consumer.stop();
	}
});

test("an event published before any consumer group existed is still delivered (streams exist from start-up)", async () => {
	const ada = new ApiClient(system.url);
	await ada.signUp("Early", "Bird");
	const jsm = await nats.jetstreamManager();
	const stream = await jsm.streams.info(streamName(system.env.NAMESPACE!, DomainEvents.userDeleted));
	assert.ok(stream, "the users.deleted stream was created when the users service started");
	assert.equal((await ada.delete("/api/users/me", { currentPassword: "correct horse battery" })).status, 204);
	await waitFor(async () => (await jsm.streams.info(streamName(system.env.NAMESPACE!, DomainEvents.userDeleted))).state.messages === 1, {
		what: "users.deleted stored in its stream",
	});

	// A consumer group that never existed before reads the stream from its start.
	const consumer = await startConsumer("latecomer");
	try {
		await waitFor(() => changes.some(c => c.deletedUserId === ada.user!.id), { what: "users.deleted delivered to a late consumer" });
	} finally {
		await consumer.stop();
	}
});

test("an event left in the outbox by a writer that crashed before publishing is published by the relay", async () => {
	const mongoose = (await import("mongoose")).default;
	const connection = await mongoose
		.createConnection(process.env.MONGO_URL ?? "mongodb://127.0.0.1:27017", { dbName: `${system.env.MONGO_DB_PREFIX}_users` })
		.asPromise();
	try {
		// What a crash between the state write and the publish leaves behind: the change with its pending event.
		const envelope: Envelope = {
			id: `crash-${Date.now()}`,
			type: "groups.renamed",
			occurredAt: new Date().toISOString(),
			payload: { groupId: "crashed-group", name: "Written, never published", version: 1, members: [] },
		};
		await connection.collection("groups").insertOne({
			_id: "crashed-group" as never,
			name: "Written, never published",
			createdBy: "x",
			createdAt: new Date(),
			memberIds: [],
			version: 1,
			deleted: true,
			outbox: [envelope],
		});
		const consumer = await startConsumer();
		try {
			await waitFor(() => changes.some(c => c.eventId === envelope.id), { what: "the stranded event to be relayed" });
			await waitFor(async () => ((await connection.collection("groups").findOne({ _id: "crashed-group" as never }))?.outbox as unknown[]).length === 0, {
				what: "the outbox to be emptied",
			});
		} finally {
			await consumer.stop();
		}
	} finally {
		await connection.close();
	}
});

test("a service in production mode refuses to start without JWT_SECRET", async () => {
	const { spawn } = await import("node:child_process");
	const { ROOT } = await import("../support/system.js");
	const env = { ...process.env, ...system.env, NODE_ENV: "production", JWT_SECRET: "", NODE_ID: "prod-check" };
	delete (env as Record<string, string | undefined>).JWT_SECRET_FILE;
	const child = spawn(
		process.execPath,
		["--import", "tsx", "node_modules/moleculer/bin/moleculer-runner.mjs", "--config", "moleculer.config.ts", "services/users.service.ts"],
		{
			cwd: ROOT,
			env,
			stdio: ["ignore", "pipe", "pipe"],
		},
	);
	let output = "";
	child.stdout.on("data", c => (output += c));
	child.stderr.on("data", c => (output += c));
	const code = await new Promise<number | null>(resolve => child.once("exit", resolve));
	assert.notEqual(code, 0);
	assert.match(output, /JWT_SECRET .*required/);
});
