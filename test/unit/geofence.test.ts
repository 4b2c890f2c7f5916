import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { distanceMeters, EARTH_RADIUS_M, type LatLng } from "../../services/location/geo.js";
import {
	applyDeviceTransition,
	currentPlace,
	detectCrossings,
	exitRadius,
	geometryChanged,
	MAX_FIX_ACCURACY_M,
	rebasePlace,
	type GeofencePlace,
	type GeofenceSample,
	type PlaceCrossing,
} from "../../services/location/places/geofence.js";
import { Rng } from "../support/fuzz.js";

// The place rule of API.md §6.4 on a sphere, with positions placed at exact distances from a place's centre.

const CENTRE: LatLng = { latitude: 52.37, longitude: 4.89 };
const place = (id: string, radius: number, where: LatLng = CENTRE, name = id): GeofencePlace => ({ id, name, radius, ...where });
const HOME = place("home", 100, CENTRE, "Home");

/** The point `north` and `east` metres from `from` (flat Earth over a few km: errors far below a millimetre here). */
function offset(from: LatLng, north: number, east: number): LatLng {
	const perDegree = (Math.PI * EARTH_RADIUS_M) / 180;
	return { latitude: from.latitude + north / perDegree, longitude: from.longitude + east / (perDegree * Math.cos((from.latitude * Math.PI) / 180)) };
}
/** A fix `distance` metres from the centre of `p`, towards `bearing` (radians), with an optional accuracy. */
const at = (p: LatLng, distance: number, accuracy?: number, bearing = 0.7): GeofenceSample => ({
	...offset(p, distance * Math.cos(bearing), distance * Math.sin(bearing)),
	...(accuracy !== undefined ? { accuracy } : {}),
});

const kinds = (crossings: PlaceCrossing[]) => crossings.map(c => `${c.kind}:${c.placeId}`);

describe("the exit ring: radius + max(25 m, 10 %)", () => {
	test("small places get 25 m, big ones 10 %", () => {
		assert.equal(exitRadius(25), 50);
		assert.equal(exitRadius(100), 125);
		assert.equal(exitRadius(250), 275);
		assert.equal(exitRadius(300), 330);
		assert.equal(exitRadius(5000), 5500);
	});

	test("the helper puts fixes at the distance asked for", () => {
		assert.ok(Math.abs(distanceMeters(at(CENTRE, 123.4), CENTRE) - 123.4) < 0.01);
	});
});

describe("arrival counts inside the radius", () => {
	test("a fix 1 m inside arrives, 1 m outside does not", () => {
		assert.deepEqual(detectCrossings([HOME], [], at(HOME, 99)), { inside: ["home"], crossings: [{ placeId: "home", kind: "arrived" }] });
		assert.deepEqual(detectCrossings([HOME], [], at(HOME, 101)), { inside: [], crossings: [] });
	});

	test("someone already inside does not arrive again", () => {
		assert.deepEqual(detectCrossings([HOME], ["home"], at(HOME, 0)), { inside: ["home"], crossings: [] });
	});

	test("the fix's centre must lie half its accuracy inside the edge", () => {
		assert.deepEqual(kinds(detectCrossings([HOME], [], at(HOME, 84, 30)).crossings), ["arrived:home"], "84 + 15 ≤ 100");
		assert.deepEqual(detectCrossings([HOME], [], at(HOME, 90, 30)).crossings, [], "90 + 15 > 100: most of a 30 m circle is not inside enough");
	});

	test("a fix less precise than the place is big never arrives, even at its centre", () => {
		const small = place("kiosk", 25);
		assert.deepEqual(detectCrossings([small], [], at(small, 0, 30)).crossings, []);
		assert.deepEqual(kinds(detectCrossings([small], [], at(small, 0, 25)).crossings), ["arrived:kiosk"]);
	});

	test("an accuracy of 0 means unknown: the fix is taken as it is", () => {
		assert.deepEqual(kinds(detectCrossings([HOME], [], at(HOME, 99, 0)).crossings), ["arrived:home"]);
	});

	test("overlapping places are entered together", () => {
		const campus = place("campus", 1000);
		assert.deepEqual(detectCrossings([campus, HOME], [], at(HOME, 10)), {
			inside: ["campus", "home"],
			crossings: [
				{ placeId: "campus", kind: "arrived" },
				{ placeId: "home", kind: "arrived" },
			],
		});
	});
});

