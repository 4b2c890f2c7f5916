import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mongoose, { type Connection } from "mongoose";
import { ServiceBroker } from "moleculer";
import webpush from "web-push";
import { brokerOptions } from "../../moleculer.config.js";
import { issueToken } from "../../services/users/tokens.js";
import { subscriptionId } from "../../services/notification/inbox.js";
import type { Message, Session } from "../../events/types.js";
import * as ownTracks from "../fixtures/owntracks/messages.js";
import { ApiClient, connectSocket, type ApiResponse, type LiveSocket } from "../support/client.js";
import { atTime, nowSeconds, postOwnTracks, registerDevice, sendOsmAnd } from "../support/phones.js";
import { clientKeys, PushEndpoint } from "../support/push-endpoint.js";
import { startSystem, TEST_JWT_SECRET, type System } from "../support/system.js";
import { waitFor } from "../support/wait.js";

/**
 * The holes a security review found (issue 14: 1, 2, 3, 4, 5, 8's API part), each tried as an
 * attacker would, through the public contract: a socket outliving its token, guessing the
 * password with a stolen token, locking an owner out from anywhere, a burst of parallel guesses,
 * push endpoints that make the server call private addresses or take over someone's endpoint,
 * unlimited sockets, chat messages and position samples per user, and API answers a cache may keep.
 */

const LOCK_AFTER = 10; // LOGIN_LOCK_AFTER's default
const MAX_SOCKETS = 4;
const WINDOW_S = 15 * 60;
const CHAT_LIMIT = 60; // CHAT_RATE_LIMIT's default: not set in this system
/** SAMPLE_RATE_LIMIT here: small, so one sample comes back every 10 s. */
const SAMPLE_LIMIT = 6;
const SAMPLE_REFILL_MS = 60_000 / SAMPLE_LIMIT;

let system: System;
let probe: ServiceBroker;
let webRoot: string;
let push: PushEndpoint;
let notificationDb: Connection | undefined;
/** A socket command's acknowledgement. */
interface Ack {
	ok: boolean;
	message?: Message;
	error?: { type: string; code: number; data?: { retryAfter: number } };
}
const sockets: LiveSocket[] = [];
const from = (address: string) => ({ headers: { "x-forwarded-for": address } });
const connect = async (token: string) => {
	const socket = await connectSocket(system.url, token);
	sockets.push(socket);
	return socket;
};
const signUp = async (name: string, password: string) => {
	const api = new ApiClient(system.url);
	await api.signUp(name, "Tester", password);
	return api;
};
const retryAfterOf = (res: ApiResponse) => Number(res.headers.get("retry-after"));

before(async () => {
	// A stand-in for the built web client, with a source map left over from an old build.
	webRoot = mkdtempSync(join(tmpdir(), "positionpal-web-"));
	mkdirSync(join(webRoot, "assets"));
	writeFileSync(join(webRoot, "index.html"), "<!doctype html><title>PositionPal</title>");
	writeFileSync(join(webRoot, "sw.js"), "self.addEventListener('push', () => {});");
	writeFileSync(join(webRoot, "sw.js.map"), "{}");
	writeFileSync(join(webRoot, "assets", "app-3f2a9c.js"), "console.log('app');");
	push = await new PushEndpoint().start();
	const vapid = webpush.generateVAPIDKeys();
	system = await startSystem({
		services: ["users", "location", "chat", "notification", "devices", "gateway"],
		env: {
			TRUST_PROXY: "1",
			MAX_SOCKETS_PER_USER: String(MAX_SOCKETS),
			WEB_ROOT: webRoot,
			OFFLINE_AFTER: "3600",
			STUCK_AFTER: "3600",
			SAMPLE_RATE_LIMIT: String(SAMPLE_LIMIT),
			// Production's push endpoint policy, with push on.
			PUSH_ALLOW_PRIVATE_ENDPOINTS: "0",
			VAPID_PUBLIC_KEY: vapid.publicKey,
			VAPID_PRIVATE_KEY: vapid.privateKey,
			VAPID_SUBJECT: "mailto:ops@positionpal.test",
		},
	});
	// A second chat instance: sends are balanced over both, and the message limit must hold across them.
	await system.start("chat#2");
	probe = new ServiceBroker(brokerOptions({ namespace: system.env.NAMESPACE, nodeID: `probe-${randomBytes(3).toString("hex")}`, logger: false }));
	await probe.start();
	await probe.waitForServices(["users", "notification"]);
});

