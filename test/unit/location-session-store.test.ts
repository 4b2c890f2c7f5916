import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Envelope, NotificationSend } from "../../events/domain.js";
import type { Point, User } from "../../events/types.js";
import type { GroupProjectionDoc } from "../../mixins/membership.mixin.js";
import { sessionFields, type SessionDoc, type SessionRow } from "../../services/location/models.js";
import { sessionId, type SessionData, type Thresholds } from "../../services/location/session.js";
import {
	insertOf,
	updateOf,
	type RouteRow,
	type SessionRepository,
	type SessionWrite,
	type TombstoneScope,
} from "../../services/location/session-repository.js";
import { writeThroughWindowMs, type Origin } from "../../services/location/session-store.js";
import { createTracking } from "../../services/location/tracking.js";
import { SampleJournal, type JournalDoc } from "../../services/location/sample-journal.js";

// The SessionStore with everything around it faked: an in-memory repository, a clock the test
// moves, a publisher that records. No broker, no database.

const T: Thresholds = { offlineAfterMs: 60_000, stuckAfterMs: 300_000, stuckRadiusM: 30, arrivalRadiusM: 50 };
const T0 = Date.parse("2025-06-01T12:00:00.000Z");
const iso = (ms: number) => new Date(ms).toISOString();
const ADA: User = { id: "ada", email: "ada@example.org", name: "Ada", surname: "Lovelace" };

/** The Session collection in memory: the same conditional-write rules as the Mongo repository. */
class MemoryRepository implements SessionRepository {
	ready = true;
	readonly docs = new Map<string, SessionDoc>();
	readonly writes: SessionWrite[] = [];
	/** Set to hold every write until `release()` (a slow database). */
	private gate?: { promise: Promise<void>; open: () => void };

	hold(): void {
		let open!: () => void;
		const promise = new Promise<void>(resolve => (open = resolve));
		this.gate = { promise, open };
	}

	release(): void {
		this.gate?.open();
		this.gate = undefined;
	}

	stored(groupId: string, userId: string): SessionDoc {
		const doc = this.docs.get(sessionId(groupId, userId));
		assert.ok(doc, `session ${groupId}:${userId} is stored`);
		return doc;
	}

	/** Another writer (another instance's periodic check, a previous owner) changes the stored session. */
	changeElsewhere(groupId: string, userId: string, change: Partial<SessionDoc> = {}): void {
		const doc = this.stored(groupId, userId);
		this.docs.set(doc._id, { ...doc, ...change, version: doc.version + 1 });
	}

	private row(doc: SessionDoc | undefined): SessionRow | null {
		if (!doc) return null;
		const { route: _route, outbox: _outbox, ...row } = doc;
		return structuredClone(row);
	}

	private rows(match: (doc: SessionDoc) => boolean): SessionRow[] {
		return [...this.docs.values()].filter(match).map(doc => this.row(doc)!);
	}

	async find(groupId: string, userId: string) {
		return this.row(this.docs.get(sessionId(groupId, userId)));
	}
	async findOfUsers(userIds: string[]) {
		return this.rows(doc => userIds.includes(doc.userId) && !doc.removed);
	}
	async findInGroup(groupId: string) {
		return this.rows(doc => doc.groupId === groupId && !doc.removed);
	}
	async findSos(userId: string) {
		return this.rows(doc => doc.userId === userId && doc.state === "SOS" && !doc.removed).sort((a, b) => a.groupId.localeCompare(b.groupId));
	}
	async findDue(now: number, limit: number) {
		return this.rows(doc => doc.nextCheckAt !== null && doc.nextCheckAt <= now)
			.sort((a, b) => a.nextCheckAt! - b.nextCheckAt!)
			.slice(0, limit);
	}
	async countDue(now: number) {
		return (await this.findDue(now, Number.POSITIVE_INFINITY)).length;
	}
	async route(groupId: string, userId: string): Promise<RouteRow | null> {
		const doc = this.docs.get(sessionId(groupId, userId));
		return doc ? structuredClone({ state: doc.state, route: doc.route, removed: doc.removed, version: doc.version }) : null;
	}

