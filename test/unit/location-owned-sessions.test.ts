import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { newSession, type SessionData, type Thresholds } from "../../services/location/session.js";
import { decide, type LocationEvent } from "../../services/location/state-machine.js";
import { canDefer, carryOver, priorityWindowMs, KeyedLock, OwnedSessions, ownedEntry } from "../../services/location/owned-sessions.js";
import { LocalMembership } from "../../services/location/membership.js";

// The write-behind rules of the location service's owned sessions: which samples may be applied
// in memory and written later, and the in-memory membership that replaces a query per sample.

const T: Thresholds = { offlineAfterMs: 60_000, stuckAfterMs: 300_000, stuckRadiusM: 30, arrivalRadiusM: 50 };
const NOW = Date.parse("2025-06-01T12:00:00.000Z");
const URGENT = 30_000;
const iso = (ms: number) => new Date(ms).toISOString();
const at = (latitude: number, longitude: number, ms = NOW) => ({ latitude, longitude, timestamp: iso(ms) });
const sample = (latitude: number, longitude: number, ms = NOW): LocationEvent => ({ type: "sample", point: at(latitude, longitude, ms) });

/** Sharing, seen a second ago, stored (version 3). */
const active = (): SessionData => {
	const s: SessionData = { ...newSession("g1", "u1", 3), state: "ACTIVE", sharing: true, position: at(45.01, 9, NOW - 1000), lastSeenAt: NOW - 1000 };
	return { ...s, nextCheckAt: NOW - 1000 + T.offlineAfterMs };
};
const routing = (): SessionData =>
	decide(
		active(),
		{ type: "journeyStarted", journey: { destination: { name: "Home", latitude: 45, longitude: 9 }, eta: iso(NOW + 3600_000), mode: "walking" } },
		NOW - 1000,
		T,
	).session;

describe("which samples may be written behind", () => {
	test("a position-only sample on a stored ACTIVE session whose timers are far away is deferred", () => {
		const before = active();
		const outcome = decide(before, sample(45.0102, 9), NOW, T);
		assert.equal(canDefer(before, outcome, before.nextCheckAt, NOW, URGENT), true);
	});

	test("a sample on a session whose stored timer is due soon is written through (the periodic check reads the stored copy)", () => {
		const before = { ...active(), nextCheckAt: NOW + URGENT - 1 };
		const outcome = decide(before, sample(45.0102, 9), NOW, T);
		assert.equal(canDefer(before, outcome, before.nextCheckAt, NOW, URGENT), false);
	});

	test("a sample that changes the state (a silent sharer coming back) is written through", () => {
		const before = { ...active(), state: "INACTIVE" as const };
		const outcome = decide(before, sample(45.0102, 9), NOW, T);
		assert.equal(outcome.session.state, "ACTIVE");
		assert.equal(canDefer(before, outcome, before.nextCheckAt, NOW, URGENT), false);
	});

	test("an arrival (state change, notification, route reset) is written through", () => {
		const before = routing();
		const outcome = decide(before, sample(45.0001, 9), NOW, T);
		assert.deepEqual(
			outcome.notices.map(n => n.kind),
			["ARRIVED"],
		);
		assert.equal(canDefer(before, outcome, before.nextCheckAt, NOW, URGENT), false);
	});

	test("a journey sample that only extends the route is deferred; one that clears an alert is not", () => {
		const before = routing();
		assert.equal(canDefer(before, decide(before, sample(45.02, 9), NOW, T), before.nextCheckAt, NOW, URGENT), true);
		const warned: SessionData = { ...before, state: "WARNING", journey: { ...before.journey!, alerts: ["OFFLINE"], notified: ["OFFLINE"] } };
		const cleared = decide(warned, sample(45.02, 9), NOW, T);
		assert.equal(cleared.session.state, "ROUTING");
		assert.equal(canDefer(warned, cleared, warned.nextCheckAt, NOW, URGENT), false);
	});

	test("a session never stored (version 0) is written through", () => {
		const before = { ...active(), version: 0 };
		assert.equal(canDefer(before, decide(before, sample(45.0102, 9), NOW, T), before.nextCheckAt, NOW, URGENT), false);
	});
});