after(async () => {
	for (const socket of sockets) socket.close();
	await notificationDb?.close();
	await probe?.stop();
	await system?.stopAll();
	await push?.stop();
	rmSync(webRoot, { recursive: true, force: true });
});

test("hole 1: a socket is disconnected when its token expires, and gets no location:update after it", async () => {
	const ada = await signUp("Ada", "ada's long password");
	// Alone in a group: her own sessions' updates reach her own sockets.
	const solo = await ada.createGroup("Solo");
	assert.equal((await ada.post(`/api/groups/${solo.id}/sharing`)).status, 200);
	const control = await connect(ada.token!);
	// A token of 3-4 s, signed as the users service signs them (expiry in whole seconds).
	const shortLived = issueToken(ada.user!.id, TEST_JWT_SECRET, 4_000);
	const expiring = await connect(shortLived.token);
	let disconnected: { at: number; reason: string } | undefined;
	expiring.socket.once("disconnect", reason => (disconnected = { at: Date.now(), reason }));

	const sample = async (latitude: number) => assert.equal((await ada.post("/api/location/samples", { latitude, longitude: 9.19 })).status, 202);
	const updateAt = (latitude: number) => (s: Session) => s.groupId === solo.id && s.position?.latitude === latitude;
	await sample(45.1);
	await expiring.waitFor("location:update", updateAt(45.1));

	await waitFor(() => disconnected, { timeoutMs: shortLived.expiresAt - Date.now() + 5_000, what: "the socket to be disconnected at its token's expiry" });
	assert.equal(disconnected!.reason, "io server disconnect");
	assert.ok(disconnected!.at >= shortLived.expiresAt, `not before the expiry (${disconnected!.at - shortLived.expiresAt} ms)`);
	assert.ok(disconnected!.at - shortLived.expiresAt < 3_000, `at the expiry, not ${disconnected!.at - shortLived.expiresAt} ms later`);
	const seen = expiring.of("location:update").length;

	await sample(45.2);
	await control.waitFor("location:update", updateAt(45.2));
	assert.equal(expiring.of("location:update").length, seen, "no update after the expiry");
	await assert.rejects(connectSocket(system.url, shortLived.token), { message: "UNAUTHORIZED" });
});

test("hole 2: currentPassword guesses are refused after LOGIN_LOCK_AFTER per user, from any address, the right one too until the window ends", async () => {
	const victim = await signUp("Victim", "the right password");
	const statuses: number[] = [];
	let last: ApiResponse | undefined;
	for (let i = 0; i < 20; i++) {
		// The thief holds the token; each guess comes from another address.
		last = await victim.patch("/api/users/me", { password: "taken over!", currentPassword: `guess ${i}` }, from(`203.0.113.${i}`));
		statuses.push(last.status);
	}
	assert.deepEqual(statuses, [...Array(LOCK_AFTER).fill(401), ...Array(20 - LOCK_AFTER).fill(429)]);
	assert.equal(last!.body.type, "RATE_LIMITED");
	assert.ok(retryAfterOf(last!) > WINDOW_S - 30 && retryAfterOf(last!) <= WINDOW_S, `Retry-After ${retryAfterOf(last!)}`);
	assert.equal(last!.headers.get("cache-control"), "no-store");

	const right = await victim.patch("/api/users/me", { password: "taken over!", currentPassword: "the right password" }, from("198.51.100.1"));
	assert.equal(right.status, 429, "the right password is refused too until the window ends");
	const remove = await victim.delete("/api/users/me", { currentPassword: "the right password" }, from("198.51.100.2"));
	assert.equal(remove.status, 429, "deleting the account is the same guess");
	// Nothing changed: the old password still logs in, the account is there.
	await new ApiClient(system.url).logIn(victim.user!.email, "the right password");
	assert.equal((await victim.get("/api/users/me")).status, 200);
});

