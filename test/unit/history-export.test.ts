import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
	GPX_NAMESPACE,
	HISTORY_EXPORTS,
	historyCutoff,
	historyDownload,
	historyGeoJson,
	historyGpx,
	historyJson,
	isExpired,
	keepsHistory,
	xmlEscape,
	type HistoryPoint,
} from "../../services/location/history/export.js";

// The history exports of API.md §6.6, read back the way a GPS tool or a map library would.

const p = (timestamp: string, latitude: number, longitude: number, altitude?: number): HistoryPoint => ({
	latitude,
	longitude,
	timestamp,
	...(altitude !== undefined ? { altitude } : {}),
});

/** Two UTC days; the first point is given last, and the last one of day 1 is the last millisecond before midnight. */
const TWO_DAYS: HistoryPoint[] = [
	p("2026-12-02T00:00:00.000Z", 52.1, 4.3, 2),
	p("2026-12-01T08:00:00.000Z", 52.0, 4.0, 1.5),
	p("2026-12-01T23:59:59.999Z", 52.05, 4.2),
	p("2026-12-02T07:30:00.000Z", 52.2, 4.4, 3),
];

// ---- a minimal XML reader: enough to prove the document is well-formed and to read the GPX back

interface XmlElement {
	name: string;
	attributes: Record<string, string>;
	children: XmlElement[];
	text: string;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
const decode = (raw: string) => {
	assert.doesNotMatch(raw, /&(?!(amp|lt|gt|quot|apos);)/, `a bare '&' in ${JSON.stringify(raw)}`);
	assert.doesNotMatch(raw, /</, `a bare '<' in ${JSON.stringify(raw)}`);
	return raw.replace(/&(amp|lt|gt|quot|apos);/g, (_, name: string) => ENTITIES[name]!);
};

/** Parses the document, failing on anything not well-formed: bad nesting, unescaped text, characters XML 1.0 forbids, two roots. */
function parseXml(xml: string): XmlElement {
	// eslint-disable-next-line no-control-regex
	assert.doesNotMatch(xml, /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/, "a character XML 1.0 cannot carry");
	const declaration = /^<\?xml version="1\.0" encoding="UTF-8"\?>\s*/.exec(xml);
	assert.ok(declaration, "starts with the XML declaration");
	const token = /<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
	const root: XmlElement = { name: "#document", attributes: {}, children: [], text: "" };
	const stack = [root];
	let at = declaration[0].length;
	while (at < xml.length) {
		token.lastIndex = at;
		const match = token.exec(xml);
		assert.ok(match, `not well-formed at ${at}: ${JSON.stringify(xml.slice(at, at + 40))}`);
		at = token.lastIndex;
		const [, closing, name, attrs, selfClosing, text] = match;
		const top = stack[stack.length - 1]!;
		if (text !== undefined) {
			if (top === root) assert.match(text, /^\s*$/, "no text outside the root element");
			top.text += decode(text);
		} else if (closing) {
			assert.equal(name, top.name, `</${name}> closes <${top.name}>`);
			stack.pop();
		} else {
			const attributes: Record<string, string> = {};
			for (const [, key, value] of attrs!.matchAll(/([\w:.-]+)="([^"]*)"/g)) {
				assert.ok(!(key! in attributes), `attribute ${key} twice`);
				attributes[key!] = decode(value!);
			}
			const element: XmlElement = { name: name!, attributes, children: [], text: "" };
			top.children.push(element);
			if (!selfClosing) stack.push(element);
		}
	}
	assert.equal(stack.length, 1, `unclosed <${stack[stack.length - 1]!.name}>`);
	assert.equal(root.children.length, 1, "exactly one root element");
	return root.children[0]!;
}

const childrenNamed = (element: XmlElement, name: string) => element.children.filter(child => child.name === name);
const only = (element: XmlElement, name: string) => {
	const found = childrenNamed(element, name);
	assert.equal(found.length, 1, `one <${name}> in <${element.name}>`);
	return found[0]!;
};

describe("JSON export", () => {
	test("{ points } oldest first, every field kept", () => {
		const { points } = historyJson(TWO_DAYS);
		assert.deepEqual(
			points.map(point => point.timestamp),
			["2026-12-01T08:00:00.000Z", "2026-12-01T23:59:59.999Z", "2026-12-02T00:00:00.000Z", "2026-12-02T07:30:00.000Z"],
		);
		assert.deepEqual(points[0], TWO_DAYS[1]);
	});

	test("no history: { points: [] }", () => {
		assert.deepEqual(historyJson([]), { points: [] });
	});
});

