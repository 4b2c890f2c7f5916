import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import mongoose, { type Connection } from "mongoose";
import { MemoryAttempts, MongoAttempts, type AttemptStore } from "../../lib/attempt-limits.js";

/**
 * Attempt limits count an attempt before the work it guards, so parallel guesses cannot slip
 * past; in the database they hold across instances (two stores on two connections here) and restarts.
 */
let conn: Connection;
let other: Connection;
before(async () => {
	const dbName = `attempts_${randomBytes(4).toString("hex")}`;
	const url = process.env.MONGO_URL ?? "mongodb://127.0.0.1:27017";
	conn = await mongoose.createConnection(url, { dbName }).asPromise();
	other = await mongoose.createConnection(url, { dbName }).asPromise();
});
after(async () => {
	await conn.db!.dropDatabase();
	await Promise.all([conn.close(), other.close()]);
});

for (const [kind, make] of [
	["in memory", () => [new MemoryAttempts()]],
	["in the database, two instances", () => [new MongoAttempts(conn), new MongoAttempts(other)]],
] as [string, () => AttemptStore[]][]) {
	describe(`attempt limits ${kind}`, () => {
		test("60 parallel attempts with a limit of 10: exactly 10 get through, the rest learn the true wait", async () => {
			const stores = make();
			const key = `login:${randomBytes(4).toString("hex")}`;
			const now = Date.now();
			const verdicts = await Promise.all(Array.from({ length: 60 }, (_, i) => stores[i % stores.length]!.reserve(key, 10, 60_000, now)));
			assert.equal(verdicts.filter(v => v.allowed).length, 10);
			for (const refused of verdicts.filter(v => !v.allowed)) {
				assert.ok(refused.retryAfterMs > 59_000 && refused.retryAfterMs <= 60_000, String(refused.retryAfterMs));
			}
			assert.equal(await stores[0]!.peek(key, now), 10);
		});

		test("a new window starts when the old one ends, and a reset forgets the attempts", async () => {
			const [store] = make();
			const key = `pw:${randomBytes(4).toString("hex")}`;
			const t0 = Date.now();
			for (let i = 0; i < 3; i++) assert.equal((await store!.reserve(key, 3, 1_000, t0)).allowed, true);
			assert.deepEqual(await store!.reserve(key, 3, 1_000, t0 + 400), { allowed: false, count: 3, retryAfterMs: 600 });
			assert.deepEqual(await store!.reserve(key, 3, 1_000, t0 + 1_000), { allowed: true, count: 1, retryAfterMs: 1_000 });
			await store!.reset(key);
			assert.equal(await store!.peek(key, t0 + 1_000), 0);
		});
	});
}

test("ended windows are purged from the database", async () => {
	const store = new MongoAttempts(conn);
	const now = Date.now();
	await store.reserve("old", 5, 1_000, now - 5_000);
	await store.reserve("live", 5, 60_000, now);
	assert.ok((await store.purge(now)) >= 1);
	assert.equal(await store.peek("old", now - 4_500), 0);
	assert.equal(await store.peek("live", now), 1);
});
