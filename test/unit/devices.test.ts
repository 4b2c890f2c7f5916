import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readSetting } from "../../lib/config.js";
import type { Meta, User } from "../../events/types.js";
import {
	basicCredentials,
	DEVICE_ID_LENGTH,
	hashSecret,
	isDeviceId,
	isSecret,
	newDeviceId,
	newSecret,
	osmAndId,
	ownTracksDeviceName,
	randomBase62,
	secretMatches,
	SECRET_LENGTH,
	splitOsmAndId,
} from "../../services/devices/credentials.js";
import { credentialsOf, publicBaseUrl, toDevice, type OsmAndDeviceCredentials, type OwnTracksDeviceCredentials } from "../../services/devices/registry.js";
import { LastSeen } from "../../services/devices/last-seen.js";
import { NO_PLACES, pendingCommands, placeTransition, sentCommands } from "../../services/devices/commands.js";
import type { AnswerPlace } from "../../services/devices/protocol/owntracks.js";
import { DeviceCache, toKnownDevice, type KnownDevice } from "../../services/devices/device-cache.js";
import { FailedLogins, failedLoginKey } from "../../services/devices/failed-logins.js";
import { MemoryAttempts } from "../../lib/attempt-limits.js";
import { LOCATE_EVERY_MS, locateNotification, locateParties, locateWaitMs } from "../../services/devices/locate.js";
import { PhoneReports, type Call } from "../../services/devices/phone-reports.js";
import * as ownTracksWire from "../fixtures/owntracks/messages.js";
import * as osmAndWire from "../fixtures/osmand/requests.js";

// The devices service's rules without a broker: credentials, what a device is shown, lastSeenAt
// coalescing, pending commands, "where are you now?" and a phone's report from credentials to answer.

const ADA: User = { id: "u-ada", name: "Ada", surname: "Lovelace", email: "ada@example.org" };
const T0 = Date.parse("2024-12-03T10:30:00.000Z");

describe("credentials: split tokens, stored as SHA-256", () => {
	test("ids and secrets are base62 of the right length, and random (no two alike in 1,000)", () => {
		const ids = new Set(Array.from({ length: 1000 }, newDeviceId));
		const secrets = new Set(Array.from({ length: 1000 }, newSecret));
		assert.equal(ids.size, 1000);
		assert.equal(secrets.size, 1000);
		for (const id of ids) assert.ok(isDeviceId(id) && id.length === DEVICE_ID_LENGTH);
		for (const secret of secrets) assert.ok(isSecret(secret) && secret.length === SECRET_LENGTH);
		assert.ok(SECRET_LENGTH * Math.log2(62) >= 128, "a secret holds at least 128 random bits");
	});

	test("every base62 character comes up, none more than chance allows (no modulo bias)", () => {
		const counts = new Map<string, number>();
		for (const c of randomBase62(62_000)) counts.set(c, (counts.get(c) ?? 0) + 1);
		assert.equal(counts.size, 62);
		for (const [c, n] of counts) assert.ok(n > 800 && n < 1200, `${c} drawn ${n} times of an expected 1,000`);
	});

	test("a secret matches its hash only; the hash is SHA-256 hex", () => {
		const secret = newSecret();
		const hash = hashSecret(secret);
		assert.match(hash, /^[0-9a-f]{64}$/);
		assert.equal(secretMatches(secret, hash), true);
		assert.equal(secretMatches(newSecret(), hash), false);
		assert.equal(secretMatches(secret, "not hex"), false);
	});

	test("an OsmAnd id is the device id then the secret, split back only when both parts are well formed", () => {
		const deviceId = newDeviceId();
		const secret = newSecret();
		const id = osmAndId(deviceId, secret);
		assert.ok(id.length * Math.log2(62) >= 128);
		assert.deepEqual(splitOsmAndId(id), { deviceId, secret });
		assert.equal(splitOsmAndId(id.slice(1)), null);
		assert.equal(splitOsmAndId(`${id.slice(0, -1)}-`), null);
		assert.equal(splitOsmAndId(osmAndWire.DEVICE_ID), null, "an id of another server is refused without a lookup");
		assert.equal(splitOsmAndId(undefined), null);
	});

	test("HTTP Basic credentials: the password is everything after the first colon; anything else is none", () => {
		const header = (text: string) => `Basic ${Buffer.from(text, "utf8").toString("base64")}`;
		assert.deepEqual(basicCredentials(header("abc:p:a:ss")), { username: "abc", password: "p:a:ss" });
		assert.deepEqual(basicCredentials(header("ünï:cødé")), { username: "ünï", password: "cødé" });
		assert.deepEqual(basicCredentials(`basic   ${Buffer.from("a:b").toString("base64")}`), { username: "a", password: "b" });
		assert.equal(basicCredentials(header("no colon")), null);
		assert.equal(basicCredentials("Bearer abc"), null);
		assert.equal(basicCredentials(undefined), null);
		assert.equal(basicCredentials("Basic !!!"), null);
	});

	test("the OwnTracks deviceId is the device's name in plain letters and digits", () => {
		assert.equal(ownTracksDeviceName("Ada's iPhone 15"), "adasiphone15");
		assert.equal(ownTracksDeviceName("Téléphone"), "telephone");
		assert.equal(ownTracksDeviceName("📱"), "phone");
	});
});

