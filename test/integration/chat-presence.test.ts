import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import mongoose, { type Connection } from "mongoose";
import { ServiceBroker } from "moleculer";
import { brokerOptions } from "../../moleculer.config.js";
import { startSystem, type System } from "../support/system.js";
import { ApiClient, connectSocket, type LiveSocket } from "../support/client.js";
import { waitFor } from "../support/wait.js";
import { foldSocketReports, presenceFlips } from "../../services/chat/presence.js";
import type { Group } from "../../events/types.js";
import { LiveEvents, type LivePresence } from "../../events/live.js";

/**
 * Batched socket reports (`chat.socketsChanged`, as gateways send them) against the real chat
 * service and database: one flip per transition, and a close never undone by a late open.
 */

let system: System;
let gateway: ServiceBroker;
let db: Connection;
let ada: ApiClient;
let bob: ApiClient;
let carol: ApiClient;
let group: Group;
let adaSocket: LiveSocket;
/** Every presence flip chat broadcast, as a gateway receives it. */
const announced: LivePresence[] = [];

const flipsOf = (userId: string) =>
	adaSocket
		.of("chat:presence")
		.filter(p => p.groupId === group.id && p.userId === userId)
		.map(p => p.online);
const report = (sockets: { socketId: string; userId: string; open: boolean }[]) =>
	gateway.call("chat.socketsChanged", { gatewayNodeID: gateway.nodeID, sockets });
const onlineOf = async (userId: string) =>
	((await ada.get(`/api/groups/${group.id}/presence`)).body as { userId: string; online: boolean }[]).find(p => p.userId === userId)?.online;

before(async () => {
	system = await startSystem({ services: ["users", "chat", "gateway"] });
	// Stands for a second gateway: a live node of the cluster that reports its own sockets.
	gateway = new ServiceBroker(brokerOptions({ namespace: system.env.NAMESPACE, nodeID: `fake-gateway-${randomUUID().slice(0, 8)}`, logger: false }));
	gateway.createService({
		name: "presence-watch",
		events: {
			[LiveEvents.presence](ctx: { params: LivePresence }) {
				announced.push(ctx.params);
			},
		},
	});
	await gateway.start();
	await gateway.waitForServices(["chat"], 20_000);
	// Moleculer announces a started node's services a second later: until chat has heard of the
	// watcher, it would broadcast past it.
	const chatNodeID = gateway.registry.getServiceList({ onlyAvailable: true }).find(s => s.name === "chat")!.nodeID;
	await waitFor(async () => ((await gateway.call("$node.services", {}, { nodeID: chatNodeID })) as { name: string }[]).some(s => s.name === "presence-watch"), {
		what: "chat to know the presence watcher",
	});
	db = await mongoose.createConnection(process.env.MONGO_URL ?? "mongodb://127.0.0.1:27017", { dbName: `${system.env.MONGO_DB_PREFIX}_chat` }).asPromise();
	ada = new ApiClient(system.url);
	bob = new ApiClient(system.url);
	carol = new ApiClient(system.url);
	await ada.signUp("Ada", "Lovelace");
	await bob.signUp("Bob", "Babbage");
	await carol.signUp("Carol", "Jones");
	group = await ada.createGroup("Family", [bob.user!.email, carol.user!.email]);
	adaSocket = await connectSocket(system.url, ada.token);
});

after(async () => {
	adaSocket?.close();
	await db?.close();
	await gateway?.stop();
	await system?.stopAll();
});

test("a batch's final socket states: a socket reported closed stays closed whatever the order", () => {
	const { opened, closed } = foldSocketReports([
		{ socketId: "a", userId: "u", open: true },
		{ socketId: "b", userId: "u", open: false },
		{ socketId: "b", userId: "u", open: true },
		{ socketId: "c", userId: "v", open: true },
		{ socketId: "c", userId: "v", open: false },
	]);
	assert.deepEqual(
		opened.map(s => s.socketId),
		["a"],
	);
	assert.deepEqual(closed.map(s => s.socketId).sort(), ["b", "c"]);
	assert.deepEqual(
		presenceFlips(
			["u", "v", "w", "u"],
			new Set(["u"]),
			new Map([
				["v", true],
				["w", false],
			]),
		),
		[
			{ userId: "u", online: true },
			{ userId: "v", online: false },
		],
	);
});

