import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { SessionState } from "../../events/types.js";
import { distanceMeters, withinRadius } from "../../services/location/geo.js";
import { hasArrived, isStale, lateDue, leftStuckCircle, nextCheckAt, offlineDue, stuckDue } from "../../services/location/rules.js";
import { capRoute, newSession, toApiSession, type SessionData, type Thresholds } from "../../services/location/session.js";
import { decide, promoteSosLead, type LocationEvent, type Transition } from "../../services/location/state-machine.js";
import { memberName, formatDuration, formatTime, notificationCommand, noticeText } from "../../services/location/notices.js";
import { etaProblem, sampleTimestampProblem } from "../../services/location/validation.js";

// Every rule of SPEC §5 with an injected clock: nothing here waits or touches a broker.

const T: Thresholds = { offlineAfterMs: 60_000, stuckAfterMs: 300_000, stuckRadiusM: 30, arrivalRadiusM: 50 };
const NOW = Date.parse("2025-06-01T12:00:00.000Z");
const iso = (ms: number) => new Date(ms).toISOString();

const HOME = { name: "Home", latitude: 45.0, longitude: 9.0 };
/** ~1.1 km north of home. */
const START = { latitude: 45.01, longitude: 9.0 };
/** ~11 m north of START: inside the 30 m stuck circle. */
const NUDGE = { latitude: 45.0101, longitude: 9.0 };
/** ~20 m from home: inside the 50 m arrival radius. */
const AT_HOME = { latitude: 45.00018, longitude: 9.0 };

const point = (where: { latitude: number; longitude: number }, at = NOW) => ({ latitude: where.latitude, longitude: where.longitude, timestamp: iso(at) });
const sample = (where: { latitude: number; longitude: number }, at = NOW): LocationEvent => ({ type: "sample", point: point(where, at) });
const journeyEvent = (etaMs = NOW + 3600_000): LocationEvent => ({ type: "journeyStarted", journey: { destination: HOME, eta: iso(etaMs), mode: "walking" } });

const inactive = (): SessionData => newSession("g1", "u1", 3);
const active = (): SessionData => ({ ...inactive(), state: "ACTIVE", sharing: true, position: point(START, NOW - 1000), lastSeenAt: NOW - 1000 });
const silent = (): SessionData => ({ ...active(), state: "INACTIVE" });
const routing = (etaMs?: number): SessionData => decide(active(), journeyEvent(etaMs), NOW, T).session;
const warning = (): SessionData => {
	const s = routing();
	return { ...s, state: "WARNING", journey: { ...s.journey!, alerts: ["OFFLINE"], notified: ["OFFLINE"] } };
};
const sos = (lead = true): SessionData => decide(active(), { type: "sosRaised", point: point(START), lead }, NOW, T).session;

const ALL_STATES: Record<SessionState, () => SessionData> = { INACTIVE: inactive, ACTIVE: active, ROUTING: routing, WARNING: warning, SOS: sos };
const kinds = (t: Transition) => t.notices.map(n => n.kind);

function assertRejected(make: () => SessionData, event: LocationEvent) {
	const before = make();
	const snapshot = structuredClone(before);
	assert.throws(
		() => decide(before, event, NOW, T),
		(err: { type?: string; code?: number }) => err.type === "INVALID_STATE" && err.code === 409,
	);
	assert.deepEqual(before, snapshot, "a rejected event changes nothing");
}