describe("what a device is shown", () => {
	const doc = { _id: "AbCdEfGhIjKl", name: "Ada's iPhone", protocol: "owntracks" as const, createdAt: new Date(T0), lastSeenAt: null };

	test("a Device has no secret; lastSeenAt is null until a report", () => {
		assert.deepEqual(toDevice(doc), {
			id: "AbCdEfGhIjKl",
			name: "Ada's iPhone",
			protocol: "owntracks",
			createdAt: "2024-12-03T10:30:00.000Z",
			lastSeenAt: null,
		});
		assert.equal(toDevice({ ...doc, lastSeenAt: new Date(T0 + 1000) }).lastSeenAt, "2024-12-03T10:30:01.000Z");
	});

	test("OwnTracks credentials: the URL, username = device id, password, the owner's initials as tid, and a config link carrying the same", () => {
		const secret = newSecret();
		const credentials = credentialsOf(doc, secret, "https://pp.example.org/base", ADA) as OwnTracksDeviceCredentials;
		assert.deepEqual(
			{ ...credentials, configUrl: undefined },
			{
				url: "https://pp.example.org/base/api/owntracks",
				username: "AbCdEfGhIjKl",
				password: secret,
				deviceId: "adasiphone",
				tid: "AL",
				configUrl: undefined,
			},
		);
		const inline = new URL(credentials.configUrl).searchParams.get("inline")!;
		const config = JSON.parse(Buffer.from(inline, "base64").toString("utf8"));
		assert.deepEqual(
			{
				_type: config._type,
				mode: config.mode,
				url: config.url,
				auth: config.auth,
				username: config.username,
				password: config.password,
				deviceId: config.deviceId,
				tid: config.tid,
			},
			{
				_type: "configuration",
				mode: 3,
				url: credentials.url,
				auth: true,
				username: credentials.username,
				password: secret,
				deviceId: "adasiphone",
				tid: "AL",
			},
		);
	});

	test("OsmAnd credentials: the server URL and an id that splits back into the device and its secret", () => {
		const secret = newSecret();
		const credentials = credentialsOf({ ...doc, protocol: "osmand" }, secret, "http://192.168.1.20:3000", ADA) as OsmAndDeviceCredentials;
		assert.deepEqual(credentials, { url: "http://192.168.1.20:3000/api/osmand", id: `AbCdEfGhIjKl${secret}` });
	});

	test("the base URL is PUBLIC_URL when set, else the request's origin; PUBLIC_URL must be a plain http(s) URL", () => {
		assert.equal(publicBaseUrl("https://pp.example.org", "http://10.0.0.5:3000"), "https://pp.example.org");
		assert.equal(publicBaseUrl(undefined, "http://10.0.0.5:3000/"), "http://10.0.0.5:3000");
		assert.deepEqual(readSetting("publicUrl", { PUBLIC_URL: "https://pp.example.org/sub/" }), { value: "https://pp.example.org/sub", problems: [] });
		assert.equal(readSetting("publicUrl", { PUBLIC_URL: "ftp://x" }).problems.length, 1);
		assert.equal(readSetting("publicUrl", { PUBLIC_URL: "https://x/?a=1" }).problems.length, 1);
		assert.equal(readSetting("publicUrl", {}).value, undefined);
		assert.equal(readSetting("deviceAuthRateLimit", {}).value, 20);
	});
});