test("hole 3: wrong logins from one address lock that address with the true Retry-After; the owner at another address logs in", async () => {
	const owner = await signUp("Owner", "the right password");
	const email = owner.user!.email;
	const firstGuessAt = Date.now();
	for (let i = 0; i < LOCK_AFTER; i++) assert.equal((await owner.post("/api/auth/login", { email, password: `guess ${i}` }, from("203.0.113.50"))).status, 401);

	const locked = await owner.post("/api/auth/login", { email, password: "the right password" }, from("203.0.113.50"));
	assert.equal(locked.status, 429);
	assert.equal(locked.body.type, "RATE_LIMITED");
	const expected = WINDOW_S - (Date.now() - firstGuessAt) / 1000;
	assert.ok(Math.abs(retryAfterOf(locked) - expected) <= 2, `Retry-After ${retryAfterOf(locked)} s, ${expected.toFixed(1)} s left in the window`);

	const elsewhere = await owner.post("/api/auth/login", { email, password: "the right password" }, from("198.51.100.50"));
	assert.equal(elsewhere.status, 200, JSON.stringify(elsewhere.body));
	assert.equal(
		(await owner.post("/api/auth/login", { email, password: "the right password" }, from("203.0.113.50"))).status,
		429,
		"the guessing address stays locked",
	);
	// The same address may still try other accounts (a shared NAT is not locked out of everything).
	const other = await signUp("Neighbour", "another password");
	assert.equal((await other.post("/api/auth/login", { email: other.user!.email, password: "another password" }, from("203.0.113.50"))).status, 200);
});

test("hole 3: 60 parallel wrong logins cost at most LOGIN_LOCK_AFTER password checks", async () => {
	const target = await signUp("Target", "the right password");
	const before = (await probe.call("users.authStats")) as { loginChecks: number };
	const answers = await Promise.all(
		Array.from({ length: 60 }, (_, i) => target.post("/api/auth/login", { email: target.user!.email, password: `parallel guess ${i}` }, from("203.0.113.60"))),
	);
	const after = (await probe.call("users.authStats")) as { loginChecks: number; loginsRefused: number };
	const checks = after.loginChecks - before.loginChecks;
	const statuses = answers.map(a => a.status);
	assert.ok(checks <= LOCK_AFTER, `${checks} password checks for 60 parallel guesses`);
	assert.ok(statuses.filter(s => s === 401).length <= LOCK_AFTER, `statuses: ${statuses.join(",")}`);
	assert.ok(
		statuses.every(s => s === 401 || s === 429),
		`statuses: ${statuses.join(",")}`,
	);
	assert.ok(after.loginsRefused >= 60 - LOCK_AFTER);
});

test("hole 5: one user opens at most MAX_SOCKETS_PER_USER sockets per gateway; one more fails with RATE_LIMITED, a closed one frees its place", async () => {
	const cap = await signUp("Cap", "cap's long password");
	// All at once: the handshakes are counted before they finish.
	const attempts = await Promise.allSettled(Array.from({ length: MAX_SOCKETS + 2 }, () => connect(cap.token!)));
	const opened = attempts.filter((a): a is PromiseFulfilledResult<LiveSocket> => a.status === "fulfilled").map(a => a.value);
	const refused = attempts.filter((a): a is PromiseRejectedResult => a.status === "rejected").map(a => (a.reason as Error).message);
	assert.equal(opened.length, MAX_SOCKETS);
	assert.deepEqual(refused, ["RATE_LIMITED", "RATE_LIMITED"]);
	assert.ok(
		opened.every(s => s.socket.connected),
		"the open sockets stay",
	);
	// Another user is not affected.
	const other = await signUp("Other", "other's long password");
	await connect(other.token!);
	// Closing one gives its place back.
	opened[0]!.close();
	await waitFor(() => connect(cap.token!), { what: "a socket in the freed place" });
	await assert.rejects(connect(cap.token!), { message: "RATE_LIMITED" });
});

// ---- Hole 4: push endpoints

interface PushStats {
	subscriptions: number;
	pendingPushes: number;
}
const pushStats = (userId: string) => probe.call("notification.stats", { userId }) as Promise<PushStats>;

