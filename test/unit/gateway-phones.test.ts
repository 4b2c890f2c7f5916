import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DeviceAuthLimiter } from "../../services/gateway/device-auth-limit.js";
import { osmAndRequestOf, parametersOf, parseJsonBody, phoneErrorBody } from "../../services/gateway/phones.js";
import { osmAndDeviceId, parseOsmAnd } from "../../services/devices/protocol/osmand.js";
import { GroupLists, visiblePeople } from "../../services/location/visible-people.js";
import { newSession, type SessionData } from "../../services/location/session.js";
import * as wire from "../fixtures/osmand/requests.js";

// The gateway's side of the phone endpoints (status codes, bodies, the per-address limit) and the
// location service's answer to "who may this user see now".

describe("the per-address limit on failed device logins", () => {
	test("an address is blocked after `limit` failures within the window, until the window ends", () => {
		const clock = { now: 0 };
		const limiter = new DeviceAuthLimiter(3, 60_000, () => clock.now);
		const guess = (n: number) => DeviceAuthLimiter.fingerprint("osmand", `guess-${n}`);
		for (let i = 0; i < 3; i++) {
			assert.equal(limiter.blockedFor("10.0.0.1", guess(i)), 0);
			void limiter.failed("10.0.0.1", guess(i));
		}
		clock.now = 1_000;
		assert.equal(limiter.blockedFor("10.0.0.1", guess(9)), 59_000);
		assert.equal(limiter.blockedFor("10.0.0.2", guess(9)), 0, "per address");
		clock.now = 60_000;
		assert.equal(limiter.blockedFor("10.0.0.1", guess(9)), 0, "a new window");
	});

	test("a credential that worked recently still passes from a blocked address; one refused since does not", () => {
		const limiter = new DeviceAuthLimiter(1, 60_000, () => 0);
		const phone = DeviceAuthLimiter.fingerprint("owntracks", "user:pass");
		limiter.succeeded(phone);
		void limiter.failed("nat", DeviceAuthLimiter.fingerprint("osmand", "flood"));
		assert.equal(limiter.blockedFor("nat", phone), 0);
		assert.ok(limiter.blockedFor("nat", DeviceAuthLimiter.fingerprint("osmand", "flood")) > 0);
		void limiter.failed("nat", phone);
		assert.ok(limiter.blockedFor("nat", phone) > 0, "revoked since it worked");
	});

	test("a limit of 0 is off", () => {
		const limiter = new DeviceAuthLimiter(0);
		for (let i = 0; i < 100; i++) void limiter.failed("a", "f");
		assert.equal(limiter.blockedFor("a", "f"), 0);
	});

	test("memory stays bounded under a flood of addresses", () => {
		const limiter = new DeviceAuthLimiter(1, 60_000, () => 0, 100);
		for (let i = 0; i < 1_000; i++) void limiter.failed(`10.0.${i >> 8}.${i & 255}`, "f");
		assert.ok((limiter as unknown as { windows: Map<string, unknown> }).windows.size <= 100);
	});
});