	async write(write: SessionWrite): Promise<boolean> {
		this.writes.push(structuredClone(write));
		await this.gate?.promise;
		const id = sessionId(write.session.groupId, write.session.userId);
		const doc = this.docs.get(id);
		if (write.expectedVersion === 0) {
			if (doc) return false;
			this.docs.set(id, structuredClone(insertOf(write)));
			return true;
		}
		if (!doc || doc.version !== write.expectedVersion) return false;
		const route = write.route ? ("set" in write.route ? write.route.set : [...doc.route, ...write.route.push]) : doc.route;
		this.docs.set(
			id,
			structuredClone({ ...doc, ...sessionFields(write.session), removed: false, route, outbox: [...doc.outbox, ...write.outbox], version: doc.version + 1 }),
		);
		return true;
	}

	async setSosLead(row: SessionRow, promoted: SessionData) {
		const doc = this.docs.get(row._id);
		if (!doc || doc.version !== row.version) return false;
		this.docs.set(row._id, { ...doc, sos: promoted.sos, nextCheckAt: promoted.nextCheckAt, version: doc.version + 1 });
		return true;
	}

	async tombstone(scope: TombstoneScope) {
		const inScope = (doc: SessionDoc) =>
			!doc.removed &&
			("userId" in scope ? doc.userId === scope.userId : doc.groupId === scope.groupId && (!scope.userIds || scope.userIds.includes(doc.userId)));
		const affected = [...this.docs.values()].filter(inScope);
		for (const doc of affected)
			this.docs.set(doc._id, {
				...doc,
				state: "INACTIVE",
				sharing: false,
				position: null,
				journey: null,
				sos: null,
				anchor: null,
				lastSeenAt: null,
				nextCheckAt: null,
				route: [],
				routeLength: 0,
				removed: true,
				version: doc.version + 1,
			});
		return [...new Set(affected.map(doc => doc.userId))];
	}

	async purgeTombstones() {
		for (const [id, doc] of this.docs) if (doc.removed && !doc.outbox.length) this.docs.delete(id);
	}
}

function setup(
	groups: Record<string, string[]> = { g1: ["ada", "bob"], g2: ["ada"] },
	thresholds: Thresholds = T,
	shared: { repository?: MemoryRepository; journal?: SampleJournal } = {},
) {
	const repository = shared.repository ?? new MemoryRepository();
	const clock = { now: T0 };
	const published: SessionData[] = [];
	const kicked: string[] = [];
	const warnings: string[] = [];
	const group = (groupId: string): GroupProjectionDoc | null =>
		groups[groupId]
			? {
					_id: groupId,
					name: groupId,
					version: 1,
					deleted: false,
					memberIds: groups[groupId],
					members: groups[groupId].map(id => (id === "ada" ? ADA : { id, name: id, surname: "" })),
				}
			: null;
	const tracking = createTracking({
		repository,
		now: () => clock.now,
		thresholds,
		publish: async (session: SessionData, _origin: Origin) => void published.push(session),
		kickOutbox: id => void kicked.push(id),
		loadGroup: async groupId => group(groupId),
		precisionOf: () => "exact",
		groupIdsOf: async userId => Object.keys(groups).filter(groupId => groups[groupId]!.includes(userId)),
		logger: { warn: (...args: unknown[]) => void warnings.push(args.join(" ")), debug: () => undefined },
		...(shared.journal ? { journal: shared.journal } : {}),
	});
	const at = (latitude: number, ms = clock.now): Point => ({ latitude, longitude: 9, timestamp: iso(ms) });
	const sample = (groupId: string, latitude: number) => tracking.store.apply(groupId, "ada", { type: "sample", point: at(latitude) }, { caller: ADA });
	const advance = (ms: number) => (clock.now += ms);
	return { ...tracking, repository, clock, published, kicked, warnings, at, sample, advance };
}

const journey = (ms: number) => ({
	type: "journeyStarted" as const,
	journey: { destination: { name: "Home", latitude: 46, longitude: 9 }, eta: iso(ms + 3_600_000), mode: "walking" as const },
});