test("hole 4: under the production policy, http, loopback, private and link-local push endpoints are refused (422); a public https one is taken", async () => {
	const ada = await signUp("Pusher", "pusher's long password");
	const { keys } = clientKeys();
	const refused = [
		push.subscribe().endpoint, // the local push service: http://127.0.0.1:<port>/push/…
		"http://142.250.74.78/push/plain-http",
		"https://127.0.0.1/push/a",
		"https://localhost/push/a",
		"https://[::1]/push/a",
		"https://[::ffff:127.0.0.1]/push/a",
		"https://10.0.0.8/push/a",
		"https://172.17.0.1/push/a",
		"https://192.168.1.20/push/a",
		"https://169.254.169.254/latest/meta-data",
		"https://[fe80::1]/push/a",
		"https://[fd12:3456::1]/push/a",
		"https://0.0.0.0/push/a",
	];
	for (const endpoint of refused) {
		const res = await ada.post("/api/notifications/subscriptions", { endpoint, keys });
		assert.equal(res.status, 422, `${endpoint}: ${JSON.stringify(res.body)}`);
		assert.equal(res.body.type, "VALIDATION_ERROR");
		assert.deepEqual(
			(res.body.data as { field: string }[]).map(f => f.field),
			["endpoint"],
		);
	}
	assert.equal((await pushStats(ada.user!.id)).subscriptions, 0, "nothing stored");
	const open = await ada.post("/api/notifications/subscriptions", { endpoint: "https://142.250.74.78/push/public", keys });
	assert.equal(open.status, 201, JSON.stringify(open.body));
	assert.equal((await pushStats(ada.user!.id)).subscriptions, 1);
});

test("hole 4: stored subscriptions the policy refuses at send time (a name now resolving to loopback, one from before the policy) are not pushed to: skipped and logged", async () => {
	const inviter = await signUp("Inviter", "inviter's long password");
	const target = await signUp("Target", "target's long password");
	// Registered before the policy, or when their names still resolved to public addresses: one
	// plain-http endpoint on the local push service, one https endpoint whose name (localhost) resolves to loopback.
	const subscription = push.subscribe();
	const port = new URL(push.url).port;
	const rebound = { endpoint: `https://localhost:${port}/push/${randomBytes(8).toString("hex")}`, keys: clientKeys().keys };
	notificationDb ??= await mongoose
		.createConnection(process.env.MONGO_URL ?? "mongodb://127.0.0.1:27017", { dbName: `${system.env.MONGO_DB_PREFIX}_notification` })
		.asPromise();
	const stored = notificationDb.collection<{ _id: string; userId: string; endpoint: string; keys: { p256dh: string; auth: string }; createdAt: Date }>(
		"pushsubscriptions",
	);
	for (const { endpoint, keys } of [subscription, rebound])
		await stored.insertOne({ _id: subscriptionId(endpoint), userId: target.user!.id, endpoint, keys, createdAt: new Date() });
	assert.equal((await pushStats(target.user!.id)).subscriptions, 2);
	// An invitation gives the target a notification, which would be pushed to every subscription.
	const group = await inviter.createGroup("Pushy");
	assert.equal((await inviter.post(`/api/groups/${group.id}/members`, { email: target.user!.email })).status, 202);
	await waitFor(async () => ((await target.get("/api/notifications")).body.notifications as { kind: string }[]).some(n => n.kind === "INVITED"), {
		what: "the INVITED notification",
	});
	const skipped = [
		new RegExp(`Push to ${target.user!.id} skipped: 127\\.0\\.0\\.1:${port} must be an https URL`),
		new RegExp(`Push to ${target.user!.id} skipped: localhost:${port} must be a public internet address`),
	];
	await waitFor(() => skipped.every(line => line.test(system.log("notification"))), { timeoutMs: 15_000, what: "both skipped pushes logged" });
	assert.equal((await pushStats(target.user!.id)).pendingPushes, 0, "the messages are dropped, not retried");
	assert.equal(push.messagesFor(subscription.endpoint).length, 0, "no request reached the loopback push service");
	for (const { endpoint } of [subscription, rebound])
		assert.ok(!system.log("notification").includes(new URL(endpoint).pathname), "an endpoint's secret path is not logged");
});

