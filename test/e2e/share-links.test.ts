import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import type { Group, Session } from "../../events/types.js";
import { authenticatedAliases } from "../../services/gateway/routes.js";
import { SocketCommands } from "../../services/gateway/socket-events.js";
import { startSystem, type System } from "../support/system.js";
import { ApiClient, connectSocket, LiveSocket } from "../support/client.js";
import { waitFor } from "../support/wait.js";

// Share links (API.md §6.5) end to end: REST and Socket.IO through the real gateway. A link shows its
// creator's session in one group, read-only, to anyone holding the token, and nothing else; it ends
// on deletion, arrival (untilArrival), stopped sharing and leaving the group.

let system: System;
let ada: ApiClient;
let bob: ApiClient;
let eve: ApiClient;
/** Ada and Bob. */
let family: Group;
/** Ada alone. */
let solo: Group;
let eveGroup: Group;

const HOME = { name: "Home", latitude: 45.4642, longitude: 9.19 };
const away = (i: number) => ({ latitude: 45.4742 - i * 0.001, longitude: 9.19 });
const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();

/** A socket opened with a share token (resolves on connect, rejects with the connect_error). */
function connectShared(shareToken: unknown): Promise<LiveSocket> {
	return new Promise((resolve, reject) => {
		const socket = io(system.url, { auth: { shareToken } as Record<string, unknown>, transports: ["websocket"], reconnection: false, forceNew: true });
		const live = new LiveSocket(socket);
		socket.once("connect", () => resolve(live));
		socket.once("connect_error", err => {
			socket.disconnect();
			reject(err);
		});
	});
}

const publicGet = (token: string) => new ApiClient(system.url).get(`/api/shared/${token}`, { token: null });

async function createLink(body: Record<string, unknown>, by = ada) {
	const res = await by.post("/api/share-links", body);
	assert.equal(res.status, 201, JSON.stringify(res.body));
	return res.body as { id: string; token: string; url: string; expiresAt: string };
}

before(async () => {
	system = await startSystem({
		services: ["users", "location", "chat", "notification", "devices", "gateway"],
		env: { OFFLINE_AFTER: "3600", STUCK_AFTER: "3600" },
	});
	[ada, bob, eve] = [new ApiClient(system.url), new ApiClient(system.url), new ApiClient(system.url)];
	await ada.signUp("Ada", "Lovelace");
	await bob.signUp("Bob", "Noyce");
	await eve.signUp("Eve", "Outsider");
	family = await ada.createGroup("family", [bob.user!.email]);
	solo = await ada.createGroup("solo");
	eveGroup = await eve.createGroup("eve's");
});

after(async () => {
	await system?.stopAll();
});

test("only a member sharing in the group creates a link; bad input is 422, without a journey untilArrival is 409", async () => {
	assert.equal((await eve.post("/api/share-links", { groupId: family.id })).status, 403, "not a member");
	const notSharing = await ada.post("/api/share-links", { groupId: family.id });
	assert.equal(notSharing.status, 403, "a member who does not share there");
	assert.equal(notSharing.body.type, "FORBIDDEN");
	assert.equal((await ada.post(`/api/groups/${family.id}/sharing`)).status, 200);
	assert.equal((await ada.post(`/api/groups/${solo.id}/sharing`)).status, 200);
	for (const body of [
		{},
		{ groupId: family.id, duration: 299 },
		{ groupId: family.id, duration: 86_401 },
		{ groupId: family.id, duration: "long" },
		{ groupId: family.id, untilArrival: "yes" },
	]) {
		const res = await ada.post("/api/share-links", body);
		assert.equal(res.status, 422, JSON.stringify(body));
		assert.equal(res.body.type, "VALIDATION_ERROR");
	}
	const noJourney = await ada.post("/api/share-links", { groupId: family.id, untilArrival: true });
	assert.equal(noJourney.status, 409);
	assert.equal(noJourney.body.type, "INVALID_STATE");
	assert.deepEqual((await ada.get("/api/share-links")).body, [], "nothing half-made");
});

