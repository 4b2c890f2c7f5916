import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Point, User } from "../../events/types.js";
import { compactPoint, pointOf } from "../../services/location/point.js";
import { newSession, toApiSession, type SessionData, type Thresholds } from "../../services/location/session.js";
import { decide } from "../../services/location/state-machine.js";
import { samplePoint } from "../../services/location/validation.js";
import { createTracking } from "../../services/location/tracking.js";
import type { SessionRepository, SessionWrite } from "../../services/location/session-repository.js";

// Richer positions (API.md §6.3): what a sender knew about a position travels with it into the
// session, the live update and the route, and nothing it did not know is stored.

const T: Thresholds = { offlineAfterMs: 60_000, stuckAfterMs: 300_000, stuckRadiusM: 30, arrivalRadiusM: 50 };
const NOW = Date.parse("2025-06-01T12:00:00.000Z");
const iso = (ms: number) => new Date(ms).toISOString();

const PHONE: Point = {
	latitude: 45.01,
	longitude: 9,
	timestamp: iso(NOW),
	accuracy: 12,
	altitude: 240,
	speed: 1.4,
	heading: 90,
	battery: 64,
	charging: false,
	source: "owntracks",
};

describe("positions keep what the sender knew", () => {
	test("a sample's details (accuracy, altitude, speed, heading, battery, charging, source) reach the session and its API view", () => {
		const active: SessionData = { ...newSession("g1", "u1", 2), state: "ACTIVE", sharing: true, lastSeenAt: NOW - 1000 };
		const t = decide(active, { type: "sample", point: PHONE }, NOW, T);
		assert.deepEqual(t.session.position, PHONE);
		assert.deepEqual(toApiSession(t.session).position, PHONE);
	});

	test("route points during a journey and an SOS carry the same details", () => {
		const active: SessionData = { ...newSession("g1", "u1", 2), state: "ACTIVE", sharing: true, lastSeenAt: NOW - 1000 };
		const routing = decide(
			active,
			{ type: "journeyStarted", journey: { destination: { name: "Home", latitude: 46, longitude: 9 }, eta: iso(NOW + 3_600_000), mode: "walking" } },
			NOW,
			T,
		).session;
		const sampled = decide(routing, { type: "sample", point: PHONE }, NOW, T);
		assert.deepEqual(sampled.route, { kind: "append", points: [PHONE] });

		const sos = decide(active, { type: "sosRaised", point: { ...PHONE, source: "osmand" }, lead: true }, NOW, T);
		assert.deepEqual(sos.route, { kind: "reset", points: [{ ...PHONE, source: "osmand" }] });
		assert.deepEqual(sos.session.position, { ...PHONE, source: "osmand" });
	});

	test("absent details are left out, not stored as undefined or null; unknown keys are dropped", () => {
		const sparse = { latitude: 1, longitude: 2, timestamp: iso(NOW), accuracy: undefined, battery: null, nonsense: "x" } as unknown as Point;
		const compact = compactPoint(sparse);
		assert.deepEqual(Object.keys(compact), ["latitude", "longitude", "timestamp"]);
		assert.equal(JSON.stringify(compact), `{"latitude":1,"longitude":2,"timestamp":"${iso(NOW)}"}`);
		assert.deepEqual(compactPoint({ ...PHONE, charging: false }).charging, false, "false is something the sender knew");
	});

	test("a web sample is marked as such, in UTC, with a heading of 360° stored as 0°", () => {
		assert.deepEqual(samplePoint({ latitude: 1, longitude: 2, timestamp: "2025-06-01T14:00:00+02:00", heading: 360, battery: 50 }, NOW), {
			latitude: 1,
			longitude: 2,
			timestamp: iso(NOW),
			heading: 0,
			battery: 50,
			source: "web",
		});
		assert.equal(samplePoint({ latitude: 1, longitude: 2 }, NOW, "osmand").source, "osmand");
		assert.equal(pointOf({ latitude: 1, longitude: 2, charging: true }, iso(NOW), "owntracks").charging, true);
	});
});

/** Every write, with the session as stored; nothing else of a repository is needed here. */
class RecordingRepository implements Partial<SessionRepository> {
	ready = true;
	readonly writes: SessionWrite[] = [];
	failNext = false;
	private version = new Map<string, number>();
	async find() {
		return null;
	}
	async write(write: SessionWrite) {
		if (this.failNext) {
			this.failNext = false;
			throw Object.assign(new Error("connection closed"), { name: "MongoNetworkError" });
		}
		const key = `${write.session.groupId}:${write.session.userId}`;
		if ((this.version.get(key) ?? 0) !== write.expectedVersion) return false;
		this.version.set(key, write.expectedVersion + 1);
		this.writes.push(structuredClone(write));
		return true;
	}
}

describe("a phone's report is stored before it is acknowledged", () => {
	function setup() {
		const repository = new RecordingRepository();
		const clock = { now: NOW };
		const ada: User = { id: "ada", name: "Ada", surname: "Lovelace", email: "ada@example.org" };
		const { store } = createTracking({
			repository: repository as unknown as SessionRepository,
			now: () => clock.now,
			thresholds: T,
			publish: async () => undefined,
			kickOutbox: () => undefined,
			loadGroup: async groupId => ({ _id: groupId, name: groupId, version: 1, deleted: false, memberIds: ["ada"], members: [ada] }),
			precisionOf: () => "exact",
			groupIdsOf: async () => ["g1"],
			logger: { warn: () => undefined, debug: () => undefined },
		});
		return { store, repository, clock, ada };
	}

	test("a sample written behind is written at once by persist, and persist on a clean session writes nothing", async () => {
		const { store, repository, clock, ada } = setup();
		await store.apply("g1", "ada", { type: "sharingStarted" }, { caller: ada });
		clock.now += 1000;
		await store.apply("g1", "ada", { type: "sample", point: { ...PHONE, timestamp: iso(clock.now) } }, { caller: ada });
		assert.equal(repository.writes.length, 1, "the sample waits to be written behind");
		await store.persist("g1", "ada");
		assert.equal(repository.writes.length, 2);
		assert.deepEqual(repository.writes[1]!.session.position, { ...PHONE, timestamp: iso(clock.now) });
		assert.equal(store.unwrittenCount, 0);
		await store.persist("g1", "ada");
		assert.equal(repository.writes.length, 2, "nothing left to write");
	});

	test("when the database fails, persist throws and the sample stays in memory for the next write", async () => {
		const { store, repository, clock, ada } = setup();
		await store.apply("g1", "ada", { type: "sharingStarted" }, { caller: ada });
		clock.now += 1000;
		await store.apply("g1", "ada", { type: "sample", point: { ...PHONE, timestamp: iso(clock.now) } }, { caller: ada });
		repository.failNext = true;
		await assert.rejects(store.persist("g1", "ada"), /connection closed/);
		assert.equal(store.unwrittenCount, 1, "still held, unwritten");
		await store.persist("g1", "ada");
		assert.equal(repository.writes.at(-1)!.session.position?.battery, 64);
	});
});