describe("reading phone requests", () => {
	test("an empty OwnTracks body is no message; malformed or absurdly deep JSON is 400", () => {
		assert.equal(parseJsonBody(""), undefined);
		assert.equal(parseJsonBody(" \n"), undefined);
		assert.deepEqual(parseJsonBody('{"_type":"lwt","tst":1}'), { _type: "lwt", tst: 1 });
		for (const text of ["{bad", '{"_type":', "[".repeat(40) + "]".repeat(40)]) {
			assert.throws(
				() => parseJsonBody(text),
				(err: { code?: number; type?: string }) => err.code === 400 && err.type === "BAD_REQUEST",
				text.slice(0, 20),
			);
		}
	});

	test("query and form parameters: decoded, '+' as space, a repeated name kept as a list", () => {
		assert.deepEqual({ ...parametersOf("a=1&b=x+y&c=%2B01%3A00&a=2") }, { a: ["1", "2"], b: "x y", c: "+01:00" });
	});

	test("an OsmAnd request is read from the query string, a form body or Traccar Client 9's JSON, as the clients send them", () => {
		const url = (query: string) => `/api/osmand?${query}`;
		const fromQuery = osmAndRequestOf(url(wire.TRACCAR_ANDROID_QUERY), undefined, "");
		assert.equal(osmAndDeviceId(fromQuery), wire.DEVICE_ID);
		assert.equal(parseOsmAnd(fromQuery, 0).kind, "position");

		const fromForm = osmAndRequestOf("/api/osmand", "application/x-www-form-urlencoded", wire.DATE_TIME_FORM);
		const form = parseOsmAnd(fromForm, 0);
		assert.equal(form.kind === "position" && form.sample.timestamp, "2024-12-03T10:24:00.000Z");

		const fromJson = osmAndRequestOf("/api/osmand", "application/json; charset=utf-8", wire.TRACCAR_CLIENT_9_JSON);
		assert.equal(osmAndDeviceId(fromJson), wire.DEVICE_ID);
		const json = parseOsmAnd(fromJson, 0);
		assert.equal(json.kind === "position" && json.sample.battery, 56);

		assert.throws(
			() => osmAndRequestOf("/api/osmand", "application/json", "{nope"),
			(err: { code?: number }) => err.code === 400,
		);
		assert.equal(osmAndDeviceId(osmAndRequestOf("/api/osmand?lat=1&lon=2", undefined, "")), undefined);
	});

	test("what a phone is told: the contract's 4xx as they are; anything that may work later is 503, never 500", () => {
		const err = (code: number, type: string, name = "MoleculerClientError") => Object.assign(new Error(type), { code, type, name });
		assert.equal(phoneErrorBody(err(401, "UNAUTHORIZED")).code, 401);
		assert.equal(phoneErrorBody(err(422, "UNSUPPORTED")).type, "UNSUPPORTED");
		assert.equal(phoneErrorBody(err(409, "CONFLICT")).code, 503, "the session changing too fast: try again");
		assert.equal(phoneErrorBody(new Error("a bug")).code, 503);
		assert.equal(phoneErrorBody(Object.assign(new Error("t"), { name: "RequestTimeoutError", code: 504 })).code, 503);
		assert.equal(phoneErrorBody(Object.assign(new Error("n"), { name: "ServiceNotFoundError", code: 404 })).code, 503);
	});
});

describe("who a user may see on a phone's map now", () => {
	const NOW = Date.parse("2025-06-01T12:00:00.000Z");
	const at = (ms: number, extra = {}) => ({ latitude: 45, longitude: 9, timestamp: new Date(ms).toISOString(), ...extra });
	const session = (groupId: string, userId: string, state: SessionData["state"], positionAt: number | null): SessionData => ({
		...newSession(groupId, userId, 1),
		state,
		sharing: state !== "INACTIVE",
		position: positionAt === null ? null : at(positionAt),
	});
	const members = [
		{ id: "ada", name: "Ada", surname: "Lovelace" },
		{ id: "bob", name: "Bob", surname: "Noyce" },
		{ id: "cy", name: "Cy", surname: "Silent" },
		{ id: "dee", name: "Dee", surname: "Never" },
	];

	test("members sharing, on a journey or in an SOS are shown; stopped or silent sharers and never-seen members are not; the user always", () => {
		const people = visiblePeople("ada", [
			{
				members,
				sessions: [
					session("g1", "ada", "INACTIVE", NOW - 60_000),
					session("g1", "bob", "ROUTING", NOW),
					session("g1", "cy", "INACTIVE", NOW),
					session("g1", "dee", "ACTIVE", null),
				],
			},
		]);
		assert.deepEqual(
			people.map(p => [p.userId, p.name]),
			[
				["ada", "Ada"],
				["bob", "Bob"],
			],
		);
	});

	test("someone in several groups with the user appears once, at the newest position shared with them", () => {
		const people = visiblePeople("ada", [
			{ members, sessions: [session("g1", "bob", "ACTIVE", NOW - 10_000)] },
			{ members, sessions: [session("g2", "bob", "SOS", NOW)] },
			{ members, sessions: [session("g3", "bob", "INACTIVE", NOW + 5_000)] },
		]);
		assert.deepEqual(
			people.map(p => [p.userId, p.position.timestamp]),
			[["bob", new Date(NOW).toISOString()]],
		);
	});

	test("a session of someone not listed as a member (left meanwhile) is never shown", () => {
		assert.deepEqual(visiblePeople("ada", [{ members: [members[0]!], sessions: [session("g1", "bob", "ACTIVE", NOW)] }]), []);
	});

	test("a user's group list is asked once, and asked again after a membership broadcast about them", async () => {
		let asked = 0;
		const lists = new GroupLists(async () => (asked++, ["g1"]));
		await lists.of("ada");
		await lists.of("ada");
		assert.equal(asked, 1);
		lists.broadcast({ groupId: "g2", change: "memberAdded", userId: "ada" });
		await lists.of("ada");
		assert.equal(asked, 2);
		lists.broadcast({ groupId: "g1", change: "renamed" });
		await lists.of("ada");
		assert.equal(asked, 2, "a rename changes no one's groups");
	});
});
