import { test } from "node:test";
import assert from "node:assert/strict";
import { LiveBatcher } from "../../services/location/live-batch.js";
import { locationUpdates } from "../../services/gateway/live-location.js";
import type { LiveLocation } from "../../events/live.js";

// Live location updates published in one event-loop turn leave as one broadcast; the gateway
// unpacks them in order. A lone update leaves as before, with the context of its request.

const update = (userId: string): LiveLocation => ({
	groupId: "g1",
	session: { groupId: "g1", userId, state: "ACTIVE", position: null, journey: null, updatedAt: "2025-06-01T12:00:00.000Z" },
});

function recorder() {
	const sent: { one?: [LiveLocation, string | null]; many?: LiveLocation[] }[] = [];
	const batcher = new LiveBatcher<LiveLocation, string>(
		async (item, ctx) => sent.push({ one: [item, ctx] }),
		async items => sent.push({ many: items }),
	);
	return { sent, batcher };
}

test("updates of one turn go out as one batch, in order, and every publisher learns when it was sent", async () => {
	const { sent, batcher } = recorder();
	const done = [batcher.add(update("a"), "ctx-a"), batcher.add(update("b"), null), batcher.add(update("c"), "ctx-c")];
	assert.equal(sent.length, 0, "nothing leaves before the turn ends");
	await Promise.all(done);
	assert.deepEqual(sent, [{ many: [update("a"), update("b"), update("c")] }]);
});

test("a lone update leaves on its own, with its request's context; the next turn starts a new batch", async () => {
	const { sent, batcher } = recorder();
	await batcher.add(update("a"), "ctx-a");
	await Promise.all([batcher.add(update("b"), null), batcher.add(update("c"), null)]);
	assert.deepEqual(sent, [{ one: [update("a"), "ctx-a"] }, { many: [update("b"), update("c")] }]);
});

test("a failed broadcast fails the publishers of its batch only", async () => {
	let fail = true;
	const batcher = new LiveBatcher<LiveLocation, null>(
		async () => undefined,
		async () => {
			if (fail) throw new Error("transporter down");
		},
	);
	const first = [batcher.add(update("a"), null), batcher.add(update("b"), null)];
	for (const p of first) await assert.rejects(p, /transporter down/);
	fail = false;
	await Promise.all([batcher.add(update("c"), null), batcher.add(update("d"), null)]);
});

test("the gateway reads one update or a batch, in order", () => {
	assert.deepEqual(locationUpdates(update("a")), [update("a")]);
	assert.deepEqual(locationUpdates({ updates: [update("a"), update("b")] }), [update("a"), update("b")]);
});