describe("SessionStore: write-behind", () => {
	test("a position-only sample is applied in memory, pushed live at once, and written behind once with the samples that follow", async () => {
		const { store, repository, published, sample, advance } = setup();
		await store.apply("g1", "ada", { type: "sharingStarted" }, { caller: ADA });
		assert.equal(repository.writes.length, 1, "starting to share is written through");

		advance(1000);
		await sample("g1", 45.001);
		advance(1000);
		const last = await sample("g1", 45.002);
		assert.equal(repository.writes.length, 1, "samples are not written yet");
		assert.equal(published.at(-1)?.position?.latitude, 45.002, "pushed live at once");
		assert.equal(last.position?.latitude, 45.002);
		assert.equal((await store.get("g1", "ada")).position?.latitude, 45.002, "read back from memory before it is written");
		assert.equal(store.unwrittenCount, 1);

		await store.flush();
		assert.equal(repository.writes.length, 1, "not written before PERSIST_AFTER");
		advance(5_000);
		await store.flush();
		assert.equal(repository.writes.length, 2, "one write for both samples");
		assert.equal(repository.stored("g1", "ada").position?.latitude, 45.002);
		assert.equal(repository.stored("g1", "ada").version, 2);
		assert.equal(store.unwrittenCount, 0);
		assert.deepEqual([store.stats.deferred, store.stats.flushed], [2, 1]);
		await store.flush();
		assert.equal(repository.writes.length, 2, "nothing left to write");
	});

	test("a short offline threshold (OFFLINE_AFTER=4) still writes a steady sampler behind, not at every sample", async () => {
		const { store, repository, sample, advance } = setup(undefined, { ...T, offlineAfterMs: 4_000 });
		await store.apply("g1", "ada", { type: "sharingStarted" }, { caller: ADA });
		const writesBefore = repository.writes.length;
		// 10 samples a second for 20 s, the flush ticking every 250 ms as in the service.
		for (let i = 1; i <= 200; i++) {
			advance(100);
			await sample("g1", 45 + i * 1e-5);
			if (i % 5 === 0) await store.flush();
		}
		const writes = repository.writes.length - writesBefore;
		assert.ok(writes <= 20, `about two writes per threshold, not one per sample (${writes} writes for 200 samples)`);
		assert.ok(store.stats.deferred >= 180, `samples deferred: ${store.stats.deferred}`);
		// The stored timer never came due while she kept sampling: no other instance would see her offline.
		const stored = repository.stored("g1", "ada");
		assert.ok(stored.nextCheckAt! > T0 + 20_000, "the stored offline timer stays ahead of the clock");
	});

	test("a sample written behind is journaled before it is acknowledged; after a crash the next owner applies it again, once", async () => {
		const journaled: JournalDoc[] = [];
		const journal = new SampleJournal({
			node: "n1",
			insert: async docs => void journaled.push(...docs),
			trim: async () => undefined,
			now: () => T0,
			logger: { warn: () => undefined },
		});
		const first = setup(undefined, T, { journal });
		await first.store.apply("g1", "ada", journey(T0), { caller: ADA });
		first.advance(1000);
		await first.sample("g1", 45.001);
		first.advance(1000);
		await first.sample("g1", 45.002);
		await first.store.durable("g1", "ada");
		assert.deepEqual(
			journaled.map(doc => doc.point.latitude),
			[45.001, 45.002],
			"journaled before the acknowledgement",
		);
		assert.equal(first.repository.stored("g1", "ada").route.length, 0, "not written behind yet");

		// The owner dies with both unwritten; a new owner (nothing in memory) adopts them.
		const next = setup(undefined, T, { repository: first.repository });
		next.clock.now = first.clock.now + 1000;
		await next.store.adopt(
			"g1",
			"ada",
			journaled.map(doc => doc.point),
		);
		await next.store.close();
		const stored = next.repository.stored("g1", "ada");
		assert.equal(stored.position?.latitude, 45.002);
		assert.deepEqual(
			stored.route.map(p => p.latitude),
			[45.001, 45.002],
		);
		// Adopted twice (two survivors listed them): nothing changes.
		await next.store.adopt(
			"g1",
			"ada",
			journaled.map(doc => doc.point),
		);
		await next.store.close();
		assert.deepEqual(
			next.repository.stored("g1", "ada").route.map(p => p.latitude),
			[45.001, 45.002],
		);
	});

	test("writeThroughWindowMs: a quarter of the offline threshold, at most the configured margin", () => {
		assert.equal(writeThroughWindowMs(4_000, 5_000), 1_000);
		assert.equal(writeThroughWindowMs(60_000, 5_000), 5_000);
	});

	test("a write behind that meets a newer stored version rebases: the pending samples are applied again on the stored session", async () => {
		const { store, repository, sample, advance, at } = setup();
		await store.apply("g1", "ada", journey(T0), { caller: ADA });
		advance(1000);
		const first = at(45.001);
		await sample("g1", 45.001);
		advance(1000);
		await sample("g1", 45.002);
		assert.equal(repository.stored("g1", "ada").route.length, 0, "the route points wait in memory");

		// Another instance's periodic check wrote the session meanwhile.
		repository.changeElsewhere("g1", "ada", { updatedAt: iso(T0 + 1500) });
		await store.close();
		const stored = repository.stored("g1", "ada");
		assert.equal(store.stats.rebased, 2, "both pending samples applied again");
		assert.equal(stored.version, 3, "written on top of the other writer's version");
		assert.equal(stored.position?.latitude, 45.002);
		assert.deepEqual(
			stored.route.map(p => p.latitude),
			[45.001, 45.002],
			"each point once, in order",
		);
		assert.equal(stored.route[0]?.timestamp, first.timestamp);
		assert.equal(stored.state, "ROUTING");
	});

	test("a transition with notices writes the session, the samples still in memory and the outbox in ONE conditional write", async () => {
		const { store, repository, kicked, sample, advance } = setup();
		await store.apply("g1", "ada", { type: "sharingStarted" }, { caller: ADA });
		advance(1000);
		await sample("g1", 45.001);
		advance(1000);
		const writesBefore = repository.writes.length;

		await store.apply("g1", "ada", journey(T0), { caller: ADA });
		assert.equal(repository.writes.length, writesBefore + 1, "one write");
		const write = repository.writes.at(-1)!;
		assert.equal(write.expectedVersion, 1, "conditional on the stored version");
		assert.equal(write.session.state, "ROUTING");
		assert.equal(write.session.position?.latitude, 45.001, "the deferred sample goes with it");
		const [envelope] = write.outbox as Envelope<NotificationSend>[];
		assert.equal(write.outbox.length, 1);
		assert.equal(envelope?.payload.kind, "JOURNEY_STARTED");
		assert.equal(envelope?.payload.title, "Ada Lovelace started a journey");
		assert.deepEqual(kicked, [sessionId("g1", "ada")], "the relay is told at once");
		assert.equal(repository.stored("g1", "ada").outbox.length, 1);
		assert.equal(store.unwrittenCount, 0);
		assert.equal(store.stats.notices, 1);
	});

	test("a sample meeting a write behind that waits for the database is applied on top at once, and written by the next write", async () => {
		const { store, repository, published, sample, advance } = setup();
		await store.apply("g1", "ada", { type: "sharingStarted" }, { caller: ADA });
		advance(1000);
		await sample("g1", 45.001);
		repository.hold();
		const flushing = store.flush(true);
		await new Promise(resolve => setImmediate(resolve));
		assert.equal(repository.writes.length, 2, "the write behind is waiting for the database");
		advance(1000);
		const applying = sample("g1", 45.002);
		try {
			assert.equal(published.at(-1)?.position?.latitude, 45.002, "pushed live without waiting for the write");
		} finally {
			repository.release();
		}
		assert.equal((await applying).position?.latitude, 45.002);
		await flushing;
		assert.equal(repository.stored("g1", "ada").position?.latitude, 45.001, "the write carried what it began with");
		assert.equal(store.unwrittenCount, 1, "the later sample is still pending");
		await store.close();
		assert.equal(repository.stored("g1", "ada").position?.latitude, 45.002);
	});

	test("a command refused on a stale copy (another instance changed the session during a hand-over) is decided again on the stored session", async () => {
		const { store, repository } = setup();
		await store.apply("g1", "ada", journey(T0), { caller: ADA });
		// While the gateways disagreed on the owner, another instance ended the journey.
		repository.changeElsewhere("g1", "ada", { state: "ACTIVE", journey: null, nextCheckAt: null });
		const started = await store.apply("g1", "ada", journey(T0), { caller: ADA });
		assert.equal(started.state, "ROUTING", "the new journey starts instead of a 409 about the old one");
		assert.equal(repository.stored("g1", "ada").version, 3);
		// A refusal the stored session agrees with still stands.
		await assert.rejects(store.apply("g1", "ada", journey(T0), { caller: ADA }), { type: "INVALID_STATE" });
	});

	test("closing writes everything applied in memory, without waiting for PERSIST_AFTER", async () => {
		const { store, repository, sample, advance } = setup();
		await store.apply("g1", "ada", { type: "sharingStarted" }, { caller: ADA });
		await store.apply("g2", "ada", { type: "sharingStarted" }, { caller: ADA });
		advance(1000);
		await sample("g1", 45.001);
		await sample("g2", 45.003);
		assert.equal(store.unwrittenCount, 2);
		await store.close();
		assert.equal(store.unwrittenCount, 0);
		assert.equal(repository.stored("g1", "ada").position?.latitude, 45.001);
		assert.equal(repository.stored("g2", "ada").position?.latitude, 45.003);
	});

	test("a change of location instances writes everything and forgets the copies (the users may have a new owner)", async () => {
		const { store, repository, sample, advance } = setup();
		await store.ownersSeen("n1");
		await store.apply("g1", "ada", { type: "sharingStarted" }, { caller: ADA });
		advance(1000);
		await sample("g1", 45.001);
		await store.ownersSeen("n1");
		assert.equal(store.unwrittenCount, 1, "same instances: nothing happens");
		await store.ownersSeen("n1,n2");
		assert.equal(store.ownedCount, 0);
		assert.equal(repository.stored("g1", "ada").position?.latitude, 45.001);
	});

	test("a user's first sample reads their sessions once, by group, and later samples read nothing", async () => {
		const { store, repository, clock } = setup();
		repository.docs.set(
			"g1:ada",
			insertOf({
				session: {
					groupId: "g1",
					userId: "ada",
					state: "ACTIVE",
					sharing: true,
					blocked: false,
					position: null,
					lastSeenAt: T0,
					journey: null,
					anchor: null,
					sos: null,
					routeLength: 0,
					geofence: null,
					place: null,
					nextCheckAt: T0 + T.offlineAfterMs,
					updatedAt: iso(T0),
					version: 4,
				},
				expectedVersion: 0,
				outbox: [],
			}),
		);
		assert.deepEqual(await store.sharingGroupsOf("ada"), ["g1"]);
		assert.equal(store.stats.sessionReads, 2, "one read per group the user is in (g2 has no session)");
		clock.now += 1000;
		await store.apply("g1", "ada", { type: "sample", point: { latitude: 45, longitude: 9, timestamp: iso(clock.now) } });
		assert.deepEqual(await store.sharingGroupsOf("ada"), ["g1"]);
		assert.equal(store.stats.sessionReads, 2);
		assert.equal(store.stats.deferred, 1);
	});
});

