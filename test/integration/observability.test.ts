import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ApiClient } from "../support/client.js";
import { freePort, startSystem, type System } from "../support/system.js";
import { waitFor } from "../support/wait.js";

/** What an operator watches: Prometheus metrics per process, JSON logs with request ids, readiness. */

let system: System;
let metricsPort: number;

before(async () => {
	metricsPort = await freePort();
	system = await startSystem({
		services: ["users", "gateway"],
		env: { LOG_FORMAT: "json" },
		serviceEnv: { gateway: { METRICS_PORT: String(metricsPort) } },
	});
});

after(async () => {
	await system?.stopAll();
});

test("METRICS_PORT serves Prometheus metrics of the broker", async () => {
	await new ApiClient(system.url).get("/health");
	const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
	assert.equal(res.status, 200);
	const text = await res.text();
	assert.match(text, /moleculer_request_total/);
	assert.match(text, /moleculer_transit_connected/);
});

test("logs are JSON lines, and each request's line carries the request id returned to the client", async () => {
	const res = await fetch(`${system.url}/api/auth/login`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({ email: "x@example.com", password: "wrong one" }),
	});
	assert.equal(res.status, 401);
	const requestID = res.headers.get("x-request-id");
	assert.ok(requestID, "X-Request-ID header");
	const line = await waitFor(
		() =>
			system
				.log("gateway")
				.split("\n")
				.find(l => l.includes(`requestID=${requestID}`)),
		{ what: "the access-log line" },
	);
	const entry = JSON.parse(line);
	assert.equal(entry.level, "info");
	assert.match(entry.msg, /POST \/api\/auth\/login 401/);
	// Never the password or a stack trace in a log line.
	assert.ok(!system.log("gateway").includes("wrong one"));
	assert.ok(!system.log("users").includes("wrong one"));
});

test("readiness turns 503 with the failing part when a service is down, and 200 again when it is back", async () => {
	await system.stop("users");
	const down = await waitFor(
		async () => {
			const r = await new ApiClient(system.url).get("/health");
			return r.status === 503 ? r : undefined;
		},
		{ what: "health 503" },
	);
	assert.equal(down.body.failing.users, "not running");
	await system.start("users");
	await system.waitHealthy();
});
