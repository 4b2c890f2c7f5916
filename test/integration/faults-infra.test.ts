// @test-solo: stops NATS and the database under a timed workload; run alone (scripts/lib/run-tests.mjs).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { ServiceBroker } from "moleculer";
import { connect, type NatsConnection } from "nats";
import { startSystem, type System } from "../support/system.js";
import { startPrivateInfra, startProbe, type PrivateInfra } from "../support/faults/servers.js";
import type { Workload } from "../support/faults/workload.js";
import { assertNothingLost, startWorkload } from "../support/faults/scenario.js";
import { waitFor } from "../support/wait.js";
import { isDatabaseUnavailable } from "../../mixins/mongoose.mixin.js";

/**
 * SPEC §8–§9 when the infrastructure fails: NATS restarts and FerretDB goes away for a few seconds
 * while the workload runs. This file has its own NATS and FerretDB, so other files never notice.
 * Requests fail cleanly (503, never a hang or a 500), nothing acknowledged is lost, and the system
 * recovers by itself, without restarting any service.
 */

let infra: PrivateInfra;
let system: System;
let probe: ServiceBroker;
let nats: NatsConnection;

before(async () => {
	infra = await startPrivateInfra();
	system = await startSystem({
		services: ["users", "location", "chat", "notification", "gateway"],
		// The workload chats and reports positions as fast as the system answers (a load generator, not a user): no per-user limits.
		env: { ...infra.env, HEARTBEAT_INTERVAL: "1", HEARTBEAT_TIMEOUT: "3", CHAT_RATE_LIMIT: "0", SAMPLE_RATE_LIMIT: "0" },
	});
	probe = await startProbe(system);
	nats = await connect({ servers: infra.env.TRANSPORTER.replace("nats://", ""), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
});

after(async () => {
	await nats?.close();
	await probe?.stop();
	await system?.stopAll();
	await infra?.cleanup();
});

test("errors of a database that went away are told apart from bugs", () => {
	const socketEnded = Object.assign(new Error("This socket has been ended by the other party"), { code: "EPIPE" });
	for (const err of [
		socketEnded,
		Object.assign(new Error("x"), { name: "MongoNetworkError" }),
		Object.assign(new Error("x"), { name: "MongooseServerSelectionError" }),
		Object.assign(new Error("refused"), { code: "ECONNREFUSED" }),
	])
		assert.equal(isDatabaseUnavailable(err), true, err.message);
	for (const err of [Object.assign(new Error("dup"), { name: "MongoServerError", code: 11000 }), new TypeError("x is undefined"), null])
		assert.equal(isDatabaseUnavailable(err), false, String(err));
});

const failures = (w: Workload) => [...w.statuses].filter(([status]) => status !== "200" && status !== "201" && status !== "202").reduce((n, [, c]) => n + c, 0);

test("NATS restarted during the workload: nothing acknowledged is lost, everything converges", async t => {
	const { crews, workload, sockets } = await startWorkload(system.url, 3);
	try {
		await workload.progress(1);
		const failedBefore = failures(workload);
		await infra.nats.stop();
		const downSince = Date.now();
		// Down well past the heartbeat timeout (3 s, checked every few seconds): every node takes the others for gone.
		await waitFor(() => failures(workload) >= failedBefore + 5 && Date.now() - downSince > 8_000, {
			timeoutMs: 20_000,
			what: "requests failing while NATS is down",
		});
		await infra.nats.start();
		// Recovers by itself: no service is restarted.
		await system.waitHealthy(30_000);
		await workload.progress(2, 60_000);
	} finally {
		await workload.stop();
	}
	await assertNothingLost({ system, probe, nats, mongoUrl: infra.env.MONGO_URL, crews, workload, sockets, report: line => t.diagnostic(line) });
});

test("FerretDB down for a few seconds: 503s, no hang, nothing acknowledged lost, recovery without restarts", async t => {
	const { crews, workload, sockets } = await startWorkload(system.url, 3);
	let health: { status: number; body: unknown } | undefined;
	try {
		await workload.progress(1);
		const failedBefore = failures(workload);
		await infra.ferretdb.stop("SIGKILL");
		// Chat cannot record this disconnect now: presence must still come right afterwards.
		sockets.close(crews[0]!.owner);
		await waitFor(() => (workload.statuses.get("503") ?? 0) > 0 && failures(workload) >= failedBefore + 5, {
			timeoutMs: 30_000,
			what: "503s while the database is down",
		});
		// Down until every service noticed: the readiness check names each one's database.
		health = await waitFor(
			async () => {
				const res = await fetch(`${system.url}/health`);
				const body = (await res.json()) as { failing?: Record<string, string> };
				const all = ["users", "location", "chat", "notification"].every(s => body.failing?.[s] === "database unavailable");
				return all ? { status: res.status, body } : null;
			},
			{ timeoutMs: 20_000, what: "readiness to name every service's database" },
		);
		await infra.ferretdb.start();
		await system.waitHealthy(30_000);
		await workload.progress(2, 60_000);
	} finally {
		await workload.stop();
	}
	assert.equal(health?.status, 503);
	await assertNothingLost({ system, probe, nats, mongoUrl: infra.env.MONGO_URL, crews, workload, sockets, report: line => t.diagnostic(line) });
});