describe("SessionStore: the periodic check", () => {
	test("decides on the in-memory copy: a sample not yet written keeps the member from going offline", async () => {
		const { store, checks, repository, sample, advance } = setup();
		await store.apply("g1", "ada", { type: "sharingStarted" }, { caller: ADA });
		advance(50_000);
		await sample("g1", 45.001);
		advance(11_000); // the stored timer (sharing + 60 s) has come; the sample was 11 s ago
		await checks.run();
		const stored = repository.stored("g1", "ada");
		assert.equal(stored.state, "ACTIVE");
		assert.equal(stored.position?.latitude, 45.001, "the check wrote the pending sample with the new timer");
		assert.equal(stored.nextCheckAt, T0 + 50_000 + T.offlineAfterMs);
		assert.deepEqual([store.stats.checks, store.stats.claimed, store.stats.lost], [1, 1, 0]);
	});

	test("after a location instance went away, alerts wait for its users to reach their new owner: a traveller who reports meanwhile gets none", async () => {
		const { store, checks, repository, sample, advance, clock } = setup();
		await store.apply("g1", "ada", journey(T0), { caller: ADA });
		advance(T.offlineAfterMs); // silent as long as the threshold: her owner died, her samples went nowhere
		checks.holdUntil(clock.now + 5_000);
		await checks.run();
		assert.deepEqual(repository.stored("g1", "ada").journey?.alerts, [], "nothing decided during the hand-over");
		advance(2_000);
		await sample("g1", 45.5); // her sample reaches the new owner
		advance(3_000);
		await checks.run();
		assert.deepEqual(repository.stored("g1", "ada").journey?.alerts, [], "she reported: no OFFLINE");
		// Someone who stays silent is still alerted, after the hold.
		advance(T.offlineAfterMs);
		await checks.run();
		assert.deepEqual(repository.stored("g1", "ada").journey?.alerts, ["OFFLINE"]);
	});

	test("a silent journey goes OFFLINE once, with its notification in the same write", async () => {
		const { store, checks, repository, kicked, advance } = setup();
		await store.apply("g1", "ada", journey(T0), { caller: ADA });
		advance(T.offlineAfterMs);
		await checks.run();
		await checks.run();
		const stored = repository.stored("g1", "ada");
		assert.equal(stored.state, "WARNING");
		assert.deepEqual(
			stored.outbox.map(e => (e.payload as NotificationSend).kind),
			["JOURNEY_STARTED", "OFFLINE"],
		);
		assert.equal(kicked.length, 2);
	});
});

