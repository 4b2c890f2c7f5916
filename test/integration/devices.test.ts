import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import mongoose from "mongoose";
import { ApiClient } from "../support/client.js";
import { startSystem, type System } from "../support/system.js";
import { waitFor } from "../support/wait.js";
import { atTime, fromAddress, nowSeconds, postOwnTracks, registerDevice, sendOsmAnd, type OwnTracksCredentials } from "../support/phones.js";
import * as ownTracks from "../fixtures/owntracks/messages.js";
import type { Group } from "../../events/types.js";

/**
 * The devices service as real processes (two devices instances, so a report and a removal may meet
 * different caches): registering, listing and removing devices, refusal at once after removal and
 * after the account is deleted, lastSeenAt without a write per report, the per-address limit on
 * unknown OsmAnd ids (no database touched), and 503 — never 500 — while the location service is away.
 */

let system: System;
let ada: ApiClient;
let bob: ApiClient;
let family: Group;
let devicesDb: mongoose.Connection;

const LIMIT = 6;

before(async () => {
	system = await startSystem({
		services: ["users", "location", "devices", "gateway"],
		// TRUST_PROXY: each test sends from its own client address (X-Forwarded-For), so one test's
		// refused logins do not count against another's.
		env: { DEVICE_AUTH_RATE_LIMIT: String(LIMIT), OFFLINE_AFTER: "3600", PUBLIC_URL: "https://positionpal.example.org/pp", TRUST_PROXY: "1" },
	});
	await system.start("devices#2");
	ada = new ApiClient(system.url);
	bob = new ApiClient(system.url);
	await Promise.all([ada.signUp("Ada", "Lovelace"), bob.signUp("Bob", "Noyce")]);
	family = await ada.createGroup("Family", [bob.user!.email]);
	assert.equal((await ada.post(`/api/groups/${family.id}/sharing`)).status, 200);
	devicesDb = await mongoose
		.createConnection(process.env.MONGO_URL ?? "mongodb://127.0.0.1:27017", { dbName: `${system.env.MONGO_DB_PREFIX}_devices` })
		.asPromise();
});

after(async () => {
	await devicesDb?.close();
	await system?.stopAll();
});

const devicesOf = (userId: string) => devicesDb.collection("devices").find({ userId }).toArray();
const location = (seconds = nowSeconds()) => atTime(ownTracks.MINIMAL_LOCATION, seconds, { lat: 45.07, lon: 7.68 });

describe("registering devices", () => {
	test("credentials are shown once, with PUBLIC_URL; the list has no secrets; only hashes are stored", async () => {
		const created = await ada.post("/api/devices", { name: "Ada's iPhone", protocol: "owntracks" });
		assert.equal(created.status, 201, JSON.stringify(created.body));
		const { credentials, ...device } = created.body;
		assert.equal(credentials.url, "https://positionpal.example.org/pp/api/owntracks");
		assert.equal(credentials.username, device.id);
		assert.match(credentials.password, /^[0-9A-Za-z]{22}$/);
		assert.match(credentials.configUrl, /^owntracks:\/\/\/config\?inline=/);
		assert.deepEqual(Object.keys(device).sort(), ["createdAt", "id", "lastSeenAt", "name", "protocol"]);

		const osmand = await ada.post("/api/devices", { name: "Traccar", protocol: "osmand" });
		assert.equal(osmand.status, 201);
		assert.equal(osmand.body.credentials.url, "https://positionpal.example.org/pp/api/osmand");
		assert.match(osmand.body.credentials.id, /^[0-9A-Za-z]{34}$/);

		const listed = await ada.get("/api/devices");
		assert.equal(listed.status, 200);
		assert.deepEqual(
			listed.body.map((d: { name: string }) => d.name),
			["Ada's iPhone", "Traccar"],
		);
		assert.ok(listed.body.every((d: object) => !("credentials" in d) && !("secretHash" in d)));
		const stored = JSON.stringify(await devicesOf(ada.user!.id));
		assert.ok(!stored.includes(credentials.password) && !stored.includes(osmand.body.credentials.id.slice(12)), "no secret is stored as given");

		assert.equal((await bob.get("/api/devices")).body.length, 0, "each user sees their own");
		assert.equal((await bob.delete(`/api/devices/${device.id}`)).status, 404, "nobody removes another's device");
		assert.equal((await ada.post("/api/devices", { name: "x", protocol: "mqtt" })).status, 422);
	});

	test("at most 10 devices per user (409 beyond), also when they are made at once", async () => {
		const carl = new ApiClient(system.url);
		await carl.signUp("Carl", "Gauss");
		const results = await Promise.all(
			Array.from({ length: 14 }, (_, i) => carl.post("/api/devices", { name: `phone ${i}`, protocol: i % 2 ? "osmand" : "owntracks" })),
		);
		const statuses = results.map(r => r.status);
		assert.ok(
			statuses.every(s => s === 201 || s === 409),
			statuses.join(),
		);
		assert.ok(statuses.filter(s => s === 201).length <= 10);
		while ((await carl.get("/api/devices")).body.length < 10) assert.equal((await carl.post("/api/devices", { name: "more", protocol: "osmand" })).status, 201);
		const refused = await carl.post("/api/devices", { name: "eleventh", protocol: "owntracks" });
		assert.equal(refused.status, 409);
		assert.equal(refused.body.type, "CONFLICT");
		assert.equal((await carl.get("/api/devices")).body.length, 10);
	});
});