describe("departure only beyond the exit ring", () => {
	test("between the radius and the exit ring nothing happens; beyond it, one departure", () => {
		assert.deepEqual(detectCrossings([HOME], ["home"], at(HOME, 110)), { inside: ["home"], crossings: [] });
		assert.deepEqual(detectCrossings([HOME], ["home"], at(HOME, 124)), { inside: ["home"], crossings: [] });
		assert.deepEqual(detectCrossings([HOME], ["home"], at(HOME, 126)), { inside: [], crossings: [{ placeId: "home", kind: "left" }] });
	});

	test("someone outside does not leave again", () => {
		assert.deepEqual(detectCrossings([HOME], [], at(HOME, 10_000)), { inside: [], crossings: [] });
	});

	test("the whole accuracy circle must lie beyond the exit ring: a poor fix never makes anyone leave", () => {
		assert.deepEqual(detectCrossings([HOME], ["home"], at(HOME, 140, 20)).crossings, [], "140 − 20 ≤ 125");
		assert.deepEqual(detectCrossings([HOME], ["home"], at(HOME, 300, 200)).crossings, [], "a wifi fix jumping 300 m with 200 m accuracy");
		assert.deepEqual(kinds(detectCrossings([HOME], ["home"], at(HOME, 150, 20)).crossings), ["left:home"], "150 − 20 > 125");
	});

	test(`a fix worse than ${MAX_FIX_ACCURACY_M} m changes nothing, even when it is surely far away`, () => {
		const town = place("town", 5000);
		assert.deepEqual(detectCrossings([HOME], ["home"], at(HOME, 50_000, MAX_FIX_ACCURACY_M + 1)), { inside: ["home"], crossings: [] });
		assert.deepEqual(detectCrossings([town], [], at(town, 0, MAX_FIX_ACCURACY_M + 1)), { inside: [], crossings: [] });
		assert.deepEqual(kinds(detectCrossings([town], [], at(town, 0, MAX_FIX_ACCURACY_M)).crossings), ["arrived:town"], "the bound itself is usable");
	});
});

describe("deleted and moved places", () => {
	test("a deleted place leaves the inside-set silently: no departure from a place that no longer exists", () => {
		const school = place("school", 200, offset(CENTRE, 3000, 0));
		assert.deepEqual(detectCrossings([HOME], ["home", "school"], at(HOME, 5)), { inside: ["home"], crossings: [] });
		// Far from both: only the place that still exists is left.
		assert.deepEqual(detectCrossings([HOME], ["home", "school"], at(school, 0)).crossings, [{ placeId: "home", kind: "left" }]);
	});

	test("an unusable fix still forgets deleted places", () => {
		assert.deepEqual(detectCrossings([HOME], ["home", "gone"], at(HOME, 0, 10_000)), { inside: ["home"], crossings: [] });
	});

	test("a place created where the user stands takes them in silently", () => {
		assert.deepEqual(rebasePlace([], HOME, at(HOME, 20)), ["home"]);
		assert.deepEqual(rebasePlace(["other"], HOME, at(HOME, 200)), ["other"], "not there: not inside");
	});

	test("a place moved away from the user drops them silently; a nudge within the exit ring keeps them", () => {
		const moved = place("home", 100, offset(CENTRE, 2000, 0));
		assert.deepEqual(rebasePlace(["home", "other"], moved, at(HOME, 0)), ["other"]);
		const nudged = place("home", 100, offset(CENTRE, 0, 110));
		assert.deepEqual(rebasePlace(["home"], nudged, at(HOME, 0)), ["home"], "110 m from the new centre, inside the 125 m ring");
		assert.deepEqual(rebasePlace([], nudged, at(HOME, 0)), [], "but someone not yet inside does not enter at 110 m");
	});

	test("without a known position nobody is in a rebased place", () => {
		assert.deepEqual(rebasePlace(["home", "other"], HOME, null), ["other"]);
	});

	test("only a change of centre or radius needs a rebase", () => {
		assert.equal(geometryChanged(HOME, { ...HOME, name: "Our home" }), false);
		assert.equal(geometryChanged(HOME, { ...HOME, radius: 150 }), true);
		assert.equal(geometryChanged(HOME, { ...HOME, latitude: HOME.latitude + 0.0001 }), true);
		assert.equal(geometryChanged(HOME, { ...HOME, longitude: HOME.longitude + 0.0001 }), true);
	});
});