describe("membership changes and SOS", () => {
	test("a member who leaves during an SOS: their session there becomes a tombstone and another group's session leads the SOS", async () => {
		const { store, sos, membership, repository } = setup();
		const raised = await sos.raise(["g1", "g2"], ADA, { latitude: 45, longitude: 9, timestamp: iso(T0) }, null);
		assert.deepEqual(
			raised.map(s => [s.groupId, s.sos?.lead]),
			[
				["g1", true],
				["g2", false],
			],
		);
		assert.equal(repository.stored("g1", "ada").outbox.length, 1, "one SOS notification, on the lead");
		assert.equal(repository.stored("g2", "ada").outbox.length, 0);

		await membership.changed({
			eventId: "e1",
			type: "groups.memberRemoved",
			occurredAt: iso(T0),
			groupId: "g1",
			groupName: "g1",
			added: [],
			removed: [{ id: "ada", name: "Ada", surname: "Lovelace" }],
			deleted: false,
		});
		assert.equal(repository.stored("g1", "ada").removed, true);
		assert.equal(repository.stored("g2", "ada").sos?.lead, true, "the SOS keeps a lead");
		assert.equal((await store.get("g1", "ada")).state, "INACTIVE", "the tombstone reads as a blank session");
		assert.equal(await membership.isMemberNow("g1", "ada"), false);
	});

	test("stopping an SOS announces its end once, from the lead", async () => {
		const { sos, repository, advance } = setup();
		await sos.raise(["g1", "g2"], ADA, { latitude: 45, longitude: 9, timestamp: iso(T0) }, null);
		advance(1000);
		const stopped = await sos.stop(ADA, null);
		assert.deepEqual(
			stopped.map(s => s.state),
			["ACTIVE", "ACTIVE"],
		);
		const kinds = ["g1", "g2"].flatMap(g => repository.stored(g, "ada").outbox.map(e => (e.payload as NotificationSend).kind));
		assert.deepEqual(kinds, ["SOS", "SOS_ENDED"]);
		await assert.rejects(sos.stop(ADA, null), (err: { type?: string }) => err.type === "INVALID_STATE");
	});
});

