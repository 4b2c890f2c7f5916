import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { ServiceBroker } from "moleculer";
import { brokerOptions } from "../../moleculer.config.js";
import type { Session } from "../../events/types.js";
import { startSystem, type System } from "../support/system.js";
import { ApiClient, connectSocket, type LiveSocket } from "../support/client.js";
import { waitFor } from "../support/wait.js";

// The location service keeps the sessions of the users it owns in memory and writes position-only
// samples behind (services/location/owned-sessions.ts). With the default thresholds (offline after
// 60 s) samples take that path: they must still be read back at once, survive a graceful restart,
// and stop reaching the group the moment the member leaves.

let system: System;
let probe: ServiceBroker;

before(async () => {
	system = await startSystem({ services: ["users", "location", "gateway"] });
	probe = new ServiceBroker(brokerOptions({ namespace: system.env.NAMESPACE, nodeID: `probe-${randomBytes(3).toString("hex")}`, logger: false }));
	await probe.start();
});

after(async () => {
	await probe?.stop();
	await system?.stopAll();
});

const stats = () =>
	probe.call("location.trackingStats", {}) as Promise<{ deferred: number; flushed: number; unwritten: number; sessionReads: number; groupReads: number }>;
const sessionOf = async (reader: ApiClient, groupId: string, userId: string) => (await reader.get<Session>(`/api/groups/${groupId}/sessions/${userId}`)).body;

test("samples written behind are read back at once, survive a graceful restart, and stop at a departure", async () => {
	const ada = new ApiClient(system.url);
	const bob = new ApiClient(system.url);
	await ada.signUp("Ada", "Lovelace");
	await bob.signUp("Bob", "Noyce");
	const group = await ada.createGroup(`wb-${randomBytes(2).toString("hex")}`, [bob.user!.email]);
	assert.equal((await ada.post(`/api/groups/${group.id}/sharing`)).status, 200);
	const bobSocket: LiveSocket = await connectSocket(system.url, bob.token);
	try {
		// The first sample is written through (it refreshes the stored timers); the next ones are not.
		const deferredBefore = (await stats()).deferred;
		let last = { latitude: 45, longitude: 9 };
		for (let i = 1; i <= 5; i++) {
			last = { latitude: 45 + i * 1e-4, longitude: 9 };
			assert.equal((await ada.post("/api/location/samples", last)).status, 202);
		}
		assert.ok((await stats()).deferred > deferredBefore, "position-only samples took the write-behind path");
		await bobSocket.waitFor("location:update", (s: Session) => s.userId === ada.user!.id && s.position?.latitude === last.latitude);
		assert.equal((await sessionOf(bob, group.id, ada.user!.id)).position?.latitude, last.latitude, "read back before it is written");

		// A graceful stop writes everything first; the restarted instance reads it from the database.
		await system.restart("location");
		await waitFor(async () => (await sessionOf(bob, group.id, ada.user!.id))?.position?.latitude === last.latitude, {
			timeoutMs: 20_000,
			what: "the last position after a restart",
		});

		// Ada leaves: her next sample reaches nobody, and her position stops being shown.
		for (let i = 6; i <= 7; i++) assert.equal((await ada.post("/api/location/samples", { latitude: 45 + i * 1e-4, longitude: 9 })).status, 202);
		await bobSocket.waitFor("location:update", (s: Session) => s.userId === ada.user!.id && s.position?.latitude === 45 + 7e-4);
		assert.equal((await ada.post(`/api/groups/${group.id}/leave`)).status, 204);
		const after = await ada.post("/api/location/samples", { latitude: 46, longitude: 9 });
		assert.equal(after.status, 409, "no group to share with any more");
		assert.equal(bobSocket.of("location:update").filter((s: Session) => s.userId === ada.user!.id && s.position?.latitude === 46).length, 0);
	} finally {
		bobSocket.close();
	}
});

test("after a restart, a burst of first samples reads each session and the group once, then nothing", async () => {
	const members = [new ApiClient(system.url), new ApiClient(system.url), new ApiClient(system.url)];
	await members[0]!.signUp("Ann", "Burst");
	await members[1]!.signUp("Ben", "Burst");
	await members[2]!.signUp("Cat", "Burst");
	const group = await members[0]!.createGroup(`burst-${randomBytes(2).toString("hex")}`, [members[1]!.user!.email, members[2]!.user!.email]);
	for (const member of members) assert.equal((await member.post(`/api/groups/${group.id}/sharing`)).status, 200);

	// The instance that started a user's sharing holds that session: the user's first sample reads nothing.
	const shared = await stats();
	for (const member of members) assert.equal((await member.post("/api/location/samples", { latitude: 45.1, longitude: 9 })).status, 202);
	assert.equal((await stats()).sessionReads, shared.sessionReads, "sessions started here are not read again");

	// A restarted instance holds nothing; every member sends three samples at once.
	await system.restart("location");
	await system.waitHealthy();
	const burst = members.flatMap((member, m) =>
		[1, 2, 3].map(i => member.post("/api/location/samples", { latitude: 45.1 + m * 1e-3 + i * 1e-5, longitude: 9 })),
	);
	assert.deepEqual(
		(await Promise.all(burst)).map(r => r.status),
		Array(9).fill(202),
	);
	const afterBurst = await stats();
	assert.equal(afterBurst.sessionReads, 3, "one read per member's session, not one per sample");
	assert.equal(afterBurst.groupReads, 1, "one read of the group for all its members");

	// From memory from now on.
	for (const member of members) assert.equal((await member.post("/api/location/samples", { latitude: 45.2, longitude: 9 })).status, 202);
	const later = await stats();
	assert.equal(later.sessionReads, 3);
	assert.equal(later.groupReads, 1);
});

