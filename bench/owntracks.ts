import { Agent, request as httpRequest } from "node:http";
import autocannon from "autocannon";
import { clientFor, clusterPids, createGroups, mapLimit, provisionUsers, sleep, startCluster, startSharing, waitQuiet, type BenchUser } from "./lib/cluster.js";
import { startBaseline } from "./lib/child.js";
import { isMain, numberOption } from "./lib/options.js";
import { ProcMonitor, type ProcUsage } from "./lib/procs.js";
import { heading, procTable, saveFigures, type BenchResult } from "./lib/report.js";
import { fmtMs, fmtNum, fmtRatio, Histogram, table, type LatencySummary } from "./lib/stats.js";
import type { ServiceName } from "../test/support/system.js";

/**
 * Benchmark 6 — phones. OwnTracks HTTP-mode posts (an iPhone's location message, Basic auth,
 * X-Limit headers) from N registered devices, each a member of a sharing group of 10, against the
 * real cluster: gateway → devices (credentials, lastSeenAt) → location (the sample, STORED before the
 * answer, and the people of the answer) and back. Side by side with a bare moleculer-web POST route
 * that parses the same body with the same protocol code and answers [] (bench/baselines/owntracks-bare.ts).
 *
 * Two loads, each on both servers:
 * - every device at 1 post/s, open loop (the rate does not slow down when the server does): latency
 *   from send to the 200 and its answer, and whether the rate holds;
 * - the maximum rate: every device posting back to back on its own connection (closed loop,
 *   autocannon), i.e. throughput with `devices` requests in flight.
 * Times in the bodies are fractional seconds (OwnTracks sends whole seconds), so that every post is
 * newer than the device's last one and takes the full path instead of being skipped as stale.
 *
 *   tsx bench/owntracks.ts [--devices=300] [--rate=1] [--seconds=15] [--warmup-seconds=5] [--max-seconds=10]
 */

export interface OwnTracksOptions {
	devices: number;
	/** Posts per device per second in the open-loop phase. */
	rate: number;
	seconds: number;
	warmupSeconds: number;
	maxSeconds: number;
}

export function ownTracksOptions(): OwnTracksOptions {
	return {
		devices: numberOption("devices", 300),
		rate: numberOption("rate", 1),
		seconds: numberOption("seconds", 15),
		warmupSeconds: numberOption("warmup-seconds", 5),
		maxSeconds: numberOption("max-seconds", 10),
	};
}

const SERVICES: ServiceName[] = ["users", "location", "devices", "gateway"];

interface Device {
	authorization: string;
	username: string;
	lat: number;
	lon: number;
	/** Last `tst` sent (s, fractional): each post must be newer than the previous one. */
	lastTst: number;
}

/** An iPhone's location message (test/fixtures/owntracks IOS_LOCATION's fields), moved a little and stamped now. */
function body(device: Device): string {
	device.lastTst = Math.max(device.lastTst + 0.001, Date.now() / 1000 - 0.5);
	device.lat += 1e-5;
	return JSON.stringify({
		_type: "location",
		acc: 14,
		alt: 27,
		batt: 85,
		bs: 2,
		cog: 270,
		conn: "w",
		lat: Number(device.lat.toFixed(6)),
		lon: device.lon,
		m: 1,
		t: "u",
		tid: "BU",
		tst: Number(device.lastTst.toFixed(3)),
		vel: 18,
	});
}

const headersOf = (device: Device) => ({
	"content-type": "application/json",
	authorization: device.authorization,
	"x-limit-u": device.username,
	"x-limit-d": "iphone",
});

export interface PhaseResult {
	label: string;
	requestsPerSecond: number;
	latency: LatencySummary;
	/** Answers other than 200, and requests that failed outright. */
	failed: number;
	statuses: Record<string, number>;
	/** Open loop: posts per second asked for. */
	targetRate?: number;
	usage: ProcUsage[];
}