describe("lastSeenAt: at most one write per device per minute", () => {
	test("the first report writes, the next ones within the minute do not, the first after it does", () => {
		const seen = new LastSeen(60_000);
		assert.equal(seen.seen("d1", T0, null), true);
		assert.equal(seen.seen("d1", T0 + 1_000, null), false);
		assert.equal(seen.seen("d1", T0 + 59_999, null), false);
		assert.equal(seen.seen("d1", T0 + 60_000, null), true);
		assert.equal(seen.seen("d2", T0, null), true, "per device");
	});

	test("a value stored recently (read with the device) counts as written", () => {
		const seen = new LastSeen(60_000);
		assert.equal(seen.seen("d1", T0, T0 - 30_000), false);
		assert.equal(seen.seen("d1", T0 + 30_000, T0 - 30_000), true);
	});

	test("a failed write is retried by the next report; a graceful stop takes what was held back", () => {
		const seen = new LastSeen(60_000);
		assert.equal(seen.seen("d1", T0, null), true);
		seen.failed("d1", T0);
		assert.equal(seen.seen("d1", T0 + 1_000, null), true, "written again at once");
		assert.equal(seen.seen("d1", T0 + 2_000, null), false);
		assert.deepEqual(seen.takeUnwritten(), [["d1", T0 + 2_000]]);
		assert.deepEqual(seen.takeUnwritten(), []);
		assert.equal(seen.seen("d1", T0 + 3_000, null), false, "what was taken counts as written");
	});
});

describe("pending commands of an OwnTracks answer", () => {
	const device = { reportRequestedAt: null, waypointsVersion: "" };

	test("nothing pending: no command (an empty places list is not sent)", () => {
		assert.deepEqual(pendingCommands(device, NO_PLACES), {});
	});

	test("a request for a report is sent once; places only when their version changed", () => {
		const asked = { ...device, reportRequestedAt: T0 };
		const places = { version: "v2", places: [{ id: "p1", name: "School", latitude: 1, longitude: 2, radius: 100, createdAt: new Date(T0) }] };
		const commands = pendingCommands(asked, places);
		assert.deepEqual(commands, { reportLocation: true, places: places.places });
		assert.deepEqual(sentCommands(asked, commands, places), { reportRequestedAt: T0, waypointsVersion: "v2" });
		assert.deepEqual(pendingCommands({ reportRequestedAt: null, waypointsVersion: "v2" }, places), {});
		assert.deepEqual(
			pendingCommands({ reportRequestedAt: null, waypointsVersion: "v2" }, NO_PLACES),
			{ places: [] },
			"places all removed: the empty list goes",
		);
	});
});

