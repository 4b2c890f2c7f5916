import { test } from "node:test";
import assert from "node:assert/strict";
import type { Point } from "../../events/types.js";
import { HistoryBuffer, historyDocOf, pointOfHistory, type HistoryDoc } from "../../services/location/history/store.js";
import { liveLocationOf } from "../../services/location/live-batch.js";
import { gridCell } from "../../services/location/precision.js";
import { PrecisionSettings, sessionFor } from "../../services/location/precision-settings.js";
import { newSession, toApiSession, type SessionData } from "../../services/location/session.js";

// History and privacy (API.md §6.6): what each viewer is shown of an approximate member, the live
// update's two views, and the history buffer that keeps the sample path free of database writes.

const at = "2026-12-03T10:00:00.000Z";
const exact: Point = { latitude: 45.46421, longitude: 9.19012, timestamp: at, accuracy: 5, altitude: 130, speed: 1.4, heading: 45, battery: 80, source: "web" };
const cell = gridCell(exact);
const sessionOf = (state: SessionData["state"] = "ACTIVE"): SessionData => ({
	...newSession("g1", "ann", 3),
	state,
	sharing: true,
	position: exact,
	lastSeenAt: 1,
});

test("approximate: others see the cell's centre, the subject sees herself exactly, an SOS is exact; exact changes nothing", () => {
	const api = toApiSession(sessionOf());
	const others = sessionFor("bob", api, "approximate");
	assert.deepEqual(others.position, {
		latitude: cell.latitude,
		longitude: cell.longitude,
		timestamp: at,
		accuracy: cell.halfDiagonalM,
		battery: 80,
		source: "web",
	});
	assert.equal(others.precision, "approximate");
	const own = sessionFor("ann", api, "approximate");
	assert.deepEqual(own.position, api.position);
	assert.equal(own.precision, "approximate", "the subject's client can show the choice");
	assert.deepEqual(sessionFor("bob", toApiSession(sessionOf("SOS")), "approximate").position, exact);
	assert.equal(sessionFor("bob", api, "exact"), api, "exact: the very same view");
	assert.equal(sessionFor("bob", toApiSession(newSession("g1", "ann")), "approximate").position, null);
});

test("a live update carries `others` only when the other members are shown something else", () => {
	const approximate = liveLocationOf(sessionOf(), "approximate");
	assert.equal(approximate.session.position?.latitude, exact.latitude);
	assert.equal(approximate.others?.position?.latitude, cell.latitude);
	assert.equal(liveLocationOf(sessionOf(), "exact").others, undefined);
	assert.equal(liveLocationOf(sessionOf("SOS"), "approximate").others, undefined, "SOS: everyone sees the exact position");
});

test("precision choices: set, reset, loaded, forgotten with the user or the group", () => {
	const settings = new PrecisionSettings();
	assert.equal(settings.of("g1", "ann"), "exact");
	settings.set({ groupId: "g1", userId: "ann", precision: "approximate" });
	settings.set({ groupId: "g2", userId: "ann", precision: "approximate" });
	assert.equal(settings.of("g1", "ann"), "approximate");
	assert.equal(settings.of("g1", "bob"), "exact");
	settings.forgetGroup("g2");
	assert.equal(settings.of("g2", "ann"), "exact");
	settings.forgetUser("ann");
	assert.equal(settings.of("g1", "ann"), "exact");
	settings.load([{ groupId: "g3", userId: "cy", precision: "approximate" }]);
	assert.equal(settings.of("g3", "cy"), "approximate");
	settings.set({ groupId: "g3", userId: "cy", precision: "exact" });
	assert.equal(settings.of("g3", "cy"), "exact");
});

function buffer(historyDays = 30, insert: (docs: HistoryDoc[]) => Promise<void> = async () => undefined, now = Date.parse(at)) {
	return new HistoryBuffer({ insert, historyDays, now: () => now, logger: { warn: () => undefined } });
}

test("the history buffer writes many samples in one insert, and keeps them when the database refuses", async () => {
	const inserts: HistoryDoc[][] = [];
	let failing = true;
	const history = buffer(30, async docs => {
		if (failing) throw new Error("database down");
		inserts.push(docs);
	});
	for (let i = 0; i < 50; i++) history.add(i % 2 ? "ann" : "bob", { ...exact, timestamp: new Date(Date.parse(at) - i * 1000).toISOString() });
	assert.equal(history.size, 50, "queued, nothing written per sample");
	await history.flush();
	assert.equal(history.size, 50, "kept for the next round");
	failing = false;
	await history.flush();
	assert.equal(inserts.length, 1, "one insert for all of them");
	assert.equal(inserts[0]!.length, 50);
	assert.equal(history.size, 0);
	assert.deepEqual(
		pointOfHistory(historyDocOf("ann", exact)),
		{ latitude: exact.latitude, longitude: exact.longitude, timestamp: at, accuracy: 5, altitude: 130, speed: 1.4, heading: 45, source: "web" },
		"no battery",
	);
});

test("HISTORY_DAYS=0 keeps nothing; a point already past the retention is not kept; forget drops a user's queued points", async () => {
	const off = buffer(0);
	off.add("ann", exact);
	assert.equal(off.size, 0);
	const history = buffer(1);
	history.add("ann", { ...exact, timestamp: new Date(Date.parse(at) - 2 * 86_400_000).toISOString() });
	assert.equal(history.size, 0, "expired on arrival");
	history.add("ann", exact);
	history.add("bob", exact);
	assert.equal(history.pendingOf("ann", new Date(0), new Date(Date.parse(at) + 1)).length, 1);
	await history.forget("ann");
	assert.equal(history.pendingOf("ann", new Date(0), new Date(Date.parse(at) + 1)).length, 0);
	assert.equal(history.size, 1);
});
