// @test-solo: SIGKILLs the owning location instance and waits on alert timers; run alone (scripts/lib/run-tests.mjs).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startSystem, type System } from "../support/system.js";
import type { ApiClient } from "../support/client.js";
import { createCrews } from "../support/faults/workload.js";
import { inboxOf } from "../support/faults/invariants.js";
import { waitFor } from "../support/wait.js";

/**
 * Places across a SIGKILL of the location instance owning the user (issue 16): the inside-set is
 * stored with the session, a crossing's notification travels in the same write (the session's
 * outbox), and a moved ETA is the stored timer. So after the crash nothing is announced twice,
 * nothing announced is lost, and LATE fires at the ETA as last moved.
 */

let system: System;

before(async () => {
	system = await startSystem({
		services: ["users", "location", "notification", "gateway"],
		env: { HEARTBEAT_INTERVAL: "1", HEARTBEAT_TIMEOUT: "3", OFFLINE_AFTER: "3600", STUCK_AFTER: "3600", TRACKING_CHECK_EVERY: "0.25" },
	});
});

after(async () => {
	await system?.stopAll();
});

const HOME = { latitude: 45.4642, longitude: 9.19 };
const north = (metres: number) => ({ latitude: HOME.latitude + metres / 111_195, longitude: HOME.longitude });

/** A sample the service took (answered 202), retried while the location service restarts. */
async function sample(client: ApiClient, at: { latitude: number; longitude: number }) {
	await waitFor(async () => (await client.post("/api/location/samples", { ...at, accuracy: 5 })).status === 202, {
		timeoutMs: 30_000,
		what: "a sample to be taken",
	});
}

const kinds = async (client: ApiClient, ...wanted: string[]) => (await inboxOf(client)).filter(n => wanted.includes(n.kind)).map(n => n.kind);

test("arrivals and departures across SIGKILLs of the owning location instance: each announced once, none repeated", async () => {
	const [crew] = await createCrews(system.url, 1, 0);
	const { owner, traveller, group } = crew!;
	assert.equal((await traveller.post(`/api/groups/${group.id}/sharing`)).status, 200);
	await sample(traveller, north(5));
	const created = await owner.post(`/api/groups/${group.id}/places`, { name: "Home", ...HOME, radius: 100 });
	assert.equal(created.status, 201, JSON.stringify(created.body));
	const sessionPlace = async () => (await owner.get(`/api/groups/${group.id}/sessions/${traveller.user!.id}`)).body.place?.name ?? null;
	assert.equal(await sessionPlace(), "Home");

	// Samples at home held only in memory (written behind) die with the instance; the inside-set does not.
	await sample(traveller, north(10));
	await system.stop("location", "SIGKILL");
	await system.start("location");
	await sample(traveller, north(12));
	// Leaving: the departure is written with the session; the instance dies right after answering.
	await sample(traveller, north(400));
	await system.stop("location", "SIGKILL");
	await system.start("location");
	await sample(traveller, north(450));
	await sample(traveller, north(500));
	await waitFor(async () => (await kinds(owner, "PLACE_LEFT")).length === 1, { timeoutMs: 20_000, what: "the departure in the owner's inbox" });
	assert.equal(await sessionPlace(), null);

	// Coming back, then a crash: no second arrival after the restart.
	await sample(traveller, north(20));
	await system.stop("location", "SIGKILL");
	await system.start("location");
	await sample(traveller, north(15));
	await sample(traveller, north(25));
	await waitFor(async () => (await kinds(owner, "PLACE_ARRIVED")).length === 1, { timeoutMs: 20_000, what: "the arrival in the owner's inbox" });
	assert.equal(await sessionPlace(), "Home");

	await waitFor(async () => (await owner.get(`/api/groups/${group.id}/sessions/${traveller.user!.id}`)).body.position?.latitude === north(25).latitude, {
		what: "the last sample applied",
	});
	assert.deepEqual(await kinds(owner, "PLACE_LEFT", "PLACE_ARRIVED"), ["PLACE_ARRIVED", "PLACE_LEFT"], "newest first: one departure, one arrival");
	assert.deepEqual(await kinds(traveller, "PLACE_LEFT", "PLACE_ARRIVED"), [], "the traveller is not told about herself");
});

test("a journey to a place whose ETA was moved turns LATE at the moved ETA after a SIGKILL, once", async () => {
	const [crew] = await createCrews(system.url, 1, 0);
	const { owner, traveller, group } = crew!;
	const school = (await owner.post(`/api/groups/${group.id}/places`, { name: "School", latitude: 45.5, longitude: 9.2, radius: 100 })).body;
	const started = await traveller.post(`/api/groups/${group.id}/journey`, {
		destination: { placeId: school.id },
		eta: new Date(Date.now() + 2_000).toISOString(),
		mode: "walking",
	});
	assert.equal(started.status, 201, JSON.stringify(started.body));
	assert.equal(started.body.journey.destination.name, "School");
	const movedEta = Date.now() + 8_000;
	const moved = await traveller.patch(`/api/groups/${group.id}/journey`, { eta: new Date(movedEta).toISOString() });
	assert.equal(moved.status, 200, JSON.stringify(moved.body));
	await system.stop("location", "SIGKILL");
	await system.start("location");
	const late = await waitFor(async () => (await inboxOf(owner)).find(n => n.kind === "LATE") as { createdAt: string } | undefined, {
		timeoutMs: 30_000,
		what: "LATE in the owner's inbox",
	});
	assert.ok(Date.parse(late.createdAt) >= movedEta, `LATE at ${late.createdAt}, not before the moved ETA ${new Date(movedEta).toISOString()}`);
	const session = (await owner.get(`/api/groups/${group.id}/sessions/${traveller.user!.id}`)).body;
	assert.deepEqual([session.state, session.journey.alerts], ["WARNING", ["LATE"]]);
	await waitFor(async () => (await kinds(owner, "JOURNEY_UPDATED")).length === 1, { what: "JOURNEY_UPDATED once" });
	assert.deepEqual(await kinds(owner, "LATE"), ["LATE"]);
});