test("hole 4: an endpoint registered by another account is not moved (409, without saying whose); its owner keeps it", async () => {
	const owner = await signUp("Owner", "owner's long password");
	const taker = await signUp("Taker", "taker's long password");
	const endpoint = `https://142.250.74.78/push/${randomBytes(8).toString("hex")}`;
	assert.equal((await owner.post("/api/notifications/subscriptions", { endpoint, keys: clientKeys().keys })).status, 201);

	const taken = await taker.post("/api/notifications/subscriptions", { endpoint, keys: clientKeys().keys });
	assert.equal(taken.status, 409, JSON.stringify(taken.body));
	assert.equal(taken.body.type, "CONFLICT");
	const said = JSON.stringify(taken.body);
	for (const secret of [owner.user!.id, owner.user!.email, owner.user!.name]) assert.ok(!said.includes(secret), `the answer names the owner: ${said}`);
	assert.equal((await pushStats(owner.user!.id)).subscriptions, 1, "still the owner's");
	assert.equal((await pushStats(taker.user!.id)).subscriptions, 0);
	// The taker cannot remove it either; the owner refreshes its keys, and can give it up.
	assert.equal((await taker.delete("/api/notifications/subscriptions", { endpoint })).status, 204);
	assert.equal((await pushStats(owner.user!.id)).subscriptions, 1);
	assert.equal((await owner.post("/api/notifications/subscriptions", { endpoint, keys: clientKeys().keys })).status, 201);
	assert.equal((await owner.delete("/api/notifications/subscriptions", { endpoint })).status, 204);
	assert.equal((await taker.post("/api/notifications/subscriptions", { endpoint, keys: clientKeys().keys })).status, 201, "free once unsubscribed");
	assert.equal((await pushStats(taker.user!.id)).subscriptions, 1);
});

// ---- Hole 5: chat messages and position samples per user

test("hole 5: the 61st chat message in a minute is refused, over REST (429, Retry-After) and the socket (RATE_LIMITED), across two chat instances; others chat on", async () => {
	const eli = await signUp("Eli", "eli's long password");
	const fay = await signUp("Fay", "fay's long password");
	const group = await eli.createGroup("Chatty", [fay.user!.email]);
	const socket = await connect(eli.token!);
	const firstAt = Date.now();
	const sent: Message[] = [];
	for (let i = 0; i < CHAT_LIMIT; i++) {
		const body = { groupId: group.id, text: `message ${i + 1}`, clientMessageId: `m-${i + 1}` };
		if (i % 2 === 0) {
			const res = await eli.post(`/api/groups/${group.id}/messages`, { text: body.text, clientMessageId: body.clientMessageId });
			assert.equal(res.status, 201, `message ${i + 1}: ${JSON.stringify(res.body)}`);
			sent.push(res.body);
		} else {
			const ack: Ack = await socket.emit("chat:send", body);
			assert.equal(ack.ok, true, `message ${i + 1}: ${JSON.stringify(ack)}`);
			sent.push(ack.message!);
		}
	}
	const rest = await eli.post(`/api/groups/${group.id}/messages`, { text: "one too many", clientMessageId: "m-61" });
	const elapsedS = (Date.now() - firstAt) / 1000;
	assert.equal(rest.status, 429, JSON.stringify(rest.body));
	assert.equal(rest.body.type, "RATE_LIMITED");
	assert.ok(retryAfterOf(rest) >= 1 && retryAfterOf(rest) <= Math.ceil(60 - elapsedS) + 1, `Retry-After ${retryAfterOf(rest)} s, ${elapsedS.toFixed(1)} s in`);
	const ack: Ack = await socket.emit("chat:send", { groupId: group.id, text: "one too many", clientMessageId: "m-62" });
	assert.equal(ack.ok, false);
	assert.equal(ack.error?.type, "RATE_LIMITED");
	assert.equal(ack.error?.code, 429);
	// A resend of a message that was stored (its answer lost) is still answered with it.
	const resend = await eli.post(`/api/groups/${group.id}/messages`, { text: "message 1", clientMessageId: "m-1" });
	assert.equal(resend.status, 201);
	assert.equal(resend.body.id, sent[0]!.id);
	// Fay is not Eli.
	assert.equal((await fay.post(`/api/groups/${group.id}/messages`, { text: "calm down, Eli" })).status, 201);
	const history = (await fay.get(`/api/groups/${group.id}/messages?limit=200`)).body.messages as Message[];
	assert.equal(history.filter(m => m.userId === eli.user!.id && m.kind === "user").length, CHAT_LIMIT, "nothing refused was stored");
});

