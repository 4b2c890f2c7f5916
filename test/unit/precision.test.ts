import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { distanceMeters, EARTH_RADIUS_M, type LatLng } from "../../services/location/geo.js";
import { announcedAt } from "../../services/location/notice-envelopes.js";
import {
	approximatePoint,
	BAND_DEG,
	columnsOfBand,
	gridCell,
	LATITUDE_BANDS,
	positionFor,
	routeFor,
	seesExact,
	type PrecisionView,
	type SharedPoint,
} from "../../services/location/precision.js";
import { Rng } from "../support/fuzz.js";

// Approximate sharing of API.md §6.6: a fixed ~1 km grid, the same cell for the same place.

const T = "2026-12-03T10:00:00.000Z";
const pointAt = (where: LatLng, extra: Partial<SharedPoint> = {}): SharedPoint => ({ ...where, timestamp: T, ...extra });

function offset(from: LatLng, north: number, east: number): LatLng {
	const perDegree = (Math.PI * EARTH_RADIUS_M) / 180;
	return { latitude: from.latitude + north / perDegree, longitude: from.longitude + east / (perDegree * Math.cos((from.latitude * Math.PI) / 180)) };
}

/** The east–west width of a cell, in metres, measured along its middle parallel. */
function cellWidthM(position: LatLng): number {
	const cell = gridCell(position);
	const west = { latitude: cell.latitude, longitude: cell.longitude - 180 / cell.columns };
	const east = { latitude: cell.latitude, longitude: cell.longitude + 180 / cell.columns };
	return distanceMeters(west, east);
}

const inRange = (p: LatLng) => p.latitude >= -90 && p.latitude <= 90 && p.longitude >= -180 && p.longitude < 180;

describe("the grid", () => {
	test("0.009° bands from pole to pole, ~1 km tall", () => {
		assert.equal(LATITUDE_BANDS * BAND_DEG, 180);
		const cell = gridCell({ latitude: 45.3, longitude: 9.1 });
		const tall = distanceMeters({ latitude: cell.latitude - BAND_DEG / 2, longitude: 9 }, { latitude: cell.latitude + BAND_DEG / 2, longitude: 9 });
		assert.ok(tall > 990 && tall < 1010, `${tall} m`);
	});

	for (const latitude of [0, 45, -45, 70, -70, 80]) {
		test(`cells are ~1 km wide at ${latitude}°: the column count follows the latitude`, () => {
			const width = cellWidthM({ latitude, longitude: 12.3 });
			assert.ok(width >= 990 && width < 1100, `${width.toFixed(0)} m wide`);
		});
	}

	test("columns tile each band exactly: whole numbers, at least one, fewer towards the poles", () => {
		// Just north of the equator: 360° · cos(0.0045°) / 0.009° is a hair under 40 000.
		assert.equal(columnsOfBand(LATITUDE_BANDS / 2), 39_999);
		assert.ok(columnsOfBand(LATITUDE_BANDS - 1) >= 1 && columnsOfBand(0) >= 1);
		assert.ok(columnsOfBand(LATITUDE_BANDS - 1000) < columnsOfBand(LATITUDE_BANDS - 5000));
		for (const band of [0, 1, 17, 9999, 10_000, 19_999]) assert.ok(Number.isInteger(columnsOfBand(band)));
	});
});

