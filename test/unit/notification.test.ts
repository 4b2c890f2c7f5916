import { test } from "node:test";
import assert from "node:assert/strict";
import webpush from "web-push";
import type { NotificationSend } from "../../events/domain.js";
import { notificationFor, notificationId, resolveRecipients, toNotification } from "../../services/notification/inbox.js";
import { clientKeys, decryptPush } from "../support/push-endpoint.js";
import { buildPushRequest, classifyPushStatus, pushConfigFrom, pushPayload, pushRetryDelayMs, subscriptionErrors } from "../../services/notification/push.js";

const groups: Record<string, string[]> = { g1: ["ada", "bob", "cy"], g2: ["ada", "bob", "dee"], g3: ["eve"] };
const lookups = {
	groupMembers: async (id: string) => groups[id] ?? [],
	coMembersOf: async (userId: string) => [
		...new Set(
			Object.values(groups)
				.filter(m => m.includes(userId))
				.flat(),
		),
	],
};

test("a group command reaches every member, plus the extra users, each once", async () => {
	assert.deepEqual(await resolveRecipients({ target: { groupId: "g1" } }, lookups), ["ada", "bob", "cy"]);
	assert.deepEqual(await resolveRecipients({ target: { groupId: "g1" }, alsoUserIds: ["zed", "bob"] }, lookups), ["ada", "bob", "cy", "zed"]);
	// A deleted group (no members) still tells the user who was removed.
	assert.deepEqual(await resolveRecipients({ target: { groupId: "gone" }, alsoUserIds: ["ada"] }, lookups), ["ada"]);
});

test("the subject of a group command is not told about themself, unless named in alsoUserIds", async () => {
	assert.deepEqual(await resolveRecipients({ target: { groupId: "g1" }, subjectUserId: "ada" }, lookups), ["bob", "cy"]);
	assert.deepEqual(await resolveRecipients({ target: { groupId: "g1" }, subjectUserId: "cy", alsoUserIds: ["cy"] }, lookups), ["ada", "bob", "cy"]);
});

test("a coMembersOf command reaches everyone sharing a group with the subject once, not the subject", async () => {
	assert.deepEqual((await resolveRecipients({ target: { coMembersOf: "ada" } }, lookups)).sort(), ["bob", "cy", "dee"]);
	assert.deepEqual(await resolveRecipients({ target: { coMembersOf: "eve" } }, lookups), []);
});

test("a userIds command reaches exactly the users it names, whatever groups they are in (an invitee, an inviter)", async () => {
	let asked = 0;
	const counting = { groupMembers: async () => (asked++, []), coMembersOf: async () => (asked++, []) };
	assert.deepEqual(await resolveRecipients({ target: { userIds: ["zed"] }, subjectUserId: "ada" }, counting), ["zed"]);
	// Named outright: the subject rule does not drop them, and no group is looked up.
	assert.deepEqual(await resolveRecipients({ target: { userIds: ["ada", "bob", "ada"] }, subjectUserId: "ada" }, counting), ["ada", "bob"]);
	assert.equal(asked, 0);
});

test("whoever caused a notification is not alerted about it, even as a member of the group it goes to", async () => {
	const lookups = { groupMembers: async () => ["ada", "bob", "cy"], coMembersOf: async () => [] };
	const added = { target: { groupId: "g1" }, subjectUserId: "bob", alsoUserIds: ["bob"], exceptUserIds: ["ada"] };
	assert.deepEqual(await resolveRecipients(added, lookups), ["cy", "bob"]);
});

test("the same command and recipient always give the same notification id", () => {
	assert.equal(notificationId("env-1", "ada"), notificationId("env-1", "ada"));
	assert.notEqual(notificationId("env-1", "ada"), notificationId("env-1", "bob"));
	assert.notEqual(notificationId("env-1", "ada"), notificationId("env-2", "ada"));
});

test("a stored notification is dated when the event happened and shows in the API shape", () => {
	const command: NotificationSend = {
		target: { groupId: "g1" },
		kind: "MEMBER_ADDED",
		title: "Bob joined",
		body: "Ada added Bob",
		groupId: "g1",
		subjectUserId: "bob",
	};
	const doc = notificationFor({ id: "env-1", occurredAt: "2025-03-01T10:00:00.000Z" }, command, "ada");
	assert.equal(doc.createdAt.toISOString(), "2025-03-01T10:00:00.000Z");
	assert.equal(doc.read, false);
	assert.deepEqual(toNotification(doc), {
		id: doc._id,
		kind: "MEMBER_ADDED",
		title: "Bob joined",
		body: "Ada added Bob",
		groupId: "g1",
		subjectUserId: "bob",
		createdAt: "2025-03-01T10:00:00.000Z",
		read: false,
	});
});

