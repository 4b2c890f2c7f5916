import { test } from "node:test";
import assert from "node:assert/strict";
import { SingleFlight } from "../../lib/single-flight.js";

test("concurrent loads of one key run once and share the answer; other keys load on their own", async () => {
	const flights = new SingleFlight<string, string>();
	const loads: string[] = [];
	const load = (key: string) => async () => {
		loads.push(key);
		await new Promise(resolve => setImmediate(resolve));
		return `${key}-value`;
	};
	const answers = await Promise.all([
		flights.run("g1", load("g1")),
		flights.run("g1", load("g1")),
		flights.run("g2", load("g2")),
		flights.run("g1", load("g1")),
	]);
	assert.deepEqual(answers, ["g1-value", "g1-value", "g2-value", "g1-value"]);
	assert.deepEqual(loads, ["g1", "g2"]);
});

test("a settled load is forgotten: the next caller reads again (nothing is cached)", async () => {
	const flights = new SingleFlight<string, number>();
	let reads = 0;
	assert.equal(await flights.run("g1", async () => ++reads), 1);
	assert.equal(await flights.run("g1", async () => ++reads), 2);
});

test("a failed load fails every waiter once, and the next caller tries again", async () => {
	const flights = new SingleFlight<string, string>();
	let attempts = 0;
	const failing = async () => {
		attempts++;
		await new Promise(resolve => setImmediate(resolve));
		throw new Error("database down");
	};
	const results = await Promise.allSettled([flights.run("g1", failing), flights.run("g1", failing)]);
	assert.deepEqual(
		results.map(r => r.status),
		["rejected", "rejected"],
	);
	assert.equal(attempts, 1);
	// A load that throws before its first await is a rejection too, not a synchronous throw.
	await assert.rejects(
		flights.run("g1", () => {
			attempts++;
			throw new Error("bad key");
		}),
		/bad key/,
	);
	assert.equal(await flights.run("g1", async () => "back"), "back");
	assert.equal(attempts, 2);
});
