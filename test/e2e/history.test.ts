import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import mongoose from "mongoose";
import type { Group } from "../../events/types.js";
import { gridCell } from "../../services/location/precision.js";
import { startSystem, type System } from "../support/system.js";
import { ApiClient, connectSocket, type LiveSocket } from "../support/client.js";
import { postOwnTracks, registerDevice } from "../support/phones.js";
import { waitFor } from "../support/wait.js";

// History and privacy (API.md §6.6) end to end: each user's own history (JSON, GPX, GeoJSON, delete,
// nobody else's, gone with the account) and approximate precision per group as the other members,
// the user themselves, an SOS and a share link see it (REST, live sockets, the OwnTracks answer).

let system: System;
let ada: ApiClient;
let bob: ApiClient;
let dan: ApiClient;
let family: Group;
let adaSocket: LiveSocket;
/** The location service's database, to see what is stored. */
let locationDb: mongoose.Connection;
const storedPoints = (userId: string) => locationDb.db!.collection("historypoints").countDocuments({ userId });
let bobSocket: LiveSocket;

/** ~4 km from where Ada is in the precision test: her journey there does not end on arrival. */
const OFFICE = { name: "Office", latitude: 45.5, longitude: 9.22 };
const DAY_MS = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

before(async () => {
	system = await startSystem({ services: ["users", "location", "devices", "gateway"], env: { OFFLINE_AFTER: "3600", STUCK_AFTER: "3600" } });
	[ada, bob, dan] = [new ApiClient(system.url), new ApiClient(system.url), new ApiClient(system.url)];
	await ada.signUp("Ada", "Lovelace");
	await bob.signUp("Bob", "Noyce");
	await dan.signUp("Dan", "Deleted", "dan's long password");
	family = await ada.createGroup("family", [bob.user!.email, dan.user!.email]);
	for (const who of [ada, bob, dan]) assert.equal((await who.post(`/api/groups/${family.id}/sharing`)).status, 200);
	[adaSocket, bobSocket] = await Promise.all([connectSocket(system.url, ada.token), connectSocket(system.url, bob.token)]);
	locationDb = await mongoose
		.createConnection(system.env.MONGO_URL ?? "mongodb://127.0.0.1:27017", { dbName: `${system.env.MONGO_DB_PREFIX}_location` })
		.asPromise();
});

after(async () => {
	adaSocket?.close();
	bobSocket?.close();
	await locationDb?.close();
	await system?.stopAll();
});

test("every accepted sample is the user's history: JSON oldest first, GPX 1.1 and GeoJSON with their content types", async () => {
	const t0 = Date.now() - 120_000;
	const samples = [
		{ latitude: 45.47, longitude: 9.18, accuracy: 8, altitude: 120.5, timestamp: iso(t0 + 60_000) },
		{ latitude: 45.46, longitude: 9.17, timestamp: iso(t0) },
		{ latitude: 45.45, longitude: 9.16, speed: 1.2, heading: 90, timestamp: iso(t0 + 90_000) },
	];
	for (const sample of samples) assert.equal((await ada.post("/api/location/samples", sample)).status, 202);
	const json = await ada.get("/api/users/me/history");
	assert.equal(json.status, 200);
	assert.match(json.headers.get("content-type") ?? "", /^application\/json/);
	assert.deepEqual(
		json.body.points.map((p: { timestamp: string }) => p.timestamp),
		[iso(t0), iso(t0 + 60_000), iso(t0 + 90_000)],
		"oldest first, the points not yet written included",
	);
	assert.deepEqual(json.body.points[1], { latitude: 45.47, longitude: 9.18, timestamp: iso(t0 + 60_000), accuracy: 8, altitude: 120.5, source: "web" });

	// Written within a second or so; then read back from the database.
	await waitFor(async () => (await storedPoints(ada.user!.id)) === 3, { what: "the history to be written" });

	const gpx = await fetch(`${system.url}/api/users/me/history?format=gpx`, { headers: { authorization: `Bearer ${ada.token}` } });
	assert.equal(gpx.status, 200);
	assert.match(gpx.headers.get("content-type") ?? "", /^application\/gpx\+xml/);
	assert.match(gpx.headers.get("content-disposition") ?? "", /^attachment; filename="positionpal-history-.*\.gpx"$/);
	const text = await gpx.text();
	assert.match(text, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<gpx version="1.1"/);
	assert.equal(text.match(/<trkpt /g)?.length, 3);
	assert.match(text, /<trkpt lat="45.47" lon="9.18"><ele>120.5<\/ele><time>/);

	const geo = await fetch(`${system.url}/api/users/me/history?format=geojson&from=${iso(t0 - 1000)}&to=${iso(Date.now())}`, {
		headers: { authorization: `Bearer ${ada.token}` },
	});
	assert.equal(geo.status, 200);
	assert.match(geo.headers.get("content-type") ?? "", /^application\/geo\+json/);
	const collection = (await geo.json()) as { type: string; features: { geometry: { type: string; coordinates: number[][] } }[] };
	assert.equal(collection.type, "FeatureCollection");
	assert.ok(collection.features.length >= 1 && collection.features.every(f => f.geometry.type === "LineString"));
	assert.equal(
		collection.features.reduce((n, f) => n + f.geometry.coordinates.length, 0),
		3,
	);

	// A window that holds one of them.
	const narrow = await ada.get(`/api/users/me/history?from=${iso(t0 + 30_000)}&to=${iso(t0 + 70_000)}`);
	assert.deepEqual(
		narrow.body.points.map((p: { latitude: number }) => p.latitude),
		[45.47],
	);
});