test("two samples of one user in the same millisecond, elsewhere: both kept, the second after the first (REST and Socket.IO)", async () => {
	const ada = new ApiClient(system.url);
	const bob = new ApiClient(system.url);
	await ada.signUp("Ada", "Twice");
	await bob.signUp("Bob", "Twice");
	const group = await ada.createGroup(`ms-${randomBytes(2).toString("hex")}`, [bob.user!.email]);
	assert.equal((await ada.post(`/api/groups/${group.id}/sharing`)).status, 200);
	const adaSocket: LiveSocket = await connectSocket(system.url, ada.token);
	try {
		const sameMs = async (send: (sample: { latitude: number; longitude: number; timestamp: string }) => Promise<unknown>, base: number) => {
			const timestamp = new Date(Date.now() - 1_000).toISOString();
			await send({ latitude: base, longitude: 9, timestamp });
			await send({ latitude: base + 1e-3, longitude: 9, timestamp });
			// The same fix sent again (a phone resending what it thinks was lost) changes nothing.
			await send({ latitude: base + 1e-3, longitude: 9, timestamp });
			const position = (await sessionOf(bob, group.id, ada.user!.id)).position;
			assert.equal(position?.latitude, base + 1e-3, "the second sample of the millisecond is where she is");
			await waitFor(
				async () => {
					const points = ((await ada.get<{ points: { latitude: number; timestamp: string }[] }>("/api/users/me/history")).body.points ?? []).filter(
						p => p.timestamp === timestamp,
					);
					return points.length === 2 && points.some(p => p.latitude === base) && points.some(p => p.latitude === base + 1e-3);
				},
				{ timeoutMs: 10_000, what: "both samples of the millisecond in her history, once each" },
			);
		};
		await sameMs(async sample => assert.equal((await ada.post("/api/location/samples", sample)).status, 202), 44.1);
		await sameMs(async sample => assert.equal((await adaSocket.emit("location:sample", sample)).ok, true), 44.2);
	} finally {
		adaSocket.close();
	}
});

test("acknowledged samples survive a SIGKILL of their owner: the next owner has the last position and the route", async () => {
	const ada = new ApiClient(system.url);
	const bob = new ApiClient(system.url);
	await ada.signUp("Ada", "Crash");
	await bob.signUp("Bob", "Crash");
	const group = await ada.createGroup(`crash-${randomBytes(2).toString("hex")}`, [bob.user!.email]);
	assert.equal((await ada.post(`/api/groups/${group.id}/sharing`)).status, 200);
	const journeyStart = await ada.post(`/api/groups/${group.id}/journey`, {
		destination: { name: "Library", latitude: 46, longitude: 9 },
		eta: new Date(Date.now() + 3_600_000).toISOString(),
		mode: "walking",
	});
	assert.equal(journeyStart.status, 201);
	// With the default thresholds these are written behind (up to 5 s later): each is acknowledged before.
	const sent: number[] = [];
	const deferredBefore = (await stats()).deferred;
	for (let i = 1; i <= 6; i++) {
		const latitude = 45.3 + i * 1e-4;
		assert.equal((await ada.post("/api/location/samples", { latitude, longitude: 9 })).status, 202);
		sent.push(latitude);
	}
	assert.ok((await stats()).deferred > deferredBefore, "the samples took the write-behind path");

	// The owner dies at once, with nothing written behind yet; the next one starts.
	await system.stop("location", "SIGKILL");
	await system.start("location");
	const last = sent.at(-1);
	await waitFor(async () => (await sessionOf(bob, group.id, ada.user!.id))?.position?.latitude === last, {
		timeoutMs: 30_000,
		what: "the last acknowledged position on the next owner",
	});
	const route = (await bob.get<{ points: { latitude: number }[] }>(`/api/groups/${group.id}/sessions/${ada.user!.id}/route`)).body.points.map(p => p.latitude);
	for (const latitude of sent) assert.equal(route.filter(l => l === latitude).length, 1, `route point ${latitude} once: ${route.join(", ")}`);
});
