import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryAttempts } from "../../lib/attempt-limits.js";
import { ErrorTypes } from "../../events/errors.js";
import { addressKey, LoginThrottle, slowdownMs } from "../../services/users/login-throttle.js";

/** Password guessing costs the guesser (their address, the stolen token's user), never locks the owner out. */

const opts = { freeFailures: 2, lockAfter: 5, windowMs: 60_000, maxDelayMs: 1_000 };

function throttleAt(clock: { now: number }, waits: number[] = []) {
	return new LoginThrottle(new MemoryAttempts(), opts, {
		now: () => clock.now,
		wait: async ms => void waits.push(ms),
	});
}

/** The 429 a refused attempt throws, with its retry-after hint in seconds. */
const refusedAfter = (seconds: number) => (err: { code?: number; type?: string; data?: { retryAfter?: number } }) => {
	assert.equal(err.code, 429);
	assert.equal(err.type, ErrorTypes.RATE_LIMITED);
	assert.equal(err.data?.retryAfter, seconds);
	return true;
};

test("an address that used up its guesses at an account is refused until the window ends, with the true seconds left; the owner elsewhere is not", async () => {
	const clock = { now: 1_000_000 };
	const throttle = throttleAt(clock);
	for (let i = 0; i < 5; i++) await throttle.admitLogin("ada@example.com", "203.0.113.7");
	clock.now += 20_500;
	await assert.rejects(throttle.admitLogin("ada@example.com", "203.0.113.7"), refusedAfter(40));
	assert.equal(throttle.stats.loginsRefused, 1);
	// The owner, from another address, is admitted and her success clears only her own counts.
	const owner = await throttle.admitLogin("ada@example.com", "198.51.100.9");
	await owner.succeeded();
	await assert.rejects(throttle.admitLogin("ada@example.com", "203.0.113.7"), refusedAfter(40));
	// Other accounts from the guessing address are unaffected; the window's end frees the address.
	await throttle.admitLogin("bob@example.com", "203.0.113.7");
	clock.now += 40_000;
	await throttle.admitLogin("ada@example.com", "203.0.113.7");
});

test("parallel attempts are counted before any is checked: exactly `lockAfter` get through", async () => {
	const throttle = throttleAt({ now: 0 });
	const results = await Promise.allSettled(Array.from({ length: 60 }, () => throttle.admitLogin("ada@example.com", "203.0.113.7")));
	assert.equal(results.filter(r => r.status === "fulfilled").length, 5);
	assert.equal(throttle.stats.loginsRefused, 55);
});

test("attempts at one account from anywhere slow down after the free ones, capped, and a success clears them", async () => {
	const waits: number[] = [];
	const throttle = throttleAt({ now: 0 }, waits);
	// Distributed guessing: six addresses, one attempt each; none is refused, each waits longer.
	for (let i = 0; i < 6; i++) await throttle.admitLogin("ada@example.com", `203.0.113.${i}`);
	assert.deepEqual(waits, [100, 200, 400]);
	await throttle.admitLogin("ada@example.com", "203.0.113.6");
	const next = await throttle.admitLogin("ada@example.com", "198.51.100.9");
	assert.deepEqual(waits.slice(3), [800, 1_000], "capped");
	await next.succeeded();
	waits.length = 0;
	await throttle.admitLogin("ada@example.com", "203.0.113.1");
	assert.deepEqual(waits, [], "free again after a success");
	assert.equal(slowdownMs(9, opts), 1_000);
	assert.equal(slowdownMs(2, opts), 0);
});

test("password re-checks are limited per user, whatever the address, and a success clears them", async () => {
	const clock = { now: 0 };
	const throttle = throttleAt(clock);
	for (let i = 0; i < 4; i++) await throttle.admitRecheck("user-1");
	await (await throttle.admitRecheck("user-1")).succeeded();
	for (let i = 0; i < 5; i++) await throttle.admitRecheck("user-1");
	clock.now += 1_500;
	await assert.rejects(throttle.admitRecheck("user-1"), refusedAfter(59));
	assert.equal(throttle.stats.rechecksRefused, 1);
	await throttle.admitRecheck("user-2");
	// Logins of the user are a separate count.
	await throttle.admitLogin("user-1@example.com", "203.0.113.7");
});

test("client addresses: IPv4-mapped IPv6 is the IPv4 address, IPv6 counts by its /64", () => {
	assert.equal(addressKey("::ffff:203.0.113.7"), "203.0.113.7");
	assert.equal(addressKey("203.0.113.7"), "203.0.113.7");
	assert.equal(addressKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
	assert.equal(addressKey("2001:0db8:0001:0002:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
	assert.equal(addressKey("2001:db8::1"), "2001:db8:0:0::/64");
	assert.equal(addressKey("::1"), "0:0:0:0::/64");
	assert.equal(addressKey("fe80::1%eth0"), "fe80:0:0:0::/64");
	assert.equal(addressKey(undefined), "unknown");
});
