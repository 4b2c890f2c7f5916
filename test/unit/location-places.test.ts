import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { newSession, type SessionData, type Thresholds } from "../../services/location/session.js";
import { decide, type LocationEvent } from "../../services/location/state-machine.js";
import { notificationCommand } from "../../services/location/notices.js";
import {
	placesOnSample,
	placesRebased,
	reconcile,
	withOccupants,
	type GeofenceState,
	type VersionedPlace,
} from "../../services/location/places/session-places.js";
import { resolveDestination } from "../../services/location/places/destination.js";
import { placesVersion } from "../../services/location/places/user-places.js";

// Places in a session (issue 16) with an injected clock: arrivals and departures as notices, the
// silent decisions for places created, moved and deleted, OwnTracks transitions against the same
// inside-set, and moving a running journey's ETA.

const T: Thresholds = { offlineAfterMs: 60_000, stuckAfterMs: 300_000, stuckRadiusM: 30, arrivalRadiusM: 50 };
const NOW = Date.parse("2025-06-01T12:00:00.000Z");
const iso = (ms: number) => new Date(ms).toISOString();
const HOME: VersionedPlace = { id: "home", name: "Home", latitude: 45, longitude: 9, radius: 100, version: 1 };
const SCHOOL: VersionedPlace = { id: "school", name: "School", latitude: 45.01, longitude: 9, radius: 150, version: 1 };
/** Metres north of home. */
const north = (metres: number, at = NOW, accuracy?: number) => ({
	latitude: 45 + metres / 111_195,
	longitude: 9,
	timestamp: iso(at),
	...(accuracy === undefined ? {} : { accuracy }),
});

let clock = NOW;
const sharing = (position = north(5, NOW - 1000)): SessionData => ({
	...newSession("g1", "ada", 3),
	state: "ACTIVE",
	sharing: true,
	position,
	lastSeenAt: NOW - 1000,
});
/** Applies samples in turn, a second apart, and collects the notices. */
function walk(session: SessionData, places: VersionedPlace[], metres: number[]): { session: SessionData; notices: string[] } {
	const notices: string[] = [];
	for (const m of metres) {
		clock += 1000;
		const t = decide(session, { type: "sample", point: north(m, clock), places }, clock, T);
		notices.push(...t.notices.map(n => `${n.kind} ${n.place?.name}`));
		session = t.session;
	}
	return { session, notices };
}