describe("Session.place: the place the user is at", () => {
	const campus = place("campus", 1000, CENTRE, "Campus");
	const library = place("library", 50, offset(CENTRE, 300, 0), "Library");

	test("in no place: null", () => {
		assert.equal(currentPlace([campus, library], [], at(CENTRE, 0)), null);
	});

	test("nested places: the most specific one, even off its centre", () => {
		const inLibrary = offset(library, 40, 0);
		assert.deepEqual(currentPlace([campus, library], ["campus", "library"], inLibrary), { id: "library", name: "Library" });
	});

	test("same size: the nearer centre; without a position the id decides", () => {
		const a = place("a", 100, CENTRE, "A");
		const b = place("b", 100, offset(CENTRE, 60, 0), "B");
		assert.deepEqual(currentPlace([a, b], ["a", "b"], offset(CENTRE, 50, 0)), { id: "b", name: "B" });
		assert.deepEqual(currentPlace([a, b], ["a", "b"], offset(CENTRE, 5, 0)), { id: "a", name: "A" });
		assert.deepEqual(currentPlace([b, a], ["b", "a"], null), { id: "a", name: "A" });
	});

	test("ids of places that no longer exist are skipped", () => {
		assert.equal(currentPlace([campus], ["gone"], CENTRE), null);
		assert.deepEqual(currentPlace([campus], ["gone", "campus"], CENTRE), { id: "campus", name: "Campus" });
	});
});

describe("an OwnTracks transition and the server's own detection notify once", () => {
	test("a device 'enter' for a place the user is outside of is the arrival", () => {
		assert.deepEqual(applyDeviceTransition([HOME], [], { placeId: "home", event: "enter" }), {
			inside: ["home"],
			crossings: [{ placeId: "home", kind: "arrived" }],
		});
	});

	test("the server saw the arrival first: the device's 'enter' adds nothing", () => {
		const server = detectCrossings([HOME], [], at(HOME, 10));
		assert.deepEqual(kinds(server.crossings), ["arrived:home"]);
		assert.deepEqual(applyDeviceTransition([HOME], server.inside, { placeId: "home", event: "enter" }), { inside: ["home"], crossings: [] });
	});

	test("the device reported first: the server's next fix inside adds nothing", () => {
		const device = applyDeviceTransition([HOME], [], { placeId: "home", event: "enter" });
		assert.deepEqual(detectCrossings([HOME], device.inside, at(HOME, 10)).crossings, []);
	});

	test("leaving: the first report departs, the second agrees and adds nothing", () => {
		const device = applyDeviceTransition([HOME], ["home"], { placeId: "home", event: "leave" });
		assert.deepEqual(device, { inside: [], crossings: [{ placeId: "home", kind: "left" }] });
		assert.deepEqual(detectCrossings([HOME], device.inside, at(HOME, 500)).crossings, []);
		const server = detectCrossings([HOME], ["home"], at(HOME, 500));
		assert.deepEqual(applyDeviceTransition([HOME], server.inside, { placeId: "home", event: "leave" }).crossings, []);
	});

	test("a retried post repeats a transition: it notifies once", () => {
		const first = applyDeviceTransition([HOME], [], { placeId: "home", event: "enter" });
		const again = applyDeviceTransition([HOME], first.inside, { placeId: "home", event: "enter" });
		assert.deepEqual([...first.crossings, ...again.crossings], [{ placeId: "home", kind: "arrived" }]);
	});

	test("a transition for a place that is not the group's changes nothing, and deleted places are forgotten", () => {
		assert.deepEqual(applyDeviceTransition([HOME], ["home", "gone"], { placeId: "gone", event: "leave" }), { inside: ["home"], crossings: [] });
		assert.deepEqual(applyDeviceTransition([HOME], [], { placeId: "elsewhere", event: "enter" }), { inside: [], crossings: [] });
	});
});

// ---- properties over seeded random walks

/** A normal deviate (Box–Muller). */
const gaussian = (rng: Rng) => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());

/**
 * A fix that is honest about its accuracy: the reported position lies within `accuracy` of the true
 * one (uniform over the circle), the accuracy itself random up to `maxAccuracy`.
 */
function honestFix(rng: Rng, truth: LatLng, maxAccuracy: number): GeofenceSample {
	const accuracy = rng.next() * maxAccuracy;
	const error = 0.999 * accuracy * Math.sqrt(rng.next());
	const angle = 2 * Math.PI * rng.next();
	return { ...offset(truth, error * Math.cos(angle), error * Math.sin(angle)), accuracy };
}