test("one batch with several sockets of several users flips each user online once, and one closing them flips each offline once", async () => {
	const bobId = bob.user!.id;
	const carolId = carol.user!.id;
	await report([
		{ socketId: "b1", userId: bobId, open: true },
		{ socketId: "b2", userId: bobId, open: true },
		{ socketId: "c1", userId: carolId, open: true },
		{ socketId: "b3", userId: bobId, open: true },
	]);
	assert.equal(await onlineOf(bobId), true);
	assert.equal(await onlineOf(carolId), true);
	await waitFor(() => flipsOf(bobId).length === 1 && flipsOf(carolId).length === 1, { what: "both online" });
	// Bob closes two of three: still online. Carol's only socket closes while another opens and closes.
	await report([
		{ socketId: "b1", userId: bobId, open: false },
		{ socketId: "b2", userId: bobId, open: false },
		{ socketId: "c2", userId: carolId, open: true },
		{ socketId: "c2", userId: carolId, open: false },
		{ socketId: "c1", userId: carolId, open: false },
	]);
	assert.equal(await onlineOf(bobId), true);
	assert.equal(await onlineOf(carolId), false);
	await report([{ socketId: "b3", userId: bobId, open: false }]);
	assert.equal(await onlineOf(bobId), false);
	await waitFor(() => flipsOf(bobId).length === 2 && flipsOf(carolId).length === 2, { what: "both offline" });
	assert.deepEqual(flipsOf(bobId), [true, false]);
	assert.deepEqual(flipsOf(carolId), [true, false]);
	// Each flip is numbered, so a gateway can tell an announcement that overtook another.
	await waitFor(() => announced.filter(a => a.userId === bobId).length === 2, { what: "Bob's flips announced" });
	assert.deepEqual(
		announced.filter(a => a.userId === bobId).map(a => [a.online, a.version]),
		[
			[true, 1],
			[false, 2],
		],
	);
	assert.equal(await db.collection("sockets").countDocuments({ gatewayNodeID: gateway.nodeID, closed: false }), 0);
});

test("a close reported before its open (separate batches) leaves the socket closed and the user offline", async () => {
	const bobId = bob.user!.id;
	await report([{ socketId: "late", userId: bobId, open: false }]);
	await report([{ socketId: "late", userId: bobId, open: true }]);
	assert.equal(await onlineOf(bobId), false);
	assert.equal(await db.collection("sockets").countDocuments({ _id: `${gateway.nodeID}/late` as never, closed: true }), 1);
});

test("a malformed batch is refused", async () => {
	for (const sockets of [[], [{ socketId: "x", userId: bob.user!.id }], [{ socketId: "", userId: bob.user!.id, open: true }]]) {
		await assert.rejects(
			gateway.call("chat.socketsChanged", { gatewayNodeID: gateway.nodeID, sockets }),
			(err: { type?: string }) => err.type === "VALIDATION_ERROR",
		);
	}
});

test("a gateway forwards a user's flip only if it is newer than the last one it forwarded", async () => {
	// Two chat instances flipping one user at once: the broadcast of the older flip arrives last.
	const userId = `racer-${randomUUID().slice(0, 8)}`;
	const announce = (online: boolean, version: number) =>
		gateway.broadcast(LiveEvents.presence, { groupIds: [group.id], userId, online, version } satisfies LivePresence);
	await announce(true, 10);
	await announce(false, 9);
	await announce(true, 11);
	await waitFor(() => flipsOf(userId).filter(online => online).length === 2, { what: "the two newer flips" });
	assert.deepEqual(flipsOf(userId), [true, true], "the overtaken offline flip is not forwarded");
});

test("a member who joins while connected shows online to the group at once, and learns who of the others is online", async () => {
	const dan = new ApiClient(system.url);
	await dan.signUp("Dan", "Brown");
	const danSocket = await connectSocket(system.url, dan.token);
	try {
		// Dan is online (no group yet): nobody in Family hears of it. Ada is online with her socket.
		await waitFor(async () => (await db.collection("sockets").countDocuments({ userId: dan.user!.id, closed: false })) === 1, {
			what: "Dan's socket known to chat",
		});
		await ada.addMember(group.id, dan.user!.email);
		await adaSocket.waitFor(
			"chat:presence",
			(p: { groupId: string; userId: string; online: boolean }) => p.groupId === group.id && p.userId === dan.user!.id && p.online,
		);
		await danSocket.waitFor(
			"chat:presence",
			(p: { groupId: string; userId: string; online: boolean }) => p.groupId === group.id && p.userId === ada.user!.id && p.online,
		);
		assert.equal(
			danSocket.of("chat:presence").some(p => p.userId === bob.user!.id && p.online),
			false,
			"Bob has no socket open: he is not announced online",
		);
	} finally {
		danSocket.close();
	}
});