describe("GPX 1.1 export", () => {
	test("a GPX 1.1 document by PositionPal, one track, one segment per UTC day split at midnight", () => {
		const gpx = parseXml(historyGpx(TWO_DAYS));
		assert.equal(gpx.name, "gpx");
		assert.deepEqual(
			{ version: gpx.attributes.version, creator: gpx.attributes.creator, xmlns: gpx.attributes.xmlns },
			{ version: "1.1", creator: "PositionPal", xmlns: GPX_NAMESPACE },
		);
		assert.equal(GPX_NAMESPACE, "http://www.topografix.com/GPX/1/1");
		const segments = childrenNamed(only(gpx, "trk"), "trkseg");
		const read = segments.map(segment =>
			childrenNamed(segment, "trkpt").map(point => ({
				lat: point.attributes.lat,
				lon: point.attributes.lon,
				ele: childrenNamed(point, "ele")[0]?.text,
				time: only(point, "time").text,
				order: point.children.map(child => child.name).join(","),
			})),
		);
		assert.deepEqual(read, [
			[
				{ lat: "52", lon: "4", ele: "1.5", time: "2026-12-01T08:00:00.000Z", order: "ele,time" },
				{ lat: "52.05", lon: "4.2", ele: undefined, time: "2026-12-01T23:59:59.999Z", order: "time" },
			],
			[
				{ lat: "52.1", lon: "4.3", ele: "2", time: "2026-12-02T00:00:00.000Z", order: "ele,time" },
				{ lat: "52.2", lon: "4.4", ele: "3", time: "2026-12-02T07:30:00.000Z", order: "ele,time" },
			],
		]);
	});

	test("times are UTC whatever offset they were stored with, and a day is a UTC day", () => {
		// 01:30 in UTC+02:00 is 23:30 UTC the day before.
		const gpx = parseXml(historyGpx([p("2026-12-02T01:30:00+02:00", 1, 1), p("2026-12-02T10:00:00Z", 1, 1)]));
		const segments = childrenNamed(only(gpx, "trk"), "trkseg");
		assert.equal(segments.length, 2);
		assert.equal(only(only(segments[0]!, "trkpt"), "time").text, "2026-12-01T23:30:00.000Z");
	});

	test("any text is escaped: a hostile name stays text, characters XML cannot carry are dropped", () => {
		const name = `Ada <script>alert("x")</script> & Bob's ]]> \u0000\u0007\ud800 trip`;
		const xml = historyGpx(TWO_DAYS, { name, createdAt: new Date("2026-12-03T09:00:00Z") });
		const gpx = parseXml(xml);
		const expected = `Ada <script>alert("x")</script> & Bob's ]]>  trip`;
		assert.equal(only(only(gpx, "metadata"), "name").text, expected);
		assert.equal(only(only(gpx, "metadata"), "time").text, "2026-12-03T09:00:00.000Z");
		assert.deepEqual(
			only(gpx, "metadata").children.map(child => child.name),
			["name", "time"],
			"the schema's order",
		);
		assert.equal(only(only(gpx, "trk"), "name").text, expected);
		assert.doesNotMatch(xml, /<script>/);
	});

	test("xmlEscape escapes the five special characters and keeps everything else, emoji included", () => {
		assert.equal(xmlEscape(`<a href="x">Tom & Jerry's</a>`), "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&apos;s&lt;/a&gt;");
		assert.equal(xmlEscape("Zoë 🏔 tab\tline\n"), "Zoë 🏔 tab\tline\n");
		assert.equal(xmlEscape("a\udc00b\ud83d"), "ab", "lone surrogates are dropped, pairs kept");
	});

	test("coordinates are plain decimals GPX accepts: no exponent, the antimeridian as −180", () => {
		const gpx = parseXml(historyGpx([p("2026-12-01T08:00:00Z", 1e-7, 180, 1e-9), p("2026-12-01T09:00:00Z", -0.00000001, -179.5)]));
		const points = childrenNamed(only(only(gpx, "trk"), "trkseg"), "trkpt");
		assert.deepEqual(
			points.map(point => [point.attributes.lat, point.attributes.lon, childrenNamed(point, "ele")[0]?.text]),
			[
				["0.0000001", "-180", "0"],
				["0", "-179.5", undefined],
			],
		);
		for (const point of points) assert.match(point.attributes.lat! + point.attributes.lon!, /^[-\d.]+$/);
	});

	test("no history: a valid GPX document without a track", () => {
		const gpx = parseXml(historyGpx([]));
		assert.equal(gpx.name, "gpx");
		assert.equal(gpx.attributes.xmlns, GPX_NAMESPACE);
		assert.deepEqual(childrenNamed(gpx, "trk"), []);
	});

	test("the reader used here does catch broken XML", () => {
		assert.throws(() => parseXml(`<?xml version="1.0" encoding="UTF-8"?>\n<gpx><name>a & b</name></gpx>`));
		assert.throws(() => parseXml(`<?xml version="1.0" encoding="UTF-8"?>\n<gpx><trk></gpx>`));
		assert.throws(() => parseXml(`<?xml version="1.0" encoding="UTF-8"?>\n<gpx>a < b</gpx>`));
		assert.throws(() => parseXml(`<?xml version="1.0" encoding="UTF-8"?>\n<gpx a="1" a="2"></gpx>`));
		assert.throws(() => parseXml(`<?xml version="1.0" encoding="UTF-8"?>\n<gpx></gpx><gpx></gpx>`));
		assert.doesNotThrow(() => parseXml(`<?xml version="1.0" encoding="UTF-8"?>\n<gpx a="&amp;"><b/>x &lt; y</gpx>\n`));
	});
});