describe("state machine: the table of SPEC §5", () => {
	test("sharing started: INACTIVE → ACTIVE, nobody notified", () => {
		const t = decide(inactive(), { type: "sharingStarted" }, NOW, T);
		assert.equal(t.session.state, "ACTIVE");
		assert.equal(t.session.sharing, true);
		assert.equal(t.session.lastSeenAt, NOW);
		assert.equal(t.changed, true);
		assert.deepEqual(t.notices, []);
		assert.equal(t.session.updatedAt, iso(NOW));
	});

	test("position sample while sharing: INACTIVE (gone silent) → ACTIVE", () => {
		const t = decide(silent(), sample(NUDGE), NOW, T);
		assert.equal(t.session.state, "ACTIVE");
		assert.deepEqual(t.session.position, point(NUDGE));
		assert.deepEqual(t.notices, []);
	});

	test("position sample: ACTIVE stays ACTIVE, position updated, no route", () => {
		const t = decide(active(), sample(NUDGE), NOW, T);
		assert.equal(t.session.state, "ACTIVE");
		assert.deepEqual(t.session.position, point(NUDGE));
		assert.equal(t.session.lastSeenAt, NOW);
		assert.deepEqual(t.route, { kind: "keep" });
		assert.deepEqual(t.notices, []);
	});

	test("position sample: ROUTING stays ROUTING, route extended", () => {
		const t = decide(routing(), sample(NUDGE, NOW + 1000), NOW + 1000, T);
		assert.equal(t.session.state, "ROUTING");
		assert.deepEqual(t.route, { kind: "append", points: [point(NUDGE, NOW + 1000)] });
		assert.deepEqual(t.notices, []);
	});

	test("position sample: SOS stays SOS, route extended", () => {
		const t = decide(sos(), sample(NUDGE, NOW + 1000), NOW + 1000, T);
		assert.equal(t.session.state, "SOS");
		assert.deepEqual(t.route, { kind: "append", points: [point(NUDGE, NOW + 1000)] });
		assert.deepEqual(t.notices, []);
	});

	test("position sample: WARNING → ROUTING once a sample clears OFFLINE", () => {
		const t = decide(warning(), sample(NUDGE, NOW + 1000), NOW + 1000, T);
		assert.equal(t.session.state, "ROUTING");
		assert.deepEqual(t.session.journey!.alerts, []);
		assert.deepEqual(t.notices, []);
	});

	test("position sample: WARNING stays WARNING while STUCK and inside the circle, clears when leaving it", () => {
		const start = routing();
		const stuck: SessionData = { ...start, state: "WARNING", journey: { ...start.journey!, alerts: ["STUCK"], notified: ["STUCK"] } };
		const stillThere = decide(stuck, sample(NUDGE, NOW + 1000), NOW + 1000, T);
		assert.equal(stillThere.session.state, "WARNING");
		assert.deepEqual(stillThere.session.journey!.alerts, ["STUCK"]);
		const moved = decide(stillThere.session, sample({ latitude: 45.005, longitude: 9.0 }, NOW + 2000), NOW + 2000, T);
		assert.equal(moved.session.state, "ROUTING");
		assert.deepEqual(moved.session.journey!.alerts, []);
		assert.equal(moved.session.anchor!.latitude, 45.005, "the circle moves with the user");
	});

	test("position sample: WARNING with LATE stays WARNING (LATE lasts until the journey ends)", () => {
		const late = decide(routing(NOW + 10_000), { type: "timer" }, NOW + 20_000, T).session;
		assert.deepEqual(late.journey!.alerts, ["LATE"]);
		const t = decide(late, sample({ latitude: 45.005, longitude: 9.0 }, NOW + 21_000), NOW + 21_000, T);
		assert.equal(t.session.state, "WARNING");
		assert.deepEqual(t.session.journey!.alerts, ["LATE"]);
	});

	test("sharing stopped: ACTIVE → INACTIVE, last position kept", () => {
		const before = active();
		const t = decide(before, { type: "sharingStopped" }, NOW, T);
		assert.equal(t.session.state, "INACTIVE");
		assert.equal(t.session.sharing, false);
		assert.deepEqual(t.session.position, before.position);
		assert.deepEqual(t.notices, []);
	});

	test("sharing stopped while silent: stays INACTIVE, sharing off", () => {
		const t = decide(silent(), { type: "sharingStopped" }, NOW, T);
		assert.equal(t.session.state, "INACTIVE");
		assert.equal(t.session.sharing, false);
	});

	test("sharing stopped during a journey ends it: INACTIVE, route discarded, journey ended", () => {
		for (const make of [routing, warning]) {
			const t = decide(make(), { type: "sharingStopped" }, NOW, T);
			assert.equal(t.session.state, "INACTIVE");
			assert.equal(t.session.journey, null);
			assert.deepEqual(t.route, { kind: "reset", points: [] });
			assert.deepEqual(kinds(t), ["JOURNEY_ENDED"]);
			assert.equal(t.notices[0].audience, "group");
			assert.equal(t.notices[0].journey!.destination.name, "Home");
		}
	});

	test("no sample for offlineAfter: ACTIVE → INACTIVE, nobody notified, sharing stays on", () => {
		const t = decide(active(), { type: "timer" }, NOW - 1000 + T.offlineAfterMs, T);
		assert.equal(t.session.state, "INACTIVE");
		assert.equal(t.session.sharing, true);
		assert.deepEqual(t.notices, []);
		assert.equal(decide(active(), { type: "timer" }, NOW - 1001 + T.offlineAfterMs, T).changed, false, "not a millisecond early");
	});

	test("no sample for offlineAfter: ROUTING → WARNING with OFFLINE, group told it went offline", () => {
		const t = decide(routing(NOW + 3600_000), { type: "timer" }, NOW + T.offlineAfterMs, T);
		assert.equal(t.session.state, "WARNING");
		assert.deepEqual(t.session.journey!.alerts, ["OFFLINE"]);
		assert.deepEqual(kinds(t), ["OFFLINE"]);
		assert.equal(t.notices[0].audience, "group");
	});

	test("no sample for offlineAfter: WARNING (late) → WARNING with OFFLINE added", () => {
		const late = decide(routing(NOW + 10_000), { type: "timer" }, NOW + 20_000, T).session;
		const t = decide(late, { type: "timer" }, NOW + T.offlineAfterMs, T);
		assert.equal(t.session.state, "WARNING");
		assert.deepEqual(t.session.journey!.alerts, ["LATE", "OFFLINE"]);
		assert.deepEqual(kinds(t), ["OFFLINE"]);
	});

	test("no sample for offlineAfter: SOS stays SOS; its lead tells everyone once, other groups stay quiet", () => {
		const lead = decide(sos(true), { type: "timer" }, NOW + T.offlineAfterMs, T);
		assert.equal(lead.session.state, "SOS");
		assert.deepEqual(kinds(lead), ["OFFLINE"]);
		assert.equal(lead.notices[0].audience, "coMembers");
		assert.equal(lead.session.sos!.offlineNotified, true);
		assert.deepEqual(kinds(decide(lead.session, { type: "timer" }, NOW + 10 * T.offlineAfterMs, T)), [], "once per SOS");
		assert.deepEqual(kinds(decide(sos(false), { type: "timer" }, NOW + T.offlineAfterMs, T)), []);
	});

	test("journey started: INACTIVE or ACTIVE → ROUTING, sharing on, group told", () => {
		for (const make of [inactive, active]) {
			const t = decide(make(), journeyEvent(), NOW, T);
			assert.equal(t.session.state, "ROUTING");
			assert.equal(t.session.sharing, true);
			assert.deepEqual(t.session.journey, {
				destination: HOME,
				eta: iso(NOW + 3600_000),
				mode: "walking",
				startedAt: iso(NOW),
				alerts: [],
				notified: [],
			});
			assert.deepEqual(t.route, { kind: "reset", points: [] });
			assert.deepEqual(kinds(t), ["JOURNEY_STARTED"]);
			assert.equal(t.notices[0].journey!.eta, iso(NOW + 3600_000));
		}
	});

	test("within arrivalRadius of the destination: ROUTING or WARNING → ACTIVE, route discarded, arrived", () => {
		for (const make of [routing, warning]) {
			const t = decide(make(), sample(AT_HOME, NOW + 5000), NOW + 5000, T);
			assert.equal(t.session.state, "ACTIVE");
			assert.equal(t.session.journey, null);
			assert.deepEqual(t.session.position, point(AT_HOME, NOW + 5000));
			assert.deepEqual(t.route, { kind: "reset", points: [] });
			assert.deepEqual(kinds(t), ["ARRIVED"]);
		}
	});

	test("journey stopped by the user: ROUTING or WARNING → ACTIVE, route discarded, journey ended", () => {
		for (const make of [routing, warning]) {
			const t = decide(make(), { type: "journeyStopped" }, NOW, T);
			assert.equal(t.session.state, "ACTIVE");
			assert.equal(t.session.journey, null);
			assert.equal(t.session.anchor, null);
			assert.deepEqual(t.route, { kind: "reset", points: [] });
			assert.deepEqual(kinds(t), ["JOURNEY_ENDED"]);
		}
	});

	test("ETA passed without arrival: ROUTING → WARNING with LATE, once per journey", () => {
		const eta = NOW + 10_000;
		assert.equal(decide(routing(eta), { type: "timer" }, eta, T).changed, false, "not at the ETA itself");
		const t = decide(routing(eta), { type: "timer" }, eta + 1, T);
		assert.equal(t.session.state, "WARNING");
		assert.deepEqual(t.session.journey!.alerts, ["LATE"]);
		assert.deepEqual(kinds(t), ["LATE"]);
		assert.match(t.notices[0].journey!.eta, /^2025-06-01T12:00:10/);
		assert.deepEqual(kinds(decide(t.session, { type: "timer" }, eta + 5000, T)), [], "LATE fires once");
	});

	test("ETA passed: WARNING (offline) → WARNING with LATE added", () => {
		const w = warning();
		const t = decide({ ...w, journey: { ...w.journey!, eta: iso(NOW + 10_000) } }, { type: "timer" }, NOW + 10_001, T);
		assert.equal(t.session.state, "WARNING");
		assert.deepEqual(t.session.journey!.alerts, ["OFFLINE", "LATE"]);
		assert.deepEqual(kinds(t), ["LATE"]);
	});

	test("no movement beyond stuckRadius for stuckAfter: ROUTING or WARNING → WARNING with STUCK", () => {
		// Samples every 50 s keep the user online while they stay inside the circle.
		let s = routing(NOW + 24 * 3600_000);
		let at = NOW;
		const fired: string[] = [];
		while (at < NOW + T.stuckAfterMs + 60_000) {
			at += 50_000;
			const t = decide(s, sample(at % 100_000 === 0 ? START : NUDGE, at), at, T);
			fired.push(...kinds(t));
			s = t.session;
		}
		assert.deepEqual(fired, ["STUCK"]);
		assert.equal(s.state, "WARNING");
		assert.deepEqual(s.journey!.alerts, ["STUCK"]);

		const t = decide(warning(), { type: "timer" }, NOW + T.stuckAfterMs, T);
		assert.ok(t.session.journey!.alerts.includes("STUCK"));
		assert.ok(kinds(t).includes("STUCK"));
	});

	test("SOS raised: any state but SOS → SOS, sharing on, route starts at the SOS; only the lead notifies", () => {
		for (const make of [inactive, active, silent, routing, warning]) {
			const t = decide(make(), { type: "sosRaised", point: point(NUDGE), lead: true }, NOW, T);
			assert.equal(t.session.state, "SOS");
			assert.equal(t.session.sharing, true);
			assert.equal(t.session.journey, null);
			assert.deepEqual(t.session.position, point(NUDGE));
			assert.deepEqual(t.route, { kind: "reset", points: [point(NUDGE)] });
			assert.deepEqual(kinds(t), ["SOS"]);
			assert.equal(t.notices[0].audience, "coMembers");
			assert.deepEqual(kinds(decide(make(), { type: "sosRaised", point: point(NUDGE), lead: false }, NOW, T)), []);
		}
	});

	test("SOS stopped: SOS → ACTIVE, route discarded; the announcing session tells everyone once", () => {
		const t = decide(sos(), { type: "sosStopped", announce: true }, NOW, T);
		assert.equal(t.session.state, "ACTIVE");
		assert.equal(t.session.sos, null);
		assert.deepEqual(t.route, { kind: "reset", points: [] });
		assert.deepEqual(kinds(t), ["SOS_ENDED"]);
		assert.equal(t.notices[0].audience, "coMembers");
		assert.deepEqual(kinds(decide(sos(), { type: "sosStopped", announce: false }, NOW, T)), []);
	});
});

