import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ExclusiveRun, mapLimit } from "../../lib/concurrency.js";
import { isDuplicateKey } from "../../lib/mongo-errors.js";
import { fullName } from "../../lib/names.js";
import { TtlCache } from "../../lib/ttl-cache.js";

describe("isDuplicateKey", () => {
	test("recognises MongoDB's code and both servers' wordings, and nothing else", () => {
		assert.equal(isDuplicateKey({ code: 11000 }), true);
		assert.equal(isDuplicateKey(new Error("E11000 duplicate key error collection: x")), true);
		assert.equal(isDuplicateKey(new Error("UNIQUE constraint failed: users.email")), true);
		assert.equal(isDuplicateKey(new Error("connection refused")), false);
		assert.equal(isDuplicateKey({ code: 11001 }), false);
		assert.equal(isDuplicateKey(null), false);
	});
});

describe("fullName", () => {
	test("joins name and surname, trims, and falls back when there is nobody or no name", () => {
		assert.equal(fullName({ name: "Ada", surname: "Lovelace" }), "Ada Lovelace");
		assert.equal(fullName({ name: "Ada", surname: "" }), "Ada");
		assert.equal(fullName(null, "A member"), "A member");
		assert.equal(fullName({ name: " ", surname: undefined }, "Someone"), "Someone");
	});
});

describe("mapLimit", () => {
	test("keeps at most `limit` in flight and returns results in input order", async () => {
		let inFlight = 0;
		let most = 0;
		const results = await mapLimit([5, 1, 4, 2, 3], 2, async (n, i) => {
			inFlight++;
			most = Math.max(most, inFlight);
			await new Promise(resolve => setTimeout(resolve, n));
			inFlight--;
			return `${i}:${n}`;
		});
		assert.deepEqual(results, ["0:5", "1:1", "2:4", "3:2", "4:3"]);
		assert.equal(most, 2);
		assert.deepEqual(await mapLimit([], 4, async () => 1), []);
	});
});

describe("ExclusiveRun", () => {
	test("a call while a run is in progress is skipped, and idle() resolves when the run ends", async () => {
		const exclusive = new ExclusiveRun();
		let release!: () => void;
		let runs = 0;
		const first = exclusive.runIfIdle(async () => {
			runs++;
			await new Promise<void>(resolve => (release = resolve));
		});
		assert.equal(exclusive.busy, true);
		assert.equal(await exclusive.runIfIdle(async () => void runs++), false);
		let idle = false;
		const waiting = exclusive.idle().then(() => (idle = true));
		await new Promise(resolve => setImmediate(resolve));
		assert.equal(idle, false);
		release();
		await waiting;
		assert.equal(await first, true);
		assert.equal(exclusive.busy, false);
		assert.equal(runs, 1);
	});

	test("idle() gives up at its timeout while a run hangs, and a failed run counts as ended", async () => {
		const exclusive = new ExclusiveRun();
		void exclusive.runIfIdle(() => new Promise<void>(() => undefined));
		const started = Date.now();
		await exclusive.idle(30);
		assert.ok(Date.now() - started >= 25);
		const failing = new ExclusiveRun();
		await assert.rejects(
			failing.runIfIdle(async () => Promise.reject(new Error("boom"))),
			/boom/,
		);
		await failing.idle(1_000);
		assert.equal(failing.busy, false);
	});
});

describe("TtlCache", () => {
	test("entries expire after the ttl and the oldest goes first when full", () => {
		let now = 0;
		const cache = new TtlCache<string, number>(100, 2, () => now);
		cache.set("a", 1);
		cache.set("b", 2);
		cache.set("c", 3);
		assert.equal(cache.get("a"), undefined);
		assert.equal(cache.get("b"), 2);
		now = 100;
		assert.equal(cache.get("b"), undefined);
		assert.equal(cache.get("c"), undefined);
	});

	test("an answer read before an eviction is not stored after it", () => {
		const cache = new TtlCache<string, string>(1_000, 10);
		const before = cache.generation;
		cache.delete("u1");
		assert.equal(cache.setIfUnchanged("u1", "old name", before), false);
		assert.equal(cache.get("u1"), undefined);
		assert.equal(cache.setIfUnchanged("u1", "new name", cache.generation), true);
		assert.equal(cache.get("u1"), "new name");
	});

	test("deleteWhere drops only the matching keys", () => {
		const cache = new TtlCache<string, number>(1_000, 10);
		cache.set("g1:u1", 1);
		cache.set("g1:u2", 2);
		cache.set("g2:u1", 3);
		cache.deleteWhere(key => key.startsWith("g1:"));
		assert.deepEqual([cache.get("g1:u1"), cache.get("g1:u2"), cache.get("g2:u1")], [undefined, undefined, 3]);
	});
});
