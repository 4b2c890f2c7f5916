import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ServiceBroker, type Context } from "moleculer";
import {
	applyPlaceChanges,
	canAddPlace,
	createPlaceParams,
	MAX_PLACES_PER_GROUP,
	normalizePlaceName,
	patchPlaceParams,
	PLACE_LIMIT_MESSAGE,
	PLACE_NAME_MAX,
	placeChanges,
	placeProblems,
	type Place,
} from "../../services/location/places/place-rules.js";

// The params run through the broker's real validator (fastest-validator, `$$strict: "remove"`),
// as they will in the location service's actions.

type ErrorShape = { type?: string; code?: number; data?: { field: string; type?: string }[] };
const fieldsOf = (err: ErrorShape) => (err.data ?? []).map(issue => issue.field).sort();

const broker = new ServiceBroker({ logger: false, nodeID: `place-rules-${process.pid}` });
broker.createService({
	name: "placesProbe",
	actions: {
		create: { params: createPlaceParams, handler: (ctx: Context<object>) => ctx.params },
		patch: { params: patchPlaceParams, handler: (ctx: Context<object>) => ctx.params },
	},
});
before(() => broker.start());
after(() => broker.stop());

const GOOD = { groupId: "g1", name: "School", latitude: 52.37, longitude: 4.89, radius: 150 };

async function refused(action: string, params: object): Promise<string[]> {
	try {
		await broker.call(action, params);
	} catch (err) {
		const e = err as ErrorShape;
		assert.equal(e.type, "VALIDATION_ERROR");
		assert.equal(e.code, 422);
		return fieldsOf(e);
	}
	assert.fail(`${action} accepted ${JSON.stringify(params)}`);
}

describe("creating a place: the validator's params", () => {
	test("a good place passes, unknown fields are dropped and the name is trimmed", async () => {
		const params = await broker.call("placesProbe.create", { ...GOOD, name: "  School ", createdBy: "someone-else", extra: 1 });
		assert.deepEqual(params, { ...GOOD });
	});

	test("radius 25–5000 m, both bounds included", async () => {
		for (const radius of [25, 5000]) await broker.call("placesProbe.create", { ...GOOD, radius });
		for (const radius of [24.9, 5000.1, 0, -100, Infinity, "150"]) assert.deepEqual(await refused("placesProbe.create", { ...GOOD, radius }), ["radius"]);
	});

	test("latitude −90..90 and longitude −180..180, finite", async () => {
		for (const [latitude, longitude] of [
			[90, 180],
			[-90, -180],
		])
			await broker.call("placesProbe.create", { ...GOOD, latitude, longitude });
		assert.deepEqual(await refused("placesProbe.create", { ...GOOD, latitude: 90.0001 }), ["latitude"]);
		assert.deepEqual(await refused("placesProbe.create", { ...GOOD, longitude: -180.0001 }), ["longitude"]);
		assert.deepEqual(await refused("placesProbe.create", { ...GOOD, latitude: NaN, longitude: Infinity }), ["latitude", "longitude"]);
	});

	test("every field is required", async () => {
		assert.deepEqual(await refused("placesProbe.create", {}), ["groupId", "latitude", "longitude", "name", "radius"]);
	});

	test("a blank name or a very long one is refused by the validator already", async () => {
		assert.deepEqual(await refused("placesProbe.create", { ...GOOD, name: "   " }), ["name"]);
		assert.deepEqual(await refused("placesProbe.create", { ...GOOD, name: "x".repeat(2 * PLACE_NAME_MAX + 1) }), ["name"]);
	});
});

