import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, scryptSync } from "node:crypto";
import { ErrorTypes } from "../../events/errors.js";
import { retryAfterSeconds, toErrorBody } from "../../services/gateway/errors.js";
import { HashingLimiter } from "../../services/users/hashing-limiter.js";
import { parseArgon2, parseScrypt, parseStoredHash } from "../../services/users/password-formats.js";
import {
	ARGON2_PARAMS,
	decoyPasswordHash,
	hashPassword,
	passwordHashing,
	passwordNeedsRehash,
	SCRYPT_PARAMS,
	verifyPassword,
} from "../../services/users/passwords.js";

// Collected from the start, before anything hashes: a warning is emitted once per process.
const warnings: string[] = [];
process.on("warning", w => warnings.push(`${w.name}: ${w.message}`));

/** A hash in the form accounts created before Argon2id have (services/users/passwords.ts of then). */
function legacyScryptHash(password: string, N = SCRYPT_PARAMS.N): string {
	const salt = randomBytes(16);
	const key = scryptSync(password.normalize("NFKC"), salt, 64, { N, r: 8, p: 1, maxmem: 256 * 1024 * 1024 });
	return ["scrypt", N, 8, 1, salt.toString("base64"), key.toString("base64")].join("$");
}

test("new passwords are stored as salted Argon2id PHC strings at OWASP cost and verify only with the same password", async () => {
	const hash = await hashPassword("correct horse battery");
	assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
	assert.ok(!hash.includes("correct horse"));
	assert.notEqual(hash, await hashPassword("correct horse battery"), "a fresh salt each time");
	assert.equal(await verifyPassword("correct horse battery", hash), true);
	assert.equal(await verifyPassword("correct horse batterY", hash), false);
	assert.equal(await verifyPassword("", hash), false);
	assert.deepEqual(warnings, [], "hashing prints no (experimental) warning into the logs");
});

test("the same password typed with decomposed accents verifies", async () => {
	const hash = await hashPassword("caf\u00e9 au lait");
	assert.equal(await verifyPassword("cafe\u0301 au lait", hash), true);
});

test("accounts stored with scrypt hashes still log in, and are due for an upgrade", async () => {
	const stored = legacyScryptHash("old password");
	assert.equal(await verifyPassword("old password", stored), true);
	assert.equal(await verifyPassword("old passworD", stored), false);
	assert.equal(passwordNeedsRehash(stored), true);
});

test("garbage and tampered stored hashes are refused without throwing", async () => {
	const good = await hashPassword("pw");
	const parts = good.split("$");
	const garbage = [
		"",
		"garbage",
		"$argon2id$",
		"$argon2i$v=19$m=19456,t=2,p=1$" + parts.slice(4).join("$"),
		"$argon2id$v=16$m=19456,t=2,p=1$" + parts.slice(4).join("$"),
		"$argon2id$m=19456,t=2,p=1$" + parts.slice(4).join("$"),
		"$argon2id$v=19$m=19456,t=2$" + parts.slice(4).join("$"),
		"$argon2id$v=19$t=2,m=19456,p=1$" + parts.slice(4).join("$"),
		"$argon2id$v=19$m=99999999,t=2,p=1$" + parts.slice(4).join("$"), // would allocate ~100 GB
		"$argon2id$v=19$m=19456,t=0,p=1$" + parts.slice(4).join("$"),
		"$argon2id$v=19$m=019456,t=2,p=1$" + parts.slice(4).join("$"),
		"$argon2id$v=19$m=19456,t=2,p=1$!!!!$" + parts[5],
		"$argon2id$v=19$m=19456,t=2,p=1$" + parts[4] + "$",
		"$argon2id$v=19$m=19456,t=2,p=1$" + parts[4] + "$" + parts[5] + "$extra",
		"scrypt$131072$8$1$c2FsdA==",
		"scrypt$100000$8$1$" + "A".repeat(24) + "$" + "A".repeat(88), // N not a power of two
		"scrypt$1048576$8$1$" + "A".repeat(24) + "$" + "A".repeat(88), // 1 GiB of memory
		"scrypt$131072$8$1$" + "A".repeat(24) + "$" + "A".repeat(87) + "=x",
	];
	for (const stored of garbage) {
		assert.equal(parseStoredHash(stored), undefined, `parsed: ${stored}`);
		assert.equal(await verifyPassword("pw", stored), false, `verified: ${stored}`);
	}
	assert.ok(parseArgon2(good), "the genuine one parses");
	assert.equal(parseArgon2(good)!.memoryKiB, 19_456);
	assert.ok(parseScrypt(legacyScryptHash("pw", 1024)));
});