describe("state machine: rejected events change nothing (409 INVALID_STATE)", () => {
	const cases: [string, SessionState[], LocationEvent][] = [
		["sharing started", ["ACTIVE", "ROUTING", "WARNING", "SOS"], { type: "sharingStarted" }],
		["sharing stopped", ["SOS"], { type: "sharingStopped" }],
		["journey started", ["ROUTING", "WARNING", "SOS"], journeyEvent()],
		["journey stopped", ["INACTIVE", "ACTIVE", "SOS"], { type: "journeyStopped" }],
		["SOS raised", ["SOS"], { type: "sosRaised", point: point(START), lead: true }],
		["SOS stopped", ["INACTIVE", "ACTIVE", "ROUTING", "WARNING"], { type: "sosStopped", announce: true }],
	];
	for (const [name, states, event] of cases) {
		for (const state of states) test(`${name} in ${state}`, () => assertRejected(ALL_STATES[state], event));
	}
	test("sharing stopped when not sharing", () => assertRejected(inactive, { type: "sharingStopped" }));
	test("a sample where the user does not share", () => assertRejected(inactive, sample(START)));
});

describe("state machine: the other rules of SPEC §5", () => {
	test("a stale sample (older than the last position, or the same fix again) is ignored, not an error", () => {
		const before = active();
		for (const stale of [sample(NUDGE, NOW - 1001), sample(NUDGE, NOW - 5000), sample(START, NOW - 1000)]) {
			const t = decide(before, stale, NOW, T);
			assert.equal(t.changed, false);
			assert.equal(t.session, before);
			assert.deepEqual(t.route, { kind: "keep" });
		}
	});

	test("a second sample in the same millisecond, elsewhere, is applied after the first", () => {
		const before = routing(NOW + 3600_000);
		const first = decide(before, sample(NUDGE, NOW), NOW, T).session;
		const second = decide(first, sample(START, NOW), NOW, T);
		assert.equal(second.changed, true);
		assert.deepEqual(second.session.position, point(START, NOW));
		assert.deepEqual(second.route, { kind: "append", points: [point(START, NOW)] });
	});

	test("each alert notifies once per journey, even when it clears and comes back", () => {
		let s = routing(NOW + 3600_000);
		const fired: string[] = [];
		const step = (event: LocationEvent, at: number) => {
			const t = decide(s, event, at, T);
			fired.push(...kinds(t));
			s = t.session;
		};
		step({ type: "timer" }, NOW + T.offlineAfterMs); // offline
		step(sample(NUDGE, NOW + 70_000), NOW + 70_000); // back
		assert.equal(s.state, "ROUTING");
		step({ type: "timer" }, NOW + 70_000 + T.offlineAfterMs); // offline again
		assert.equal(s.state, "WARNING");
		assert.deepEqual(s.journey!.alerts, ["OFFLINE"]);
		assert.deepEqual(fired, ["OFFLINE"]);
	});

	test("a new journey starts with no alerts and may notify them again", () => {
		const late = decide(routing(NOW + 1000), { type: "timer" }, NOW + 2000, T).session;
		const ended = decide(late, { type: "journeyStopped" }, NOW + 3000, T).session;
		const again = decide(ended, journeyEvent(NOW + 5000), NOW + 4000, T).session;
		assert.deepEqual(again.journey!.alerts, []);
		assert.deepEqual(kinds(decide(again, { type: "timer" }, NOW + 6000, T)), ["LATE"]);
	});

	test("the timer leaves INACTIVE sessions alone", () => {
		const t = decide(silent(), { type: "timer" }, NOW + 10 * T.offlineAfterMs, T);
		assert.equal(t.changed, false);
		assert.deepEqual(t.notices, []);
	});

	test("a journey start anchors the stuck circle at the known position", () => {
		const s = routing();
		assert.deepEqual(s.anchor, { latitude: START.latitude, longitude: START.longitude, since: NOW });
		assert.equal(decide(inactive(), journeyEvent(), NOW, T).session.anchor, null, "no position: no circle until the first sample");
	});

	test("an SOS session whose lead left can be promoted, and then watches for silence", () => {
		const follower = sos(false);
		assert.equal(follower.nextCheckAt, null);
		const promoted = promoteSosLead(follower, T);
		assert.equal(promoted.sos!.lead, true);
		assert.equal(promoted.nextCheckAt, NOW + T.offlineAfterMs);
		assert.equal(promoteSosLead(promoted, T), promoted);
	});
});