describe("places in a session", () => {
	test("leaving and coming back are one notice each, to the group, naming the place; jitter at the edge is none", () => {
		const start = decide(sharing(), { type: "placesChanged", places: [HOME] }, NOW, T).session;
		assert.deepEqual(start.place, { id: "home", name: "Home" });
		const { session, notices } = walk(start, [HOME], [50, 120, 90, 124, 300, 110, 124, 105, 40, 80, 120]);
		assert.deepEqual(notices, ["PLACE_LEFT Home", "PLACE_ARRIVED Home"]);
		assert.deepEqual(session.place, { id: "home", name: "Home" });
		const left = decide(session, { type: "sample", point: north(400, (clock += 1000)), places: [HOME] }, clock, T);
		const command = notificationCommand(left.notices[0]!, { userId: "ada", user: { name: "Ada", surname: "Lovelace" }, groupId: "g1" }, T);
		assert.deepEqual(command, {
			target: { groupId: "g1" },
			kind: "PLACE_LEFT",
			title: "Ada Lovelace left Home",
			body: "Ada Lovelace left Home.",
			groupId: "g1",
			subjectUserId: "ada",
			data: { place: { name: "Home" } },
		});
		assert.equal(left.changed, true);
	});

	test("a place created or moved around the user is decided silently from where they stood; a deleted one is forgotten silently", () => {
		// Home appears where Ada stands: her next sample, still at home, announces nothing.
		const created = walk(sharing(), [HOME], [10]);
		assert.deepEqual(created.notices, []);
		assert.deepEqual(created.session.geofence, { inside: ["home"], known: { home: 1 } });
		// Home moves 2 km away (version 2): she is no longer in it, and nobody hears she "left".
		const moved = { ...HOME, latitude: 45.02, version: 2 };
		assert.deepEqual(walk(created.session, [moved], [12]).notices, []);
		// Moved back onto her (version 3): no arrival either.
		const back = walk(walk(created.session, [moved], [12]).session, [{ ...HOME, version: 3 }], [14]);
		assert.deepEqual([back.notices, back.session.place?.id], [[], "home"]);
		// Deleted: forgotten, no departure; Session.place null.
		const deleted = walk(back.session, [], [300]);
		assert.deepEqual([deleted.notices, deleted.session.place, deleted.session.geofence?.inside], [[], null, []]);
	});

	test("a session's first position decides its places silently; a sample without places leaves them alone", () => {
		const first = decide({ ...sharing(), position: null }, { type: "sample", point: north(10, NOW), places: [HOME] }, NOW, T);
		assert.deepEqual([first.notices, first.session.place?.name], [[], "Home"]);
		const away = decide(first.session, { type: "sample", point: north(500, NOW + 1000) }, NOW + 1000, T);
		assert.deepEqual([away.notices, away.session.geofence, away.session.place?.name], [[], first.session.geofence, "Home"]);
	});

	test("nested places: Session.place is the most specific one", () => {
		const campus: VersionedPlace = { id: "campus", name: "Campus", latitude: 45, longitude: 9, radius: 2000, version: 1 };
		const placed = placesRebased(null, [campus, HOME], north(10));
		assert.deepEqual([placed.geofence.inside, placed.place], [["campus", "home"], { id: "home", name: "Home" }]);
		const out = placesOnSample(placed.geofence, [campus, HOME], north(10), north(600, NOW, 10));
		assert.deepEqual([out.crossings.map(c => `${c.kind} ${c.place.name}`), out.place?.name], [["left Home"], "Campus"]);
	});

	test("an OwnTracks transition is the crossing, and the server's detection of the same crossing (or a retry) is none", () => {
		const away = { ...sharing(north(800, NOW - 1000)), geofence: { inside: [], known: { home: 1 } } };
		const enter: LocationEvent = { type: "placeTransition", places: [HOME], placeId: "home", event: "enter" };
		const entered = decide(away, enter, NOW, T);
		assert.deepEqual(
			entered.notices.map(n => n.kind),
			["PLACE_ARRIVED"],
		);
		assert.deepEqual(entered.session.place, { id: "home", name: "Home" });
		assert.deepEqual(decide(entered.session, enter, NOW + 1, T).notices, [], "a retried transition");
		clock = NOW + 1000;
		assert.deepEqual(walk(entered.session, [HOME], [10]).notices, [], "the server sees her inside: already known");
		assert.deepEqual(
			decide(entered.session, { type: "placeTransition", places: [HOME], placeId: "elsewhere", event: "leave" }, NOW + 2, T).notices,
			[],
			"a region that is not one of the group's places",
		);
		assert.throws(
			() => decide({ ...away, sharing: false, state: "INACTIVE" }, enter, NOW, T),
			(err: { type?: string }) => err.type === "INVALID_STATE",
		);
	});

	test("reconcile keeps the order of the places and drops unknown ids", () => {
		assert.deepEqual(reconcile({ inside: ["gone", "school", "home"], known: { home: 1, school: 1 } }, [HOME, SCHOOL], north(10)), ["home", "school"]);
	});

	test("a user's places version changes with what a phone shows, and is empty for no places", () => {
		const place = { id: "home", name: "Home", latitude: 45, longitude: 9, radius: 100, createdAt: iso(NOW) };
		assert.equal(placesVersion([]), "");
		const v1 = placesVersion([place]);
		assert.notEqual(v1, "");
		assert.equal(placesVersion([{ ...place }]), v1);
		assert.notEqual(placesVersion([{ ...place, name: "Home!" }]), v1);
		assert.notEqual(placesVersion([{ ...place, radius: 101 }]), v1);
		assert.equal(placesVersion([{ ...place, id: "b" }, place]), placesVersion([place, { ...place, id: "b" }]), "order does not matter");
	});
});