describe("the device cache", () => {
	test('a stored device becomes what a report needs: times in ms, no waypoints version as ""', () => {
		const stored = {
			_id: "d1",
			userId: ADA.id,
			name: "Phone",
			protocol: "owntracks" as const,
			secretHash: "h",
			createdAt: new Date(T0),
			lastSeenAt: null,
			reportRequestedAt: new Date(T0 + 5),
			waypointsVersion: undefined as unknown as string,
		};
		assert.deepEqual(toKnownDevice(stored, ADA), {
			id: "d1",
			protocol: "owntracks",
			secretHash: "h",
			owner: ADA,
			lastSeenAt: null,
			reportRequestedAt: T0 + 5,
			waypointsVersion: "",
		});
	});

	const known = (id: string): KnownDevice => ({
		id,
		protocol: "owntracks",
		secretHash: "h",
		owner: ADA,
		lastSeenAt: null,
		reportRequestedAt: null,
		waypointsVersion: "",
	});

	test("a device is loaded once for a burst of reports, then served from memory", async () => {
		let loads = 0;
		const cache = new DeviceCache(async id => (loads++, known(id)));
		await Promise.all([cache.get("d1"), cache.get("d1"), cache.get("d1")]);
		await cache.get("d1");
		assert.equal(loads, 1);
	});

	test("a device forgotten while its load runs is not stored by that load (a removal cannot be undone by a race)", async () => {
		let release!: () => void;
		const gate = new Promise<void>(resolve => (release = resolve));
		let loads = 0;
		const cache = new DeviceCache(async id => {
			loads++;
			await gate;
			return known(id);
		});
		const racing = cache.get("d1");
		cache.forget("d1");
		release();
		await racing;
		await cache.get("d1");
		assert.equal(loads, 2, "loaded again after the forget");
	});

	test("unknown devices are not remembered; an update changes only a held copy", async () => {
		let loads = 0;
		const cache = new DeviceCache(async () => (loads++, null));
		assert.equal(await cache.get("nope"), null);
		assert.equal(await cache.get("nope"), null);
		assert.equal(loads, 2);
		cache.update("nope", () => ({ reportRequestedAt: 1 }));
		assert.equal(cache.size, 0);
	});
});

describe("failed device logins per address", () => {
	test("counted under the address's hash, refused past the limit; nothing is opened before the first failure", async () => {
		const memory = new MemoryAttempts();
		let opened = 0;
		const failedLogins = new FailedLogins(() => (opened++, Object.assign(memory, { purge: async () => 0 })));
		failedLogins.purge();
		assert.equal(opened, 0);
		assert.equal((await failedLogins.count("203.0.113.9", 2, 60_000)).allowed, true);
		assert.equal((await failedLogins.count("203.0.113.9", 2, 60_000)).allowed, true);
		assert.equal((await failedLogins.count("203.0.113.9", 2, 60_000)).allowed, false);
		assert.equal((await failedLogins.count("198.51.100.7", 2, 60_000)).allowed, true);
		assert.equal(opened, 1);
		assert.match(failedLoginKey("203.0.113.9"), /^device-address:[\w-]{43}$/);
		assert.ok(!failedLoginKey("203.0.113.9").includes("203.0.113.9"));
		assert.equal(await memory.peek(failedLoginKey("203.0.113.9")), 2);
	});
});

describe("where are you now?", () => {
	const answer = {
		exists: true,
		isMember: true,
		group: { groupId: "g1", name: "Family", version: 3, members: [ADA, { id: "u-bob", name: "Bob", surname: "Noyce" }] },
	};

	test("members ask about members; a stranger gets 403, an unknown group or member 404", () => {
		assert.equal(locateParties(answer, "u-ada", "u-bob").member.id, "u-bob");
		assert.throws(
			() => locateParties({ ...answer, isMember: false }, "u-eve", "u-bob"),
			(err: { code?: number; type?: string }) => err.code === 403 && err.type === "FORBIDDEN",
		);
		assert.throws(
			() => locateParties({ exists: false, isMember: false, group: null }, "u-ada", "u-bob"),
			(err: { code?: number }) => err.code === 404,
		);
		assert.throws(
			() => locateParties(answer, "u-ada", "u-eve"),
			(err: { code?: number; type?: string }) => err.code === 404 && err.type === "NOT_FOUND",
		);
	});

	test("once a minute per asker and member", () => {
		assert.equal(locateWaitMs(null, T0), 0);
		assert.equal(locateWaitMs(new Date(T0 - 10_000), T0), LOCATE_EVERY_MS - 10_000);
		assert.equal(locateWaitMs(new Date(T0 - LOCATE_EVERY_MS), T0), 0);
	});

	test("the member is notified (LOCATE_REQUESTED, to them alone, naming the asker); asking about yourself notifies nobody", () => {
		const parties = locateParties(answer, "u-ada", "u-bob");
		const notification = locateNotification("g1", parties)!;
		assert.deepEqual(notification.target, { userIds: ["u-bob"] });
		assert.equal(notification.kind, "LOCATE_REQUESTED");
		assert.equal(notification.title, "Ada Lovelace asked where you are");
		assert.match(notification.body, /Family/);
		assert.equal(notification.subjectUserId, "u-ada");
		assert.equal(locateNotification("g1", locateParties(answer, "u-ada", "u-ada")), null);
	});
});

