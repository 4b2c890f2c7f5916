import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startSystem, type System } from "../support/system.js";
import { ApiClient, connectSocket, type LiveSocket } from "../support/client.js";
import { clientKeys } from "../support/push-endpoint.js";
import { waitFor } from "../support/wait.js";
import type { Group, Notification } from "../../events/types.js";

/** Notifications through the public contract: a group change reaches the others live and in their inbox. */

let system: System;
let ada: ApiClient;
let bob: ApiClient;
let carol: ApiClient;
let group: Group;
const sockets: LiveSocket[] = [];

const inbox = async (client: ApiClient, query = "") => {
	const res = await client.get<{ notifications: Notification[]; unread: number }>(`/api/notifications${query}`);
	assert.equal(res.status, 200, JSON.stringify(res.body));
	return res.body;
};

before(async () => {
	// No VAPID keys: push is off, which must not break anything else.
	system = await startSystem({ services: ["users", "notification", "gateway"] });
	ada = new ApiClient(system.url);
	bob = new ApiClient(system.url);
	carol = new ApiClient(system.url);
	await ada.signUp("Ada", "Lovelace");
	await bob.signUp("Bob", "Babbage");
	await carol.signUp("Carol", "Newcomer");
	group = await ada.createGroup("Family", [bob.user!.email]);
});

after(async () => {
	for (const socket of sockets) socket.close();
	await system?.stopAll();
});

test("adding a member reaches the others and the added user live and in their inbox, with the unread count", async () => {
	const bobSocket = await connectSocket(system.url, bob.token);
	const carolSocket = await connectSocket(system.url, carol.token);
	sockets.push(bobSocket, carolSocket);
	await ada.addMember(group.id, carol.user!.email);

	const isCarolAdded = (n: Notification) => n.kind === "MEMBER_ADDED" && n.subjectUserId === carol.user!.id;
	const live = await bobSocket.waitFor("notification", isCarolAdded);
	assert.equal(live.groupId, group.id);
	assert.equal(live.read, false);
	assert.equal(live.title, "Carol Newcomer joined Family");
	assert.match(live.body, /Ada Lovelace added Carol Newcomer/);
	await carolSocket.waitFor("notification", isCarolAdded);

	const bobInbox = await inbox(bob);
	const stored = bobInbox.notifications.find(isCarolAdded);
	assert.ok(stored, "in Bob's inbox");
	assert.equal(stored.id, live.id);
	// Bob was also invited and told he was added at the group's creation: newest first.
	assert.equal(bobInbox.notifications[0].id, live.id);
	await waitFor(async () => (await inbox(bob)).unread === 3, { what: "three unread for Bob" });
	assert.deepEqual(
		(await inbox(bob)).notifications.map(n => n.kind),
		["MEMBER_ADDED", "MEMBER_ADDED", "INVITED"],
	);
	assert.equal(bobInbox.notifications.filter(isCarolAdded).length, 1);
	// The actor is a member too, but it was her own action: she hears "Carol accepted your invitation" only.
	await waitFor(async () => (await inbox(ada)).notifications.some(n => n.kind === "INVITATION_ACCEPTED" && n.subjectUserId === carol.user!.id), {
		what: "Ada told Carol accepted",
	});
	assert.equal((await inbox(ada)).notifications.filter(isCarolAdded).length, 0, "no alert about her own action");
});

test("marking read lowers the unread count, and only the caller's own notifications change", async () => {
	const before = await inbox(bob);
	assert.equal(before.unread, 3);
	const [newest, older] = before.notifications;
	const adaOwn = (await inbox(ada)).notifications[0];

	const one = await bob.post("/api/notifications/read", { ids: [newest.id, adaOwn.id] });
	assert.equal(one.status, 200, JSON.stringify(one.body));
	assert.equal(one.body.unread, 2);
	const after = await inbox(bob);
	assert.equal(after.notifications.find(n => n.id === newest.id)?.read, true);
	assert.equal(after.notifications.find(n => n.id === older.id)?.read, false);
	assert.equal((await inbox(ada)).notifications.find(n => n.id === adaOwn.id)?.read, false, "Ada's stays unread");

	const all = await bob.post("/api/notifications/read", { all: true });
	assert.equal(all.body.unread, 0);
	assert.equal((await inbox(bob)).unread, 0);
	assert.equal((await bob.post("/api/notifications/read", {})).status, 422);
});