test("a link shows the creator's session to anyone holding the token: name, state, position, journey, route, expiresAt", async () => {
	assert.equal((await ada.post("/api/location/samples", away(0))).status, 202);
	const before = Date.now();
	const link = await createLink({ groupId: family.id, duration: 600 });
	assert.match(link.token, /^[A-Za-z0-9_-]{43}$/, "256 random bits, base64url");
	assert.equal(link.url, `${system.url}/s/${link.token}`);
	const expires = Date.parse(link.expiresAt);
	assert.ok(expires >= before + 600_000 && expires <= Date.now() + 600_000, link.expiresAt);

	const shared = await publicGet(link.token);
	assert.equal(shared.status, 200, JSON.stringify(shared.body));
	assert.deepEqual(Object.keys(shared.body).sort(), ["expiresAt", "journey", "name", "position", "route", "state", "untilArrival"]);
	assert.equal(shared.body.name, "Ada L.", "first name and surname initial: never the email or the id");
	assert.equal(shared.body.state, "ACTIVE");
	assert.equal(shared.body.position.latitude, away(0).latitude);
	assert.equal(shared.body.journey, null);
	assert.deepEqual(shared.body.route, []);
	assert.equal(shared.body.expiresAt, link.expiresAt);

	// The list: mine only, without tokens.
	const mine = (await ada.get("/api/share-links")).body;
	assert.equal(mine.length, 1);
	assert.deepEqual(Object.keys(mine[0]).sort(), ["createdAt", "expiresAt", "groupId", "id", "untilArrival"]);
	assert.equal(mine[0].id, link.id);
	assert.deepEqual((await bob.get("/api/share-links")).body, []);
	// Someone else cannot end it: 404, as for an unknown id.
	assert.equal((await bob.delete(`/api/share-links/${link.id}`)).status, 404);
	assert.equal((await ada.delete("/api/share-links/no-such-link")).status, 404);
	assert.equal((await publicGet(link.token)).status, 200, "still there");
});

test("unknown, malformed and ended tokens are all the same 404", async () => {
	const link = await createLink({ groupId: family.id });
	assert.equal((await ada.delete(`/api/share-links/${link.id}`)).status, 204);
	const answers = await Promise.all([link.token, "A".repeat(43), "short", "x".repeat(150)].map(publicGet));
	for (const res of answers) {
		assert.equal(res.status, 404);
		assert.equal(res.body.type, "NOT_FOUND");
	}
	assert.deepEqual(answers[0]!.body, answers[1]!.body, "an ended link answers exactly as an unknown one");
	assert.equal(
		(await ada.get("/api/share-links")).body.some((l: { id: string }) => l.id === link.id),
		false,
	);
});

test("a share socket gets only its session's updates, every command is refused, and deleting the link disconnects it", async () => {
	const link = await createLink({ groupId: family.id });
	const watcher = await connectShared(link.token);
	const disconnected = new Promise(resolve => watcher.socket.once("disconnect", resolve));
	assert.equal((await bob.post(`/api/groups/${family.id}/sharing`)).status, 200);
	// Bob's samples in the family, and Ada's in solo, are not the link's session.
	assert.equal((await bob.post("/api/location/samples", away(5))).status, 202);
	assert.equal((await ada.post("/api/location/samples", away(1))).status, 202);
	const update = await watcher.waitFor("location:update", s => s.position?.latitude === away(1).latitude);
	assert.equal(update.groupId, family.id);
	assert.equal(update.userId, ada.user!.id);
	const others = watcher.received.filter(r => r.event !== "location:update" || r.payload.groupId !== family.id || r.payload.userId !== ada.user!.id);
	assert.deepEqual(others, [], "nothing but the link's session");

	for (const event of [...Object.keys(SocketCommands), "anything:else"]) {
		const ack = await watcher.emit(event, { groupId: family.id, latitude: 45, longitude: 9, text: "hi", destination: HOME, eta: inAnHour(), mode: "walking" });
		assert.deepEqual(ack, { ok: false, error: { type: "FORBIDDEN", message: "A share link is read-only", code: 403 } }, event);
	}
	assert.equal((await ada.get(`/api/groups/${family.id}/messages`)).body.messages.length > 0, true);
	assert.equal(
		(await ada.get(`/api/groups/${family.id}/messages`)).body.messages.some((m: { text: string }) => m.text === "hi"),
		false,
		"no command went through",
	);

	assert.equal((await ada.delete(`/api/share-links/${link.id}`)).status, 204);
	await disconnected;
	await assert.rejects(connectShared(link.token), { message: "NOT_FOUND" });
	for (const bad of ["", "nope", 42, { $gt: "" }, "A".repeat(43), "x".repeat(500)])
		await assert.rejects(connectShared(bad), { message: "NOT_FOUND" }, JSON.stringify(bad));
});