test("only hashes weaker than the current parameters need a rehash", async () => {
	assert.equal(passwordNeedsRehash(await hashPassword("pw")), false);
	const weaker = await hashPassword("pw", { memoryKiB: 4096, passes: 2, parallelism: 1 });
	assert.equal(await verifyPassword("pw", weaker), true, "a weaker hash still verifies");
	assert.equal(passwordNeedsRehash(weaker), true);
	assert.equal(passwordNeedsRehash(await hashPassword("pw", { ...ARGON2_PARAMS, passes: 1 })), true);
	assert.equal(passwordNeedsRehash(await hashPassword("pw", { ...ARGON2_PARAMS, passes: 3 })), false, "stronger is kept");
	assert.equal(passwordNeedsRehash(legacyScryptHash("pw", 1024)), true);
	assert.equal(passwordNeedsRehash("garbage"), true);
});

test("the decoy for unknown emails matches no password and costs a real verify", async () => {
	const decoy = await decoyPasswordHash();
	assert.equal(await decoyPasswordHash(), decoy, "made once");
	const parsed = parseArgon2(decoy);
	assert.ok(parsed, "a well-formed hash, so verifying it runs the full Argon2id");
	assert.deepEqual({ m: parsed.memoryKiB, t: parsed.passes, p: parsed.parallelism, tag: parsed.hash.length }, { m: 19_456, t: 2, p: 1, tag: 32 });
	const before = passwordHashing().stats().completed;
	assert.equal(await verifyPassword("", decoy), false);
	assert.equal(await verifyPassword("correct horse battery", decoy), false);
	assert.equal(passwordHashing().stats().completed - before, 2, "each decoy verify computed a hash");
});

/** A job the test finishes by hand, to watch the limiter's admission decisions. */
function manualJobs() {
	let running = 0;
	let maxRunning = 0;
	const pending: (() => void)[] = [];
	const job = () =>
		new Promise<string>(resolve => {
			running++;
			maxRunning = Math.max(maxRunning, running);
			pending.push(() => {
				running--;
				resolve("done");
			});
		});
	return {
		job,
		pending,
		get running() {
			return running;
		},
		get maxRunning() {
			return maxRunning;
		},
	};
}

const tick = () => new Promise(resolve => setImmediate(resolve));

/** The error a refused run rejects with at once; fails (instead of hanging) when the run was queued or ran. */
async function refusal(run: Promise<unknown>): Promise<{ code: number; type: string; data: { retryAfter: number } }> {
	const outcome = await Promise.race([
		run.then(
			() => "ran",
			(err: unknown) => ({ err }),
		),
		tick().then(() => "queued"),
	]);
	if (typeof outcome === "string") assert.fail(`admitted (${outcome}) instead of refused at once`);
	return outcome.err as { code: number; type: string; data: { retryAfter: number } };
}

test("the limiter runs at most K hashes at once, queues a short line and refuses beyond it with RATE_LIMITED", async () => {
	let now = 0;
	const limiter = new HashingLimiter({ concurrency: 2, maxWaitMs: 1_000, initialCostMs: { h: 400 }, now: () => now });
	const jobs = manualJobs();
	// 2 run and 4 queue (the 6th waits (800 + 1200) / 2 = 1 s: still admitted); ahead of a 7th are
	// what is left of the running ones (800 ms) and the queued ones (1600 ms), over 2 slots: 1.2 s.
	const admitted = Array.from({ length: 6 }, () => limiter.run("h", jobs.job));
	assert.equal(jobs.running, 2);
	assert.equal(limiter.stats().queued, 4);
	assert.equal(limiter.expectedWaitMs(), 1_200);
	const refused = await refusal(limiter.run("h", jobs.job));
	assert.equal(refused.code, 429);
	assert.equal(refused.type, ErrorTypes.RATE_LIMITED);
	assert.equal(refused.data.retryAfter, 2, "1.2 s, in whole seconds");
	assert.equal(limiter.stats().refused, 1);
	// The gateway answers it as the contract's 429 and keeps the hint.
	const body = toErrorBody(refused);
	assert.deepEqual([body.code, body.type, body.data], [429, "RATE_LIMITED", { retryAfter: 2 }]);
	assert.equal(retryAfterSeconds(body), 2, "its Retry-After header");

	// Time passes on the running ones: 900 ms are left ahead, so one more fits.
	now += 300;
	assert.equal(limiter.expectedWaitMs(), (200 + 1600) / 2);
	admitted.push(limiter.run("h", jobs.job));

	// Every admitted one completes, never more than 2 at once, in arrival order.
	const order: number[] = [];
	admitted.forEach((p, i) => void p.then(() => order.push(i)));
	while (order.length < admitted.length) {
		assert.ok(jobs.pending.length > 0, "a queued job never started");
		jobs.pending.shift()!();
		await tick();
	}
	assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6]);
	assert.equal(jobs.maxRunning, 2);
	assert.equal(limiter.stats().running, 0);
	assert.equal(limiter.expectedWaitMs(), 0);
});