test("the history is the user's alone: no route names anyone else, and another user reads only their own", async () => {
	const bobs = await bob.get("/api/users/me/history");
	assert.equal(bobs.status, 200);
	assert.deepEqual(bobs.body, { points: [] });
	assert.equal((await new ApiClient(system.url).get("/api/users/me/history", { token: null })).status, 401);
	// The query names no user: one given is dropped, the caller's own history answers.
	const sneaky = await bob.get(`/api/users/me/history?userId=${ada.user!.id}`);
	assert.deepEqual(sneaky.body, { points: [] });
});

test("bad ranges and formats are 422 with the field", async () => {
	const now = Date.now();
	for (const query of [
		`from=${iso(now)}&to=${iso(now - 1000)}`,
		`from=${iso(now - 32 * DAY_MS)}&to=${iso(now)}`,
		"format=kml",
		"from=yesterday",
		"to=2026-13-45T00:00:00Z",
	]) {
		const res = await ada.get(`/api/users/me/history?${query}`);
		assert.equal(res.status, 422, query);
		assert.equal(res.body.type, "VALIDATION_ERROR", query);
		assert.ok(Array.isArray(res.body.data) && res.body.data.length, query);
	}
});

test("DELETE /users/me/history deletes all of it; deleting the account deletes it too", async () => {
	assert.equal((await ada.delete("/api/users/me/history")).status, 204);
	assert.deepEqual((await ada.get("/api/users/me/history")).body, { points: [] });
	assert.equal(await storedPoints(ada.user!.id), 0);
	assert.equal((await dan.post("/api/location/samples", { latitude: 45.1, longitude: 9.1 })).status, 202);
	await waitFor(async () => (await storedPoints(dan.user!.id)) === 1, { what: "Dan's history to be written" });
	assert.equal((await dan.delete("/api/users/me", { currentPassword: "dan's long password" })).status, 204);
	await waitFor(async () => (await storedPoints(dan.user!.id)) === 0, { what: "Dan's history to go with his account" });
});