// ---- a phone's report, end to end inside the devices service, with the location service stubbed

interface Stub {
	reports: PhoneReports;
	calls: { action: string; params: Record<string, unknown>; meta: Meta }[];
	writes: { lastSeen: [string, number][]; sent: [string, unknown][] };
	deviceId: string;
	secret: string;
	osmAndDeviceId: string;
	osmAndSecret: string;
	clock: { now: number };
	fail: Map<string, Error>;
	known: Map<string, KnownDevice>;
}

function stub(): Stub {
	const deviceId = newDeviceId();
	const secret = newSecret();
	const osmAndDeviceId = newDeviceId();
	const osmAndSecret = newSecret();
	const known = new Map<string, KnownDevice>([
		[
			deviceId,
			{ id: deviceId, protocol: "owntracks", secretHash: hashSecret(secret), owner: ADA, lastSeenAt: null, reportRequestedAt: null, waypointsVersion: "" },
		],
		[
			osmAndDeviceId,
			{
				id: osmAndDeviceId,
				protocol: "osmand",
				secretHash: hashSecret(osmAndSecret),
				owner: ADA,
				lastSeenAt: null,
				reportRequestedAt: null,
				waypointsVersion: "",
			},
		],
	]);
	const clock = { now: T0 };
	const writes = { lastSeen: [] as [string, number][], sent: [] as [string, unknown][] };
	const fail = new Map<string, Error>();
	const cache = new DeviceCache(async id => known.get(id) ?? null);
	const reports = new PhoneReports({
		devices: cache,
		lastSeen: new LastSeen(),
		writeLastSeen: async (id, at) => void writes.lastSeen.push([id, at]),
		writeSent: async (id, sent) => void writes.sent.push([id, sent]),
		places: async () => NO_PLACES,
		transition: async () => undefined,
		now: () => clock.now,
		logger: { debug: () => undefined, warn: () => undefined },
	});
	return { reports, calls: [], writes, deviceId, secret, osmAndDeviceId, osmAndSecret, clock, fail, known };
}

function caller(s: Stub): Call {
	return async (action, params, meta) => {
		s.calls.push({ action, params: params as Record<string, unknown>, meta });
		const failure = s.fail.get(action);
		if (failure) throw failure;
		if (action === "location.visiblePeople")
			return [
				{
					userId: ADA.id,
					name: "Ada",
					surname: "Lovelace",
					position: { latitude: 52.37601, longitude: 4.89453, timestamp: "2024-12-03T10:24:00.000Z", battery: 85 },
				},
			];
		return { sessions: [] };
	};
}

const clientError = (code: number, type: string) => Object.assign(new Error(type), { code, type });

