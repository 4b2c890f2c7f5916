import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { ServiceBroker, type Context, type ServiceSchema } from "moleculer";
import { brokerOptions } from "../../moleculer.config.js";
import type { Envelope, NotificationSend } from "../../events/domain.js";
import type { Group, Point, Session } from "../../events/types.js";
import { startSystem, type System } from "../support/system.js";
import { ApiClient, connectSocket, type LiveSocket } from "../support/client.js";
import { waitFor } from "../support/wait.js";

// Location tracking as members see it: REST and Socket.IO through the real gateway, live updates
// on other members' sockets. One system for the whole file; the steps build on each other.

let system: System;
let probe: ServiceBroker;
const commands: Envelope<NotificationSend>[] = [];

const ada = { client: undefined as unknown as ApiClient, socket: undefined as unknown as LiveSocket };
const bob = { client: undefined as unknown as ApiClient, socket: undefined as unknown as LiveSocket };
const carl = { client: undefined as unknown as ApiClient, socket: undefined as unknown as LiveSocket };
const eve = { client: undefined as unknown as ApiClient, socket: undefined as unknown as LiveSocket };
/** Ada and Bob. */
let family: Group;
/** Ada and Carl. */
let work: Group;

const HOME = { name: "Home", latitude: 45.4642, longitude: 9.19 };
/** ~1.1 km north of home, then walking south. */
const away = (i: number) => ({ latitude: 45.4742 - i * 0.001, longitude: 9.19 });

before(async () => {
	system = await startSystem({ services: ["users", "location", "gateway"] });
	probe = new ServiceBroker(brokerOptions({ namespace: system.env.NAMESPACE, nodeID: `probe-${randomBytes(3).toString("hex")}`, logger: false }));
	probe.createService({
		name: "probe",
		channels: {
			"notifications.send": { group: "probe", context: true, handler: (ctx: Context<Envelope<NotificationSend>>) => void commands.push(ctx.params) },
		},
	} as ServiceSchema);
	await probe.start();

	for (const [who, name, surname] of [
		[ada, "Ada", "Lovelace"],
		[bob, "Bob", "Noyce"],
		[carl, "Carl", "Gauss"],
		[eve, "Eve", "Outsider"],
	] as const) {
		who.client = new ApiClient(system.url);
		await who.client.signUp(name, surname);
	}
	family = await ada.client.createGroup("family", [bob.client.user!.email]);
	work = await ada.client.createGroup("work", [carl.client.user!.email]);
	for (const who of [ada, bob, carl, eve]) who.socket = await connectSocket(system.url, who.client.token!);
});

after(async () => {
	for (const who of [ada, bob, carl, eve]) who.socket?.close();
	await probe?.stop();
	await system?.stopAll();
});

const adaId = () => ada.client.user!.id;
/** Updates about Ada in one group that a socket received, in arrival order. */
const adaUpdates = (socket: LiveSocket, group: Group): Session[] =>
	socket.of("location:update").filter((s: Session) => s.userId === adaId() && s.groupId === group.id);
const waitForUpdate = (socket: LiveSocket, group: Group, match: (s: Session) => boolean) =>
	socket.waitFor("location:update", (s: Session) => s.userId === adaId() && s.groupId === group.id && match(s));
const route = async (viewer: ApiClient, group: Group): Promise<Point[]> => {
	const res = await viewer.get(`/api/groups/${group.id}/sessions/${adaId()}/route`);
	assert.equal(res.status, 200, JSON.stringify(res.body));
	return res.body.points;
};