describe("reports and removal", () => {
	test("a removed device is refused at once, whichever instance its reports reach (OwnTracks and OsmAnd)", async () => {
		for (let round = 0; round < 3; round++) {
			const headers = fromAddress(`198.51.100.${round + 1}`);
			const ot = await registerDevice(ada, "owntracks");
			const os = await registerDevice(ada, "osmand");
			assert.equal((await postOwnTracks(system.url, ot.credentials, location(), { headers })).status, 200);
			assert.equal((await sendOsmAnd(system.url, { query: `id=${os.credentials.id}&lat=45.07&lon=7.68`, headers })).status, 200);
			assert.equal((await ada.delete(`/api/devices/${ot.id}`)).status, 204);
			assert.equal((await ada.delete(`/api/devices/${os.id}`)).status, 204);
			const refused = await postOwnTracks(system.url, ot.credentials, location(), { headers });
			assert.equal(refused.status, 401);
			assert.match(refused.headers.get("www-authenticate") ?? "", /^Basic realm="PositionPal"/);
			assert.equal((await sendOsmAnd(system.url, { query: `id=${os.credentials.id}&lat=45.07&lon=7.68`, headers })).status, 401);
			assert.equal((await ada.delete(`/api/devices/${ot.id}`)).status, 404);
			assert.ok(!system.log("gateway").includes(os.credentials.id.slice(12)), "the access log does not show an OsmAnd id (a credential)");
		}
	});

	test("lastSeenAt is set by the first report and not rewritten by the next ones within the minute", async () => {
		const ot = await registerDevice(ada, "owntracks");
		const before = Date.now();
		assert.equal((await postOwnTracks(system.url, ot.credentials, location())).status, 200);
		const seen = await waitFor(
			async () =>
				(await ada.get("/api/devices")).body.find((d: { id: string; lastSeenAt: string | null }) => d.id === ot.id && d.lastSeenAt)?.lastSeenAt as
					string | undefined,
			{ what: "lastSeenAt to be written" },
		);
		assert.ok(Date.parse(seen) >= before - 1000);
		for (let i = 0; i < 10; i++) assert.equal((await postOwnTracks(system.url, ot.credentials, ownTracks.LWT)).status, 200);
		const stored = (await devicesOf(ada.user!.id)).find(d => d._id === (ot.id as unknown));
		assert.equal(new Date(stored!.lastSeenAt).toISOString(), seen, "ten reports later, still the first one's time: no write per report");
	});

	test("a deleted account's devices are refused, then removed", async () => {
		const dan = new ApiClient(system.url);
		await dan.signUp("Dan", "Deleted", "dan's long password");
		const ot = await registerDevice(dan, "owntracks");
		const headers = fromAddress("198.51.100.10");
		assert.equal((await postOwnTracks(system.url, ot.credentials, ownTracks.LWT, { headers })).status, 200);
		assert.equal((await dan.delete("/api/users/me", { currentPassword: "dan's long password" })).status, 204);
		await waitFor(async () => (await postOwnTracks(system.url, ot.credentials, ownTracks.LWT, { headers })).status === 401, {
			what: "the deleted account's device to be refused",
		});
		await waitFor(async () => (await devicesOf(dan.user!.id)).length === 0, { what: "the deleted account's devices to be removed" });
	});
});

