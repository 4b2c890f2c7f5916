import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HANDOVER_GRACE_MS, Ownership, runningNodes } from "../../services/location/ownership.js";

describe("which location instances own users", () => {
	it("lists each running instance of the service once", () => {
		const services = [
			{ name: "location", nodeID: "b" },
			{ name: "users", nodeID: "a" },
			{ name: "location", nodeID: "a" },
			{ name: "location", nodeID: "b" },
		];
		assert.deepEqual(runningNodes(services, "location"), ["b", "a"]);
	});

	it("an instance going away holds the alerts for the grace period; every change hands over, with the sorted set", async () => {
		let running = ["b", "a"];
		const held: number[] = [];
		const seen: string[] = [];
		const handed: string[][] = [];
		const ownership = new Ownership({
			running: () => [...running],
			holdAlerts: until => held.push(until),
			ownersSeen: async key => void seen.push(key),
			handOver: async nodes => void handed.push(nodes),
			now: () => 1_000,
		});
		await ownership.check();
		running = ["a", "b", "c"];
		await ownership.check();
		assert.deepEqual(held, [], "nobody went: alerts are not held");
		running = ["c", "a"];
		await ownership.check();
		assert.deepEqual(held, [1_000 + HANDOVER_GRACE_MS]);
		assert.deepEqual(seen, ["a,b", "a,b,c", "a,c"]);
		assert.deepEqual(handed, [
			["a", "b"],
			["a", "b", "c"],
			["a", "c"],
		]);
	});
});
