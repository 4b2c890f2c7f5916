import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import mongoose from "mongoose";
import { historyCutoff } from "../../services/location/history/export.js";
import { historyModel, purgeExpired, type HistoryDoc } from "../../services/location/history/store.js";
import { startSystem, type System } from "../support/system.js";
import { ApiClient } from "../support/client.js";

// Retention of the position history (API.md §6.6) against the real Mongo-wire server: the batch
// purge (FerretDB has no TTL index) with an injected clock, and HISTORY_DAYS=0 keeping nothing.

const DAY_MS = 86_400_000;
let system: System;
let connection: mongoose.Connection;

before(async () => {
	system = await startSystem({ services: ["users", "location", "gateway"], env: { HISTORY_DAYS: "0" } });
	connection = await mongoose
		.createConnection(process.env.MONGO_URL ?? "mongodb://127.0.0.1:27017", { dbName: `${system.env.MONGO_DB_PREFIX}_historypurge` })
		.asPromise();
});

after(async () => {
	await connection?.dropDatabase().catch(() => undefined);
	await connection?.close();
	await system?.stopAll();
});

test("expired points are purged in bounded batches, whatever piled up; points within the retention stay", async () => {
	const model = historyModel(connection);
	await model.createIndexes();
	const now = Date.parse("2026-12-03T12:00:00Z");
	const cutoff = historyCutoff(30, now);
	const doc = (userId: string, at: number): HistoryDoc => ({ userId, at: new Date(at), latitude: 45, longitude: 9 });
	const expired = Array.from({ length: 2_300 }, (_, i) => doc(i % 2 ? "ann" : "bob", cutoff.getTime() - 1 - i * 60_000));
	const kept = [doc("ann", cutoff.getTime()), doc("ann", now - DAY_MS), doc("bob", now)];
	for (let i = 0; i < expired.length; i += 500) await model.insertMany(expired.slice(i, i + 500));
	await model.insertMany(kept);

	// At most two batches of 1,000 this round: the rest waits for the next one.
	assert.equal(await purgeExpired(model, cutoff, 1_000, 2), 2_000);
	assert.equal(await model.countDocuments({ at: { $lt: cutoff } }), 300);
	assert.equal(await purgeExpired(model, cutoff, 1_000, 100), 300);
	assert.equal(await purgeExpired(model, cutoff), 0, "nothing left: idempotent");
	assert.deepEqual(
		(await model.find({}, { _id: 0, userId: 1, at: 1 }).sort({ at: 1 }).lean()).map(d => [d.userId, d.at.getTime()]),
		kept.map(d => [d.userId, d.at.getTime()]),
		"the point exactly at the cutoff is kept",
	);
});

test("HISTORY_DAYS=0: no sample is kept, and the history reads empty", async () => {
	const ada = new ApiClient(system.url);
	await ada.signUp("Ada", "Forgetful");
	const group = await ada.createGroup("nothing kept");
	assert.equal((await ada.post(`/api/groups/${group.id}/sharing`)).status, 200);
	assert.equal((await ada.post("/api/location/samples", { latitude: 45.1, longitude: 9.1 })).status, 202);
	assert.deepEqual((await ada.get("/api/users/me/history")).body, { points: [] });
	const gpx = await fetch(`${system.url}/api/users/me/history?format=gpx`, { headers: { authorization: `Bearer ${ada.token}` } });
	assert.equal(gpx.status, 200);
	assert.doesNotMatch(await gpx.text(), /<trkpt/);
	// Even a point stored before the retention was lowered is not shown (and the next purge deletes it).
	const location = await mongoose
		.createConnection(process.env.MONGO_URL ?? "mongodb://127.0.0.1:27017", { dbName: `${system.env.MONGO_DB_PREFIX}_location` })
		.asPromise();
	try {
		await location.db!.collection("historypoints").insertOne({ userId: ada.user!.id, at: new Date(), latitude: 45, longitude: 9 });
		assert.deepEqual((await ada.get("/api/users/me/history")).body, { points: [] });
	} finally {
		await location.close();
	}
	// (That no sample is even queued with HISTORY_DAYS=0 is test/unit/privacy.test.ts.)
	assert.equal((await ada.delete("/api/users/me/history")).status, 204);
});