describe("GeoJSON export", () => {
	test("a FeatureCollection with one LineString per UTC day, [lon, lat] positions, times aligned", () => {
		const collection = JSON.parse(JSON.stringify(historyGeoJson(TWO_DAYS))) as ReturnType<typeof historyGeoJson>;
		assert.equal(collection.type, "FeatureCollection");
		assert.deepEqual(collection.features, [
			{
				type: "Feature",
				// One point of day 1 has no altitude: the whole day is 2D.
				geometry: {
					type: "LineString",
					coordinates: [
						[4.0, 52.0],
						[4.2, 52.05],
					],
				},
				properties: { day: "2026-12-01", times: ["2026-12-01T08:00:00.000Z", "2026-12-01T23:59:59.999Z"] },
			},
			{
				type: "Feature",
				// Every point of day 2 has one: altitude is the third coordinate.
				geometry: {
					type: "LineString",
					coordinates: [
						[4.3, 52.1, 2],
						[4.4, 52.2, 3],
					],
				},
				properties: { day: "2026-12-02", times: ["2026-12-02T00:00:00.000Z", "2026-12-02T07:30:00.000Z"] },
			},
		]);
	});

	test("a day with one point is still a valid LineString: the point and its time repeated", () => {
		const { features } = historyGeoJson([p("2026-12-05T12:00:00Z", 10, 20)]);
		assert.equal(features.length, 1);
		assert.equal(features[0]!.geometry.type, "LineString");
		assert.deepEqual(features[0]!.geometry.coordinates, [
			[20, 10],
			[20, 10],
		]);
		assert.deepEqual(features[0]!.properties.times, ["2026-12-05T12:00:00.000Z", "2026-12-05T12:00:00.000Z"]);
		for (const feature of historyGeoJson(TWO_DAYS).features) assert.ok(feature.geometry.coordinates.length >= 2);
	});

	test("no history: an empty FeatureCollection", () => {
		assert.deepEqual(historyGeoJson([]), { type: "FeatureCollection", features: [] });
	});
});

describe("content types", () => {
	test("JSON, GPX as API.md §6.6 names it, GeoJSON as RFC 7946 registers it", () => {
		assert.match(HISTORY_EXPORTS.json.contentType, /^application\/json\b/);
		assert.match(HISTORY_EXPORTS.gpx.contentType, /^application\/gpx\+xml\b/);
		assert.match(HISTORY_EXPORTS.geojson.contentType, /^application\/geo\+json\b/);
		assert.deepEqual(
			Object.values(HISTORY_EXPORTS).map(format => format.extension),
			["json", "gpx", "geojson"],
		);
	});
});

describe("retention: HISTORY_DAYS", () => {
	const NOW = Date.parse("2026-12-31T12:00:00.000Z");

	test("30 days back from now, to the millisecond; points before the cutoff expire, the rest stay", () => {
		assert.equal(historyCutoff(30, NOW).toISOString(), "2026-12-01T12:00:00.000Z");
		assert.equal(historyCutoff(30, new Date(NOW)).toISOString(), "2026-12-01T12:00:00.000Z");
		assert.equal(isExpired({ timestamp: "2026-12-01T11:59:59.999Z" }, 30, NOW), true);
		assert.equal(isExpired({ timestamp: "2026-12-01T12:00:00.000Z" }, 30, NOW), false);
		assert.equal(isExpired({ timestamp: "2026-12-31T11:00:00.000Z" }, 30, NOW), false);
	});

	test("0: history is not kept, everything stored has expired", () => {
		assert.equal(keepsHistory(0), false);
		assert.equal(keepsHistory(1), true);
		assert.equal(historyCutoff(0, NOW).getTime(), NOW);
		assert.equal(isExpired({ timestamp: "2026-12-31T11:59:59.999Z" }, 0, NOW), true);
	});

	test("a negative or fractional number of days is a configuration error", () => {
		for (const days of [-1, 1.5, NaN]) assert.throws(() => historyCutoff(days, NOW), RangeError);
	});
});

describe("a history read's answer", () => {
	const window = { from: new Date("2026-12-01T10:00:00.000Z"), to: new Date("2026-12-02T10:00:00.000Z") };
	const points = [p("2026-12-01T12:00:00.000Z", 45, 9), p("2026-12-02T08:00:00.000Z", 45.1, 9.1, 120)];

	test("JSON is the object itself, no file", () => {
		assert.deepEqual(historyDownload(points, "json", window), { body: historyJson(points) });
	});

	test("GPX and GeoJSON are files named for the window's first day, with their content type", () => {
		assert.deepEqual(historyDownload(points, "gpx", window), {
			body: historyGpx(points, { name: "PositionPal 2026-12-01 – 2026-12-02" }),
			contentType: HISTORY_EXPORTS.gpx.contentType,
			filename: "positionpal-history-2026-12-01.gpx",
		});
		assert.deepEqual(historyDownload(points, "geojson", window), {
			body: JSON.stringify(historyGeoJson(points)),
			contentType: HISTORY_EXPORTS.geojson.contentType,
			filename: "positionpal-history-2026-12-01.geojson",
		});
	});
});