describe("location tracking end to end", () => {
	test("a member sees another member's samples live and in order, ACTIVE", async () => {
		const started = await ada.socket.emit("sharing:start", { groupId: family.id });
		assert.equal(started.ok, true, JSON.stringify(started));
		assert.equal(started.session.state, "ACTIVE");

		const t0 = Date.now() - 60_000;
		const sent: Point[] = [];
		for (let i = 0; i < 10; i++) {
			const sample = { ...away(i * 0.1), timestamp: new Date(t0 + i * 1000).toISOString() };
			const ack = await ada.socket.emit("location:sample", sample);
			assert.equal(ack.ok, true, JSON.stringify(ack));
			assert.deepEqual(
				ack.sessions.map((s: Session) => s.groupId),
				[family.id],
				"only where Ada shares",
			);
			sent.push(sample);
		}
		await waitFor(() => adaUpdates(bob.socket, family).filter(s => s.position).length >= 10, { what: "Bob to see 10 samples" });
		const seen = adaUpdates(bob.socket, family).filter(s => s.position);
		assert.deepEqual(
			seen.map(s => s.position),
			// API.md §6.3: a browser's sample is marked as coming from the web.
			sent.map(p => ({ latitude: p.latitude, longitude: p.longitude, timestamp: p.timestamp, source: "web" })),
		);
		assert.ok(seen.every(s => s.state === "ACTIVE"));
		// Ada's own devices hear it too; Carl, not in that group, does not.
		await waitFor(() => adaUpdates(ada.socket, family).filter(s => s.position).length >= 10);
		assert.equal(carl.socket.of("location:update").length, 0);

		const sessions = await bob.client.get(`/api/groups/${family.id}/sessions`);
		assert.equal(sessions.status, 200);
		const [adaSession, bobSession] = sessions.body as Session[];
		assert.equal(adaSession.userId, adaId());
		assert.equal(adaSession.state, "ACTIVE");
		assert.deepEqual(adaSession.position, seen.at(-1)!.position);
		assert.deepEqual(
			{ ...bobSession, updatedAt: undefined },
			{
				groupId: family.id,
				userId: bob.client.user!.id,
				state: "INACTIVE",
				sharing: false,
				position: null,
				journey: null,
				// API.md §6.4: in no place of the group.
				place: null,
				updatedAt: undefined,
			},
		);
	});

	test("stopping sharing makes the member INACTIVE with the last position kept", async () => {
		const last = adaUpdates(bob.socket, family).at(-1)!.position;
		const stopped = await ada.socket.emit("sharing:stop", { groupId: family.id });
		assert.equal(stopped.ok, true, JSON.stringify(stopped));
		assert.equal(stopped.session.state, "INACTIVE");
		const update = await waitForUpdate(bob.socket, family, s => s.state === "INACTIVE");
		assert.deepEqual(update.position, last);
		const read = await bob.client.get(`/api/groups/${family.id}/sessions/${adaId()}`);
		assert.equal(read.body.state, "INACTIVE");
		assert.deepEqual(read.body.position, last);
		// Not sharing anywhere: a sample has nowhere to go.
		const refused = await ada.socket.emit("location:sample", away(2));
		assert.equal(refused.ok, false);
		assert.equal(refused.error.type, "INVALID_STATE");
	});

	test("a journey is visible to the group as ROUTING, with its route", async () => {
		const eta = new Date(Date.now() + 3600_000).toISOString();
		const started = await ada.socket.emit("journey:start", { groupId: family.id, destination: HOME, eta, mode: "walking" });
		assert.equal(started.ok, true, JSON.stringify(started));
		assert.equal(started.session.state, "ROUTING");
		const update = await waitForUpdate(bob.socket, family, s => s.state === "ROUTING");
		assert.deepEqual(update.journey!.destination, HOME);
		assert.equal(update.journey!.eta, eta);
		assert.equal(update.journey!.mode, "walking");
		assert.deepEqual(update.journey!.alerts, []);
		assert.deepEqual(await route(bob.client, family), []);

		const points: Point[] = [];
		for (let i = 1; i <= 3; i++) {
			const res = await ada.client.post("/api/location/samples", away(i));
			assert.equal(res.status, 202, JSON.stringify(res.body));
			assert.equal(res.body.sessions[0].state, "ROUTING");
			points.push(res.body.sessions[0].position);
		}
		assert.deepEqual(await route(bob.client, family), points);
		await waitFor(() => adaUpdates(bob.socket, family).filter(s => s.state === "ROUTING" && s.position?.timestamp === points[2].timestamp).length === 1);
	});

	test("arriving makes the member ACTIVE again and discards the route", async () => {
		const arrived = await ada.socket.emit("location:sample", { latitude: HOME.latitude + 0.0002, longitude: HOME.longitude });
		assert.equal(arrived.ok, true, JSON.stringify(arrived));
		assert.equal(arrived.sessions[0].state, "ACTIVE");
		assert.equal(arrived.sessions[0].journey, null);
		// This very sample's update (the first test's ACTIVE updates would match the state alone).
		await waitForUpdate(
			bob.socket,
			family,
			s => s.state === "ACTIVE" && s.journey === null && s.position?.timestamp === arrived.sessions[0].position.timestamp,
		);
		assert.deepEqual(await route(bob.client, family), []);
		await waitFor(() => commands.some(c => c.payload.kind === "ARRIVED" && c.payload.subjectUserId === adaId()), { what: "the ARRIVED command" });
		const command = commands.find(c => c.payload.kind === "ARRIVED")!.payload;
		assert.equal(command.title, "Ada Lovelace arrived at Home");
		assert.deepEqual(command.target, { groupId: family.id });
	});

	test("stopping a journey makes the member ACTIVE; stopping it twice is refused", async () => {
		const started = await ada.client.post(`/api/groups/${family.id}/journey`, {
			destination: HOME,
			eta: new Date(Date.now() + 3600_000).toISOString(),
			mode: "cycling",
		});
		assert.equal(started.status, 201, JSON.stringify(started.body));
		assert.equal((await ada.client.post("/api/location/samples", away(5))).status, 202);
		assert.equal((await route(bob.client, family)).length, 1);

		const stopped = await ada.client.delete(`/api/groups/${family.id}/journey`);
		assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
		assert.equal(stopped.body.state, "ACTIVE");
		await waitForUpdate(bob.socket, family, s => s.state === "ACTIVE" && s.updatedAt === stopped.body.updatedAt);
		assert.deepEqual(await route(bob.client, family), []);

		const again = await ada.client.delete(`/api/groups/${family.id}/journey`);
		assert.equal(again.status, 409);
		assert.equal(again.body.type, "INVALID_STATE");
		const viaSocket = await ada.socket.emit("journey:stop", { groupId: family.id });
		assert.deepEqual({ ok: viaSocket.ok, type: viaSocket.error.type, code: viaSocket.error.code }, { ok: false, type: "INVALID_STATE", code: 409 });
	});

	test("an SOS reaches both of the user's groups at once, and so does its end", async () => {
		const raised = await ada.client.post("/api/sos", { latitude: 45.47, longitude: 9.18 });
		assert.equal(raised.status, 201, JSON.stringify(raised.body));
		const sessions = raised.body.sessions as Session[];
		assert.deepEqual(sessions.map(s => s.groupId).sort(), [family.id, work.id].sort());
		assert.ok(sessions.every(s => s.state === "SOS" && s.position?.latitude === 45.47));
		await waitForUpdate(bob.socket, family, s => s.state === "SOS");
		await waitForUpdate(carl.socket, work, s => s.state === "SOS");

		// Every group during the SOS, also where Ada never shared; sharing cannot be stopped meanwhile.
		const moved = await ada.socket.emit("location:sample", { latitude: 45.471, longitude: 9.18 });
		assert.equal(moved.ok, true);
		assert.equal(moved.sessions.length, 2);
		assert.equal((await route(bob.client, family)).length, 2);
		assert.equal((await route(carl.client, work)).length, 2);
		const keep = await ada.client.delete(`/api/groups/${work.id}/sharing`);
		assert.equal(keep.status, 409);
		assert.equal((await ada.client.post("/api/sos", { latitude: 45.47, longitude: 9.18 })).status, 409);

		const ended = await ada.socket.emit("sos:stop", {});
		assert.equal(ended.ok, true, JSON.stringify(ended));
		assert.deepEqual(
			ended.sessions.map((s: Session) => s.state),
			["ACTIVE", "ACTIVE"],
		);
		const familyEnded = (ended.sessions as Session[]).find(s => s.groupId === family.id)!;
		await waitForUpdate(bob.socket, family, s => s.state === "ACTIVE" && s.updatedAt === familyEnded.updatedAt);
		await waitForUpdate(carl.socket, work, s => s.state === "ACTIVE");
		assert.deepEqual(await route(carl.client, work), []);
		assert.equal((await ada.client.delete("/api/sos")).status, 409);

		// One command each, to everyone sharing a group with Ada (Bob and Carl are told once, not per group).
		await waitFor(() => commands.some(c => c.payload.kind === "SOS_ENDED"), { what: "the SOS_ENDED command" });
		const sos = commands.filter(c => c.payload.kind === "SOS");
		assert.equal(new Set(sos.map(c => c.id)).size, 1);
		assert.deepEqual(sos[0].payload.target, { coMembersOf: adaId() });
		assert.equal(sos[0].payload.title, "Ada Lovelace raised an SOS");
		assert.equal(new Set(commands.filter(c => c.payload.kind === "SOS_ENDED").map(c => c.id)).size, 1);
	});

	test("a non-member can neither read sessions and routes nor share; unknown groups are 404", async () => {
		for (const path of [
			`/api/groups/${family.id}/sessions`,
			`/api/groups/${family.id}/sessions/${adaId()}`,
			`/api/groups/${family.id}/sessions/${adaId()}/route`,
		]) {
			const res = await eve.client.get(path);
			assert.equal(res.status, 403, path);
			assert.equal(res.body.type, "FORBIDDEN");
		}
		const share = await eve.socket.emit("sharing:start", { groupId: family.id });
		assert.equal(share.ok, false);
		assert.equal(share.error.code, 403);
		assert.equal(eve.socket.of("location:update").length, 0, "Eve never saw an update");

		assert.equal((await bob.client.get(`/api/groups/no-such-group/sessions`)).status, 404);
		const notMember = await bob.client.get(`/api/groups/${family.id}/sessions/${eve.client.user!.id}`);
		assert.equal(notMember.status, 404);
		assert.equal(notMember.body.type, "NOT_FOUND");
	});
});
