// Docker HEALTHCHECK of every PositionPal container: exit 0 when healthy, 1 otherwise.
//
// - A container running the gateway: GET /health on PORT must answer. 200 and 503 both count as
//   alive: 503 means a backend service, NATS or a database is down, and restarting the gateway
//   would not bring them back (it would only drop every open socket). Load balancers that want
//   readiness use /health themselves and route on 200.
// - Other containers: GET /metrics on METRICS_PORT (the broker's Prometheus reporter) answers 200,
//   which proves the process and its event loop respond.
// - Without METRICS_PORT a container has no port: it is healthy while the runner process exists
//   and is not stopped (the container ends when the runner exits anyway).
import { readdirSync, readFileSync } from "node:fs";

const TIMEOUT_MS = 4_000;

const requested = (process.env.SERVICES ?? "").trim();
const runsGateway =
	requested === "" || requested === "all" || requested.split(",").some(name => ["gateway", "gateway.service.js", "*.service.js"].includes(name.trim()));

async function answers(url, acceptable) {
	try {
		const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
		await res.arrayBuffer();
		if (acceptable.includes(res.status)) return true;
		console.error(`${url} answered ${res.status}`);
	} catch (err) {
		console.error(`${url}: ${err.cause?.code ?? err.message}`);
	}
	return false;
}

function runnerIsRunning() {
	for (const pid of readdirSync("/proc").filter(name => /^\d+$/.test(name))) {
		try {
			const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
			if (!cmdline.includes("moleculer-runner")) continue;
			// Field 3 of /proc/<pid>/stat is the state; the command before it is in parentheses.
			const state = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0];
			return state !== undefined && !"ZTXx".includes(state);
		} catch {
			// The process ended while we looked: try the others.
		}
	}
	console.error("no moleculer-runner process");
	return false;
}

let healthy;
const metricsPort = Number(process.env.METRICS_PORT ?? 0);
if (runsGateway) healthy = await answers(`http://127.0.0.1:${process.env.PORT || 3000}/health`, [200, 503]);
else if (metricsPort > 0) healthy = await answers(`http://127.0.0.1:${metricsPort}/metrics`, [200]);
else healthy = runnerIsRunning();
process.exit(healthy ? 0 : 1);
