import autocannon from "autocannon";
import {
	clientFor,
	clusterPids,
	createGroups,
	gatewayUrls,
	mapLimit,
	provisionUsers,
	startCluster,
	startSharing,
	topologyOption,
	waitQuiet,
} from "./lib/cluster.js";
import { startBaseline } from "./lib/child.js";
import { waitFor } from "../test/support/wait.js";
import { isMain, numberOption } from "./lib/options.js";
import { ProcMonitor, type ProcUsage } from "./lib/procs.js";
import { heading, procTable, saveFigures, type BenchResult } from "./lib/report.js";
import { fmtMs, fmtNum, fmtRatio, Histogram, table, type LatencySummary } from "./lib/stats.js";

/**
 * Benchmark 2 — REST reads. Authenticated `GET /api/groups` and `GET /api/groups/:id/sessions`
 * at concurrency 50 (autocannon, one token per connection), against a bare moleculer-web route
 * returning a constant (bench/baselines/constant-api.ts) on the same machine, and against the same
 * constant one broker hop away (moleculer-web → NATS → constant-service.ts): the floor of any
 * route that crosses the broker.
 *
 *   tsx bench/rest.ts [--connections=50] [--seconds=10] [--users=50] [--group-size=10]
 */

export interface RestOptions {
	connections: number;
	seconds: number;
	users: number;
	groupSize: number;
}

export function restOptions(): RestOptions {
	return {
		connections: numberOption("connections", 50),
		seconds: numberOption("seconds", 10),
		users: numberOption("users", 50),
		groupSize: numberOption("group-size", 10),
	};
}

export interface CannonResult {
	label: string;
	requestsPerSecond: number;
	latency: LatencySummary;
	non2xx: number;
	errors: number;
	usage: ProcUsage[];
}

/**
 * Runs autocannon; each connection gets its own request (token, path) from `requestFor(connection index)`.
 * Several URLs (gateways): the connections are split evenly over them, one autocannon each, at once.
 */
export async function cannon(
	label: string,
	urls: string | string[],
	requestFor: (index: number) => { path: string; headers?: Record<string, string> },
	opts: { connections: number; seconds: number; pids: Map<string, number>; warmupSeconds?: number },
): Promise<CannonResult> {
	const targets = typeof urls === "string" ? [urls] : urls;
	const run = async (seconds: number, histogram?: Histogram) => {
		let index = 0;
		const results = await Promise.all(
			targets.map((url, i) =>
				autocannon({
					url,
					connections: Math.floor(opts.connections / targets.length) + (i < opts.connections % targets.length ? 1 : 0),
					duration: seconds,
					setupClient(client) {
						const request = requestFor(index++);
						client.setRequests([{ method: "GET", path: request.path, headers: request.headers ?? {} }]);
						if (histogram) client.on("response", (_status: number, _bytes: number, responseTime: number) => histogram.record(responseTime));
					},
				}),
			),
		);
		return {
			requests: { total: results.reduce((n, r) => n + r.requests.total, 0) },
			duration: Math.max(...results.map(r => r.duration)),
			non2xx: results.reduce((n, r) => n + r.non2xx, 0),
			errors: results.reduce((n, r) => n + r.errors, 0),
		};
	};
	await run(opts.warmupSeconds ?? 2);
	const histogram = new Histogram();
	const monitor = new ProcMonitor(opts.pids).start();
	const result = await run(opts.seconds, histogram);
	const usage = monitor.stop();
	return {
		label,
		requestsPerSecond: result.requests.total / result.duration,
		latency: histogram.summary(),
		non2xx: result.non2xx,
		errors: result.errors,
		usage,
	};
}

const row = (r: CannonResult) => [
	r.label,
	fmtNum(r.requestsPerSecond),
	fmtMs(r.latency.p50),
	fmtMs(r.latency.p95),
	fmtMs(r.latency.p99),
	fmtMs(r.latency.max),
	String(r.non2xx + r.errors),
];

