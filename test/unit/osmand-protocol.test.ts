import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseOsmAnd, type OsmAndInbound, type OsmAndRequest } from "../../services/devices/protocol/osmand.js";
import * as wire from "../fixtures/osmand/requests.js";

// The route hands parseOsmAnd the parsed query, form body and JSON body; URLSearchParams decodes like the
// gateway's parsers ('+' as a space, percent escapes).
const NOW = Date.parse("2024-12-03T12:00:00.000Z");
const params = (text: string): Record<string, string> => Object.fromEntries(new URLSearchParams(text));
const parse = (request: OsmAndRequest) => parseOsmAnd(request, NOW);
const query = (text: string, extra: Record<string, unknown> = {}) => parse({ query: { ...params(text), ...extra } });
const json = (text: string) => JSON.parse(text) as Record<string, unknown>;
const fieldsOf = (result: OsmAndInbound) => (result.kind === "invalid" ? result.fields.map(f => f.field) : `not invalid: ${result.kind}`);
const sampleOf = (result: OsmAndInbound) => (result.kind === "position" ? result.sample : undefined);
const minimal = `id=${wire.DEVICE_ID}&lat=52.37601&lon=4.89453`;

describe("OsmAnd-protocol requests become PositionPal samples", () => {
	test("Traccar Client for Android: seconds, knots to m/s, a GPS accuracy of 0 left out, battery in percent", () => {
		assert.deepEqual(query(wire.TRACCAR_ANDROID_QUERY), {
			kind: "position",
			deviceId: wire.DEVICE_ID,
			sample: {
				latitude: 52.3760137,
				longitude: 4.8945309,
				timestamp: "2024-12-03T10:24:00.000Z",
				altitude: 27.30000114440918,
				speed: 1.5,
				heading: 182.4000015258789,
				battery: 85,
				source: "osmand",
			},
		});
	});

	test("its SOS shortcut raises an SOS at that position, and charge=true says it is charging", () => {
		const result = query(wire.TRACCAR_ANDROID_SOS_QUERY);
		assert.equal(result.kind === "position" && result.alarm, "sos");
		assert.deepEqual(sampleOf(result), {
			latitude: 52.3781,
			longitude: 4.9002,
			timestamp: "2024-12-03T10:25:00.000Z",
			accuracy: 35.5,
			altitude: 0,
			speed: 0,
			heading: 0,
			battery: 23,
			charging: true,
			source: "osmand",
		});
	});

	test("OsmAnd's live monitoring: a millisecond timestamp, hdop as the accuracy in metres, speed read as knots like Traccar does", () => {
		assert.deepEqual(sampleOf(query(wire.OSMAND_QUERY)), {
			latitude: 52.37601,
			longitude: 4.89453,
			timestamp: "2024-12-03T10:24:00.123Z",
			accuracy: 12,
			altitude: 27.3,
			speed: 0.64,
			source: "osmand",
		});
	});

	test("a form body reads exactly like the query string", () => {
		assert.deepEqual(parse({ form: params(wire.TRACCAR_ANDROID_QUERY) }), query(wire.TRACCAR_ANDROID_QUERY));
	});

	test("Traccar Client 9's JSON: ISO time, speed already in m/s, a battery fraction as percent, charging", () => {
		assert.deepEqual(parse({ json: json(wire.TRACCAR_CLIENT_9_JSON) }), {
			kind: "position",
			deviceId: wire.DEVICE_ID,
			sample: {
				latitude: 52.3760137,
				longitude: 4.8945309,
				timestamp: "2024-12-03T10:24:00.512Z",
				accuracy: 9.5,
				altitude: 27.1,
				speed: 1.6,
				heading: 182.4,
				battery: 56,
				charging: true,
				source: "osmand",
			},
		});
	});

	test("Traccar Client 9's SOS is found in the location object and in its extras; an unknown heading is left out", () => {
		const sos = parse({ json: json(wire.TRACCAR_CLIENT_9_SOS_JSON) });
		assert.equal(sos.kind === "position" && sos.alarm, "sos");
		assert.equal(sampleOf(sos)?.heading, undefined);
		assert.equal(sampleOf(sos)?.charging, false);
		const extras = json(wire.EXTRAS_ALARM_JSON);
		const fromExtras = parse({ json: extras });
		assert.equal(fromExtras.kind === "position" && fromExtras.alarm, "sos");
		(extras.location as Record<string, unknown>).alarm = null;
		const besideNull = parse({ json: extras });
		assert.equal(besideNull.kind === "position" && besideNull.alarm, "sos");
	});

	test("a heartbeat with the SDK's -1 'unknowns' has no speed, heading or battery", () => {
		assert.deepEqual(sampleOf(parse({ json: json(wire.HEARTBEAT_UNKNOWNS_JSON) })), {
			latitude: 52.37601,
			longitude: 4.89453,
			timestamp: "2024-12-03T10:30:00.000Z",
			accuracy: 30,
			altitude: 3.1,
			charging: false,
			source: "osmand",
		});
	});

	test("deviceid, location=lat,lon, heading and battery are read like id, lat/lon, bearing and batt", () => {
		const result = query(wire.LOCATION_PARAM_QUERY);
		assert.equal(result.kind === "position" && result.deviceId, wire.DEVICE_ID);
		assert.deepEqual(sampleOf(result), {
			latitude: 52.37601,
			longitude: 4.89453,
			timestamp: "2024-12-03T10:24:00.000Z",
			heading: 90,
			battery: 64,
			source: "osmand",
		});
	});

	test("lat and lon win over location when both are sent, accuracy over hdop, and an empty parameter is no parameter", () => {
		const result = query(`${minimal}&location=1,2&accuracy=5&hdop=12&altitude=&speed=`);
		assert.deepEqual(sampleOf(result), { latitude: 52.37601, longitude: 4.89453, timestamp: "2024-12-03T12:00:00.000Z", accuracy: 5, source: "osmand" });
	});

	test("without a timestamp the sample is taken now, as Traccar does", () => {
		assert.equal(sampleOf(query(minimal))?.timestamp, "2024-12-03T12:00:00.000Z");
	});

	test("a negative speed is 'unknown' and a bearing of 360° is north", () => {
		assert.deepEqual([sampleOf(query(`${minimal}&speed=-1&bearing=360`))?.speed, sampleOf(query(`${minimal}&bearing=360`))?.heading], [undefined, 0]);
	});

	test("charge is true/false or 1/0 in any case; a missing or empty alarm raises nothing, other alarms pass as given", () => {
		const charging = (value: string) => sampleOf(query(`${minimal}&charge=${value}`))?.charging;
		assert.deepEqual(["true", "TRUE", "1", "false", "0"].map(charging), [true, true, true, false, false]);
		const alarm = (value: string) => {
			const result = query(`${minimal}&alarm=${value}`);
			return result.kind === "position" ? (result.alarm ?? "none") : result.kind;
		};
		assert.deepEqual(["SOS", "%20", "lowBattery"].map(alarm), ["sos", "none", "lowBattery"]);
		const result = query(minimal);
		assert.equal(result.kind === "position" && "alarm" in result, false);
	});
});