describe("the same place gives the same cell", () => {
	test("the same position is shown the same, every time", () => {
		const where = { latitude: 52.370216, longitude: 4.895168 };
		const shown = new Set(Array.from({ length: 100 }, () => JSON.stringify(approximatePoint(pointAt(where)))));
		assert.equal(shown.size, 1);
	});

	test("fixes scattered around one spot well inside a cell are all shown at that cell's centre", () => {
		const centre = gridCell({ latitude: 48.8566, longitude: 2.3522 });
		const rng = new Rng(7);
		const shown = new Set<string>();
		for (let i = 0; i < 300; i++) {
			const where = offset(centre, (rng.next() - 0.5) * 600, (rng.next() - 0.5) * 600);
			const p = approximatePoint(pointAt(where, { accuracy: 20 }));
			shown.add(`${p.latitude},${p.longitude},${p.accuracy}`);
		}
		assert.deepEqual([...shown], [`${centre.latitude},${centre.longitude},${centre.halfDiagonalM}`]);
	});

	test("places 2 km apart are in different cells", () => {
		const a = { latitude: 40.4168, longitude: -3.7038 };
		assert.notDeepEqual(gridCell(a), gridCell(offset(a, 2000, 0)));
		assert.notDeepEqual(gridCell(a), gridCell(offset(a, 0, 2000)));
	});
});

describe("the shown position is near the true one and always valid", () => {
	for (const [name, where] of [
		["the equator", { latitude: 0.0004, longitude: 32.58 }],
		["45°", { latitude: 45.0004, longitude: 7.6869 }],
		["70°", { latitude: 69.6496, longitude: 18.956 }],
		["−33° (Sydney)", { latitude: -33.8688, longitude: 151.2093 }],
	] as const) {
		test(`at ${name}: within ~1 km, and within the accuracy shown`, () => {
			const shown = approximatePoint(pointAt(where));
			const away = distanceMeters(where, shown);
			assert.ok(away < 1000, `${away.toFixed(0)} m away`);
			assert.ok(away <= shown.accuracy!, `${away.toFixed(0)} m away, accuracy ${shown.accuracy} m`);
			assert.ok(shown.accuracy! >= 700 && shown.accuracy! < 800, `accuracy ${shown.accuracy} m: the cell's half-diagonal`);
		});
	}

	test("near the antimeridian: 180° is −180°, and nothing leaves −180..180", () => {
		assert.deepEqual(gridCell({ latitude: -17.7, longitude: 180 }), gridCell({ latitude: -17.7, longitude: -180 }));
		for (const longitude of [179.9999, 180, -180, -179.9999]) {
			const shown = approximatePoint(pointAt({ latitude: -17.7, longitude }));
			assert.ok(inRange(shown), JSON.stringify(shown));
			assert.ok(distanceMeters({ latitude: -17.7, longitude }, shown) <= shown.accuracy!);
		}
	});

	test("at and near the poles: no crash, valid coordinates, the true position within the accuracy shown", () => {
		for (const latitude of [90, 89.9999, 89.995, 89.99, 89.9, -89.9, -89.99, -89.9999, -90]) {
			for (const longitude of [-180, -120.5, 0, 33.3, 179.99]) {
				const shown = approximatePoint(pointAt({ latitude, longitude }));
				assert.ok(inRange(shown), JSON.stringify(shown));
				const away = distanceMeters({ latitude, longitude }, shown);
				assert.ok(away <= shown.accuracy!, `${latitude},${longitude}: ${away.toFixed(0)} m away, accuracy ${shown.accuracy}`);
				assert.ok(shown.accuracy! < 2500, `${latitude},${longitude}: accuracy ${shown.accuracy}`);
			}
		}
	});

	test("even a cell's corners are within the accuracy shown, from the equator to the last band before a pole", () => {
		for (const latitude of [0.001, 45.0001, 70.0001, 85.0001, 89.97, 89.985, 89.995, -89.985]) {
			const cell = gridCell({ latitude, longitude: 10 });
			const halfColumn = 180 / cell.columns;
			for (const dLat of [-1, 1])
				for (const dLon of [-1, 1]) {
					const corner = { latitude: cell.latitude + dLat * 0.4999 * BAND_DEG, longitude: cell.longitude + dLon * 0.9999 * halfColumn };
					assert.deepEqual(gridCell(corner), cell, "the corner is in the cell");
					const away = distanceMeters(corner, cell);
					assert.ok(away <= cell.halfDiagonalM, `${latitude}°: a corner ${away.toFixed(0)} m away, accuracy ${cell.halfDiagonalM} m`);
				}
		}
	});

	test("10 000 random positions: always valid, always within the accuracy shown", () => {
		const rng = new Rng(2026);
		for (let i = 0; i < 10_000; i++) {
			const where = { latitude: rng.next() * 180 - 90, longitude: rng.next() * 360 - 180 };
			const shown = approximatePoint(pointAt(where));
			assert.ok(inRange(shown), JSON.stringify({ where, shown }));
			assert.ok(distanceMeters(where, shown) <= shown.accuracy!, JSON.stringify({ where, shown }));
		}
	});

	test("out-of-range input is clamped or wrapped; a non-finite one is a programming error", () => {
		assert.deepEqual(gridCell({ latitude: 91, longitude: 0 }), gridCell({ latitude: 90, longitude: 0 }));
		assert.deepEqual(gridCell({ latitude: 10, longitude: 190 }), gridCell({ latitude: 10, longitude: -170 }));
		assert.throws(() => gridCell({ latitude: NaN, longitude: 0 }), RangeError);
	});
});