test("the limiter learns the measured cost of each kind of hash", async () => {
	let now = 0;
	const limiter = new HashingLimiter({ concurrency: 1, maxWaitMs: 0, initialCostMs: { fast: 10 }, now: () => now });
	const jobs = manualJobs();
	const first = limiter.run("fast", jobs.job);
	now += 100; // slower than assumed, e.g. the cores are busy with other work
	jobs.pending.shift()!();
	await first;
	assert.equal(limiter.stats().costMs.fast, 100, "the first measurement replaces the guess");
	const second = limiter.run("fast", jobs.job);
	now += 50;
	jobs.pending.shift()!();
	await second;
	assert.equal(limiter.stats().costMs.fast, 90, "then a moving average");
	assert.equal(limiter.stats().busyMs, 150);
	// maxWait 0: with the only slot busy, the next one is refused rather than queued.
	const third = limiter.run("fast", jobs.job);
	assert.equal((await refusal(limiter.run("fast", jobs.job))).type, ErrorTypes.RATE_LIMITED);
	jobs.pending.shift()!();
	assert.equal(await third, "done");
});

test("hashes admitted on a too optimistic estimate are refused once they waited past the bound", async () => {
	let now = 0;
	// Assumes 10 ms a hash: 5 queue behind the running one (50 ms expected), but it takes 700 ms.
	const limiter = new HashingLimiter({ concurrency: 1, maxWaitMs: 1_000, initialCostMs: { h: 10 }, now: () => now });
	const jobs = manualJobs();
	const first = limiter.run("h", jobs.job);
	const early = [limiter.run("h", jobs.job), limiter.run("h", jobs.job)];
	now += 400;
	const late = [limiter.run("h", jobs.job), limiter.run("h", jobs.job), limiter.run("h", jobs.job)];
	const outcomes = [...early, ...late].map(p =>
		p.then(
			() => "done",
			(err: { type?: string }) => err.type,
		),
	);
	now += 300;
	jobs.pending.shift()!(); // the first ends at 700 ms: the next one waited 700 ms, it runs
	assert.equal(await first, "done");
	await tick();
	assert.equal(jobs.running, 1);
	now += 700;
	jobs.pending.shift()!(); // at 1.4 s: the second early one waited 1.4 s, refused; the late ones 1 s: runs
	await tick();
	now += 100;
	jobs.pending.shift()!(); // at 1.5 s: the two other late ones waited 1.1 s, refused
	await tick();
	assert.equal(jobs.pending.length, 0);
	assert.deepEqual(await Promise.all(outcomes), ["done", "RATE_LIMITED", "done", "RATE_LIMITED", "RATE_LIMITED"]);
	assert.deepEqual([limiter.stats().expired, limiter.stats().running, limiter.stats().queued], [3, 0, 0]);
	assert.equal(await limiter.run("h", () => Promise.resolve("free slot")), "free slot");
});

test("a failed hash frees its slot for the next one", async () => {
	const limiter = new HashingLimiter({ concurrency: 1, maxWaitMs: 10_000 });
	const failing = limiter.run("x", () => Promise.reject(new Error("bad parameters")));
	const next = limiter.run("x", () => Promise.resolve("ok"));
	await assert.rejects(failing, /bad parameters/);
	assert.equal(await next, "ok");
});

test("real hashes through the process's limiter never exceed its slots", async () => {
	const limiter = passwordHashing();
	assert.ok(limiter.concurrency >= 1);
	let peak = 0;
	const sample = setInterval(() => (peak = Math.max(peak, limiter.stats().running)), 1);
	const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => hashPassword(`password ${i}`)));
	clearInterval(sample);
	assert.ok(peak <= limiter.concurrency, `${peak} ran at once with ${limiter.concurrency} slots`);
	assert.ok(results.some(r => r.status === "fulfilled"));
	for (const r of results) if (r.status === "rejected") assert.equal((r.reason as { type?: string }).type, ErrorTypes.RATE_LIMITED);
});

test("every 429 gets a Retry-After: the refusing service's hint, else the rate-limit window's end", () => {
	const now = 1_000_000;
	const limited = (data?: unknown) => toErrorBody({ name: "MoleculerClientError", message: "x", code: 429, type: "RATE_LIMITED", data });
	assert.equal(retryAfterSeconds(limited({ retryAfter: 3 }), undefined, now), 3);
	assert.equal(retryAfterSeconds(limited(), now + 41_500, now), 42, "moleculer-web's X-Rate-Limit-Reset");
	assert.equal(retryAfterSeconds(limited(), Number.NaN, now), 1, "no hint at all: soon");
	assert.equal(retryAfterSeconds(toErrorBody({ code: 404, type: "NOT_FOUND", message: "x" })), undefined, "only on 429");
});