describe("every timestamp form the clients send", () => {
	const time = (value: string) => {
		const result = query(`${minimal}&timestamp=${encodeURIComponent(value)}`);
		return result.kind === "position" ? result.sample.timestamp : fieldsOf(result);
	};

	test("epoch seconds and milliseconds are told apart by size, decimals allowed", () => {
		assert.equal(time("1733221440"), "2024-12-03T10:24:00.000Z");
		assert.equal(time("1733221440123"), "2024-12-03T10:24:00.123Z");
		assert.equal(time("1733221440.5"), "2024-12-03T10:24:00.500Z");
	});

	test("ISO-8601 with Z, offsets and fractions; without a zone it is UTC", () => {
		assert.equal(time("2024-12-03T10:24:00Z"), "2024-12-03T10:24:00.000Z");
		assert.equal(time("2024-12-03t10:24:00.123456z"), "2024-12-03T10:24:00.123Z");
		assert.equal(time("2024-12-03T11:24:00+01:00"), "2024-12-03T10:24:00.000Z");
		assert.equal(time("2024-12-03T05:54:00-0430"), "2024-12-03T10:24:00.000Z");
		assert.equal(time("2024-12-03T12:24+02"), "2024-12-03T10:24:00.000Z");
		assert.equal(time("2024-12-03T10:24:00"), "2024-12-03T10:24:00.000Z");
	});

	test("Traccar's 'yyyy-MM-dd HH:mm:ss' form, and an offset whose '+' a query string turned into a space", () => {
		assert.equal(sampleOf(parse({ form: params(wire.DATE_TIME_FORM) }))?.timestamp, "2024-12-03T10:24:00.000Z");
		assert.equal(sampleOf(query(`${minimal}&timestamp=2024-12-03T11:24:00+01:00`))?.timestamp, "2024-12-03T10:24:00.000Z");
	});

	test("an epoch number in JSON is read by size too; negative or endless ones are refused", () => {
		const withTime = (timestamp: unknown) => {
			const body = json(wire.TRACCAR_CLIENT_9_JSON);
			(body.location as Record<string, unknown>).timestamp = timestamp;
			const result = parse({ json: body });
			return result.kind === "position" ? result.sample.timestamp : fieldsOf(result);
		};
		assert.equal(withTime(1733221440), "2024-12-03T10:24:00.000Z");
		assert.equal(withTime(1733221440512), "2024-12-03T10:24:00.512Z");
		assert.deepEqual([withTime(-1), withTime(Number.POSITIVE_INFINITY)], [["location.timestamp"], ["location.timestamp"]]);
	});

	test("times that never were, negative or beyond year 9999 are refused", () => {
		for (const value of [
			"yesterday",
			"2024-02-30T10:00:00Z",
			"2024-12-03T24:00:00Z",
			"2024-12-03T10:60:00Z",
			"2024-12-03T10:24:00+25:00",
			"-5",
			"99999999999999999",
			"1e12",
			"NaN",
		]) {
			assert.deepEqual(time(value), ["timestamp"], value);
		}
	});
});

