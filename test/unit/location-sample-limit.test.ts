import assert from "node:assert/strict";
import { test } from "node:test";
import { SampleLimit } from "../../services/location/sample-limit.js";

test("a sample past the limit is refused with whole seconds to wait, unless the user is in an SOS (asked only then)", async () => {
	const limit = new SampleLimit(2, () => 0);
	let asked = 0;
	const inSos = (answer: boolean) => async () => (asked++, answer);
	await limit.admit("u1", inSos(false));
	await limit.admit("u1", inSos(false));
	assert.equal(asked, 0, "within the limit nobody asks about an SOS");
	await assert.rejects(
		limit.admit("u1", inSos(false)),
		(err: { type?: string; code?: number; message?: string; data?: { retryAfter: number } }) =>
			err.type === "RATE_LIMITED" &&
			err.code === 429 &&
			err.data?.retryAfter === 30 &&
			err.message === "At most 2 position samples a minute; try again in 30 s",
	);
	await limit.admit("u1", inSos(true));
	assert.equal(asked, 2);
});
