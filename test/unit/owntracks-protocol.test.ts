import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
	ownTracksAnswer,
	ownTracksConfigUrl,
	ownTracksConfiguration,
	parseOwnTracks,
	type AnswerFriend,
	type AnswerPlace,
	type OwnTracksInbound,
} from "../../services/devices/protocol/owntracks.js";
import { assignTids, tidCandidates } from "../../services/devices/protocol/tids.js";
import * as wire from "../fixtures/owntracks/messages.js";

// The route hands parseOwnTracks what JSON.parse made of the body; the fixtures are the bytes the apps send.
const parse = (text: string) => parseOwnTracks(JSON.parse(text));
const fieldsOf = (result: OwnTracksInbound) => (result.kind === "invalid" ? result.fields.map(f => f.field) : `not invalid: ${result.kind}`);
const locationWith = (extra: Record<string, unknown>) => parseOwnTracks({ ...JSON.parse(wire.MINIMAL_LOCATION), ...extra });

describe("OwnTracks locations become PositionPal samples", () => {
	test("an iOS location: km/h to m/s, course to heading, battery and 'charging' from bs 2, extras ignored", () => {
		assert.deepEqual(parse(wire.IOS_LOCATION), {
			kind: "location",
			sample: {
				latitude: 52.37601,
				longitude: 4.89453,
				timestamp: "2024-12-03T10:24:00.000Z",
				accuracy: 14,
				altitude: 27,
				speed: 5,
				heading: 270,
				battery: 85,
				charging: true,
				source: "owntracks",
			},
		});
	});

	test("an Android location: unplugged (bs 1) is not charging, 43 km/h is 11.94 m/s, and there is no course", () => {
		assert.deepEqual(parse(wire.ANDROID_LOCATION), {
			kind: "location",
			sample: {
				latitude: 52.3789,
				longitude: 4.90031,
				timestamp: "2024-12-03T10:24:00.000Z",
				accuracy: 9,
				altitude: 31,
				speed: 11.94,
				battery: 62,
				charging: false,
				source: "owntracks",
			},
		});
	});

	test("a ping with an unknown battery status (bs 0) says nothing about charging, and no vel means no speed", () => {
		const result = parse(wire.ANDROID_PING);
		assert.equal(result.kind, "location");
		assert.deepEqual(result.kind === "location" && result.sample, {
			latitude: 52.37601,
			longitude: 4.89453,
			timestamp: "2024-12-03T10:29:59.000Z",
			accuracy: 21,
			battery: 100,
			source: "owntracks",
		});
	});

	test("a full battery (bs 3) is still on the charger", () => {
		const result = parse(wire.ANDROID_RESPONSE_FULL);
		assert.equal(result.kind === "location" && result.sample.charging, true);
	});

	test("the minimal location is a sample with only position and time, in any hemisphere", () => {
		assert.deepEqual(parse(wire.MINIMAL_LOCATION), {
			kind: "location",
			sample: { latitude: -33.85678, longitude: 151.21529, timestamp: "2024-12-03T10:24:00.000Z", source: "owntracks" },
		});
	});

	test("the apps' 'not known' values are left out: acc 0, and negative vel, cog and batt", () => {
		const result = locationWith({ acc: 0, vel: -1, cog: -1, batt: -1, bs: null, alt: null });
		assert.deepEqual(result.kind === "location" && Object.keys(result.sample).sort(), ["latitude", "longitude", "source", "timestamp"]);
	});

	test("sea level and standing still are real values, and a course of 360° is north", () => {
		const result = locationWith({ alt: 0, vel: 0, cog: 360 });
		assert.deepEqual(result.kind === "location" && [result.sample.altitude, result.sample.speed, result.sample.heading], [0, 0, 0]);
	});

	test("fields nobody documented yet do not matter", () => {
		assert.equal(locationWith({ motionactivities: ["walking"], source: "fused", poi: "Office", image: {} }).kind, "location");
	});
});