describe("next check time (persisted, so timers survive a restart)", () => {
	test("ACTIVE: when it would go silent", () => {
		assert.equal(nextCheckAt(active(), T), NOW - 1000 + T.offlineAfterMs);
	});
	test("INACTIVE: never", () => {
		assert.equal(nextCheckAt(inactive(), T), null);
		assert.equal(nextCheckAt(silent(), T), null);
	});
	test("ROUTING: the earliest of offline, late and stuck", () => {
		assert.equal(nextCheckAt(routing(NOW + 10_000), T), NOW + 10_001);
		assert.equal(nextCheckAt(routing(NOW + 3600_000), T), NOW + T.offlineAfterMs);
		const s = routing(NOW + 3600_000);
		assert.equal(nextCheckAt({ ...s, lastSeenAt: NOW + 3600_000 }, T), NOW + T.stuckAfterMs);
	});
	test("WARNING: alerts already raised are not checked again", () => {
		const w = warning(); // OFFLINE raised
		assert.equal(nextCheckAt(w, T), NOW + T.stuckAfterMs);
		assert.equal(nextCheckAt({ ...w, journey: { ...w.journey!, alerts: ["OFFLINE", "LATE", "STUCK"] } }, T), null);
	});
	test("SOS: only the lead, until it has announced going offline", () => {
		assert.equal(nextCheckAt(sos(true), T), NOW + T.offlineAfterMs);
		assert.equal(nextCheckAt(sos(false), T), null);
	});
	test("decide stores it on every transition", () => {
		assert.equal(decide(inactive(), { type: "sharingStarted" }, NOW, T).session.nextCheckAt, NOW + T.offlineAfterMs);
	});
});