describe("refusals a phone can rely on", () => {
	test("unknown OsmAnd ids from one address: 401 until the limit, then 429 without asking the devices service — while a working device still gets through", async () => {
		const headers = fromAddress("203.0.113.66");
		const os = await registerDevice(ada, "osmand");
		assert.equal((await sendOsmAnd(system.url, { query: `id=${os.credentials.id}&lat=45.07&lon=7.68`, headers })).status, 200);
		const unknown = (i: number) => sendOsmAnd(system.url, { query: `id=unknownDevice${String(i).padStart(21, "0")}&lat=1&lon=1`, headers });
		for (let i = 0; i < LIMIT; i++) assert.equal((await unknown(i)).status, 401, `unknown id ${i}`);
		const limited = await unknown(LIMIT);
		assert.equal(limited.status, 429);
		assert.equal(limited.json.type, "RATE_LIMITED");
		assert.ok(Number(limited.headers.get("retry-after")) > 0);

		// With the devices service gone, a request that reached it would be a 503: these never do.
		await system.stop("devices");
		await system.stop("devices#2");
		try {
			for (let i = 0; i < 5; i++) assert.equal((await unknown(100 + i)).status, 429);
			assert.equal(
				(await sendOsmAnd(system.url, { query: `id=${os.credentials.id}&lat=45.07&lon=7.68`, headers })).status,
				503,
				"the working device is let through (and told to retry)",
			);
			assert.equal((await unknown(200)).status, 429);
			assert.equal(
				(await sendOsmAnd(system.url, { query: `id=unknownDevice${"9".repeat(21)}&lat=1&lon=1`, headers: fromAddress("203.0.113.67") })).status,
				503,
				"another address is not limited",
			);
		} finally {
			await system.start("devices");
			await system.start("devices#2");
			await system.waitHealthy();
		}
		await waitFor(async () => (await sendOsmAnd(system.url, { query: `id=${os.credentials.id}&lat=45.08&lon=7.68`, headers })).status === 200, {
			what: "the device to report again",
		});
	});

	test("while the location service is away, reports are answered 503 (retried by the phone), never 500; then they are taken again", async () => {
		const ot = await registerDevice(bob, "owntracks");
		const os = await registerDevice(bob, "osmand");
		assert.equal((await bob.post(`/api/groups/${family.id}/sharing`)).status, 200);
		await system.stop("location");
		try {
			const t = nowSeconds();
			const refused = await postOwnTracks(system.url, ot.credentials, location(t));
			assert.equal(refused.status, 503, refused.text);
			assert.equal(refused.json.type, "SERVICE_UNAVAILABLE");
			assert.equal((await sendOsmAnd(system.url, { query: `id=${os.credentials.id}&lat=45.07&lon=7.68&timestamp=${t}` })).status, 503);
			// Messages with no position need no location service.
			assert.deepEqual((await postOwnTracks(system.url, ot.credentials, ownTracks.LWT)).json, []);
		} finally {
			await system.start("location");
			await system.waitHealthy();
		}
		const retried = await waitFor(
			async () => {
				const res = await postOwnTracks(system.url, ot.credentials, location());
				return res.status === 200 ? res : undefined;
			},
			{ what: "the retried report to be taken" },
		);
		assert.ok(retried.json.some((m: { _type: string }) => m._type === "location"));
		const session = (await ada.get(`/api/groups/${family.id}/sessions/${bob.user!.id}`)).body;
		assert.equal(session.position.source, "owntracks");
	});

	test("X-Limit-U and X-Limit-D never decide whose report it is", async () => {
		const ot = await registerDevice(bob, "owntracks");
		// Two seconds on: newer than Bob's last report (an older one would be skipped as stale), within the allowed clock skew.
		const spoofed = await postOwnTracks(system.url, ot.credentials, atTime(ownTracks.MINIMAL_LOCATION, nowSeconds() + 2, { lat: 10, lon: 10 }), {
			limitUser: ada.user!.email,
			headers: { "x-limit-d": ada.user!.id },
		});
		assert.equal(spoofed.status, 200);
		const sessions = (await ada.get(`/api/groups/${family.id}/sessions`)).body as { userId: string; position: { latitude: number } | null }[];
		assert.equal(sessions.find(s => s.userId === bob.user!.id)!.position!.latitude, 10);
		assert.notEqual(sessions.find(s => s.userId === ada.user!.id)!.position?.latitude, 10);
		const noAuth = await postOwnTracks(system.url, ot.credentials as OwnTracksCredentials, ownTracks.LWT, { authorization: null, limitUser: bob.user!.email });
		assert.equal(noAuth.status, 401, "the headers alone are no credentials");
	});
});