describe("an OwnTracks report", () => {
	test("a location becomes a sample of the owner, as the device (source from meta.device), and the answer shows the people", async () => {
		const s = stub();
		const answer = await s.reports.ownTracks({ deviceId: s.deviceId, secret: s.secret, message: JSON.parse(ownTracksWire.IOS_LOCATION) }, caller(s));
		const sample = s.calls.find(c => c.action === "location.addSample")!;
		assert.deepEqual(sample.params, {
			latitude: 52.37601,
			longitude: 4.89453,
			timestamp: "2024-12-03T10:24:00.000Z",
			accuracy: 14,
			altitude: 27,
			speed: 5,
			heading: 270,
			battery: 85,
			charging: true,
		});
		assert.deepEqual(sample.meta, { user: ADA, device: { id: s.deviceId, protocol: "owntracks" } });
		assert.deepEqual(answer, [
			{ _type: "card", tid: "AL", name: "Ada Lovelace" },
			{ _type: "location", tid: "AL", lat: 52.37601, lon: 4.89453, tst: 1733221440, topic: `owntracks/${ADA.id}/AL`, batt: 85 },
		]);
		assert.deepEqual(s.writes.lastSeen, [[s.deviceId, T0]]);
	});

	test("wrong secret, unknown device, another protocol's device, malformed credentials: 401, and nothing is called", async () => {
		const s = stub();
		const refused = (err: { code?: number; type?: string }) => err.code === 401 && err.type === "UNAUTHORIZED";
		const message = JSON.parse(ownTracksWire.MINIMAL_LOCATION);
		await assert.rejects(s.reports.ownTracks({ deviceId: s.deviceId, secret: newSecret(), message }, caller(s)), refused);
		await assert.rejects(s.reports.ownTracks({ deviceId: newDeviceId(), secret: s.secret, message }, caller(s)), refused);
		await assert.rejects(s.reports.ownTracks({ deviceId: s.osmAndDeviceId, secret: s.osmAndSecret, message }, caller(s)), refused);
		await assert.rejects(s.reports.ownTracks({ deviceId: "x", secret: "y", message }, caller(s)), refused);
		assert.deepEqual(s.calls, []);
		assert.deepEqual(s.writes.lastSeen, []);
	});

	test("other message types and an empty body are acknowledged with [] and change nothing", async () => {
		const s = stub();
		for (const message of [
			undefined,
			{},
			...[
				ownTracksWire.CARD,
				ownTracksWire.LWT,
				ownTracksWire.STATUS,
				ownTracksWire.STEPS,
				ownTracksWire.WAYPOINTS,
				ownTracksWire.ANDROID_TRANSITION_WITHOUT_RID,
			].map(m => JSON.parse(m)),
		]) {
			assert.deepEqual(await s.reports.ownTracks({ deviceId: s.deviceId, secret: s.secret, message }, caller(s)), []);
		}
		assert.deepEqual(s.calls, []);
	});

	test("encrypted → 422 UNSUPPORTED; invalid values → 422 VALIDATION_ERROR naming the fields", async () => {
		const s = stub();
		await assert.rejects(
			s.reports.ownTracks({ deviceId: s.deviceId, secret: s.secret, message: JSON.parse(ownTracksWire.ENCRYPTED) }, caller(s)),
			(err: { code?: number; type?: string }) => err.code === 422 && err.type === "UNSUPPORTED",
		);
		await assert.rejects(
			s.reports.ownTracks({ deviceId: s.deviceId, secret: s.secret, message: { _type: "location", lat: 91, lon: 4, tst: 1733221440 } }, caller(s)),
			(err: { code?: number; type?: string; data?: { field: string }[] }) =>
				err.code === 422 && err.type === "VALIDATION_ERROR" && err.data?.[0]?.field === "lat",
		);
		assert.deepEqual(s.calls, []);
	});

	test("not sharing anywhere is no error (taken, applies nowhere); a future time is 422; the location service down passes through (503)", async () => {
		const s = stub();
		const message = JSON.parse(ownTracksWire.MINIMAL_LOCATION);
		s.fail.set("location.addSample", clientError(409, "INVALID_STATE"));
		assert.equal((await s.reports.ownTracks({ deviceId: s.deviceId, secret: s.secret, message }, caller(s))).length, 2);
		s.fail.set("location.addSample", clientError(422, "VALIDATION_ERROR"));
		await assert.rejects(s.reports.ownTracks({ deviceId: s.deviceId, secret: s.secret, message }, caller(s)), (err: { code?: number }) => err.code === 422);
		const down = Object.assign(new Error("timeout"), { name: "RequestTimeoutError", code: 504 });
		s.fail.set("location.addSample", down);
		await assert.rejects(s.reports.ownTracks({ deviceId: s.deviceId, secret: s.secret, message }, caller(s)), (err: unknown) => err === down);
	});

	test("when the people cannot be told, the stored report is still acknowledged (without them)", async () => {
		const s = stub();
		s.fail.set("location.visiblePeople", Object.assign(new Error("timeout"), { name: "RequestTimeoutError" }));
		assert.deepEqual(await s.reports.ownTracks({ deviceId: s.deviceId, secret: s.secret, message: JSON.parse(ownTracksWire.MINIMAL_LOCATION) }, caller(s)), []);
	});

	test("a pending 'where are you now?' goes out once as reportLocation, after the people, and is recorded as sent", async () => {
		const s = stub();
		s.known.get(s.deviceId)!.reportRequestedAt = T0 - 5_000;
		const message = JSON.parse(ownTracksWire.MINIMAL_LOCATION);
		const first = await s.reports.ownTracks({ deviceId: s.deviceId, secret: s.secret, message }, caller(s));
		assert.deepEqual(first.at(-1), { _type: "cmd", action: "reportLocation" });
		assert.deepEqual(s.writes.sent, [[s.deviceId, { reportRequestedAt: T0 - 5_000 }]]);
		const second = await s.reports.ownTracks({ deviceId: s.deviceId, secret: s.secret, message }, caller(s));
		assert.equal(
			second.some(m => m._type === "cmd"),
			false,
			"sent once",
		);
	});
});

