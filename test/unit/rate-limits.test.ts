import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Errors } from "moleculer";
import { MemoryAttempts } from "../../lib/attempt-limits.js";
import { readSetting } from "../../lib/config.js";
import { SampleLimit } from "../../services/location/sample-limit.js";
import { MessageLimit } from "../../services/chat/message-limit.js";
import { phoneErrorBody } from "../../services/gateway/phones.js";
import { rateLimited } from "../../events/errors.js";

/** Issue 14, hole 5: per-user limits on position samples and chat messages, and what phones are told. */

const clock = (start = 1_000_000) => {
	let now = start;
	return { now: () => now, advance: (ms: number) => (now += ms) };
};

describe("SAMPLE_RATE_LIMIT and CHAT_RATE_LIMIT", () => {
	test("default to 120 samples and 60 messages a minute; 0 turns them off; no negative values", () => {
		assert.equal(readSetting("sampleRateLimit", {}).value, 120);
		assert.equal(readSetting("chatRateLimit", {}).value, 60);
		assert.equal(readSetting("sampleRateLimit", { SAMPLE_RATE_LIMIT: "0" }).value, 0);
		assert.equal(readSetting("chatRateLimit", { CHAT_RATE_LIMIT: "0" }).value, 0);
		assert.equal(readSetting("chatRateLimit", { CHAT_RATE_LIMIT: "-1" }).problems.length, 1);
		assert.equal(readSetting("sampleRateLimit", { SAMPLE_RATE_LIMIT: "lots" }).problems.length, 1);
	});
});

describe("samples per user (a token bucket in the owning location instance)", () => {
	test("a minute's worth at once, then one more each 60/limit seconds, with the wait to the next one", () => {
		const time = clock();
		const limit = new SampleLimit(6, time.now);
		for (let i = 0; i < 6; i++) assert.deepEqual(limit.take("ada"), { allowed: true }, `sample ${i + 1}`);
		assert.deepEqual(limit.take("ada"), { allowed: false, retryAfterMs: 10_000 });
		time.advance(4_000);
		assert.deepEqual(limit.take("ada"), { allowed: false, retryAfterMs: 6_000 });
		time.advance(6_000);
		assert.deepEqual(limit.take("ada"), { allowed: true }, "one refilled after 10 s");
		assert.equal(limit.take("ada").allowed, false);
		// A client sending too fast is slowed to the limit, not cut off: 1 per 10 s gets through.
		let through = 0;
		for (let s = 0; s < 60; s++) {
			time.advance(1_000);
			if (limit.take("ada").allowed) through++;
		}
		assert.equal(through, 6);
	});

	test("each user has their own bucket", () => {
		const time = clock();
		const limit = new SampleLimit(2, time.now);
		assert.ok(limit.take("ada").allowed && limit.take("ada").allowed);
		assert.equal(limit.take("ada").allowed, false);
		assert.ok(limit.take("bob").allowed, "Bob is not Ada");
	});

	test("0 is no limit; buckets that filled up again are forgotten", () => {
		const off = new SampleLimit(0);
		for (let i = 0; i < 1_000; i++) assert.ok(off.take("ada").allowed);
		assert.equal(off.size, 0);
		const time = clock();
		const limit = new SampleLimit(60, time.now);
		for (const user of ["a", "b", "c"]) limit.take(user);
		assert.equal(limit.size, 3);
		time.advance(61_000);
		limit.take("d");
		assert.equal(limit.size, 1, "a, b and c are full again: as if never seen");
	});
});

describe("chat messages per user (counted in chat's database)", () => {
	test("the message after the limit in a minute is 429 RATE_LIMITED with the seconds left; the next minute is open again", async () => {
		const attempts = new MemoryAttempts();
		const limit = new MessageLimit(attempts, 60);
		const start = 5_000_000;
		for (let i = 0; i < 60; i++) await limit.reserve("ada", start + i * 100);
		await assert.rejects(limit.reserve("ada", start + 20_000), (err: Errors.MoleculerClientError) => {
			assert.equal(err.code, 429);
			assert.equal(err.type, "RATE_LIMITED");
			assert.deepEqual(err.data, { retryAfter: 40 });
			return true;
		});
		await limit.reserve("bob", start + 20_000);
		await limit.reserve("ada", start + 60_000);
	});

	test("instances sharing the store share the count", async () => {
		const shared = new MemoryAttempts();
		const one = new MessageLimit(shared, 3);
		const two = new MessageLimit(shared, 3);
		await one.reserve("ada", 0);
		await two.reserve("ada", 1);
		await one.reserve("ada", 2);
		await assert.rejects(two.reserve("ada", 3), { type: "RATE_LIMITED" });
	});

	test("0 is no limit, and counts nothing", async () => {
		const attempts = new MemoryAttempts();
		const limit = new MessageLimit(attempts, 0);
		for (let i = 0; i < 100; i++) await limit.reserve("ada");
		assert.equal(await attempts.peek("chat:ada"), 0);
	});
});

describe("what a phone is told when its user's samples are over the limit", () => {
	const limited = rateLimited("At most 120 position samples a minute; try again in 1 s", { retryAfter: 1 });

	test("OwnTracks: 503 (the app keeps a message only on 5xx), type RATE_LIMITED, with the wait", () => {
		const body = phoneErrorBody(limited, "owntracks");
		assert.equal(body.code, 503);
		assert.equal(body.type, "RATE_LIMITED");
		assert.deepEqual(body.data, { retryAfter: 1 });
	});

	test("OsmAnd protocol: 429 as the contract says (Traccar Client keeps the position and retries any failure)", () => {
		const body = phoneErrorBody(limited, "osmand");
		assert.equal(body.code, 429);
		assert.equal(body.type, "RATE_LIMITED");
	});
});