test("marking read on one device tells the user's other sockets (phone and laptop show one count)", async () => {
	const phone = await connectSocket(system.url, carol.token);
	const laptop = await connectSocket(system.url, carol.token);
	const adaSocket = await connectSocket(system.url, ada.token);
	sockets.push(phone, laptop, adaSocket);
	const before = await inbox(carol);
	assert.ok(before.unread >= 1, "Carol has something unread");
	const [newest] = before.notifications;
	const one = await carol.post("/api/notifications/read", { ids: [newest!.id] });
	assert.equal(one.status, 200, JSON.stringify(one.body));
	for (const socket of [phone, laptop]) {
		const read = await socket.waitFor("notifications:read", p => p.unread === one.body.unread);
		assert.deepEqual(read.ids, [newest!.id]);
	}
	const all = await carol.post("/api/notifications/read", { all: true });
	assert.equal(all.body.unread, 0);
	for (const socket of [phone, laptop]) {
		const read = await socket.waitFor("notifications:read", p => p.unread === 0);
		assert.equal(read.ids, undefined, "all of them");
	}
	assert.equal(adaSocket.of("notifications:read").length, 0, "nobody else hears it");
});

test("the inbox pages back with `before`, newest first", async () => {
	const first = await inbox(bob, "?limit=1");
	assert.equal(first.notifications.length, 1);
	const second = await inbox(bob, `?limit=1&before=${first.notifications[0].id}`);
	assert.equal(second.notifications.length, 1);
	assert.ok(second.notifications[0].createdAt <= first.notifications[0].createdAt);
	assert.notEqual(second.notifications[0].id, first.notifications[0].id);
	// The third and oldest: Bob's invitation.
	const third = await inbox(bob, `?limit=1&before=${second.notifications[0].id}`);
	assert.deepEqual(
		third.notifications.map(n => n.kind),
		["INVITED"],
	);
	assert.equal((await inbox(bob, `?limit=1&before=${third.notifications[0].id}`)).notifications.length, 0);
	assert.equal((await bob.get("/api/notifications?limit=0")).status, 422);
});

test("removing a member tells the removed user and the other members, not the member who removed them", async () => {
	const carolSocket = sockets[1];
	assert.equal((await bob.delete(`/api/groups/${group.id}/members/${carol.user!.id}`)).status, 200);
	const isRemoved = (n: Notification) => n.kind === "MEMBER_REMOVED" && n.subjectUserId === carol.user!.id;
	const toCarol = await carolSocket.waitFor("notification", isRemoved);
	assert.match(toCarol.body, /Bob Babbage removed Carol Newcomer/);
	await waitFor(async () => (await inbox(ada)).notifications.some(isRemoved), { what: "Ada told Carol was removed" });
	assert.equal((await inbox(carol)).notifications.filter(isRemoved).length, 1);
	// One command writes its copies in turn, the group's members before the removed member named
	// after them: with Carol's delivered, Bob would have his by now.
	assert.equal((await inbox(bob)).notifications.filter(isRemoved).length, 0, "Bob removed Carol himself");
});

test("with push off the key route is a clean 404; subscriptions are still validated and accepted", async () => {
	const key = await ada.get("/api/notifications/push-key");
	assert.equal(key.status, 404);
	assert.equal(key.body.type, "NOT_FOUND");
	const { keys } = clientKeys();
	const endpoint = "https://push.example.com/send/abc";
	assert.equal((await ada.post("/api/notifications/subscriptions", { endpoint, keys })).status, 201);
	assert.equal((await ada.post("/api/notifications/subscriptions", { endpoint: "javascript:alert(1)", keys })).status, 422);
	assert.equal((await ada.post("/api/notifications/subscriptions", { endpoint, keys: { p256dh: "x", auth: "y" } })).status, 422);
	assert.equal((await ada.post("/api/notifications/subscriptions", { endpoint })).status, 422);
	assert.equal((await ada.delete("/api/notifications/subscriptions", { endpoint })).status, 204);
	assert.equal((await ada.delete("/api/notifications/subscriptions", { endpoint })).status, 204, "idempotent");
	assert.equal((await ada.get("/api/notifications", { token: null })).status, 401);
});
