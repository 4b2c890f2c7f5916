import { test } from "node:test";
import assert from "node:assert/strict";
import { BatchedLookups } from "../../lib/batched-lookups.js";

/** A lookup that records its keys and finishes only when the test says so. */
function heldLookup() {
	const calls: string[][] = [];
	const finish: (() => void)[] = [];
	const fail: ((err: Error) => void)[] = [];
	const lookup = (keys: string[]) => {
		calls.push(keys);
		return new Promise<void>((resolve, reject) => {
			finish.push(resolve);
			fail.push(reject);
		});
	};
	return { calls, finish, fail, lookup };
}

const until = async (condition: () => boolean) => {
	const deadline = Date.now() + 2_000;
	while (!condition()) {
		if (Date.now() > deadline) throw new Error("condition not met within 2 s");
		await new Promise(resolve => setImmediate(resolve));
	}
};

test("keys asked for within the window are looked up in one call", async () => {
	const held = heldLookup();
	const lookups = new BatchedLookups(5, held.lookup);
	const waits = [lookups.wait("ann"), lookups.wait("ben"), lookups.wait("ann")];
	await until(() => held.calls.length === 1);
	assert.deepEqual(held.calls, [["ann", "ben"]]);
	held.finish[0]!();
	await Promise.all(waits);
});

test("a key whose lookup is running waits for it instead of starting another; other keys start a new batch", async () => {
	const held = heldLookup();
	const lookups = new BatchedLookups(1, held.lookup);
	const first = lookups.wait("ann");
	await until(() => held.calls.length === 1);
	// The window is over and the lookup still runs (a slow database): more samples of ann arrive.
	const again = lookups.wait("ann");
	const ben = lookups.wait("ben");
	await until(() => held.calls.length === 2);
	assert.deepEqual(held.calls, [["ann"], ["ben"]], "ann is not looked up twice");
	let annDone = false;
	void again.then(() => (annDone = true));
	held.finish[1]!();
	await ben;
	assert.equal(annDone, false, "ann's later sample waits for ann's lookup, not for ben's");
	held.finish[0]!();
	await Promise.all([first, again]);
	// Finished lookups are forgotten: the next wait looks up again.
	const later = lookups.wait("ann");
	await until(() => held.calls.length === 3);
	assert.deepEqual(held.calls[2], ["ann"]);
	held.finish[2]!();
	await later;
});

test("a failed lookup fails its waiters, and the next wait tries again", async () => {
	const held = heldLookup();
	const lookups = new BatchedLookups(1, held.lookup);
	const waits = [lookups.wait("ann"), lookups.wait("ann")];
	await until(() => held.calls.length === 1);
	held.fail[0]!(new Error("database down"));
	for (const wait of waits) await assert.rejects(wait, /database down/);
	const retry = lookups.wait("ann");
	await until(() => held.calls.length === 2);
	held.finish[1]!();
	await retry;
});