describe("OwnTracks transitions name a place by its rid", () => {
	test("an iOS region enter is an arrival at that place, with the position it fired at", () => {
		assert.deepEqual(parse(wire.IOS_TRANSITION_ENTER), {
			kind: "transition",
			placeId: "6750a0f1c2b3d4e5f6a7b8c9",
			event: "enter",
			timestamp: "2024-12-03T10:24:00.000Z",
			sample: { latitude: 52.37601, longitude: 4.89453, timestamp: "2024-12-03T10:24:00.000Z", accuracy: 10, source: "owntracks" },
		});
	});

	test("an Android region leave is a departure", () => {
		const result = parse(wire.ANDROID_TRANSITION_LEAVE);
		assert.equal(
			result.kind === "transition" && `${result.event} ${result.placeId} ${result.sample?.timestamp}`,
			"leave 6750a0f1c2b3d4e5f6a7b8c9 2024-12-03T10:33:20.000Z",
		);
	});

	test("a beacon leave without coordinates is a departure without a sample", () => {
		const result = parse(wire.IOS_BEACON_LEAVE);
		assert.deepEqual(result, { kind: "transition", placeId: "6750a0f1c2b3d4e5f6a7b8ca", event: "leave", timestamp: "2024-12-03T10:25:00.000Z" });
	});

	test("a transition without a rid names no place of ours and is acknowledged and dropped", () => {
		assert.deepEqual(parse(wire.ANDROID_TRANSITION_WITHOUT_RID), { kind: "ignored", type: "transition" });
		assert.deepEqual(parseOwnTracks({ ...JSON.parse(wire.IOS_TRANSITION_ENTER), rid: null }), { kind: "ignored", type: "transition" });
	});

	test("a transition with a bad rid, event, time or half a position is refused field by field", () => {
		const enter = JSON.parse(wire.IOS_TRANSITION_ENTER);
		assert.deepEqual(fieldsOf(parseOwnTracks({ ...enter, rid: 42, event: "dwell" })), ["rid", "event"]);
		assert.deepEqual(fieldsOf(parseOwnTracks({ ...enter, rid: "" })), ["rid"]);
		assert.deepEqual(fieldsOf(parseOwnTracks({ ...enter, rid: "r".repeat(129) })), ["rid"]);
		assert.deepEqual(fieldsOf(parseOwnTracks({ ...enter, tst: undefined })), ["tst"]);
		assert.deepEqual(fieldsOf(parseOwnTracks({ ...enter, lon: undefined })), ["lon"]);
		assert.deepEqual(fieldsOf(parseOwnTracks({ ...enter, lat: undefined, lon: "4.89" })), ["lat", "lon"]);
		assert.deepEqual(fieldsOf(parseOwnTracks({ ...enter, lat: 0, lon: 0, acc: "10" })), ["acc", "lat"]);
	});
});

describe("messages without a position are acknowledged and dropped", () => {
	for (const [name, type] of [
		["WAYPOINT", "waypoint"],
		["WAYPOINTS", "waypoints"],
		["CARD", "card"],
		["STATUS", "status"],
		["LWT", "lwt"],
		["STEPS", "steps"],
		["CONFIGURATION", "configuration"],
		["CMD", "cmd"],
		["BEACON", "beacon"],
	] as const) {
		test(`a ${type} message is ignored as '${type}'`, () => {
			assert.deepEqual(parse(wire[name]), { kind: "ignored", type });
		});
	}

	test("an empty body, null, an empty string and {} are all 'empty'", () => {
		for (const body of [undefined, null, "", {}]) assert.deepEqual(parseOwnTracks(body), { kind: "ignored", type: "empty" });
	});

	test("a type no app documents is 'unknown', including names that exist on Object.prototype", () => {
		for (const type of ["request2", "Location", "__proto__", "constructor", "toString", "hasOwnProperty"]) {
			assert.deepEqual(parseOwnTracks({ _type: type, lat: 1 }), { kind: "ignored", type: "unknown" });
		}
	});

	test("an encrypted message is recognised, so the route can refuse it instead of losing it", () => {
		assert.deepEqual(parse(wire.ENCRYPTED), { kind: "encrypted" });
	});
});

