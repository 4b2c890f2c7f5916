import { test } from "node:test";
import assert from "node:assert/strict";
import { heartbeatLate } from "../../lib/dead-node-probe.js";

test("a node's heartbeat is late once more than an interval and a second went by (whole seconds of uptime, as Moleculer counts)", () => {
	assert.equal(heartbeatLate(100, 102, 2), false);
	assert.equal(heartbeatLate(100, 103, 2), false);
	assert.equal(heartbeatLate(100, 104, 2), true);
	// No heartbeat seen yet: nothing to be late against.
	assert.equal(heartbeatLate(0, 104, 2), false);
});