describe("the merge of query, form and JSON body", () => {
	test("query < form < JSON: each later source overrides the fields it has, units follow the source", () => {
		const body = json(wire.TRACCAR_CLIENT_9_JSON);
		const result = parse({
			query: { id: "from-query", lat: "1", lon: "2", speed: "10", alarm: "sos" },
			form: { lat: "3", lon: "4", altitude: "100" },
			json: body,
		});
		assert.equal(result.kind === "position" && `${result.deviceId} ${result.alarm}`, `${wire.DEVICE_ID} sos`);
		const sample = sampleOf(result)!;
		assert.deepEqual([sample.latitude, sample.altitude, sample.speed], [52.3760137, 27.1, 1.6]);
		const partial = parse({ query: { id: "from-query", speed: "10" }, form: { lat: "3", lon: "4" } });
		assert.deepEqual(partial.kind === "position" && [partial.deviceId, partial.sample.latitude, partial.sample.speed], ["from-query", 3, 5.14]);
	});

	test("a JSON body with only a device id takes the position from the query", () => {
		const result = parse({ query: { lat: "52.1", lon: "4.8" }, json: { device_id: wire.DEVICE_ID } });
		assert.equal(result.kind === "position" && result.sample.latitude, 52.1);
	});
});

describe("a request without a device id is 'noDevice' (the route answers 400)", () => {
	test("no id at all, an empty id, a JSON device_id of null, or nothing sent", () => {
		const none = [
			{ query: params("lat=52.1&lon=4.8") },
			{ query: params("id=&lat=52.1&lon=4.8") },
			{ json: { device_id: null, location: {} } },
			{ json: { device_id: "", location: null } },
			{ query: null, form: null, json: null },
			{},
		];
		for (const request of none) {
			assert.deepEqual(parse(request), { kind: "noDevice" });
		}
	});

	test("an id hidden behind __proto__ or inherited from a prototype is no id", () => {
		assert.deepEqual(parse({ query: JSON.parse(`{"__proto__":{"id":"${wire.DEVICE_ID}","lat":"52.1","lon":"4.8"}}`) }), { kind: "noDevice" });
		assert.deepEqual(parse({ query: Object.create({ id: wire.DEVICE_ID, lat: "52.1", lon: "4.8" }) }), { kind: "noDevice" });
		assert.equal(({} as Record<string, unknown>).id, undefined);
	});
});