describe("an OsmAnd report", () => {
	const request = (s: Stub, query: string) => ({
		query: Object.fromEntries(new URLSearchParams(query.replace(osmAndWire.DEVICE_ID, osmAndId(s.osmAndDeviceId, s.osmAndSecret)))),
	});

	test("Traccar Client's query string becomes a sample: knots to m/s, the phone's battery", async () => {
		const s = stub();
		await s.reports.osmAnd({ deviceId: s.osmAndDeviceId, secret: s.osmAndSecret, request: request(s, osmAndWire.TRACCAR_ANDROID_QUERY) }, caller(s));
		assert.deepEqual(
			s.calls.map(c => c.action),
			["location.addSample"],
		);
		const { params, meta } = s.calls[0]!;
		assert.equal(params.speed, 1.5);
		assert.equal(params.battery, 85);
		assert.equal(params.timestamp, "2024-12-03T10:24:00.000Z");
		assert.deepEqual(meta.device, { id: s.osmAndDeviceId, protocol: "osmand" });
	});

	test("alarm=sos raises an SOS at that position; while one is on, the position is a sample of it", async () => {
		const s = stub();
		await s.reports.osmAnd({ deviceId: s.osmAndDeviceId, secret: s.osmAndSecret, request: request(s, osmAndWire.TRACCAR_ANDROID_SOS_QUERY) }, caller(s));
		assert.deepEqual(
			s.calls.map(c => c.action),
			["location.startSos"],
		);
		assert.equal(s.calls[0]!.params.charging, true);
		s.fail.set("location.startSos", clientError(409, "INVALID_STATE"));
		await s.reports.osmAnd({ deviceId: s.osmAndDeviceId, secret: s.osmAndSecret, request: request(s, osmAndWire.TRACCAR_ANDROID_SOS_QUERY) }, caller(s));
		assert.deepEqual(
			s.calls.map(c => c.action),
			["location.startSos", "location.startSos", "location.addSample"],
		);
	});

	test("invalid values are 400 (not 422) for OsmAnd, also when the location service refuses the time", async () => {
		const s = stub();
		const bad = { query: { id: osmAndId(s.osmAndDeviceId, s.osmAndSecret), lat: "91", lon: "4" } };
		await assert.rejects(
			s.reports.osmAnd({ deviceId: s.osmAndDeviceId, secret: s.osmAndSecret, request: bad }, caller(s)),
			(err: { code?: number; type?: string }) => err.code === 400 && err.type === "BAD_REQUEST",
		);
		s.fail.set("location.addSample", clientError(422, "VALIDATION_ERROR"));
		await assert.rejects(
			s.reports.osmAnd({ deviceId: s.osmAndDeviceId, secret: s.osmAndSecret, request: request(s, osmAndWire.OSMAND_QUERY) }, caller(s)),
			(err: { code?: number }) => err.code === 400,
		);
	});
});

