// @test-solo: stops services mid-traffic and times their answers; run alone (scripts/lib/run-tests.mjs).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ApiClient, connectSocket } from "../support/client.js";
import { startSystem, type System } from "../support/system.js";
import { waitFor } from "../support/wait.js";

/**
 * SIGTERM during traffic: a stopping service finishes what it acknowledged, refuses new work
 * cleanly (503, never 500 or a hang), and nothing acknowledged is lost.
 */

let system: System;

before(async () => {
	// The traffic creates hundreds of groups per user: above the default MAX_GROUPS_PER_USER (100), which is not under test here.
	system = await startSystem({ services: ["users", "gateway"], env: { MAX_GROUPS_PER_USER: "100000" } });
});

after(async () => {
	await system?.stopAll();
});

/** Creates groups from `workers` concurrent loops until `stop()`; records every answer. */
function groupTraffic(api: ApiClient, workers: number) {
	const acknowledged: string[] = [];
	const statuses = new Map<number | string, number>();
	let running = true;
	let sent = 0;
	const loops = Array.from({ length: workers }, async (_, worker) => {
		while (running) {
			const name = `g-${worker}-${sent++}`;
			try {
				const res = await api.post("/api/groups", { name });
				statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
				if (res.status === 201) acknowledged.push(res.body.id);
			} catch {
				// The gateway itself stopping: the connection is refused or reset.
				statuses.set("network", (statuses.get("network") ?? 0) + 1);
				await new Promise(resolve => setImmediate(resolve));
			}
		}
	});
	return {
		acknowledged,
		statuses,
		count: () => acknowledged.length,
		stop: async () => {
			running = false;
			await Promise.all(loops);
		},
	};
}

test("SIGTERM to the users service during traffic loses no acknowledged write and answers 503 while it is away", async () => {
	const api = new ApiClient(system.url);
	await api.signUp("Grace", "Shutdown");
	const traffic = groupTraffic(api, 4);
	await waitFor(() => traffic.count() >= 10, { what: "traffic to flow" });

	await system.stop("users", "SIGTERM");
	await waitFor(() => (traffic.statuses.get(503) ?? 0) >= 3, { what: "503s while users is down" });
	await system.start("users");
	const before = traffic.count();
	await waitFor(() => traffic.count() >= before + 10, { timeoutMs: 20_000, what: "traffic to resume" });
	await traffic.stop();

	const statusKinds = [...traffic.statuses.keys()].sort();
	assert.deepEqual(
		statusKinds.filter(s => s !== 201 && s !== 503),
		[],
		`only 201 and 503 answers, got ${JSON.stringify([...traffic.statuses])}`,
	);
	const mine = (await api.get("/api/groups")).body.map((g: { id: string }) => g.id);
	const lost = traffic.acknowledged.filter(id => !mine.includes(id));
	assert.deepEqual(lost, [], `${traffic.acknowledged.length} acknowledged groups, none may be missing`);
});

test("SIGTERM to the gateway: acknowledged requests persist, sockets are closed so clients reconnect", async () => {
	const api = new ApiClient(system.url);
	await api.signUp("Linus", "Gateway");
	const socket = await connectSocket(system.url, api.token!);
	const reason = new Promise<string>(resolve => socket.socket.once("disconnect", resolve));
	const traffic = groupTraffic(api, 4);
	await waitFor(() => traffic.count() >= 10, { what: "traffic to flow" });

	await system.stop("gateway", "SIGTERM");
	// "transport close" (not "io server disconnect") is what makes a Socket.IO client reconnect by itself.
	assert.equal(await reason, "transport close");
	await system.start("gateway");
	await system.waitHealthy();
	const before = traffic.count();
	await waitFor(() => traffic.count() >= before + 5, { timeoutMs: 20_000, what: "traffic to resume" });
	await traffic.stop();
	socket.close();

	assert.deepEqual(
		[...traffic.statuses.keys()].filter(s => s !== 201 && s !== 503 && s !== "network"),
		[],
	);
	const mine = (await api.get("/api/groups")).body.map((g: { id: string }) => g.id);
	assert.deepEqual(
		traffic.acknowledged.filter(id => !mine.includes(id)),
		[],
	);
});