describe("broken and hostile OsmAnd requests are invalid, never a crash", () => {
	test("a repeated parameter (an array) is ambiguous and refused", () => {
		assert.deepEqual(fieldsOf(query(minimal, { id: [wire.DEVICE_ID, "other"] })), ["id"]);
		assert.deepEqual(fieldsOf(query(minimal, { lat: ["52.1", "52.2"], timestamp: ["1", "2"], alarm: ["sos"], charge: ["true"] })), [
			"lat",
			"timestamp",
			"charge",
			"alarm",
		]);
		assert.deepEqual(fieldsOf(query(minimal, { location: ["52.1,4.8"] })), ["location"]);
	});

	test("text that is not one plain decimal is refused: NaN, Infinity, hex, a decimal comma, a nested object", () => {
		for (const lat of ["NaN", "Infinity", "0x1A", "52,37601", "52.1.2", "", " "]) {
			assert.deepEqual(fieldsOf(query(`id=${wire.DEVICE_ID}&lon=4.8&lat=${encodeURIComponent(lat)}`)), ["lat"], JSON.stringify(lat));
		}
		assert.deepEqual(fieldsOf(query(minimal, { altitude: { $gt: "" } })), ["altitude"]);
	});

	test("out-of-range and huge values are refused, in knots as in m/s", () => {
		assert.deepEqual(fieldsOf(query(`${minimal}&lon=180.5&bearing=400&altitude=1e9&accuracy=2e6&batt=101&speed=1e9`)), [
			"lon",
			"speed",
			"bearing",
			"altitude",
			"accuracy",
			"batt",
		]);
		assert.deepEqual(fieldsOf(query(`id=${wire.DEVICE_ID}&lat=-90.01&lon=4.8`)), ["lat"]);
	});

	test("a missing latitude or longitude, and 0,0, are refused", () => {
		assert.deepEqual(fieldsOf(query(`id=${wire.DEVICE_ID}&lat=52.1`)), ["lon"]);
		assert.deepEqual(fieldsOf(query(`id=${wire.DEVICE_ID}&location=0,0`)), ["location"]);
	});

	test("location must be exactly 'latitude,longitude'", () => {
		assert.deepEqual(fieldsOf(query(`id=${wire.DEVICE_ID}&location=52.1`)), ["location", "lat", "lon"]);
		assert.deepEqual(fieldsOf(query(`id=${wire.DEVICE_ID}&location=52.1,4.8,3`)), ["location", "lat", "lon"]);
	});

	test("charge other than true/false/1/0 and over-long alarms are refused", () => {
		assert.deepEqual(fieldsOf(query(`${minimal}&charge=yes&alarm=${"x".repeat(65)}`)), ["charge", "alarm"]);
	});

	test("an id that is not one short string is refused", () => {
		assert.deepEqual(fieldsOf(query(minimal, { id: "x".repeat(257) })), ["id"]);
		assert.deepEqual(fieldsOf(parse({ query: params("lat=52.1&lon=4.8"), json: { device_id: 48241179 } })), ["device_id"]);
	});

	test("in JSON, strings for numbers and booleans are refused (the SDK sends numbers), as are NaN and huge numbers", () => {
		const body = json(wire.TRACCAR_CLIENT_9_JSON);
		const location = body.location as Record<string, Record<string, unknown>>;
		location.coords.latitude = "52.3760137";
		location.coords.speed = 1e9;
		location.coords.accuracy = Number.NaN;
		location.battery.is_charging = "true";
		location.battery.level = 56;
		assert.deepEqual(fieldsOf(parse({ json: body })), [
			"location.coords.latitude",
			"location.coords.speed",
			"location.coords.accuracy",
			"location.battery.level",
			"location.battery.is_charging",
		]);
	});

	test("in JSON, a 0,0 fix names the field the client sent", () => {
		const body = json(wire.TRACCAR_CLIENT_9_JSON);
		Object.assign((body.location as Record<string, Record<string, unknown>>).coords, { latitude: 0, longitude: 0 });
		assert.deepEqual(fieldsOf(parse({ json: body })), ["location.coords.latitude"]);
	});

	test("JSON parts of the wrong shape are refused: a batch, a string for coords, a non-string time or alarm", () => {
		const body = json(wire.TRACCAR_CLIENT_9_JSON);
		assert.deepEqual(fieldsOf(parse({ json: { ...body, location: [body.location] } })), ["location", "lat", "lon"]);
		const odd = json(wire.TRACCAR_CLIENT_9_JSON);
		Object.assign(odd.location as Record<string, unknown>, { coords: "52.1,4.8", battery: 0.5, extras: [], timestamp: true, alarm: { type: "sos" } });
		assert.deepEqual(fieldsOf(parse({ json: odd })), [
			"location.coords",
			"location.battery",
			"location.extras",
			"lat",
			"lon",
			"location.timestamp",
			"location.alarm",
		]);
	});

	test("a body, query or form that is not an object of parameters is refused", () => {
		assert.deepEqual(fieldsOf(parse({ query: params(minimal), json: [json(wire.TRACCAR_CLIENT_9_JSON)] })), ["body"]);
		assert.deepEqual(fieldsOf(parse({ query: params(minimal), json: "sos" })), ["body"]);
		assert.deepEqual(fieldsOf(parse({ query: "id=abc", form: params(minimal) })), ["query"]);
		assert.deepEqual(fieldsOf(parse({ query: params(minimal), form: ["lat=1"] })), ["form"]);
	});

	test("JSON nulls count as absent: no time means now, no charging or alarm, no coords no position", () => {
		const body = json(wire.TRACCAR_CLIENT_9_JSON);
		const location = body.location as Record<string, Record<string, unknown> | null>;
		Object.assign(location, { timestamp: null, extras: { alarm: null } });
		location.battery!.is_charging = null;
		const result = parse({ json: body });
		assert.equal(result.kind === "position" && "alarm" in result, false);
		assert.deepEqual([sampleOf(result)?.timestamp, sampleOf(result)?.charging], ["2024-12-03T12:00:00.000Z", undefined]);
		assert.deepEqual(fieldsOf(parse({ json: { device_id: wire.DEVICE_ID, location: { coords: null } } })), ["lat", "lon"]);
	});

	test("query and form values are text: a number where a parser can only give text is refused", () => {
		assert.deepEqual(fieldsOf(query(minimal, { timestamp: 1733221440, altitude: 12 })), ["timestamp", "altitude"]);
	});

	test("a JSON body without a location is just a device id; without coords the position is missing", () => {
		assert.deepEqual(fieldsOf(parse({ json: { device_id: wire.DEVICE_ID } })), ["lat", "lon"]);
		assert.deepEqual(fieldsOf(parse({ json: { device_id: wire.DEVICE_ID, location: { timestamp: "2024-12-03T10:24:00Z" } } })), ["lat", "lon"]);
		assert.deepEqual(fieldsOf(parse({ json: { device_id: wire.DEVICE_ID, location: { coords: { latitude: null, longitude: 4.8 } } } })), [
			"location.coords.latitude",
		]);
	});
});