describe("editing a place: any field, each with the same limits", () => {
	test("one field alone passes; none at all passes too (a no-op)", async () => {
		assert.deepEqual(await broker.call("placesProbe.patch", { groupId: "g1", placeId: "p1", radius: 300 }), { groupId: "g1", placeId: "p1", radius: 300 });
		assert.deepEqual(await broker.call("placesProbe.patch", { groupId: "g1", placeId: "p1", createdBy: "x" }), { groupId: "g1", placeId: "p1" });
	});

	test("the same ranges as on creation", async () => {
		assert.deepEqual(await refused("placesProbe.patch", { groupId: "g1", placeId: "p1", radius: 10 }), ["radius"]);
		assert.deepEqual(await refused("placesProbe.patch", { groupId: "g1", placeId: "p1", latitude: -91 }), ["latitude"]);
		assert.deepEqual(await refused("placesProbe.patch", { groupId: "g1", placeId: "p1", name: "" }), ["name"]);
		assert.deepEqual(await refused("placesProbe.patch", { groupId: "g1" }), ["placeId"]);
	});

	test("the pure check agrees with the validator on every candidate (the two cannot drift apart)", async () => {
		const candidates = [
			GOOD,
			{ ...GOOD, radius: 24 },
			{ ...GOOD, radius: 25 },
			{ ...GOOD, radius: 5000 },
			{ ...GOOD, radius: 5001 },
			{ ...GOOD, latitude: 90 },
			{ ...GOOD, latitude: 91 },
			{ ...GOOD, longitude: -180 },
			{ ...GOOD, longitude: 181 },
			{ ...GOOD, latitude: -90.5, radius: 1 },
		];
		for (const candidate of candidates) {
			const pure = placeProblems(candidate)
				.map(p => p.field)
				.sort();
			const validator = await broker.call("placesProbe.create", candidate).then(
				() => [],
				(err: ErrorShape) => fieldsOf(err),
			);
			assert.deepEqual(pure, validator, JSON.stringify(candidate));
		}
	});
});

describe("a place's name", () => {
	test("trimmed, every run of whitespace one space, NFC", () => {
		assert.equal(normalizePlaceName("  Grandma's\n\thouse  "), "Grandma's house");
		assert.equal(normalizePlaceName("Cafe\u0301"), "Café");
		assert.equal(normalizePlaceName("Café").length, 4);
	});

	test(`1 to ${PLACE_NAME_MAX} characters, an emoji counting once`, () => {
		assert.equal(normalizePlaceName("🏫".repeat(PLACE_NAME_MAX)), "🏫".repeat(PLACE_NAME_MAX));
		for (const [name, type] of [
			["", "stringMin"],
			[" \n ", "stringMin"],
			["🏫".repeat(PLACE_NAME_MAX + 1), "stringMax"],
			["x".repeat(PLACE_NAME_MAX + 1), "stringMax"],
		])
			assert.throws(
				() => normalizePlaceName(name),
				(err: ErrorShape) => err.type === "VALIDATION_ERROR" && err.code === 422 && err.data?.[0]?.field === "name" && err.data[0].type === type,
				JSON.stringify(name),
			);
	});

	test("control characters and bidi overrides (which would reverse 'Ada arrived at …') are refused", () => {
		for (const name of ["Home\u0000", "Ho\u0007me", "\u202eemoH", "Home\u2066x\u2069", "Ho\u0085me"])
			assert.throws(
				() => normalizePlaceName(name),
				(err: ErrorShape) => err.type === "VALIDATION_ERROR" && err.data?.[0]?.field === "name",
				JSON.stringify(name),
			);
		assert.equal(normalizePlaceName("👩‍👧 home"), "👩‍👧 home", "a zero-width joiner inside an emoji is fine");
	});

	test("placeProblems reports a stored name that is not normalized", () => {
		assert.deepEqual(placeProblems({ ...GOOD, name: " School" }), [{ field: "name", message: "must be trimmed, with single spaces" }]);
		assert.deepEqual(
			placeProblems({ ...GOOD, name: 42 }).map(p => p.field),
			["name"],
		);
	});
});

describe("limits and edits", () => {
	test(`at most ${MAX_PLACES_PER_GROUP} places per group`, () => {
		assert.equal(MAX_PLACES_PER_GROUP, 50);
		assert.equal(canAddPlace(0), true);
		assert.equal(canAddPlace(49), true);
		assert.equal(canAddPlace(50), false);
		assert.equal(canAddPlace(51), false);
		assert.match(PLACE_LIMIT_MESSAGE, /at most 50 places/);
	});

	test("a patch changes the fields it names, normalizing the name, and nothing else", () => {
		const place: Place = {
			id: "p1",
			groupId: "g1",
			name: "School",
			latitude: 1,
			longitude: 2,
			radius: 100,
			createdBy: "u1",
			createdAt: "2026-12-01T10:00:00.000Z",
		};
		assert.deepEqual(placeChanges({ groupId: "g1", placeId: "p1" }), {});
		const changes = placeChanges({ groupId: "g1", placeId: "p1", name: " Big  school ", radius: 250 });
		assert.deepEqual(changes, { name: "Big school", radius: 250 });
		assert.deepEqual(applyPlaceChanges(place, changes), { ...place, name: "Big school", radius: 250 });
		assert.throws(
			() => placeChanges({ groupId: "g1", placeId: "p1", name: "\u202e" }),
			(err: ErrorShape) => err.code === 422,
		);
	});
});