describe("rules with an injected clock", () => {
	test("offline: no sign of life for offlineAfter", () => {
		assert.equal(offlineDue(null, NOW, T), false);
		assert.equal(offlineDue(NOW, NOW + 59_999, T), false);
		assert.equal(offlineDue(NOW, NOW + 60_000, T), true);
	});
	test("late: strictly after the ETA", () => {
		assert.equal(lateDue({ eta: iso(NOW) }, NOW), false);
		assert.equal(lateDue({ eta: iso(NOW) }, NOW + 1), true);
	});
	test("stuck: inside the circle for stuckAfter", () => {
		const anchor = { ...START, since: NOW };
		assert.equal(stuckDue(null, NOW + 10 * T.stuckAfterMs, T), false);
		assert.equal(stuckDue(anchor, NOW + T.stuckAfterMs - 1, T), false);
		assert.equal(stuckDue(anchor, NOW + T.stuckAfterMs, T), true);
		assert.equal(leftStuckCircle(NUDGE, anchor, T), false);
		assert.equal(leftStuckCircle({ latitude: 45.0103, longitude: 9.0 }, anchor, T), true);
	});
	test("arrival: within arrivalRadius (great-circle)", () => {
		const journey = { destination: HOME };
		assert.equal(hasArrived(AT_HOME, journey, T), true);
		assert.equal(hasArrived({ latitude: 45.0005, longitude: 9.0 }, journey, T), false);
	});
	test("stale: older than the current position, or the same fix sent again", () => {
		const here = { latitude: 45, longitude: 9 };
		const there = { latitude: 45.001, longitude: 9 };
		assert.equal(isStale({ ...here, timestamp: iso(NOW) }, null), false);
		assert.equal(isStale({ ...here, timestamp: iso(NOW - 1) }, { ...there, timestamp: iso(NOW) }), true);
		assert.equal(isStale({ ...here, timestamp: iso(NOW) }, { ...here, timestamp: iso(NOW) }), true, "a resend changes nothing");
		assert.equal(isStale({ ...there, timestamp: iso(NOW) }, { ...here, timestamp: iso(NOW) }), false, "elsewhere in the same millisecond: accepted");
		assert.equal(isStale({ ...here, timestamp: iso(NOW + 1) }, { ...here, timestamp: iso(NOW) }), false);
	});
});