test("hole 5: position samples are limited per user across REST and the socket (429 with Retry-After, ack RATE_LIMITED); others go on; an SOS and its samples go through", async () => {
	const gus = await signUp("Gus", "gus's long password");
	const hal = await signUp("Hal", "hal's long password");
	const group = await gus.createGroup("Walkers", [hal.user!.email]);
	for (const member of [gus, hal]) assert.equal((await member.post(`/api/groups/${group.id}/sharing`)).status, 200);
	const socket = await connect(gus.token!);
	const sample = (i: number) => ({ latitude: 45 + i * 1e-4, longitude: 9.19 });

	// Alternating REST and socket, until the first refusal: the bucket holds SAMPLE_LIMIT, and gains one every 10 s.
	const firstAt = Date.now();
	let accepted = 0;
	let refusal: { via: "rest"; res: ApiResponse } | { via: "socket"; ack: Ack } | undefined;
	for (let i = 0; !refusal && i < 3 * SAMPLE_LIMIT; i++) {
		if (i % 2 === 0) {
			const res = await gus.post("/api/location/samples", sample(i));
			if (res.status === 202) accepted++;
			else refusal = { via: "rest", res };
		} else {
			const ack: Ack = await socket.emit("location:sample", sample(i));
			if (ack.ok) accepted++;
			else refusal = { via: "socket", ack };
		}
	}
	const refills = Math.floor((Date.now() - firstAt) / SAMPLE_REFILL_MS);
	assert.ok(refusal, `${accepted} samples in a row were taken`);
	assert.ok(accepted >= SAMPLE_LIMIT && accepted <= SAMPLE_LIMIT + refills, `${accepted} taken (limit ${SAMPLE_LIMIT}, ${refills} refilled)`);
	// Whichever way the refusal came, the other way is refused too: one count for both.
	const rest = refusal.via === "rest" ? refusal.res : await gus.post("/api/location/samples", sample(100));
	const ack: Ack = refusal.via === "socket" ? refusal.ack : await socket.emit("location:sample", sample(101));
	assert.equal(rest.status, 429, JSON.stringify(rest.body));
	assert.equal(rest.body.type, "RATE_LIMITED");
	assert.ok(retryAfterOf(rest) >= 1 && retryAfterOf(rest) <= SAMPLE_REFILL_MS / 1000, `Retry-After ${retryAfterOf(rest)}`);
	assert.equal(ack.ok, false);
	assert.equal(ack.error?.type, "RATE_LIMITED");
	assert.ok((ack.error?.data?.retryAfter ?? 0) >= 1);

	// Hal is not Gus.
	assert.equal((await hal.post("/api/location/samples", sample(200))).status, 202);

	// An SOS is never limited, nor the samples while it is on.
	const sos = await gus.post("/api/sos", sample(300));
	assert.equal(sos.status, 201, JSON.stringify(sos.body));
	assert.equal((await gus.post("/api/location/samples", sample(301))).status, 202, "a sample during the SOS");
	assert.equal((await socket.emit("location:sample", sample(302))).ok, true, "a socket sample during the SOS");
	const seen = (await hal.get(`/api/groups/${group.id}/sessions/${gus.user!.id}`)).body as Session;
	assert.equal(seen.state, "SOS");
	assert.equal(seen.position?.latitude, sample(302).latitude);
	assert.equal((await gus.delete("/api/sos")).status, 200);
	// Over again once it ends (the SOS samples were not counted, the bucket gains one every 10 s).
	await waitFor(async () => (await gus.post("/api/location/samples", sample(400))).status === 429, { what: "samples limited again after the SOS" });
});