describe("owned sessions", () => {
	test("a user's sessions are known only once all were loaded; dropping one forgets that", () => {
		const owned = new OwnedSessions();
		owned.set(ownedEntry({ ...active(), groupId: "g1" }, NOW));
		owned.set(ownedEntry({ ...active(), groupId: "g2" }, NOW));
		assert.equal(owned.ofUser("u1"), undefined);
		owned.markComplete("u1");
		assert.deepEqual(
			owned
				.ofUser("u1")
				?.map(e => e.data.groupId)
				.sort(),
			["g1", "g2"],
		);
		owned.delete("g1", "u1");
		assert.equal(owned.ofUser("u1"), undefined);
		assert.deepEqual(
			owned.ofUserAll("u1").map(e => e.data.groupId),
			["g2"],
		);
	});

	test("dirty entries come oldest first", () => {
		const owned = new OwnedSessions();
		for (const [groupId, since] of [
			["g1", 30],
			["g2", 10],
			["g3", null],
		] as const) {
			const entry = ownedEntry({ ...active(), groupId }, NOW);
			entry.dirtySince = since;
			owned.set(entry);
		}
		assert.deepEqual(
			owned.dirty().map(e => e.data.groupId),
			["g2", "g1"],
		);
	});
});

describe("membership without a query per sample", () => {
	test("members of the loaded projection are admitted; others are not; unknown groups must be loaded", () => {
		const m = new LocalMembership(30_000, 3600_000, () => NOW);
		assert.equal(m.isMember("g1", "u1"), undefined);
		m.load("g1", ["u1", "u2"], false);
		assert.equal(m.isMember("g1", "u1"), true);
		assert.equal(m.isMember("g1", "u3"), false);
	});

	test("a departure broadcast excludes the member at once, even if a reload of the projection still lists them", () => {
		const m = new LocalMembership(30_000, 3600_000, () => NOW);
		m.load("g1", ["u1", "u2"], false);
		m.removed("g1", "u1");
		assert.equal(m.isMember("g1", "u1"), false);
		m.load("g1", ["u1", "u2"], false); // the projection's copy is behind
		assert.equal(m.isMember("g1", "u1"), false);
		assert.equal(m.isMember("g1", "u2"), true);
	});

	test("being added again (broadcast, or a confirmed membership) admits the member again", () => {
		const m = new LocalMembership(30_000, 3600_000, () => NOW);
		m.load("g1", ["u2"], false);
		m.removed("g1", "u1");
		m.confirm("g1", "u1");
		assert.equal(m.isMember("g1", "u1"), true);
		m.removed("g1", "u1");
		m.added("g1", "u1");
		assert.equal(m.isMember("g1", "u1"), undefined, "reloaded from the projection next time");
	});

	test("a deleted group admits nobody", () => {
		const m = new LocalMembership(30_000, 3600_000, () => NOW);
		m.load("g1", ["u1"], false);
		m.deleted("g1");
		m.load("g1", ["u1"], false);
		assert.equal(m.isMember("g1", "u1"), false);
	});

	test("a loaded group is read again after the TTL", () => {
		let now = NOW;
		const m = new LocalMembership(30_000, 3600_000, () => now);
		m.load("g1", ["u1"], false);
		now += 30_001;
		assert.equal(m.isMember("g1", "u1"), undefined);
	});
});

test("the keyed lock runs one operation per key at a time, in order, and other keys in parallel", async () => {
	const lock = new KeyedLock();
	const log: string[] = [];
	let release!: () => void;
	const gate = new Promise<void>(resolve => (release = resolve));
	const a1 = lock.run("a", async () => {
		log.push("a1 start");
		await gate;
		log.push("a1 end");
	});
	const a2 = lock.run("a", async () => {
		log.push("a2");
	});
	const b = lock.run("b", async () => {
		log.push("b");
	});
	await b;
	assert.deepEqual(log, ["a1 start", "b"]);
	release();
	await Promise.all([a1, a2]);
	assert.deepEqual(log, ["a1 start", "b", "a1 end", "a2"]);
	await assert.rejects(
		lock.run("a", async () => Promise.reject(new Error("boom"))),
		/boom/,
	);
	assert.equal(await lock.run("a", async () => 42), 42, "a failure does not block the key");
});

test("the keyed lock tells how many operations on a key have not finished (a sample may skip only a lone write behind)", async () => {
	const lock = new KeyedLock();
	let release!: () => void;
	const gate = new Promise<void>(resolve => (release = resolve));
	assert.equal(lock.inFlight("a"), 0);
	const write = lock.run("a", () => gate);
	assert.equal(lock.inFlight("a"), 1);
	const queued = lock.run("a", async () => undefined);
	assert.equal(lock.inFlight("a"), 2);
	assert.equal(lock.inFlight("b"), 0);
	release();
	await Promise.all([write, queued]);
	await new Promise(resolve => setImmediate(resolve));
	assert.equal(lock.inFlight("a"), 0, "finished operations are forgotten");
	await lock.run("a", async () => Promise.reject(new Error("boom"))).catch(() => undefined);
	await new Promise(resolve => setImmediate(resolve));
	assert.equal(lock.inFlight("a"), 0, "a failed one too");
});