describe("places on the phone (issue 16)", () => {
	/** A device that got the places of version `v1`, and the places source and transition sink under test. */
	function phone(places: () => Promise<{ version: string; places: AnswerPlace[] }>) {
		const deviceId = newDeviceId();
		const secret = newSecret();
		const sent: unknown[] = [];
		const known: KnownDevice = {
			id: deviceId,
			protocol: "owntracks",
			secretHash: hashSecret(secret),
			owner: ADA,
			lastSeenAt: null,
			reportRequestedAt: null,
			waypointsVersion: "v1",
		};
		const reports = new PhoneReports({
			devices: new DeviceCache(async id => (id === deviceId ? known : null)),
			lastSeen: new LastSeen(),
			writeLastSeen: async () => undefined,
			writeSent: async (_id, what) => void sent.push(what),
			places,
			transition: placeTransition,
			now: () => T0,
			logger: { debug: () => undefined, warn: () => undefined },
		});
		return { reports, deviceId, secret, sent };
	}
	const school: AnswerPlace = { id: "p1", name: "School", latitude: 52.37, longitude: 4.89, radius: 150, createdAt: "2024-12-01T08:00:00.000Z" };
	const calls: { action: string; params: unknown }[] = [];
	const call: Call = async (action, params) => {
		calls.push({ action, params });
		if (action === "location.placeTransition" && (params as { placeId: string }).placeId === "gone") throw clientError(404, "NOT_FOUND");
		if (action === "location.placeTransition" && (params as { placeId: string }).placeId === "down") throw clientError(503, "SERVICE_UNAVAILABLE");
		return [];
	};
	const ping = () => JSON.parse(ownTracksWire.MINIMAL_LOCATION);

	test("changed places go as setWaypoints and their version is remembered; places that cannot be read now change nothing on the phone", async () => {
		const changed = phone(async () => ({ version: "v2", places: [school] }));
		const answer = await changed.reports.ownTracks({ deviceId: changed.deviceId, secret: changed.secret, message: ping() }, call);
		assert.deepEqual(answer.at(-1), {
			_type: "cmd",
			action: "setWaypoints",
			waypoints: { _type: "waypoints", waypoints: [{ _type: "waypoint", desc: "School", lat: 52.37, lon: 4.89, rad: 150, tst: 1733040000, rid: "p1" }] },
		});
		assert.deepEqual(changed.sent, [{ waypointsVersion: "v2" }]);
		const down = phone(async () => Promise.reject(clientError(503, "SERVICE_UNAVAILABLE")));
		const unchanged = await down.reports.ownTracks({ deviceId: down.deviceId, secret: down.secret, message: ping() }, call);
		assert.equal(
			unchanged.some(m => m._type === "cmd"),
			false,
			"no empty setWaypoints while the location service is away",
		);
		assert.deepEqual(down.sent, []);
	});

	test("a transition with a rid goes to location.placeTransition as the owner; one that can never apply is acknowledged; an outage is not", async () => {
		const p = phone(async () => ({ version: "v1", places: [school] }));
		const transition = (rid: string) => ({ ...JSON.parse(ownTracksWire.IOS_TRANSITION_ENTER), rid });
		calls.length = 0;
		await p.reports.ownTracks({ deviceId: p.deviceId, secret: p.secret, message: transition("p1") }, call);
		assert.deepEqual(calls[0], { action: "location.placeTransition", params: { placeId: "p1", event: "enter" } });
		await p.reports.ownTracks({ deviceId: p.deviceId, secret: p.secret, message: transition("gone") }, call);
		await assert.rejects(
			p.reports.ownTracks({ deviceId: p.deviceId, secret: p.secret, message: transition("down") }, call),
			(err: { code?: number }) => err.code === 503,
		);
	});
});