test("approximate precision: the other members see the ~1 km cell without a route; the user sees themselves exactly; SOS is exact", async () => {
	const exact = { latitude: 45.46421, longitude: 9.19012, accuracy: 5, altitude: 130, speed: 1.4, heading: 45 };
	const cell = gridCell(exact);
	for (const body of [{ precision: "fuzzy" }, {}]) assert.equal((await ada.request("PUT", `/api/groups/${family.id}/sharing/precision`, body)).status, 422);
	const outsider = new ApiClient(system.url);
	await outsider.signUp("Oli", "Outsider");
	assert.equal((await outsider.request("PUT", `/api/groups/${family.id}/sharing/precision`, { precision: "approximate" })).status, 403);

	const set = await ada.request("PUT", `/api/groups/${family.id}/sharing/precision`, { precision: "approximate" });
	assert.equal(set.status, 200, JSON.stringify(set.body));
	assert.deepEqual(set.body, { groupId: family.id, userId: ada.user!.id, precision: "approximate" });

	const journey = await ada.post(`/api/groups/${family.id}/journey`, { destination: OFFICE, eta: iso(Date.now() + 3_600_000), mode: "walking" });
	assert.equal(journey.status, 201);
	assert.equal((await ada.post("/api/location/samples", exact)).status, 202);

	// REST, as Bob sees Ada: the cell's centre, an accuracy covering it, no altitude/speed/heading, no route.
	const seenByBob = (await bob.get(`/api/groups/${family.id}/sessions/${ada.user!.id}`)).body;
	assert.equal(seenByBob.precision, "approximate");
	assert.deepEqual({ latitude: seenByBob.position.latitude, longitude: seenByBob.position.longitude }, { latitude: cell.latitude, longitude: cell.longitude });
	assert.ok(seenByBob.position.accuracy >= cell.halfDiagonalM);
	for (const hidden of ["altitude", "speed", "heading"]) assert.equal(seenByBob.position[hidden], undefined, hidden);
	const inList = (await bob.get(`/api/groups/${family.id}/sessions`)).body.find((s: { userId: string }) => s.userId === ada.user!.id);
	assert.deepEqual(inList.position, seenByBob.position);
	assert.deepEqual((await bob.get(`/api/groups/${family.id}/sessions/${ada.user!.id}/route`)).body, { points: [] });
	// Ada sees herself exactly, with her route.
	const own = (await ada.get(`/api/groups/${family.id}/sessions/${ada.user!.id}`)).body;
	assert.equal(own.position.latitude, exact.latitude);
	assert.equal(own.position.altitude, 130);
	assert.ok((await ada.get(`/api/groups/${family.id}/sessions/${ada.user!.id}/route`)).body.points.length >= 1);

	// Live: Bob's socket gets the cell, Ada's own socket the exact point.
	const next = { latitude: 45.46431, longitude: 9.19022 };
	assert.equal((await ada.post("/api/location/samples", next)).status, 202);
	const bobUpdate = await bobSocket.waitFor("location:update", s => s.userId === ada.user!.id && s.position?.latitude === cell.latitude);
	assert.equal(bobUpdate.position.longitude, cell.longitude);
	const adaUpdate = await adaSocket.waitFor("location:update", s => s.userId === ada.user!.id && s.position?.latitude === next.latitude);
	assert.equal(adaUpdate.position.longitude, next.longitude);
	assert.equal(
		bobSocket
			.of("location:update")
			.some((s: { userId: string; position?: { latitude: number } }) => s.userId === ada.user!.id && s.position?.latitude === next.latitude),
		false,
		"Bob never gets Ada's exact position",
	);

	// Bob's phone map (the OwnTracks answer) shows the cell too.
	const phone = await registerDevice(bob, "owntracks");
	const answer = await postOwnTracks(
		system.url,
		phone.credentials,
		JSON.stringify({ _type: "location", lat: 45.2, lon: 9.3, tst: Math.floor(Date.now() / 1000) }),
	);
	assert.equal(answer.status, 200, answer.text);
	const adaCard = (answer.json as { _type: string; name?: string; tid?: string; lat?: number; lon?: number }[]).find(
		m => m._type === "card" && m.name?.startsWith("Ada"),
	);
	const adaOnMap = (answer.json as { _type: string; tid?: string; lat?: number; lon?: number }[]).find(m => m._type === "location" && m.tid === adaCard?.tid);
	assert.deepEqual({ lat: adaOnMap?.lat, lon: adaOnMap?.lon }, { lat: cell.latitude, lon: cell.longitude });

	// A share link of an approximate group shows the exact position: its creator chose to share it.
	const link = await ada.post("/api/share-links", { groupId: family.id });
	assert.equal(link.status, 201);
	const shared = await new ApiClient(system.url).get(`/api/shared/${link.body.token}`, { token: null });
	assert.equal(shared.body.position.latitude, next.latitude);
	assert.ok(shared.body.route.length >= 1);

	// SOS: exact for everyone, route included.
	assert.equal((await ada.post("/api/sos", exact)).status, 201);
	const inSos = (await bob.get(`/api/groups/${family.id}/sessions/${ada.user!.id}`)).body;
	assert.equal(inSos.state, "SOS");
	assert.equal(inSos.position.latitude, exact.latitude);
	assert.ok((await bob.get(`/api/groups/${family.id}/sessions/${ada.user!.id}/route`)).body.points.length >= 1);
	await bobSocket.waitFor("location:update", s => s.userId === ada.user!.id && s.state === "SOS" && s.position?.latitude === exact.latitude);
	assert.equal((await ada.delete("/api/sos")).status, 200);

	// Back to exact: Bob sees the exact position again.
	assert.equal((await ada.request("PUT", `/api/groups/${family.id}/sharing/precision`, { precision: "exact" })).status, 200);
	const again = (await bob.get(`/api/groups/${family.id}/sessions/${ada.user!.id}`)).body;
	assert.equal(again.precision, undefined);
	assert.equal(again.position.latitude, exact.latitude);
});