test("hole 5: a phone over the limit is told to come back: OwnTracks 503 with Retry-After (its report is then stored), OsmAnd 429 with Retry-After", async () => {
	const ivy = await signUp("Ivy", "ivy's long password");
	const group = await ivy.createGroup("Phones");
	assert.equal((await ivy.post(`/api/groups/${group.id}/sharing`)).status, 200);
	const iphone = await registerDevice(ivy, "owntracks");
	const android = await registerDevice(ivy, "osmand");
	const start = nowSeconds() - 100;
	const report = (i: number) => atTime(ownTracks.IOS_LOCATION, start + i, { lat: 52 + i * 1e-4 });
	let refused: { i: number; status: number; type?: string; retryAfter: number } | undefined;
	for (let i = 0; !refused && i < 3 * SAMPLE_LIMIT; i++) {
		const res = await postOwnTracks(system.url, iphone.credentials, report(i));
		if (res.status !== 200) refused = { i, status: res.status, type: res.json?.type, retryAfter: Number(res.headers.get("retry-after")) };
	}
	assert.ok(refused, "every report was taken");
	assert.equal(refused.status, 503, "not a 4xx: the iOS app would delete the report");
	assert.equal(refused.type, "RATE_LIMITED");
	assert.ok(refused.retryAfter >= 1 && refused.retryAfter <= SAMPLE_REFILL_MS / 1000, `Retry-After ${refused.retryAfter}`);

	const osmand = await sendOsmAnd(system.url, { query: `id=${android.credentials.id}&lat=52.5&lon=4.9&timestamp=${nowSeconds() - 1}` });
	assert.equal(osmand.status, 429);
	assert.ok(Number(osmand.headers.get("retry-after")) >= 1);

	// The app sends the same report again later, as it keeps it after a 5xx: then it is stored.
	const again = report(refused.i);
	await waitFor(async () => (await postOwnTracks(system.url, iphone.credentials, again)).status === 200, {
		timeoutMs: SAMPLE_REFILL_MS + 10_000,
		intervalMs: 1_000,
		what: "the report taken once the limit allows",
	});
	const session = (await ivy.get(`/api/groups/${group.id}/sessions/${ivy.user!.id}`)).body as Session;
	assert.equal(session.position?.latitude, JSON.parse(again).lat);
});

test("hole 8: every API answer, errors included, carries Cache-Control: no-store; the web client's files keep their caching", async () => {
	const api = await signUp("Cache", "cache's long password");
	const noStore = async (what: string, res: Promise<ApiResponse> | ApiResponse, status: number) => {
		const answer = await res;
		assert.equal(answer.status, status, `${what}: ${JSON.stringify(answer.body)}`);
		assert.equal(answer.headers.get("cache-control"), "no-store", what);
	};
	await noStore("GET /api/users/me", api.get("/api/users/me"), 200);
	await noStore("POST /api/auth/login", api.post("/api/auth/login", { email: api.user!.email, password: "cache's long password" }), 200);
	await noStore("POST /api/groups", api.post("/api/groups", { name: "Cached" }), 201);
	await noStore("no token", api.get("/api/users/me", { token: null }), 401);
	await noStore("wrong password", api.post("/api/auth/login", { email: api.user!.email, password: "wrong one" }), 401);
	await noStore("malformed JSON", api.request("POST", "/api/groups", undefined, { raw: "{", headers: { "content-type": "application/json" } }), 400);
	await noStore("unknown route", api.get("/api/nowhere"), 404);
	await noStore("invalid body", api.patch("/api/users/me", { name: "" }), 422);
	await noStore("OpenAPI", api.get("/api/docs/openapi.json"), 200);
	await noStore("AsyncAPI", api.get("/api/docs/asyncapi.json"), 200);
	await noStore("API docs page", api.get("/api/docs"), 200);
	await noStore("health", api.get("/health"), 200);

	const page = await fetch(`${system.url}/`);
	assert.equal(page.status, 200);
	assert.equal(page.headers.get("cache-control"), "no-cache");
	const asset = await fetch(`${system.url}/assets/app-3f2a9c.js`);
	assert.equal(asset.status, 200);
	assert.equal(asset.headers.get("cache-control"), "public, max-age=31536000, immutable");
	// Source maps are not built any more, and one left in the folder is not served.
	assert.equal((await fetch(`${system.url}/sw.js.map`)).status, 404);
	assert.equal((await fetch(`${system.url}/sw.js`)).headers.get("cache-control"), "no-cache");
});