describe("broken and hostile OwnTracks bodies are invalid, never a crash", () => {
	test("a location without lat, lon and tst names all three", () => {
		assert.deepEqual(parseOwnTracks({ _type: "location", tid: "AL" }), {
			kind: "invalid",
			fields: [
				{ field: "lat", message: "'lat' is required." },
				{ field: "lon", message: "'lon' is required." },
				{ field: "tst", message: "'tst' is required." },
			],
		});
	});

	test("numbers sent as strings are refused (no app sends them)", () => {
		assert.deepEqual(fieldsOf(locationWith({ lat: "52.37601", tst: "1733221440", batt: "85" })), ["lat", "tst", "batt"]);
	});

	test("NaN, Infinity and huge numbers are refused", () => {
		assert.deepEqual(fieldsOf(locationWith({ lat: Number.NaN, lon: Number.POSITIVE_INFINITY })), ["lat", "lon"]);
		assert.deepEqual(fieldsOf(locationWith({ lat: 1e308, acc: 1e9, alt: 1e9, vel: 1e9, cog: 361, batt: 101 })), ["lat", "acc", "alt", "vel", "cog", "batt"]);
		assert.deepEqual(fieldsOf(locationWith({ lon: -180.0001 })), ["lon"]);
	});

	test("a tst that is not a sane epoch in seconds is refused: zero, negative, milliseconds, beyond year 9999", () => {
		for (const tst of [0, -1, 1733221440000, 1e20]) assert.deepEqual(fieldsOf(locationWith({ tst })), ["tst"], `tst ${tst}`);
		assert.deepEqual(fieldsOf(locationWith({ tst: null })), ["tst"]);
		assert.deepEqual(fieldsOf(locationWith({ tst: Number.NaN })), ["tst"]);
	});

	test("a battery status outside 0–3 is refused", () => {
		assert.deepEqual(fieldsOf(locationWith({ bs: 4 })), ["bs"]);
		assert.deepEqual(fieldsOf(locationWith({ bs: "2" })), ["bs"]);
	});

	test("0,0 is a phone without a fix, not a place", () => {
		assert.deepEqual(fieldsOf(locationWith({ lat: 0, lon: 0 })), ["lat"]);
	});

	test("arrays, strings and numbers as the body, and arrays as values, are refused", () => {
		for (const body of [[JSON.parse(wire.MINIMAL_LOCATION)], "location", 42, true]) assert.deepEqual(fieldsOf(parseOwnTracks(body)), ["body"]);
		assert.deepEqual(fieldsOf(locationWith({ lat: [52.1], lon: { value: 4.8 } })), ["lat", "lon"]);
	});

	test("a missing or non-string _type is refused", () => {
		assert.deepEqual(fieldsOf(parseOwnTracks({ lat: 52.1, lon: 4.8, tst: 1733221440 })), ["_type"]);
		assert.deepEqual(fieldsOf(parseOwnTracks({ _type: ["location"] })), ["_type"]);
	});

	test("values hidden behind __proto__ or inherited from a prototype are not read, and nothing is polluted", () => {
		const viaJson = JSON.parse(`{"_type":"location","__proto__":{"lat":52.1,"lon":4.8,"tst":1733221440}}`);
		assert.deepEqual(fieldsOf(parseOwnTracks(viaJson)), ["lat", "lon", "tst"]);
		const inherited = Object.assign(Object.create({ lat: 52.1, lon: 4.8, tst: 1733221440 }), { _type: "location" });
		assert.deepEqual(fieldsOf(parseOwnTracks(inherited)), ["lat", "lon", "tst"]);
		assert.equal(({} as Record<string, unknown>).lat, undefined);
	});
});

// ─── The answer ───────────────────────────────────────────────────────────────────────────────────────

const at = "2024-12-03T10:24:00.000Z";
const friend = (userId: string, name: string, surname: string, position: Partial<AnswerFriend["position"]> = {}): AnswerFriend => ({
	userId,
	name,
	surname,
	position: { latitude: 52.37601, longitude: 4.89453, timestamp: at, ...position },
});
const tidsOf = (answer: ReturnType<typeof ownTracksAnswer>) =>
	answer.filter(m => m._type === "card").map(m => (m._type === "card" ? `${m.name}=${m.tid}` : ""));