test("a command's data (a journey's ETA and destination) reach the stored notification and its API shape", () => {
	const data = { eta: "2025-03-01T18:30:00.000Z", destination: { name: "Home", latitude: 45, longitude: 9 } };
	const command: NotificationSend = { target: { groupId: "g1" }, kind: "JOURNEY_STARTED", title: "Ada started a journey", body: "…", groupId: "g1", data };
	assert.deepEqual(toNotification(notificationFor({ id: "env-2", occurredAt: "2025-03-01T10:00:00.000Z" }, command, "bob")).data, data);
});

test("push is off without VAPID settings, and off (with a reason) when they are partial or invalid", () => {
	assert.equal(pushConfigFrom({}).enabled, false);
	const keys = webpush.generateVAPIDKeys();
	assert.match((pushConfigFrom({ publicKey: keys.publicKey }) as { reason: string }).reason, /must all be set/);
	assert.match((pushConfigFrom({ ...keys, subject: "http://example.com" }) as { reason: string }).reason, /invalid VAPID/);
	assert.match(
		(pushConfigFrom({ publicKey: "nope", privateKey: keys.privateKey, subject: "mailto:ops@example.com" }) as { reason: string }).reason,
		/invalid VAPID/,
	);
	assert.equal(pushConfigFrom({ ...keys, subject: "mailto:ops@example.com" }).enabled, true);
});

test("subscriptions need an https endpoint (http outside production) and the browser's P-256 key and 16-byte auth secret", () => {
	const { keys } = clientKeys();
	assert.deepEqual(subscriptionErrors({ endpoint: "https://push.example.com/abc", keys }), []);
	assert.deepEqual(subscriptionErrors({ endpoint: "http://127.0.0.1:9999/p", keys }), []);
	const fields = (endpoint: string, k = keys) => subscriptionErrors({ endpoint, keys: k }).map(e => e.field);
	assert.deepEqual(
		subscriptionErrors({ endpoint: "http://127.0.0.1:9999/p", keys }, { allowHttp: false }).map(e => e.field),
		["endpoint"],
	);
	assert.deepEqual(fields("ftp://push.example.com/abc"), ["endpoint"]);
	assert.deepEqual(fields("not a url"), ["endpoint"]);
	assert.deepEqual(fields("https://user:pw@push.example.com/"), ["endpoint"]);
	assert.deepEqual(fields("https://push.example.com/", { p256dh: "abc", auth: "short" }), ["keys.p256dh", "keys.auth"]);
});

test("a push request decrypts, with the client's private key and auth secret, to the notification", () => {
	const client = clientKeys();
	const vapid = { ...webpush.generateVAPIDKeys(), subject: "mailto:ops@example.com" };
	const notification = { id: "n1", kind: "SOS" as const, title: "Ada raised an SOS", body: "x".repeat(5000), createdAt: new Date().toISOString(), read: false };
	const request = buildPushRequest({ endpoint: "http://127.0.0.1:1/push/1", keys: client.keys }, pushPayload(notification), vapid);
	assert.equal(request.headers["Content-Encoding"], "aes128gcm");
	assert.match(request.headers.Authorization, /^vapid t=.+, k=/);
	const received = JSON.parse(decryptPush(request.body, client));
	assert.equal(received.id, "n1");
	assert.equal(received.title, "Ada raised an SOS");
	assert.ok(received.body.length <= 1000, "long bodies are clipped to fit a push message");
	assert.ok(request.body.length < 4096);
});

test("404 and 410 mean the subscription is gone; 400/413 are dropped; the rest is retried with growing delays", () => {
	assert.equal(classifyPushStatus(201), "sent");
	assert.equal(classifyPushStatus(410), "gone");
	assert.equal(classifyPushStatus(404), "gone");
	assert.equal(classifyPushStatus(413), "drop");
	for (const status of [429, 500, 503, 401, undefined]) assert.equal(classifyPushStatus(status), "retry");
	const mid = () => 0.5;
	assert.equal(pushRetryDelayMs(1, mid), 2_000);
	assert.equal(pushRetryDelayMs(2, mid), 4_000);
	assert.equal(pushRetryDelayMs(20, mid), 300_000);
});
