import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Place, Session } from "../../events/types.js";
import { shortAddress } from "../../web/src/geocoder.js";
import { coordinateText, distanceText, placeText, sharesIn, sharingStatus, type SharedSession } from "../../web/src/whereabouts.js";

// The web client's words for where members are and whether to trust it (issue 17): pure functions.

const place = (name: string, latitude: number, longitude: number, radius: number): Place =>
	({ id: name, groupId: "g", name, latitude, longitude, radius, createdBy: "u", createdAt: "2026-01-01T00:00:00Z" }) as Place;
const HOME = place("Home", 44.1391, 12.2431, 100);
/** 0.001° of latitude is about 111 m. */
const north = (metres: number) => ({ latitude: HOME.latitude + metres / 111_195, longitude: HOME.longitude });

describe("a position in words from the group's places", () => {
	test("inside a place: 'at Home' (the smallest of overlapping places; the server's own verdict first)", () => {
		assert.equal(placeText(north(30), [HOME]), "at Home");
		const garden = place("Garden", HOME.latitude, HOME.longitude, 40);
		assert.equal(placeText(north(10), [HOME, garden]), "at Garden");
		assert.equal(placeText(north(900), [HOME], { name: "School" }), "at School");
	});

	test("near one: the distance from its edge, rounded to what a reader uses", () => {
		assert.equal(placeText(north(450), [HOME]), "350 m from Home");
		assert.equal(placeText(north(1_600), [HOME]), "1.5 km from Home");
		const school = place("School", HOME.latitude + 0.01, HOME.longitude, 50);
		assert.equal(placeText(north(1_000), [HOME, school]), "60 m from School", "the nearest edge wins");
	});

	test("far from every place (or none): coordinates, four decimals with hemispheres", () => {
		assert.equal(placeText(north(5_000), [HOME]), "44.1841° N, 12.2431° E");
		assert.equal(placeText({ latitude: -33.86786, longitude: -151.20732 }, []), "33.8679° S, 151.2073° W");
		assert.equal(coordinateText({ latitude: 0, longitude: 0 }), "0.0000° N, 0.0000° E");
		assert.deepEqual([distanceText(3), distanceText(994), distanceText(12_345)], ["10 m", "990 m", "12 km"]);
	});
});

describe("how far a member's position can be trusted", () => {
	const at = "2026-12-03T14:02:00.000Z";
	const base = { groupId: "g", userId: "u", journey: null, position: { latitude: 1, longitude: 2, timestamp: at }, updatedAt: at } as const;
	const s = (extra: Partial<SharedSession>): SharedSession => ({ ...base, state: "INACTIVE", ...extra }) as SharedSession;

	test("a deliberate stop and a silent phone read differently, each with its time and what it means", () => {
		const stopped = sharingStatus(s({ sharing: false }));
		const silent = sharingStatus(s({ sharing: true }));
		assert.deepEqual([stopped.tone, stopped.label], ["stopped", "Stopped sharing"]);
		assert.match(stopped.detail!, /^Stopped sharing at \d\d:\d\d/);
		assert.deepEqual([silent.tone, silent.label], ["silent", "No signal"]);
		assert.match(silent.detail!, /^No signal since \d\d:\d\d( [AP]M)? — phone may be off or app in background\. “Where are you now\?” asks it to report\.$/);
		assert.match(sharingStatus(s({ sharing: true }), true).detail!, /keep this page open in front/);
		assert.deepEqual(sharingStatus(s({ sharing: false, position: null })), { tone: "off", label: "Not sharing", detail: null });
	});

	test("a blocked location is never 'Sharing', and says how to fix it; an SOS stays an SOS", () => {
		assert.equal(sharingStatus(s({ state: "ACTIVE", sharing: true })).label, "Sharing");
		const blocked = sharingStatus(s({ sharing: true, locationBlocked: true }));
		assert.deepEqual([blocked.tone, blocked.label], ["blocked", "Location blocked"]);
		assert.match(blocked.detail!, /allow location/);
		assert.match(sharingStatus(s({ sharing: true, locationBlocked: true }), true).detail!, /Allow location for this site/);
		assert.equal(sharingStatus(s({ state: "SOS", locationBlocked: true })).label, "SOS");
	});

	test("positions go on to a silent session (the next one brings it back), not to a stopped one", () => {
		assert.equal(sharesIn(s({ sharing: true }) as Session), true);
		assert.equal(sharesIn(s({ sharing: false }) as Session), false);
		assert.equal(sharesIn(s({ state: "SOS", sharing: false }) as Session), true);
	});
});

test("a Nominatim answer reads as a short street address", () => {
	assert.equal(shortAddress({ address: { road: "Via Roma", house_number: "12", city: "Cesena" } }), "Via Roma 12, Cesena");
	assert.equal(shortAddress({ address: { road: "Via Roma", village: "Ronta" } }), "Via Roma, Ronta");
	assert.equal(shortAddress({ display_name: "Piazza del Popolo, Cesena, Forlì-Cesena, Emilia-Romagna, Italy" }), "Piazza del Popolo, Cesena, Forlì-Cesena");
	assert.equal(shortAddress({}), null);
});
