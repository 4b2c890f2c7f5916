import { test } from "node:test";
import assert from "node:assert/strict";
import { LoginThrottle } from "../../services/users/login-throttle.js";

test("repeated wrong passwords slow an account down, then lock it for the window", () => {
	let now = 0;
	const throttle = new LoginThrottle({ freeFailures: 2, lockAfter: 5, windowMs: 60_000, maxDelayMs: 1_000 }, () => now);
	const delays: number[] = [];
	for (let i = 0; i < 5; i++) {
		delays.push(throttle.delayMs("ada"));
		throttle.recordFailure("ada");
	}
	assert.deepEqual(delays, [0, 0, 0, 100, 200]);
	assert.equal(throttle.isLocked("ada"), true);
	assert.equal(throttle.isLocked("bob"), false, "other accounts are unaffected");
	now += 60_001;
	assert.equal(throttle.isLocked("ada"), false, "the window passed");
	assert.equal(throttle.delayMs("ada"), 0);
});

test("a successful login clears the failures; delays are capped", () => {
	const throttle = new LoginThrottle({ freeFailures: 0, lockAfter: 100, windowMs: 60_000, maxDelayMs: 500 });
	for (let i = 0; i < 10; i++) throttle.recordFailure("ada");
	assert.equal(throttle.delayMs("ada"), 500);
	throttle.recordSuccess("ada");
	assert.equal(throttle.delayMs("ada"), 0);
});
