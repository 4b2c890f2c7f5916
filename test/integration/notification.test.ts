import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { ServiceBroker } from "moleculer";
import webpush from "web-push";
import { brokerOptions } from "../../moleculer.config.js";
import { startSystem, type System } from "../support/system.js";
import { ApiClient, connectSocket, type LiveSocket } from "../support/client.js";
import { PushEndpoint } from "../support/push-endpoint.js";
import { waitFor } from "../support/wait.js";
import type { Envelope, NotificationSend } from "../../events/domain.js";
import type { Group, Notification } from "../../events/types.js";

/**
 * The notification service as real processes on real NATS/JetStream and FerretDB: durable
 * catch-up after downtime, idempotent commands, one notification per recipient, and Web Push
 * to a local push service that decrypts what it receives.
 */

let system: System;
let probe: ServiceBroker;
let push: PushEndpoint;
let ada: ApiClient;
let bob: ApiClient;
let family: Group;
const sockets: LiveSocket[] = [];
interface Stats {
	push: { enabled: boolean; reason?: string };
	pendingPushes: number;
	subscriptions: number;
	notifications: number;
	unread: number;
}
const vapid = webpush.generateVAPIDKeys();

const publish = (envelope: Envelope<NotificationSend>) =>
	(probe as unknown as { sendToChannel(name: string, payload: unknown): Promise<void> }).sendToChannel("notifications.send", envelope);

const command = (payload: NotificationSend): Envelope<NotificationSend> => ({
	id: randomUUID(),
	type: "notifications.send",
	occurredAt: new Date().toISOString(),
	payload,
});

const toGroup = (groupId: string, title: string): Envelope<NotificationSend> =>
	command({ target: { groupId }, kind: "SOS", title, body: `${title} (body)`, groupId, subjectUserId: ada.user!.id });

const inbox = async (client: ApiClient) => {
	const res = await client.get<{ notifications: Notification[]; unread: number }>("/api/notifications?limit=200");
	assert.equal(res.status, 200, JSON.stringify(res.body));
	return res.body;
};
const titled = async (client: ApiClient, title: string) => (await inbox(client)).notifications.filter(n => n.title === title);

before(async () => {
	push = await new PushEndpoint().start();
	system = await startSystem({
		services: ["users", "notification", "gateway"],
		env: { VAPID_PUBLIC_KEY: vapid.publicKey, VAPID_PRIVATE_KEY: vapid.privateKey, VAPID_SUBJECT: "mailto:ops@positionpal.test" },
	});
	probe = new ServiceBroker(brokerOptions({ namespace: system.env.NAMESPACE, nodeID: `probe-${randomUUID().slice(0, 8)}`, logger: false }));
	await probe.start();
	await probe.waitForServices(["notification"], 20_000);
	ada = new ApiClient(system.url);
	bob = new ApiClient(system.url);
	await ada.signUp("Ada", "Lovelace");
	await bob.signUp("Bob", "Babbage");
	family = await ada.createGroup("Family", [bob.user!.email]);
	await waitFor(async () => (await inbox(bob)).notifications.some(n => n.kind === "MEMBER_ADDED"), { what: "Bob told he was added" });
});

after(async () => {
	for (const socket of sockets) socket.close();
	await probe?.stop();
	await system?.stopAll();
	await push?.stop();
});