describe("the OwnTracks answer puts friends on the phone's map", () => {
	test("each person is a card then a location under one tid, then the pending commands", () => {
		const places: AnswerPlace[] = [{ id: "p-home", name: "Home", latitude: 52.37601, longitude: 4.89453, radius: 75.4, createdAt: "2024-12-01T08:00:00.000Z" }];
		const answer = ownTracksAnswer({
			friends: [
				friend("u1", "Ada", "Lovelace", { accuracy: 14.4, battery: 85.5, speed: 1.39, timestamp: "2024-12-03T10:24:00.900Z" }),
				friend("u2", "Bob", "Byron", { latitude: 51.5074, longitude: -0.1278 }),
			],
			commands: { reportLocation: true, places },
		});
		assert.deepEqual(answer, [
			{ _type: "card", tid: "AL", name: "Ada Lovelace" },
			{ _type: "location", tid: "AL", lat: 52.37601, lon: 4.89453, tst: 1733221440, acc: 14, batt: 86, vel: 5, topic: "owntracks/u1/AL" },
			{ _type: "card", tid: "BB", name: "Bob Byron" },
			{ _type: "location", tid: "BB", lat: 51.5074, lon: -0.1278, tst: 1733221440, topic: "owntracks/u2/BB" },
			{ _type: "cmd", action: "reportLocation" },
			{
				_type: "cmd",
				action: "setWaypoints",
				waypoints: {
					_type: "waypoints",
					waypoints: [{ _type: "waypoint", desc: "Home", lat: 52.37601, lon: 4.89453, rad: 75, tst: 1733040000, rid: "p-home" }],
				},
			},
		]);
	});

	test("nothing pending means people only; an empty place list is still sent as an empty setWaypoints", () => {
		assert.deepEqual(ownTracksAnswer({ friends: [] }), []);
		assert.deepEqual(ownTracksAnswer({ friends: [], commands: { reportLocation: false, places: [] } }), [
			{ _type: "cmd", action: "setWaypoints", waypoints: { _type: "waypoints", waypoints: [] } },
		]);
	});

	test("places created in the same second get distinct waypoint tsts, oldest first, the same every time, each place once", () => {
		const place = (id: string, createdAt: string | Date): AnswerPlace => ({ id, name: id, latitude: 52, longitude: 4.9, radius: 50, createdAt });
		const places = [
			place("p-b", "2024-12-01T08:00:00.700Z"),
			place("p-c", new Date("2024-12-01T08:00:01.000Z")),
			place("p-a", "2024-12-01T08:00:00.100Z"),
			place("p-0", "2024-11-30T00:00:00Z"),
		];
		const waypoints = (list: AnswerPlace[]) => {
			const cmd = ownTracksAnswer({ friends: [], commands: { places: list } })[0];
			return cmd._type === "cmd" && cmd.action === "setWaypoints" ? cmd.waypoints.waypoints.map(w => `${w.rid}@${w.tst}`) : [];
		};
		assert.deepEqual(waypoints(places), ["p-0@1732924800", "p-a@1733040000", "p-b@1733040001", "p-c@1733040002"]);
		assert.deepEqual(waypoints([...places].reverse()), waypoints(places));
		assert.deepEqual(waypoints([places[0], places[0]]), ["p-b@1733040000"]);
	});

	test("a person whose stored position cannot be written is left out, not sent as 0,0", () => {
		const answer = ownTracksAnswer({
			friends: [
				friend("u1", "Ada", "Lovelace", { latitude: Number.NaN }),
				friend("u2", "Bob", "Byron", { timestamp: "yesterday" }),
				{ userId: "u3", name: "Cy", surname: "Chen", position: null as unknown as AnswerFriend["position"] },
				friend("u4", "Dee", "Dunn", { accuracy: Number.NaN }),
			],
		});
		assert.deepEqual(tidsOf(answer), ["Dee Dunn=DD"]);
		assert.equal(answer.length, 2);
	});

	test("the same person listed twice (two shared groups) appears once", () => {
		assert.deepEqual(tidsOf(ownTracksAnswer({ friends: [friend("u1", "Ada", "Lovelace"), friend("u1", "Ada", "Lovelace")] })), ["Ada Lovelace=AL"]);
	});
});