/** Open loop: `rate` posts per second in all, the devices taking turns, for `seconds` after `warmupSeconds`. */
async function openLoop(
	label: string,
	url: string,
	devices: Device[],
	rate: number,
	opts: { seconds: number; warmupSeconds: number; pids: Map<string, number> },
): Promise<PhaseResult> {
	const agent = new Agent({ keepAlive: true, maxSockets: devices.length });
	const target = new URL(`${url}/api/owntracks`);
	const histogram = new Histogram();
	const statuses: Record<string, number> = {};
	let ok = 0;
	let failed = 0;
	let measuring = false;
	const pending = new Set<Promise<void>>();
	const post = (device: Device) => {
		const payload = body(device);
		const measured = measuring;
		const t0 = performance.now();
		const done = new Promise<void>(resolve => {
			const req = httpRequest(
				{
					hostname: target.hostname,
					port: target.port,
					path: target.pathname,
					method: "POST",
					agent,
					headers: { ...headersOf(device), "content-length": Buffer.byteLength(payload) },
				},
				res => {
					res.resume();
					res.on("end", () => {
						if (measured) {
							histogram.record(performance.now() - t0);
							statuses[res.statusCode ?? 0] = (statuses[res.statusCode ?? 0] ?? 0) + 1;
							if (res.statusCode === 200) ok++;
							else failed++;
						}
						resolve();
					});
				},
			);
			req.on("error", () => {
				if (measured) failed++;
				resolve();
			});
			req.end(payload);
		});
		pending.add(done);
		void done.then(() => pending.delete(done));
	};
	const run = async (seconds: number) => {
		const start = performance.now();
		let sent = 0;
		let next = 0;
		while (performance.now() - start < seconds * 1000) {
			const due = Math.floor(((performance.now() - start) / 1000) * rate);
			for (; sent < due; sent++) {
				post(devices[next]!);
				next = (next + 1) % devices.length;
			}
			await sleep(2);
		}
		return sent;
	};
	await run(opts.warmupSeconds);
	measuring = true;
	const monitor = new ProcMonitor(opts.pids).start();
	const t0 = performance.now();
	await run(opts.seconds);
	measuring = false;
	await Promise.all(pending);
	const elapsed = (performance.now() - t0) / 1000;
	const usage = monitor.stop();
	agent.destroy();
	return { label, requestsPerSecond: ok / elapsed, latency: histogram.summary(), failed, statuses, targetRate: rate, usage };
}

/** Closed loop: every device posting back to back on its own connection. */
async function maxRate(label: string, url: string, devices: Device[], opts: { seconds: number; pids: Map<string, number> }): Promise<PhaseResult> {
	const histogram = new Histogram();
	const cannon = (seconds: number, record: boolean) => {
		let index = 0;
		return autocannon({
			url: `${url}/api/owntracks`,
			connections: devices.length,
			duration: seconds,
			setupClient(client) {
				const device = devices[index++ % devices.length]!;
				client.setRequests([
					{ method: "POST", path: "/api/owntracks", headers: headersOf(device), setupRequest: request => ({ ...request, body: body(device) }) },
				]);
				if (record) client.on("response", (_status: number, _bytes: number, responseTime: number) => histogram.record(responseTime));
			},
		});
	};
	await cannon(2, false);
	const monitor = new ProcMonitor(opts.pids).start();
	const result = await cannon(opts.seconds, true);
	const usage = monitor.stop();
	const statuses: Record<string, number> = { "2xx": result["2xx"], non2xx: result.non2xx };
	return {
		label,
		requestsPerSecond: result.requests.total / result.duration,
		latency: histogram.summary(),
		failed: result.non2xx + result.errors + result.timeouts,
		statuses,
		usage,
	};
}

const row = (r: PhaseResult) => [
	r.label,
	r.targetRate !== undefined ? fmtNum(r.targetRate) : "max",
	fmtNum(r.requestsPerSecond),
	fmtMs(r.latency.p50),
	fmtMs(r.latency.p95),
	fmtMs(r.latency.p99),
	fmtMs(r.latency.max),
	String(r.failed),
];