describe("moving a running journey's ETA", () => {
	const journey = (etaMs: number): LocationEvent => ({
		type: "journeyStarted",
		journey: { destination: { name: "School", latitude: 45.01, longitude: 9, placeId: "school", radius: 150 }, eta: iso(etaMs), mode: "walking" },
	});

	test("a LATE alert clears when the new ETA is ahead, the group hears JOURNEY_UPDATED, and LATE announces again when that ETA passes", () => {
		const started = decide(sharing(), journey(NOW + 1000), NOW, T).session;
		const late = decide(started, { type: "timer" }, NOW + 2000, T);
		assert.deepEqual([late.session.state, late.session.journey?.alerts, late.notices.map(n => n.kind)], ["WARNING", ["LATE"], ["LATE"]]);
		const moved = decide(late.session, { type: "etaChanged", eta: iso(NOW + 30_000) }, NOW + 3000, T);
		assert.deepEqual([moved.session.state, moved.session.journey?.alerts, moved.session.journey?.eta], ["ROUTING", [], iso(NOW + 30_000)]);
		assert.deepEqual(
			moved.notices.map(n => [n.kind, n.audience, n.journey?.eta]),
			[["JOURNEY_UPDATED", "group", iso(NOW + 30_000)]],
		);
		assert.equal(moved.session.nextCheckAt, NOW + 30_001, "the timer moves with the ETA");
		const lateAgain = decide(moved.session, { type: "timer" }, NOW + 31_000, T);
		assert.deepEqual(
			lateAgain.notices.map(n => n.kind),
			["LATE"],
		);
	});

	test("an ETA moved while another alert stays keeps WARNING; without a journey it is refused", () => {
		const started = decide(sharing(), journey(NOW + 1000), NOW, T).session;
		const offlineAndLate = {
			...started,
			state: "WARNING" as const,
			journey: { ...started.journey!, alerts: ["OFFLINE" as const, "LATE" as const], notified: ["OFFLINE" as const, "LATE" as const] },
		};
		const moved = decide(offlineAndLate, { type: "etaChanged", eta: iso(NOW + 60_000) }, NOW + 2000, T);
		assert.deepEqual([moved.session.state, moved.session.journey?.alerts], ["WARNING", ["OFFLINE"]]);
		assert.throws(
			() => decide(sharing(), { type: "etaChanged", eta: iso(NOW + 60_000) }, NOW, T),
			(err: { type?: string; code?: number }) => err.type === "INVALID_STATE" && err.code === 409,
		);
	});

	test("a journey to a place arrives within the place's radius, not only ARRIVAL_RADIUS", () => {
		const started = decide(sharing(), journey(NOW + 600_000), NOW, T).session;
		// 120 m from the school's centre: beyond the 50 m arrival radius, inside its 150 m radius.
		const t = decide(started, { type: "sample", point: { latitude: 45.01 - 120 / 111_195, longitude: 9, timestamp: iso(NOW + 1000) } }, NOW + 1000, T);
		assert.deepEqual([t.session.state, t.notices.map(n => n.kind)], ["ACTIVE", ["ARRIVED"]]);
	});
});

describe("a journey's destination and the operators' occupants", () => {
	const school = { _id: "p1", groupId: "g1", name: "School", latitude: 45.01, longitude: 9, radius: 150, createdBy: "u1", createdAt: new Date(0), version: 1 };
	const findPlace = async (placeId: string) => (placeId === school._id ? school : null);

	test("a destination by place is that place with its radius; another group's is 422, an unknown one 404", async () => {
		assert.deepEqual(await resolveDestination("g1", { placeId: "p1" }, findPlace), {
			name: "School",
			latitude: 45.01,
			longitude: 9,
			placeId: "p1",
			radius: 150,
		});
		await assert.rejects(resolveDestination("g2", { placeId: "p1" }, findPlace), (err: { type?: string; code?: number }) => err.code === 422);
		await assert.rejects(
			resolveDestination("g1", { placeId: "nope" }, findPlace),
			(err: { type?: string; code?: number }) => err.type === "NOT_FOUND" && err.code === 404,
		);
	});

	test("a destination by coordinates needs all three fields, and names the missing ones", async () => {
		assert.deepEqual(await resolveDestination("g1", { name: "Home", latitude: 1, longitude: 2 }, findPlace), { name: "Home", latitude: 1, longitude: 2 });
		await assert.rejects(
			resolveDestination("g1", { name: "Home" }, findPlace),
			(err: { code?: number; data?: { field: string }[] }) =>
				err.code === 422 && err.data?.map(e => e.field).join() === "destination.latitude,destination.longitude",
		);
	});

	test("each place lists the members inside it, in the members' order", () => {
		const inside = new Map<string, GeofenceState>([
			["u2", { inside: ["p1"], known: {} }],
			["u1", { inside: ["p1", "p2"], known: {} }],
		]);
		assert.deepEqual(
			withOccupants([{ id: "p1" }, { id: "p2" }, { id: "p3" }], ["u1", "u2", "u3"], userId => inside.get(userId)),
			[
				{ id: "p1", inside: ["u1", "u2"] },
				{ id: "p2", inside: ["u1"] },
				{ id: "p3", inside: [] },
			],
		);
	});
});