export async function runRest(opts: RestOptions = restOptions()): Promise<BenchResult> {
	const topology = topologyOption();
	heading(`REST reads: ${opts.connections} connections, ${opts.seconds} s per route, topology ${topology}`);
	const results: CannonResult[] = [];
	const system = await startCluster(undefined, undefined, topology);
	try {
		const { users } = await provisionUsers(system, opts.users);
		const groups = await createGroups(system, users, opts.groupSize);
		await startSharing(system, groups);
		// Every member has a position, so the sessions read returns real sessions.
		await mapLimit(users, 8, async (user, i) => {
			const res = await clientFor(system, user).post("/api/location/samples", { latitude: 44 + i * 1e-3, longitude: 11 });
			if (res.status !== 202) throw new Error(`sample failed: ${res.status} ${JSON.stringify(res.body)}`);
		});
		const groupOf = new Map(groups.flatMap(g => g.members.map(m => [m.id, g.groupId] as const)));
		const pids = clusterPids(system);
		pids.set("autocannon", process.pid);
		await waitQuiet(pids);
		const auth = (i: number) => ({ authorization: `Bearer ${users[i % users.length]!.token}` });
		results.push(await cannon("GET /api/groups", gatewayUrls(system), i => ({ path: "/api/groups", headers: auth(i) }), { ...opts, pids }));
		console.log(procTable(results.at(-1)!.usage));
		results.push(
			await cannon(
				"GET /api/groups/:id/sessions",
				gatewayUrls(system),
				i => ({ path: `/api/groups/${groupOf.get(users[i % users.length]!.id)}/sessions`, headers: auth(i) }),
				{ ...opts, pids },
			),
		);
		console.log(procTable(results.at(-1)!.usage));
	} finally {
		await system.stopAll();
	}
	const baseline = await startBaseline("bench/baselines/constant-api.ts");
	try {
		const pids = new Map([
			["bare moleculer-web", baseline.pid],
			["autocannon", process.pid],
		]);
		results.push(await cannon("bare moleculer-web constant", baseline.url, () => ({ path: "/api/constant" }), { ...opts, pids }));
		console.log(procTable(results.at(-1)!.usage));
	} finally {
		await baseline.stop();
	}
	// The floor of any route that crosses the broker once (every PositionPal route crosses it at
	// least once): the same constant, its action in another process, over the same NATS.
	const namespace = `restfloor${process.pid}`;
	const service = await startBaseline("bench/baselines/constant-service.ts", { BASELINE_REMOTE_NAMESPACE: namespace });
	const api = await startBaseline("bench/baselines/constant-api.ts", { BASELINE_REMOTE_NAMESPACE: namespace });
	try {
		await waitFor(async () => (await fetch(`${api.url}/api/constant`)).status === 200, { timeoutMs: 20_000, what: "the one-hop baseline to answer" });
		const pids = new Map([
			["moleculer-web (one hop)", api.pid],
			["constant service", service.pid],
			["autocannon", process.pid],
		]);
		results.push(await cannon("moleculer-web → NATS → constant", api.url, () => ({ path: "/api/constant" }), { ...opts, pids }));
		console.log(procTable(results.at(-1)!.usage));
	} finally {
		await api.stop();
		await service.stop();
	}
	const [groupsRead, sessionsRead, constant, oneHop] = results as [CannonResult, CannonResult, CannonResult, CannonResult];
	console.log(table([["route", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "non-2xx/errors"], ...results.map(row)]));
	const rows: BenchResult["rows"] = [groupsRead, sessionsRead].map(r => {
		const ratio = r.requestsPerSecond / constant.requestsPerSecond;
		return {
			bench: "REST",
			metric: `${r.label} req/s (p99)`,
			system: `${fmtNum(r.requestsPerSecond)} (${fmtMs(r.latency.p99)} ms)`,
			baseline: `${fmtNum(constant.requestsPerSecond)} (${fmtMs(constant.latency.p99)} ms)`,
			ratio: fmtRatio(ratio),
			target: "≥ 50 %, p99 < 25 ms",
			pass: ratio >= 0.5 && r.latency.p99 < 25 && r.non2xx + r.errors === 0,
		};
	});
	for (const r of [groupsRead, sessionsRead])
		rows.push({
			bench: "REST",
			metric: `${r.label} vs one broker hop`,
			system: fmtNum(r.requestsPerSecond),
			baseline: `${fmtNum(oneHop.requestsPerSecond)} (${fmtMs(oneHop.latency.p99)} ms)`,
			ratio: fmtRatio(r.requestsPerSecond / oneHop.requestsPerSecond),
			target: "",
		});
	const result: BenchResult = { name: "rest", rows, figures: { options: opts, topology, results } };
	console.log(`figures: ${saveFigures(result)}`);
	return result;
}

if (isMain(import.meta.url)) {
	runRest().then(
		() => process.exit(0),
		err => {
			console.error(err);
			process.exit(1);
		},
	);
}