describe("geodesy", () => {
	test("great-circle distances", () => {
		assert.equal(distanceMeters(START, START), 0);
		// One degree of latitude is ~111.2 km on the mean sphere.
		assert.ok(Math.abs(distanceMeters({ latitude: 0, longitude: 0 }, { latitude: 1, longitude: 0 }) - 111_195) < 1);
		// Paris → London, ~343.5 km.
		const d = distanceMeters({ latitude: 48.8566, longitude: 2.3522 }, { latitude: 51.5074, longitude: -0.1278 });
		assert.ok(Math.abs(d - 343_500) < 1_000, `${d}`);
		// Across the antimeridian is short, not half the world.
		assert.ok(distanceMeters({ latitude: 0, longitude: 179.9999 }, { latitude: 0, longitude: -179.9999 }) < 30);
		assert.ok(Math.abs(distanceMeters({ latitude: 90, longitude: 0 }, { latitude: -90, longitude: 0 }) - Math.PI * 6_371_008.8) < 1);
	});
	test("radius boundaries count as inside", () => {
		const d = distanceMeters(HOME, AT_HOME);
		assert.equal(withinRadius(AT_HOME, HOME, d), true);
		assert.equal(withinRadius(AT_HOME, HOME, d - 0.01), false);
	});
});

describe("routes, texts and validation", () => {
	test("a route past the cap is thinned, keeping its first and last points", () => {
		const points = Array.from({ length: 1001 }, (_, i) => point(START, NOW + i));
		const capped = capRoute(points, 1000);
		assert.ok(capped.length <= 1000 && capped.length >= 500, `${capped.length}`);
		assert.deepEqual(capped[0], points[0]);
		assert.deepEqual(capped.at(-1), points.at(-1));
		assert.equal(capRoute(points.slice(0, 10), 1000).length, 10);
	});

	test("titles name the user; journey bodies say where to and by when, and the data carry the ETA, destination and last position", () => {
		const subject = { userId: "u1", user: { name: "Ada", surname: "Lovelace" }, groupId: "g1", groupVersion: 4 };
		const started = decide(active(), journeyEvent(Date.parse("2025-06-01T18:30:00Z")), NOW, T).notices[0];
		const text = noticeText(started, subject, T);
		assert.equal(text.title, "Ada Lovelace started a journey");
		assert.match(text.body, /Home/);
		assert.match(text.body, /2025-06-01 18:30 UTC/);
		assert.deepEqual(notificationCommand(started, subject, T), {
			target: { groupId: "g1" },
			kind: "JOURNEY_STARTED",
			title: text.title,
			body: text.body,
			groupId: "g1",
			subjectUserId: "u1",
			data: { eta: "2025-06-01T18:30:00.000Z", destination: { name: "Home", latitude: 45, longitude: 9 }, mode: "walking" },
			groupVersion: 4,
		});
		const late = decide(routing(NOW + 1000), { type: "timer" }, NOW + 2000, T).notices[0];
		assert.equal(noticeText(late, subject, T).title, "Ada Lovelace is late");
		assert.match(noticeText(late, subject, T).body, /Home/);
		const stuck = noticeText({ kind: "STUCK", audience: "group", journey: toApiSession(routing()).journey! }, subject, T);
		assert.match(stuck.body, /30 m for 5 min/);
		const raised = decide(active(), { type: "sosRaised", point: point(START), lead: true }, NOW, T).notices[0];
		const sosCommand = notificationCommand(raised, subject, T);
		assert.deepEqual(sosCommand.target, { coMembersOf: "u1" });
		assert.equal(sosCommand.title, "Ada Lovelace raised an SOS");
		assert.match(sosCommand.body, /45\.01000, 9\.00000/);
		assert.equal(sosCommand.groupId, undefined, "an SOS is about the user, not one group");
		assert.deepEqual(sosCommand.data?.position, { latitude: 45.01, longitude: 9, timestamp: raised!.position!.timestamp });
		assert.equal(memberName(null), "A member");
		assert.equal(formatTime("2025-06-01T18:30:59.999Z"), "2025-06-01 18:30 UTC");
		assert.equal(formatDuration(90 * 60_000), "1 h 30 min");
		assert.equal(formatDuration(2000), "2 s");
	});

	test("sample timestamps: a little clock skew is fine, the future is not", () => {
		assert.equal(sampleTimestampProblem(iso(NOW + 29_000), NOW), null);
		assert.equal(sampleTimestampProblem(iso(NOW - 3600_000), NOW), null);
		assert.equal(sampleTimestampProblem(iso(NOW + 31_000), NOW)?.field, "timestamp");
	});

	test("journey ETAs must be in the future", () => {
		assert.equal(etaProblem(iso(NOW + 1000), NOW), null);
		assert.equal(etaProblem(iso(NOW), NOW)?.field, "eta");
		assert.equal(etaProblem(iso(NOW - 1000), NOW)?.field, "eta");
	});

	test("the API view hides the internals", () => {
		const view = toApiSession(warning());
		assert.deepEqual(Object.keys(view).sort(), ["groupId", "journey", "place", "position", "sharing", "state", "updatedAt", "userId"]);
		assert.deepEqual(Object.keys(view.journey!).sort(), ["alerts", "destination", "eta", "mode", "startedAt"]);
	});
});