describe("what the other members see", () => {
	const full: SharedPoint = {
		latitude: 45.46427,
		longitude: 9.18951,
		timestamp: T,
		accuracy: 12,
		altitude: 131,
		speed: 13.9,
		heading: 87,
		battery: 41,
		charging: false,
		source: "owntracks",
	};

	test("altitude, speed and heading are dropped; time, battery and source are kept", () => {
		const shown = approximatePoint(full);
		const cell = gridCell(full);
		assert.deepEqual(shown, {
			latitude: cell.latitude,
			longitude: cell.longitude,
			timestamp: T,
			accuracy: cell.halfDiagonalM,
			battery: 41,
			charging: false,
			source: "owntracks",
		});
	});

	test("a fix worse than the cell keeps its own accuracy, rounded up to 100 m", () => {
		assert.equal(approximatePoint({ ...full, accuracy: 1430 }).accuracy, 1500);
		assert.equal(approximatePoint({ ...full, accuracy: 740 }).accuracy, Math.max(800, gridCell(full).halfDiagonalM));
	});

	const view = (over: Partial<PrecisionView>): PrecisionView => ({ viewerId: "bob", subjectId: "ada", precision: "approximate", state: "ACTIVE", ...over });

	test("others see the cell and no route; the user sees their own exact position and route", () => {
		const route = [full, { ...full, latitude: 45.465 }];
		assert.deepEqual(positionFor(view({}), full), approximatePoint(full));
		assert.deepEqual(routeFor(view({}), route), []);
		assert.equal(positionFor(view({ viewerId: "ada" }), full), full);
		assert.equal(routeFor(view({ viewerId: "ada" }), route), route);
	});

	test("an SOS is always exact, and so is a group shared exactly", () => {
		assert.equal(seesExact(view({ state: "SOS" })), true);
		assert.equal(positionFor(view({ state: "SOS" }), full), full);
		for (const state of ["ACTIVE", "INACTIVE", "ROUTING", "WARNING"] as const) assert.equal(seesExact(view({ state })), false, state);
		assert.equal(seesExact(view({ precision: "exact" })), true);
	});

	test("no position stays no position", () => {
		assert.equal(positionFor(view({}), null), null);
	});
});

describe("which notices an approximate member's group is told", () => {
	const place = { id: "p1", name: "Home" };
	test("place crossings only when sharing exactly; journeys and SOS always", () => {
		const kinds = ["PLACE_ARRIVED", "PLACE_LEFT", "ARRIVED", "LATE", "SOS"] as const;
		const told = (precision: "exact" | "approximate") =>
			kinds.filter(kind => announcedAt({ kind, audience: "group", ...(kind.startsWith("PLACE_") ? { place } : {}) }, precision));
		assert.deepEqual(told("exact"), kinds);
		assert.deepEqual(told("approximate"), ["ARRIVED", "LATE", "SOS"]);
	});
});