describe("after a write behind, samples applied while it waited for the database stay pending", () => {
	/** An owned entry with two samples applied in memory since its stored version 3. */
	const dirty = () => {
		const entry = ownedEntry(routing(), NOW - 5_000);
		let data = entry.data;
		for (const [i, point] of [at(45.001, 9, NOW - 2_000), at(45.002, 9, NOW - 1_000)].entries()) {
			const outcome = decide(data, { type: "sample", point }, NOW - 2_000 + i * 1_000, T);
			const appended = outcome.route.kind === "append" ? outcome.route.points : [];
			data = { ...outcome.session, routeLength: data.routeLength + appended.length };
			entry.pendingRoute.push(...appended);
			entry.pendingSamples.push(point);
		}
		entry.data = data;
		entry.dirtySince = NOW - 2_000;
		return entry;
	};

	test("nothing applied meanwhile: the entry becomes the stored session, clean", () => {
		const entry = dirty();
		const written = entry.data;
		const stored = { ...written, version: written.version + 1 };
		const next = carryOver(entry, written, stored, entry.pendingRoute.length, entry.pendingSamples.length, NOW);
		assert.equal(next.data, stored);
		assert.equal(next.dirtySince, null);
		assert.deepEqual(next.pendingRoute, []);
		assert.deepEqual(next.pendingSamples, []);
	});

	test("a sample applied meanwhile stays pending on the new stored version, with only its own route point", () => {
		const entry = dirty();
		const written = entry.data;
		const routeCount = entry.pendingRoute.length;
		const sampleCount = entry.pendingSamples.length;
		const stored = { ...written, version: written.version + 1 };
		// The write is in flight: a third sample lands on the entry.
		const point = at(45.003, 9, NOW);
		const outcome = decide(entry.data, { type: "sample", point }, NOW, T);
		const appended = outcome.route.kind === "append" ? outcome.route.points : [];
		entry.data = { ...outcome.session, routeLength: entry.data.routeLength + appended.length };
		entry.pendingRoute.push(...appended);
		entry.pendingSamples.push(point);

		const next = carryOver(entry, written, stored, routeCount, sampleCount, NOW + 10);
		assert.equal(next.data.version, stored.version, "conditional on what is stored now");
		assert.deepEqual(next.data.position, point, "the newest position is kept");
		assert.deepEqual(next.pendingSamples, [point]);
		assert.equal(next.pendingRoute.length, appended.length);
		assert.equal(next.data.routeLength, stored.routeLength + appended.length);
		assert.equal(next.storedNextCheckAt, stored.nextCheckAt);
		assert.equal(next.dirtySince, NOW + 10, "written behind later");
	});
});

test("writes behind go to sessions whose stored timers come due soon first, then oldest changes first", () => {
	const owned = new OwnedSessions();
	const put = (groupId: string, dirtySince: number | null, storedNextCheckAt: number | null) => {
		const entry = ownedEntry({ ...active(), groupId }, NOW);
		entry.dirtySince = dirtySince;
		entry.storedNextCheckAt = storedNextCheckAt;
		owned.set(entry);
	};
	put("old", NOW - 10_000, NOW + 600_000);
	put("fresh", NOW - 100, NOW + 600_000);
	put("soon", NOW - 100, NOW + 40_000);
	put("sooner", NOW - 100, NOW + 35_000);
	put("clean", null, NOW + 1_000);
	assert.deepEqual(
		owned.toWrite(NOW - 5_000, NOW + 60_000).map(e => e.data.groupId),
		["sooner", "soon", "old"],
	);
});

test("a session sampling steadily is written behind every few seconds, not at every flush tick", () => {
	const offlineAfterMs = 60_000;
	const owned = new OwnedSessions();
	// Stored at NOW with its last sign of life, so its stored offline timer is NOW + offlineAfter.
	const entry = ownedEntry({ ...active(), lastSeenAt: NOW, nextCheckAt: NOW + offlineAfterMs }, NOW);
	entry.dirtySince = NOW + 1_000; // the next sample, applied in memory
	owned.set(entry);
	const dueAt = (now: number) => owned.toWrite(now - 5_000, now + priorityWindowMs(offlineAfterMs, 60_000)).length > 0;
	assert.equal(dueAt(NOW + 1_250), false, "not written at the next tick");
	assert.equal(dueAt(NOW + 5_900), false);
	assert.equal(dueAt(NOW + 6_000), true, "written once its change is PERSIST_AFTER old");
	// A session the database fell behind on goes first half the threshold before its stored timer.
	entry.dirtySince = NOW + 29_000;
	assert.equal(dueAt(NOW + 29_999), false);
	assert.equal(dueAt(NOW + 30_000), true);
});

test("the priority window is half the offline threshold, at most the given maximum", () => {
	assert.equal(priorityWindowMs(60_000, 60_000), 30_000);
	assert.equal(priorityWindowMs(2_000, 60_000), 1_000);
	assert.equal(priorityWindowMs(600_000, 60_000), 60_000);
});
