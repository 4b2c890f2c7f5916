import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startSystem, type System } from "../support/system.js";
import { ApiClient, connectSocket, flipsAfterClosing, type LiveSocket } from "../support/client.js";
import { waitFor } from "../support/wait.js";
import type { Group, Message } from "../../events/types.js";

/** Chat through the public contract: REST and Socket.IO against real processes. */

let system: System;
let ada: ApiClient;
let bob: ApiClient;
let eve: ApiClient;
let group: Group;
const sockets: LiveSocket[] = [];

const connect = async (client: ApiClient) => {
	const socket = await connectSocket(system.url, client.token);
	sockets.push(socket);
	return socket;
};
const history = async (client: ApiClient, query = "") => {
	const res = await client.get<{ messages: Message[] }>(`/api/groups/${group.id}/messages${query}`);
	assert.equal(res.status, 200, JSON.stringify(res.body));
	return res.body.messages;
};
const presenceOf = async (client: ApiClient, userId: string) => {
	const res = await client.get(`/api/groups/${group.id}/presence`);
	assert.equal(res.status, 200, JSON.stringify(res.body));
	return (res.body as { userId: string; online: boolean; lastSeenAt: string | null }[]).find(p => p.userId === userId);
};

before(async () => {
	system = await startSystem({ services: ["users", "chat", "gateway"] });
	ada = new ApiClient(system.url);
	bob = new ApiClient(system.url);
	eve = new ApiClient(system.url);
	await ada.signUp("Ada", "Lovelace");
	await bob.signUp("Bob", "Babbage");
	await eve.signUp("Eve", "Outsider");
	group = await ada.createGroup("Family", [bob.user!.email]);
});

after(async () => {
	for (const socket of sockets) socket.close();
	await system?.stopAll();
});

test("a message is delivered to every member's sockets, the sender's included, and shows in the history", async () => {
	const adaSocket = await connect(ada);
	const bobSocket = await connect(bob);
	const ack = await adaSocket.emit("chat:send", { groupId: group.id, text: "  Home safe?  " });
	assert.equal(ack.ok, true, JSON.stringify(ack));
	const sent: Message = ack.message;
	assert.equal(sent.text, "Home safe?");
	assert.equal(sent.kind, "user");
	assert.equal(sent.userId, ada.user!.id);
	assert.equal(sent.groupId, group.id);
	for (const socket of [adaSocket, bobSocket]) await socket.waitFor("chat:message", (m: Message) => m.id === sent.id);

	const rest = await bob.post(`/api/groups/${group.id}/messages`, { text: "Yes, just arrived" });
	assert.equal(rest.status, 201, JSON.stringify(rest.body));
	await adaSocket.waitFor("chat:message", (m: Message) => m.id === rest.body.id);

	const messages = await history(bob);
	assert.deepEqual(
		messages.slice(-2).map(m => m.text),
		["Home safe?", "Yes, just arrived"],
	);
});

test("a resend with the same clientMessageId returns the first message and stores it once", async () => {
	const adaSocket = await connect(ada);
	const clientMessageId = `c-${randomBytes(4).toString("hex")}`;
	const first = await adaSocket.emit("chat:send", { groupId: group.id, text: "On my way", clientMessageId });
	const second = await adaSocket.emit("chat:send", { groupId: group.id, text: "On my way", clientMessageId });
	const third = await ada.post(`/api/groups/${group.id}/messages`, { text: "On my way", clientMessageId });
	assert.equal(first.ok, true, JSON.stringify(first));
	assert.equal(second.message.id, first.message.id);
	assert.equal(third.status, 201);
	assert.equal(third.body.id, first.message.id);
	assert.equal(first.message.clientMessageId, clientMessageId);
	const stored = (await history(ada, "?limit=200")).filter(m => m.clientMessageId === clientMessageId);
	assert.equal(stored.length, 1);
	// The same client id from another member is another message.
	const fromBob = await bob.post(`/api/groups/${group.id}/messages`, { text: "me too", clientMessageId });
	assert.notEqual(fromBob.body.id, first.message.id);
});