test("a share token is never a bearer token: every REST route and a user socket refuse it", async () => {
	const link = await createLink({ groupId: family.id });
	const ids: Record<string, string> = { groupId: family.id, userId: ada.user!.id, id: link.id, invitationId: "x", linkId: "x", code: "x" };
	const problems: string[] = [];
	for (const route of Object.keys(authenticatedAliases)) {
		const [method, path] = route.split(" ") as [string, string];
		const url = `/api${path.replace(/:(\w+)/g, (_, name: string) => ids[name] ?? "x")}`;
		const res = await new ApiClient(system.url).request(method, url, method === "GET" ? undefined : {}, {
			token: null,
			headers: { authorization: `Bearer ${link.token}` },
		});
		if (res.status !== 401 || res.body?.type !== "UNAUTHORIZED") problems.push(`${route}: ${res.status} ${JSON.stringify(res.body).slice(0, 100)}`);
	}
	assert.deepEqual(problems, [], "every authenticated route answers 401 to a share token");
	await assert.rejects(connectSocket(system.url, link.token), { message: "UNAUTHORIZED" });
	assert.equal((await publicGet(link.token)).status, 200, "the link itself still works");
	assert.equal((await ada.delete(`/api/share-links/${link.id}`)).status, 204);
});

test("untilArrival: the link follows the journey and ends with it (socket disconnected, 404)", async () => {
	const started = await ada.post(`/api/groups/${family.id}/journey`, { destination: HOME, eta: inAnHour(), mode: "walking" });
	assert.equal(started.status, 201);
	const link = await createLink({ groupId: family.id, untilArrival: true, duration: 3600 });
	assert.equal((await ada.post("/api/location/samples", away(2))).status, 202);
	const during = await waitFor(async () => {
		const res = await publicGet(link.token);
		return res.body.route?.length ? res : undefined;
	});
	assert.equal(during.body.state, "ROUTING");
	assert.equal(during.body.journey.destination.name, "Home");
	assert.ok(
		during.body.route.some((p: { latitude: number }) => p.latitude === away(2).latitude),
		"the route so far",
	);

	const watcher = await connectShared(link.token);
	const seen: string[] = [];
	watcher.socket.on("location:update", (s: Session) => seen.push(`update ${s.state} journey=${s.journey ? "on" : "over"}`));
	const disconnected = new Promise(resolve => watcher.socket.once("disconnect", reason => resolve(seen.push(`disconnect ${reason}`))));
	// Arrives home: the journey ends, and the link with it; the page gets the arrival first.
	assert.equal((await ada.post("/api/location/samples", { latitude: HOME.latitude, longitude: HOME.longitude })).status, 202);
	await disconnected;
	assert.deepEqual(seen, ["update ACTIVE journey=over", "disconnect io server disconnect"]);
	assert.equal((await publicGet(link.token)).status, 404);
	assert.equal(
		(await ada.get("/api/share-links")).body.some((l: { id: string }) => l.id === link.id),
		false,
	);
});

test("stopping sharing in the group and leaving it end the link", async () => {
	const link = await createLink({ groupId: family.id });
	const watcher = await connectShared(link.token);
	const disconnected = new Promise(resolve => watcher.socket.once("disconnect", resolve));
	assert.equal((await ada.delete(`/api/groups/${family.id}/sharing`)).status, 200);
	await disconnected;
	assert.equal((await publicGet(link.token)).status, 404);

	// Bob's link in the family (he shares there since the socket test) ends when he leaves it.
	const bobs = await createLink({ groupId: family.id }, bob);
	const bobWatcher = await connectShared(bobs.token);
	const bobGone = new Promise(resolve => bobWatcher.socket.once("disconnect", resolve));
	assert.equal((await bob.post(`/api/groups/${family.id}/leave`)).status, 204);
	await bobGone;
	assert.equal((await publicGet(bobs.token)).status, 404);
	await waitFor(async () => (await bob.get("/api/share-links")).body.length === 0, { what: "Bob's link to be gone" });
	assert.equal((await eve.post("/api/share-links", { groupId: eveGroup.id })).status, 403, "Eve does not share in her group");
});