test("commands sent while the notification service is down arrive once when it is back", async () => {
	const carol = new ApiClient(system.url);
	await carol.signUp("Carol", "Late");
	const bobSocket = await connectSocket(system.url, bob.token);
	sockets.push(bobSocket);

	// SIGTERM: a killed node would keep receiving requests until the gateway misses its heartbeats (~60 s).
	await system.stop("notification");
	// A membership change by the users service, and a command published twice (at-least-once delivery).
	await ada.addMember(family.id, carol.user!.email);
	const sos = toGroup(family.id, `Ada raised an SOS ${randomUUID().slice(0, 6)}`);
	await publish(sos);
	await publish(sos);
	await system.start("notification");

	const isCarolAdded = (n: Notification) => n.kind === "MEMBER_ADDED" && n.subjectUserId === carol.user!.id;
	await waitFor(async () => (await titled(bob, sos.payload.title)).length > 0, { timeoutMs: 20_000, what: "the SOS in Bob's inbox" });
	await waitFor(async () => (await inbox(bob)).notifications.some(isCarolAdded), { timeoutMs: 20_000, what: "Carol's arrival in Bob's inbox" });
	await waitFor(async () => (await inbox(carol)).notifications.some(isCarolAdded), { what: "Carol told she was added" });
	// Consumers work concurrently, so this is no proof, but a duplicate would most likely show by then.
	const marker = toGroup(family.id, `marker ${randomUUID().slice(0, 6)}`);
	await publish(marker);
	await waitFor(async () => (await titled(bob, marker.payload.title)).length > 0, { what: "the marker" });

	assert.equal((await titled(bob, sos.payload.title)).length, 1);
	assert.equal((await inbox(bob)).notifications.filter(isCarolAdded).length, 1);
	assert.equal((await inbox(carol)).notifications.filter(isCarolAdded).length, 1);
	assert.equal((await inbox(ada)).notifications.filter(isCarolAdded).length, 0, "Ada added Carol: no alert about her own action");
	await bobSocket.waitFor("notification", (n: Notification) => n.title === sos.payload.title);
	assert.equal(bobSocket.of("notification").filter((n: Notification) => n.title === sos.payload.title).length, 1);
});

test("a user sharing two groups with the subject gets one notification for a coMembersOf command", async () => {
	const dee = new ApiClient(system.url);
	await dee.signUp("Dee", "Second");
	const friends = await ada.createGroup("Friends", [bob.user!.email, dee.user!.email]);
	// Once Dee heard she was added, the service knows the second group.
	await waitFor(async () => (await inbox(dee)).notifications.some(n => n.kind === "MEMBER_ADDED" && n.groupId === friends.id), {
		what: "Dee told she was added",
	});

	const title = `Ada Lovelace started a journey ${randomUUID().slice(0, 6)}`;
	const journey = command({ target: { coMembersOf: ada.user!.id }, kind: "JOURNEY_STARTED", title, body: "To home by 18:00", subjectUserId: ada.user!.id });
	await publish(journey);
	await waitFor(async () => (await titled(dee, title)).length === 1, { what: "Dee's notification" });
	await waitFor(async () => (await titled(bob, title)).length === 1, { what: "Bob's notification" });
	const marker = toGroup(friends.id, `marker ${randomUUID().slice(0, 6)}`);
	await publish(marker);
	await waitFor(async () => (await titled(bob, marker.payload.title)).length === 1, { what: "the marker" });
	assert.equal((await titled(bob, title)).length, 1, "Bob shares two groups with Ada and is told once");
	assert.equal((await titled(ada, title)).length, 0, "the subject is not told about herself");
	const [stored] = await titled(bob, title);
	assert.equal(stored.kind, "JOURNEY_STARTED");
	assert.equal(stored.subjectUserId, ada.user!.id);
});