test("a non-member can neither send nor read (403), and text must have 1..2000 characters (422)", async () => {
	const eveSocket = await connect(eve);
	const ack = await eveSocket.emit("chat:send", { groupId: group.id, text: "let me in" });
	assert.equal(ack.ok, false);
	assert.equal(ack.error.code, 403);
	assert.equal(ack.error.type, "FORBIDDEN");
	assert.equal((await eve.post(`/api/groups/${group.id}/messages`, { text: "hi" })).status, 403);
	assert.equal((await eve.get(`/api/groups/${group.id}/messages`)).status, 403);
	assert.equal((await eve.get(`/api/groups/${group.id}/presence`)).status, 403);
	assert.equal((await eve.get(`/api/groups/no-such-group/messages`)).status, 404);

	for (const text of ["   ", "x".repeat(2001)]) {
		const res = await ada.post(`/api/groups/${group.id}/messages`, { text });
		assert.equal(res.status, 422, JSON.stringify(res.body));
		assert.equal(res.body.type, "VALIDATION_ERROR");
	}
	assert.equal((await ada.post(`/api/groups/${group.id}/messages`, {})).status, 422);
	assert.equal((await ada.post(`/api/groups/${group.id}/messages`, { text: "x".repeat(2000) })).status, 201);
});

test("history pages back from the newest, each page oldest to newest", async () => {
	const texts = Array.from({ length: 5 }, (_, i) => `page-msg-${i}`);
	for (const text of texts) assert.equal((await ada.post(`/api/groups/${group.id}/messages`, { text })).status, 201);
	const newest = await history(ada, "?limit=2");
	assert.deepEqual(
		newest.map(m => m.text),
		["page-msg-3", "page-msg-4"],
	);
	const older = await history(ada, `?limit=2&before=${newest[0].id}`);
	assert.deepEqual(
		older.map(m => m.text),
		["page-msg-1", "page-msg-2"],
	);
	assert.equal((await ada.get(`/api/groups/${group.id}/messages?limit=201`)).status, 422);
	assert.equal((await ada.get(`/api/groups/${group.id}/messages?before=unknown-id`)).status, 404);
});

test("joining and leaving the group are written to the history as system messages", async () => {
	const carol = new ApiClient(system.url);
	await carol.signUp("Carol", "Joins");
	await ada.addMember(group.id, carol.user!.email);
	const joined = await waitFor(async () => (await history(ada)).find(m => m.kind === "system" && m.text === "Carol Joins joined the group"), {
		what: "the join line",
	});
	assert.equal(joined.userId, carol.user!.id);
	// The new member reads the history at once.
	assert.ok((await history(carol)).some(m => m.id === joined.id));
	assert.equal((await carol.post(`/api/groups/${group.id}/leave`)).status, 204);
	await waitFor(async () => (await history(ada)).find(m => m.kind === "system" && m.text === "Carol Joins left the group"), { what: "the leave line" });
	assert.equal((await carol.get(`/api/groups/${group.id}/messages`)).status, 403);
	// The creation line opens the history.
	const all = await history(ada, "?limit=200");
	assert.equal(all[0].text, "Ada Lovelace created the group");
	assert.equal(all.filter(m => m.text === "Carol Joins joined the group").length, 1);
});

test("presence flips online on connect and offline on disconnect, live and in GET presence", async () => {
	// Ada watches while the earlier sockets close; only the flips after that count.
	const earlier = sockets.splice(0);
	const adaSocket = await connect(ada);
	const flips = await flipsAfterClosing(adaSocket, earlier, group.id, bob.user!.id, async () => (await presenceOf(ada, bob.user!.id))?.online);

	const bobSocket = await connect(bob);
	await waitFor(() => flips().at(-1)?.online === true, { what: "Bob online" });
	const online = await presenceOf(ada, bob.user!.id);
	assert.equal(online?.online, true);

	// With a second socket, closing one of the two keeps Bob online: one flip each way in all.
	const bobPhone = await connect(bob);
	bobSocket.close();
	assert.equal((await presenceOf(ada, bob.user!.id))?.online, true);
	bobPhone.close();
	await waitFor(() => flips().at(-1)?.online === false, { what: "Bob offline again" });
	assert.deepEqual(
		flips().map(p => p.online),
		[true, false],
	);
	const offline = await presenceOf(ada, bob.user!.id);
	assert.equal(offline?.online, false);
	assert.ok(offline?.lastSeenAt && Date.parse(offline.lastSeenAt) <= Date.now());
	const everyone = (await ada.get(`/api/groups/${group.id}/presence`)).body as { userId: string }[];
	assert.deepEqual(everyone.map(p => p.userId).sort(), [ada.user!.id, bob.user!.id].sort());
});