/** A walk of `steps` true positions whose distance from `p`'s centre stays within [lo, hi] (reflected at the bounds). */
function edgeWalk(rng: Rng, p: GeofencePlace, lo: number, hi: number, steps: number, start = (lo + hi) / 2): LatLng[] {
	const walk: LatLng[] = [];
	let r = start;
	let bearing = rng.next() * 2 * Math.PI;
	for (let i = 0; i < steps; i++) {
		r += 4 * gaussian(rng);
		if (r < lo) r = Math.min(hi, 2 * lo - r);
		if (r > hi) r = Math.max(lo, 2 * hi - r);
		bearing += 0.02 * gaussian(rng);
		walk.push(offset(p, r * Math.cos(bearing), r * Math.sin(bearing)));
	}
	return walk;
}

function run(places: readonly GeofencePlace[], inside: string[], fixes: readonly GeofenceSample[]) {
	const crossings: PlaceCrossing[] = [];
	let state = inside;
	for (const fix of fixes) {
		const result = detectCrossings(places, state, fix);
		state = result.inside;
		crossings.push(...result.crossings);
	}
	return { inside: state, crossings };
}

describe("no flapping: jitter at the edge (seeded random walks)", () => {
	const SEEDS = Array.from({ length: 25 }, (_, i) => 1000 + i);

	for (const radius of [25, 100, 300, 5000]) {
		const p = place("p", radius);
		const exit = exitRadius(radius);

		test(`radius ${radius} m: 500 exact fixes wandering across the edge, short of the exit ring, arrive at most once and never leave`, () => {
			let arrivalsSeen = 0;
			for (const seed of SEEDS) {
				const rng = new Rng(seed);
				const { crossings } = run([p], [], edgeWalk(rng, p, radius - 20, exit - 1, 500, radius + 5));
				assert.ok(crossings.length <= 1, `seed ${seed}: ${kinds(crossings).join(", ")}`);
				assert.ok(
					crossings.every(c => c.kind === "arrived"),
					`seed ${seed}: ${kinds(crossings).join(", ")}`,
				);
				arrivalsSeen += crossings.length;
			}
			assert.ok(arrivalsSeen > SEEDS.length / 2, "the walks do go inside: the test exercises arrivals");
		});

		test(`radius ${radius} m: honest fixes with accuracy up to ${Math.min(radius, 60)} m at the edge: at most one arrival, no departure`, () => {
			for (const seed of SEEDS) {
				const rng = new Rng(seed);
				const fixes = edgeWalk(rng, p, radius - 20, exit - 1, 500, radius + 5).map(truth => honestFix(rng, truth, Math.min(radius, 60)));
				const { crossings } = run([p], [], fixes);
				assert.ok(crossings.length <= 1 && crossings.every(c => c.kind === "arrived"), `seed ${seed}: ${kinds(crossings).join(", ")}`);
			}
		});
	}

	test("arrive, jitter at the edge, walk away, jitter back at the edge: exactly arrived, left, then at most one more arrival", () => {
		const p = place("p", 100);
		for (const seed of SEEDS) {
			const rng = new Rng(seed);
			const fix = (truth: LatLng) => honestFix(rng, truth, 40);
			const walk = [
				...Array.from({ length: 20 }, () => fix(offset(p, 10 * gaussian(rng), 10 * gaussian(rng)))),
				...edgeWalk(rng, p, 80, 124, 300).map(fix),
				...Array.from({ length: 20 }, (_, i) => fix(offset(p, 200 + 20 * i, 0))),
				...edgeWalk(rng, p, 80, 124, 300, 120).map(fix),
			];
			const sequence = kinds(run([p], [], walk).crossings);
			assert.deepEqual(sequence.slice(0, 2), ["arrived:p", "left:p"], `seed ${seed}: ${sequence.join(", ")}`);
			assert.ok(sequence.length <= 3, `seed ${seed}: ${sequence.join(", ")}`);
		}
	});

	test("with honest fixes, a departure is only ever reported for someone truly beyond the exit ring", () => {
		const p = place("p", 150);
		let departures = 0;
		for (const seed of SEEDS) {
			const rng = new Rng(seed);
			let inside: string[] = [];
			for (const truth of edgeWalk(rng, p, 0, 600, 600, 300)) {
				const result = detectCrossings([p], inside, honestFix(rng, truth, 80));
				for (const crossing of result.crossings) {
					if (crossing.kind === "left") {
						departures++;
						assert.ok(distanceMeters(truth, p) > exitRadius(p.radius), `seed ${seed}: left at ${distanceMeters(truth, p).toFixed(1)} m`);
					}
				}
				inside = result.inside;
			}
		}
		assert.ok(departures > 0, "the walks do leave: the test exercises departures");
	});
});