describe("tracker ids are two characters from the name, unique and stable", () => {
	test("Ada Lovelace and Ada Lamb share initials: the smaller userId keeps AL, whatever the input order", () => {
		const people = [
			{ userId: "u2", name: "Ada", surname: "Lamb" },
			{ userId: "u1", name: "Ada", surname: "Lovelace" },
		];
		assert.deepEqual(Object.fromEntries(assignTids(people)), { u1: "AL", u2: "AA" });
		assert.deepEqual(Object.fromEntries(assignTids([...people].reverse())), { u1: "AL", u2: "AA" });
	});

	test("someone whose initials are free keeps them, even when another's second choice was the same code", () => {
		const tids = assignTids([
			{ userId: "u1", name: "Ada", surname: "Lovelace" },
			{ userId: "u2", name: "Ada", surname: "Lamb" },
			{ userId: "u3", name: "Aaron", surname: "Abbot" },
		]);
		assert.deepEqual(Object.fromEntries(tids), { u1: "AL", u2: "AM", u3: "AA" });
	});

	test("a name alone gives its first two letters, a surname alone likewise, one letter a digit", () => {
		assert.deepEqual(tidCandidates({ name: "Ada", surname: "" }).slice(0, 2), ["AD", "AA"]);
		assert.deepEqual(tidCandidates({ name: "  ", surname: "lamb" })[0], "LA");
		assert.deepEqual(tidCandidates({ name: "X", surname: "" }).slice(0, 3), ["X1", "X2", "X3"]);
	});

	test("non-ASCII names keep their letters; punctuation and emoji are skipped", () => {
		assert.equal(tidCandidates({ name: "Émile", surname: "Zola" })[0], "ÉZ");
		assert.equal(tidCandidates({ name: "Łukasz", surname: "Żak" })[0], "ŁŻ");
		assert.equal(tidCandidates({ name: "太郎", surname: "山田" })[0], "太山");
		assert.equal(tidCandidates({ name: "J.R.R.", surname: "Tolkien 🙂" })[0], "JT");
		assert.equal(tidCandidates({ name: "Zoe\u0308", surname: "Ng" })[0], "ZN");
		assert.equal(tidCandidates({ name: "e\u0301va", surname: "" })[0], "E\u0301V");
	});

	test("a letter whose capital is two letters (ß → SS) is kept as it is", () => {
		assert.equal(tidCandidates({ name: "ß", surname: "" })[0], "ß1");
	});

	test("people with no letters in their names get spare codes; a card without any name shows the tid", () => {
		const answer = ownTracksAnswer({ friends: [friend("u1", "", ""), friend("u2", "🙂", "")] });
		assert.deepEqual(tidsOf(answer), ["AA=AA", "🙂=AB"]);
	});

	test("crowds never share a tid: fifty people called Ann, and beyond 1296 codes three characters are used", () => {
		const anns = assignTids(Array.from({ length: 50 }, (_, i) => ({ userId: `u${String(i).padStart(2, "0")}`, name: "Ann", surname: "" })));
		assert.equal(new Set(anns.values()).size, 50);
		assert.equal(
			[...anns.values()].every(t => t.length === 2),
			true,
		);
		assert.deepEqual([anns.get("u00"), anns.get("u01"), anns.get("u10")], ["AN", "A1", "AA"]);

		const crowd = assignTids(Array.from({ length: 1400 }, (_, i) => ({ userId: `u${String(i).padStart(4, "0")}`, name: "", surname: "" })));
		const codes = [...crowd.values()];
		assert.equal(new Set(codes).size, 1400);
		assert.equal(codes.filter(t => t.length === 3).length, 1400 - 36 * 36);
	});
});

describe("the remote configuration link sets the app up in one tap", () => {
	const credentials = { url: "https://pp.example/api/owntracks", username: "dev_3f9a", password: "p+ss/wörd=✓?&", deviceId: "iphone", tid: "AL" };

	test("it is owntracks:///config with the .otrc JSON as standard, padded base64 the apps decode", () => {
		const link = ownTracksConfigUrl(credentials);
		assert.match(link, /^owntracks:\/\/\/config\?inline=[A-Za-z0-9%]+$/);
		const inline = decodeURIComponent(link.slice("owntracks:///config?inline=".length));
		assert.match(inline, /^[A-Za-z0-9+/]+=*$/);
		assert.equal(inline.length % 4, 0);
		assert.deepEqual(JSON.parse(Buffer.from(inline, "base64").toString("utf8")), {
			_type: "configuration",
			mode: 3,
			url: "https://pp.example/api/owntracks",
			auth: true,
			username: "dev_3f9a",
			password: "p+ss/wörd=✓?&",
			deviceId: "iphone",
			tid: "AL",
			monitoring: 1,
			cmd: true,
			allowRemoteLocation: true,
			remoteConfiguration: true,
		});
	});

	test("the inline value survives a query parser that reads '+' as a space", () => {
		const link = ownTracksConfigUrl({ ...credentials, password: "~~~>>>???" });
		const inline = new URL(link).searchParams.get("inline")!;
		assert.equal(JSON.parse(Buffer.from(inline, "base64").toString("utf8")).password, "~~~>>>???");
		assert.deepEqual(JSON.parse(Buffer.from(inline, "base64").toString("utf8")), ownTracksConfiguration({ ...credentials, password: "~~~>>>???" }));
	});
});