/** Registers one OwnTracks device per user through the API (as the web client would). */
async function registerDevices(system: Awaited<ReturnType<typeof startCluster>>, users: BenchUser[]): Promise<Device[]> {
	return mapLimit(users, 8, async (user, i) => {
		for (let attempt = 1; ; attempt++) {
			const res = await clientFor(system, user).post("/api/devices", { name: "Bench iPhone", protocol: "owntracks" });
			if (res.status === 201) {
				const { username, password } = res.body.credentials as { username: string; password: string };
				return { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`, username, lat: 45 + i * 1e-3, lon: 9, lastTst: 0 };
			}
			if (res.status !== 503 || attempt >= 4) throw new Error(`registering a device failed: ${res.status} ${JSON.stringify(res.body)}`);
			await sleep(1_000 * attempt);
		}
	});
}

export async function runOwnTracks(opts: OwnTracksOptions = ownTracksOptions()): Promise<BenchResult> {
	heading(`OwnTracks: ${opts.devices} devices × ${opts.rate}/s for ${opts.seconds} s, then the maximum rate for ${opts.maxSeconds} s`);
	const rate = opts.devices * opts.rate;
	const results: PhaseResult[] = [];
	// The closed loop posts as fast as each device is answered, past SAMPLE_RATE_LIMIT: the throughput is what is measured.
	const system = await startCluster(SERVICES, { SAMPLE_RATE_LIMIT: "0" });
	let stored: { checked: number; matching: number } = { checked: 0, matching: 0 };
	try {
		const { users } = await provisionUsers(system, opts.devices);
		const groups = await createGroups(system, users, 10);
		await startSharing(system, groups);
		const devices = await registerDevices(system, users);
		const pids = clusterPids(system);
		pids.set("load generator", process.pid);
		await waitQuiet(pids);
		results.push(await openLoop(`PositionPal, ${opts.rate}/s each`, system.url, devices, rate, { ...opts, pids }));
		console.log(procTable(results.at(-1)!.usage));
		results.push(await maxRate("PositionPal, maximum rate", system.url, devices, { seconds: opts.maxSeconds, pids }));
		console.log(procTable(results.at(-1)!.usage));
		// Every answered post was stored: the last position of a sample of members is the last one sent.
		const sample = users.slice(0, 20);
		const matching = await mapLimit(sample, 4, async user => {
			const group = groups.find(g => g.members.includes(user))!;
			const res = await clientFor(system, user).get(`/api/groups/${group.groupId}/sessions/${user.id}`);
			const sent = devices[users.indexOf(user)]!;
			return res.status === 200 && Math.abs(Date.parse(res.body.position?.timestamp) / 1000 - sent.lastTst) < 0.002 && res.body.position?.source === "owntracks"
				? 1
				: 0;
		});
		stored = { checked: sample.length, matching: matching.reduce<number>((a, b) => a + b, 0) };
		console.log(`last position stored and shown: ${stored.matching} of ${stored.checked} devices checked`);
	} finally {
		await system.stopAll();
	}
	const baseline = await startBaseline("bench/baselines/owntracks-bare.ts");
	try {
		const devices: Device[] = Array.from({ length: opts.devices }, (_, i) => ({
			authorization: "Basic YmVuY2g6YmVuY2g=",
			username: `bench${i}`,
			lat: 45 + i * 1e-3,
			lon: 9,
			lastTst: 0,
		}));
		const pids = new Map([
			["bare moleculer-web", baseline.pid],
			["load generator", process.pid],
		]);
		results.push(await openLoop(`bare moleculer-web, ${opts.rate}/s each`, baseline.url, devices, rate, { ...opts, pids }));
		console.log(procTable(results.at(-1)!.usage));
		results.push(await maxRate("bare moleculer-web, maximum rate", baseline.url, devices, { seconds: opts.maxSeconds, pids }));
		console.log(procTable(results.at(-1)!.usage));
	} finally {
		await baseline.stop();
	}
	const [steady, max, bareSteady, bareMax] = results as [PhaseResult, PhaseResult, PhaseResult, PhaseResult];
	console.log(table([["server, load", "target/s", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "failed"], ...results.map(row)]));
	const rows: BenchResult["rows"] = [
		{
			bench: "OwnTracks",
			metric: `${opts.devices} devices × ${opts.rate}/s: p99 (req/s)`,
			system: `${fmtMs(steady.latency.p99)} ms (${fmtNum(steady.requestsPerSecond)})`,
			baseline: `${fmtMs(bareSteady.latency.p99)} ms (${fmtNum(bareSteady.requestsPerSecond)})`,
			ratio: "",
			target: "rate held, p99 < 100 ms, none failed",
			pass: steady.failed === 0 && steady.latency.p99 < 100 && steady.requestsPerSecond >= rate * 0.95,
		},
		{
			bench: "OwnTracks",
			metric: `maximum rate, ${opts.devices} devices: req/s (p99)`,
			system: `${fmtNum(max.requestsPerSecond)} (${fmtMs(max.latency.p99)} ms)`,
			baseline: `${fmtNum(bareMax.requestsPerSecond)} (${fmtMs(bareMax.latency.p99)} ms)`,
			ratio: fmtRatio(max.requestsPerSecond / bareMax.requestsPerSecond),
			target: "",
		},
	];
	const result: BenchResult = { name: "owntracks", rows, figures: { options: opts, results, stored } };
	console.log(`figures: ${saveFigures(result)}`);
	return result;
}

if (isMain(import.meta.url)) {
	runOwnTracks().then(
		() => process.exit(0),
		err => {
			console.error(err);
			process.exit(1);
		},
	);
}