test("a notification is sent as Web Push, decrypted by the push service; failures are retried and a 410 deletes the subscription", async () => {
	const key = await bob.get("/api/notifications/push-key");
	assert.equal(key.status, 200);
	assert.equal(key.body.publicKey, vapid.publicKey);
	const subscription = push.subscribe();
	assert.equal((await bob.post("/api/notifications/subscriptions", subscription)).status, 201);
	const status = () => probe.call("notification.stats", { userId: bob.user!.id }) as Promise<Stats>;
	const initial = await status();
	assert.deepEqual(initial.push, { enabled: true });
	assert.equal(initial.subscriptions, 1);
	assert.equal(initial.pendingPushes, 0);

	// Delivered and decrypted with the subscription's own keys.
	const first = toGroup(family.id, `push one ${randomUUID().slice(0, 6)}`);
	await publish(first);
	const received = await push.waitForMessage(subscription.endpoint, p => p.title === first.payload.title);
	const [stored] = await titled(bob, first.payload.title);
	assert.equal(received.id, stored.id);
	assert.equal(received.kind, "SOS");
	assert.equal(received.body, first.payload.body);
	const request = push.messagesFor(subscription.endpoint).find(r => r.text?.includes(first.payload.title))!;
	assert.equal(request.headers["content-encoding"], "aes128gcm");
	assert.match(String(request.headers.authorization), new RegExp(`^vapid t=.+, k=${vapid.publicKey}$`));

	// A failing push service: retried later, without holding up the inbox.
	push.answer(subscription.endpoint, 503);
	const second = toGroup(family.id, `push two ${randomUUID().slice(0, 6)}`);
	await publish(second);
	await waitFor(() => push.messagesFor(subscription.endpoint).some(r => r.status === 503 && r.text?.includes(second.payload.title)), { what: "a 503 answer" });
	assert.equal((await titled(bob, second.payload.title)).length, 1, "in the inbox while the push is pending");
	push.answer(subscription.endpoint, 201);
	await waitFor(() => push.messagesFor(subscription.endpoint).some(r => r.status === 201 && r.text?.includes(second.payload.title)), {
		timeoutMs: 20_000,
		what: "the retried push accepted",
	});

	// The browser unsubscribed: the push service answers 410 and the subscription goes.
	push.answer(subscription.endpoint, 410);
	const third = toGroup(family.id, `push three ${randomUUID().slice(0, 6)}`);
	await publish(third);
	await waitFor(() => push.messagesFor(subscription.endpoint).some(r => r.status === 410 && r.text?.includes(third.payload.title)), { what: "a 410 answer" });
	// The subscription and its queued pushes are deleted in two steps: wait for both.
	await waitFor(
		async () => {
			const now = await status();
			return now.subscriptions === 0 && now.pendingPushes === 0;
		},
		{ what: "the subscription and its pending pushes deleted" },
	);
	const requestsSoFar = push.messagesFor(subscription.endpoint).length;
	const fourth = toGroup(family.id, `push four ${randomUUID().slice(0, 6)}`);
	await publish(fourth);
	await waitFor(async () => (await titled(bob, fourth.payload.title)).length === 1, { what: "the fourth in the inbox" });
	assert.equal((await status()).pendingPushes, 0);
	assert.equal(push.messagesFor(subscription.endpoint).length, requestsSoFar, "nothing pushed to a deleted subscription");
});

test("a deleted account loses its inbox and push subscriptions", async () => {
	const zoe = new ApiClient(system.url);
	await zoe.signUp("Zoe", "Leaving", "correct horse battery");
	await ada.addMember(family.id, zoe.user!.email);
	await waitFor(async () => (await inbox(zoe)).notifications.length > 0, { what: "Zoe's first notification" });
	assert.equal((await zoe.post("/api/notifications/subscriptions", push.subscribe())).status, 201);
	const status = () => probe.call("notification.stats", { userId: zoe.user!.id }) as Promise<Stats>;
	assert.equal((await status()).subscriptions, 1);
	assert.equal((await zoe.delete("/api/users/me", { currentPassword: "correct horse battery" })).status, 204);
	// Her own leave notification travels on another stream than users.deleted and may come last: it is dropped too.
	await waitFor(
		async () => {
			const now = await status();
			return now.subscriptions === 0 && now.notifications === 0;
		},
		{ what: "Zoe's inbox and subscriptions removed" },
	);
	const marker = toGroup(family.id, `marker ${randomUUID().slice(0, 6)}`);
	await publish(marker);
	await waitFor(async () => (await titled(bob, marker.payload.title)).length === 1, { what: "the marker" });
	assert.equal((await status()).notifications, 0);
});
