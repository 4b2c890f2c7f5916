import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import mongoose, { type Connection } from "mongoose";
import { ServiceBroker } from "moleculer";
import { brokerOptions } from "../../moleculer.config.js";
import { startSystem, type System } from "../support/system.js";
import { ApiClient, connectSocket, type LiveSocket } from "../support/client.js";
import { waitFor } from "../support/wait.js";
import type { Group } from "../../events/types.js";

/**
 * The chat service as real processes: presence survives gateways that vanish or report out of
 * order, and deleted groups and users leave nothing behind in its database.
 */

let system: System;
let probe: ServiceBroker;
let db: Connection;
let ada: ApiClient;
let bob: ApiClient;
let group: Group;
let adaSocket: LiveSocket;

const newBroker = (name: string) =>
	new ServiceBroker(brokerOptions({ namespace: system.env.NAMESPACE, nodeID: `${name}-${randomUUID().slice(0, 8)}`, logger: false }));

const presenceOf = async (userId: string) => {
	const res = await ada.get(`/api/groups/${group.id}/presence`);
	assert.equal(res.status, 200, JSON.stringify(res.body));
	return (res.body as { userId: string; online: boolean; lastSeenAt: string | null }[]).find(p => p.userId === userId)!;
};
const bobFlips = () => adaSocket.of("chat:presence").filter(p => p.groupId === group.id && p.userId === bob.user!.id);

before(async () => {
	system = await startSystem({
		services: ["users", "chat", "gateway"],
		// Sweep often, and treat an unknown gateway as dead after 2 s, so the test is quick.
		env: { PRESENCE_SWEEP_EVERY: "500ms", PRESENCE_SWEEP_GRACE: "2" },
	});
	probe = newBroker("probe");
	await probe.start();
	await probe.waitForServices(["chat"], 20_000);
	db = await mongoose.createConnection(process.env.MONGO_URL ?? "mongodb://127.0.0.1:27017", { dbName: `${system.env.MONGO_DB_PREFIX}_chat` }).asPromise();
	ada = new ApiClient(system.url);
	bob = new ApiClient(system.url);
	await ada.signUp("Ada", "Lovelace");
	await bob.signUp("Bob", "Babbage", "correct horse battery");
	group = await ada.createGroup("Family", [bob.user!.email]);
	adaSocket = await connectSocket(system.url, ada.token);
	assert.equal((await presenceOf(bob.user!.id)).online, false);
});

after(async () => {
	adaSocket?.close();
	await db?.close();
	await probe?.stop();
	await system?.stopAll();
});

test("a gateway that leaves the cluster takes its users offline", async () => {
	const gateway = newBroker("fake-gateway");
	await gateway.start();
	await gateway.waitForServices(["chat"], 20_000);
	await gateway.call("chat.socketConnected", { userId: bob.user!.id, socketId: "s1", gatewayNodeID: gateway.nodeID });
	await adaSocket.waitFor("chat:presence", p => p.userId === bob.user!.id && p.online === true);
	assert.equal((await presenceOf(bob.user!.id)).online, true);
	// It stops without reporting its sockets closed: the chat service hears the node leave.
	await gateway.stop();
	await adaSocket.waitFor("chat:presence", p => p.userId === bob.user!.id && p.online === false);
	assert.equal((await presenceOf(bob.user!.id)).online, false);
});

test("sockets of a gateway the cluster does not know are swept after a grace period", async () => {
	const before = bobFlips().length;
	await probe.call("chat.socketConnected", { userId: bob.user!.id, socketId: "s2", gatewayNodeID: "ghost-gateway" });
	assert.equal((await presenceOf(bob.user!.id)).online, true);
	await waitFor(async () => (await presenceOf(bob.user!.id)).online === false, { timeoutMs: 15_000, what: "the ghost socket swept" });
	await waitFor(() => bobFlips().length === before + 2, { what: "the online and offline flips" });
	assert.deepEqual(
		bobFlips()
			.slice(before)
			.map(p => p.online),
		[true, false],
	);
});

test("a disconnect reported before its connect leaves the user offline", async () => {
	const report = { userId: bob.user!.id, socketId: "s3", gatewayNodeID: probe.nodeID };
	await probe.call("chat.socketDisconnected", report);
	await probe.call("chat.socketConnected", report);
	assert.equal((await presenceOf(bob.user!.id)).online, false);
	assert.equal(await db.collection("sockets").countDocuments({ userId: bob.user!.id, closed: false }), 0);
});

test("a deleted group's history is removed", async () => {
	const doomed = await ada.createGroup("Doomed", [bob.user!.email]);
	assert.equal((await ada.post(`/api/groups/${doomed.id}/messages`, { text: "bye" })).status, 201);
	const messages = db.collection("messages");
	await waitFor(async () => (await messages.countDocuments({ groupId: doomed.id })) >= 3, { what: "creation, join and user lines" });
	assert.equal((await ada.delete(`/api/groups/${doomed.id}`)).status, 204);
	await waitFor(async () => (await messages.countDocuments({ groupId: doomed.id })) === 0, { what: "the history removed" });
	assert.equal((await bob.get(`/api/groups/${doomed.id}/messages`)).status, 404);
	assert.equal((await bob.post(`/api/groups/${doomed.id}/messages`, { text: "anyone?" })).status, 404);
	// The other group's history is untouched.
	assert.ok((await messages.countDocuments({ groupId: group.id })) > 0);
});

test("a deleted account's presence is removed, and its leaving is written to the history", async () => {
	const flipsBefore = bobFlips().length;
	const bobSocket = await connectSocket(system.url, bob.token);
	await waitFor(
		() =>
			bobFlips()
				.slice(flipsBefore)
				.some(p => p.online),
		{ what: "Bob online" },
	);
	assert.equal((await bob.delete("/api/users/me", { currentPassword: "correct horse battery" })).status, 204);
	const presence = db.collection("presences");
	await waitFor(
		async () =>
			(await presence.countDocuments({ _id: bob.user!.id as never })) === 0 &&
			(await db.collection("sockets").countDocuments({ userId: bob.user!.id, closed: false })) === 0,
		{ what: "Bob's presence removed" },
	);
	// The departure travels on its own stream (groups.memberRemoved), so it may land after users.deleted.
	await waitFor(
		async () => (await ada.get(`/api/groups/${group.id}/messages`)).body.messages.some((m: { text: string }) => m.text === "Bob Babbage left the group"),
		{ what: "Bob's leaving in the history" },
	);
	bobSocket.close();
});