describe("the Mongo repository's writes", () => {
	const session = (version: number): SessionData => ({
		groupId: "g1",
		userId: "ada",
		state: "ROUTING",
		sharing: true,
		blocked: false,
		position: null,
		lastSeenAt: T0,
		journey: null,
		anchor: null,
		sos: null,
		routeLength: 3,
		geofence: null,
		place: null,
		nextCheckAt: T0 + 1,
		updatedAt: iso(T0),
		version,
	});
	const envelope: Envelope = { id: "n1", type: "notifications.send", occurredAt: iso(T0), payload: {} };
	const point = { latitude: 45, longitude: 9, timestamp: iso(T0) };

	test("a later write is ONE update conditional on the version: $set the fields, $inc the version, $push route points and outbox", () => {
		const { filter, update } = updateOf({ session: session(5), expectedVersion: 4, route: { push: [point] }, outbox: [envelope] });
		assert.deepEqual(filter, { _id: "g1:ada", version: 4 });
		assert.deepEqual(update.$inc, { version: 1 });
		assert.deepEqual(update.$push, { outbox: { $each: [envelope] }, route: { $each: [point] } });
		assert.equal(update.$set.state, "ROUTING");
		assert.equal(update.$set.removed, false);
		assert.equal("version" in update.$set, false, "the version only moves by $inc");
		assert.equal("route" in update.$set, false);
	});

	test("a route reset is $set whole; nothing to push means no $push", () => {
		const { update } = updateOf({ session: session(5), expectedVersion: 4, route: { set: [point] }, outbox: [] });
		assert.deepEqual(update.$set.route, [point]);
		assert.equal("$push" in update, false);
	});

	test("a first write inserts the session with its route and outbox", () => {
		const doc = insertOf({ session: session(1), expectedVersion: 0, route: { set: [point] }, outbox: [envelope] });
		assert.equal(doc._id, "g1:ada");
		assert.equal(doc.version, 1);
		assert.deepEqual(doc.route, [point]);
		assert.deepEqual(doc.outbox, [envelope]);
		assert.equal(doc.removed, false);
	});
});