describe("a device whose location is blocked (issue 17)", () => {
	const blocked: LocationEvent = { type: "locationBlocked" };

	test("an ACTIVE session stops saying it shares: INACTIVE, still sharing, marked locationBlocked for the group", () => {
		const t = decide(active(), blocked, NOW, T);
		assert.equal(t.changed, true);
		assert.deepEqual([t.session.state, t.session.sharing, t.session.blocked], ["INACTIVE", true, true]);
		assert.equal(toApiSession(t.session).locationBlocked, true);
		assert.equal("locationBlocked" in toApiSession(active()), false, "absent unless blocked");
	});

	test("a journey or an SOS goes on, marked; a member not sharing has nothing to block", () => {
		for (const make of [routing, warning, sos]) {
			const t = decide(make(), blocked, NOW, T);
			assert.deepEqual([t.session.state, t.session.blocked], [make().state, true]);
		}
		assertRejected(inactive, blocked);
	});

	test("the next position clears it and brings the session back to ACTIVE; so does switching sharing", () => {
		const b = decide(active(), blocked, NOW, T).session;
		const back = decide(b, sample(NUDGE, NOW + 5000), NOW + 5000, T).session;
		assert.deepEqual([back.state, back.blocked, "locationBlocked" in toApiSession(back)], ["ACTIVE", false, false]);
		assert.equal(decide(b, { type: "sharingStopped" }, NOW, T).session.blocked, false);
		assert.equal(decide(b, blocked, NOW, T).changed, false, "told twice: nothing new");
	});
});
