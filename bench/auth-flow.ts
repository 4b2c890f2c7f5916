import { randomBytes } from "node:crypto";
import { clusterPids, sleep, startCluster } from "./lib/cluster.js";
import { startBaseline } from "./lib/child.js";
import { isMain, numberOption } from "./lib/options.js";
import { ProcMonitor, type ProcUsage } from "./lib/procs.js";
import { heading, procTable, saveFigures, type BenchResult } from "./lib/report.js";
import { fmtMs, fmtNum, fmtRatio, Histogram, table, type LatencySummary } from "./lib/stats.js";
import { hashPassword, SCRYPT_PARAMS } from "../services/users/passwords.js";

/**
 * Benchmark 3 — the register → login → create-group flow, 50 concurrent virtual users for 60 s
 * (PositionPal's original load test; its thresholds were p95 < 1 s, p99 < 1.5 s per request).
 * Prints per-request and per-flow percentiles and the share of the users service's CPU spent on
 * scrypt (cost of one hash measured in-process here, times the hashes the run did).
 * Baseline: a bare moleculer-web process doing only the flow's password work (one hash at
 * register, one verify at login): the floor on this machine.
 *
 *   tsx bench/auth-flow.ts [--users=50] [--seconds=60] [--baseline-seconds=20]
 */

export interface AuthFlowOptions {
	users: number;
	seconds: number;
	baselineSeconds: number;
}

export function authFlowOptions(): AuthFlowOptions {
	return { users: numberOption("users", 50), seconds: numberOption("seconds", 60), baselineSeconds: numberOption("baseline-seconds", 20) };
}

interface FlowRun {
	label: string;
	flows: number;
	flowsPerSecond: number;
	requests: LatencySummary;
	flow: LatencySummary;
	steps: Record<string, LatencySummary>;
	failures: number;
	firstFailure?: string;
	/** Requests abandoned at the end of the run (not counted). */
	cutOff: number;
	usage: ProcUsage[];
}

async function runFlows(label: string, url: string, opts: { users: number; seconds: number }, pids: Map<string, number>): Promise<FlowRun> {
	const requests = new Histogram();
	const flow = new Histogram();
	const steps = { register: new Histogram(), login: new Histogram(), createGroup: new Histogram() };
	const end = performance.now() + opts.seconds * 1000;
	let flows = 0;
	let failures = 0;
	let firstFailure: string | undefined;
	let cutOff = 0;
	const timed = async (step: keyof typeof steps, path: string, body: unknown, token?: string) => {
		const t = performance.now();
		// Bounded in time: a request still running 5 s after the end is abandoned (and not counted).
		const res = await fetch(`${url}${path}`, {
			method: "POST",
			headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
			body: JSON.stringify(body),
			signal: AbortSignal.timeout(Math.round(Math.max(1_000, end + 5_000 - performance.now()))),
		}).catch((err: Error) => {
			cutOff++;
			throw new CutOff(err.message);
		});
		const text = await res.text();
		const ms = performance.now() - t;
		requests.record(ms);
		steps[step].record(ms);
		if (res.status >= 300) throw new Error(`${step}: ${res.status} ${text.slice(0, 200)}`);
		return JSON.parse(text) as { token?: string };
	};
	const monitor = new ProcMonitor(pids).start();
	const started = performance.now();
	await Promise.all(
		Array.from({ length: opts.users }, async (_, vu) => {
			while (performance.now() < end) {
				const email = `flow${vu}.${randomBytes(5).toString("hex")}@example.com`;
				const password = "correct horse battery";
				const t = performance.now();
				try {
					await timed("register", "/api/auth/register", { name: "Flow", surname: `User${vu}`, email, password });
					const { token } = await timed("login", "/api/auth/login", { email, password });
					await timed("createGroup", "/api/groups", { name: `Flow group ${vu}` }, token);
					flow.record(performance.now() - t);
					flows++;
				} catch (err) {
					if (err instanceof CutOff) break;
					failures++;
					firstFailure ??= (err as Error).message;
					await sleep(100); // never a busy loop, whatever fails
				}
			}
		}),
	);
	const seconds = (performance.now() - started) / 1000;
	const usage = monitor.stop();
	return {
		label,
		flows,
		flowsPerSecond: flows / seconds,
		requests: requests.summary(),
		flow: flow.summary(),
		steps: Object.fromEntries(Object.entries(steps).map(([k, h]) => [k, h.summary()])),
		failures,
		firstFailure,
		cutOff,
		usage,
	};
}

/** A request abandoned at the end of the run. */
class CutOff extends Error {}

/** CPU time (ms) and wall time of one scrypt hash at the production cost, measured here, idle. */
async function scryptCost(samples = 4): Promise<{ cpuMs: number; wallMs: number }> {
	await hashPassword("warm-up password");
	const cpu0 = process.cpuUsage();
	const t0 = performance.now();
	for (let i = 0; i < samples; i++) await hashPassword(`password number ${i}`);
	const cpu = process.cpuUsage(cpu0);
	return { cpuMs: (cpu.user + cpu.system) / 1000 / samples, wallMs: (performance.now() - t0) / samples };
}

export async function runAuthFlow(opts: AuthFlowOptions = authFlowOptions()): Promise<BenchResult> {
	heading(`Register → login → create group: ${opts.users} virtual users for ${opts.seconds} s`);
	const cost = await scryptCost();
	console.log(`scrypt N=2^${Math.log2(SCRYPT_PARAMS.N)} r=${SCRYPT_PARAMS.r} p=${SCRYPT_PARAMS.p}: ${cost.cpuMs.toFixed(0)} ms CPU, ${cost.wallMs.toFixed(0)} ms wall per hash (idle machine)`);

	let system: FlowRun;
	const cluster = await startCluster();
	try {
		const pids = clusterPids(cluster);
		pids.set("load generator", process.pid);
		system = await runFlows("system", cluster.url, opts, pids);
	} finally {
		await cluster.stopAll();
	}
	console.log(procTable(system.usage));

	let baseline: FlowRun;
	const bare = await startBaseline("bench/baselines/constant-api.ts");
	try {
		baseline = await runFlows("bare moleculer-web + scrypt only", bare.url, { users: opts.users, seconds: opts.baselineSeconds }, new Map([["bare moleculer-web", bare.pid], ["load generator", process.pid]]));
	} finally {
		await bare.stop();
	}
	console.log(procTable(baseline.usage));

	const usersCpu = system.usage.find(u => u.name === "users");
	const usersCpuMs = usersCpu ? (usersCpu.cpuPercent / 100) * opts.seconds * 1000 : Number.NaN;
	// Every register attempt hashes and every login attempt verifies, also when the client gave up
	// waiting (the service finishes the call anyway).
	const hashes = system.steps.register!.count + system.steps.login!.count;
	// What the run asked of scrypt, against the CPU the users service got: above 100 % means the
	// hashes queued (and requests timed out) — the users service then does practically nothing else.
	const hashDemand = (hashes * cost.cpuMs) / usersCpuMs;
	const hashShare = Math.min(1, hashDemand);
	const totalCpuMs = system.usage.filter(u => u.name !== "load generator").reduce((n, u) => n + (u.cpuPercent / 100) * opts.seconds * 1000, 0);
	const machineShare = (hashes * cost.cpuMs) / totalCpuMs;

	const lines = (r: FlowRun) => [
		[r.label, "flows/s", fmtNum(r.flowsPerSecond, 1)],
		["", "per request p50 / p95 / p99 / max", `${fmtMs(r.requests.p50)} / ${fmtMs(r.requests.p95)} / ${fmtMs(r.requests.p99)} / ${fmtMs(r.requests.max)} ms`],
		...Object.entries(r.steps).map(([step, s]) => ["", `  ${step} p50 / p95 / p99`, `${fmtMs(s.p50)} / ${fmtMs(s.p95)} / ${fmtMs(s.p99)} ms`]),
		["", "whole flow p50 / p95 / p99", `${fmtMs(r.flow.p50)} / ${fmtMs(r.flow.p95)} / ${fmtMs(r.flow.p99)} ms`],
		["", "failed flows", `${r.failures}${r.firstFailure ? ` (first: ${r.firstFailure})` : ""}`],
	];
	console.log(table([["", "", ""], ...lines(system), ...lines(baseline)]));
	console.log(
		`password hashing: ${fmtNum(hashes)} hashes asked × ${cost.cpuMs.toFixed(0)} ms = ${fmtRatio(hashDemand)} of the CPU the users service had (${fmtNum(usersCpuMs / 1000, 1)} s) → hashing share ${fmtRatio(hashShare)}; ${fmtRatio(Math.min(1, machineShare))} of the whole cluster's CPU`,
	);
	console.log(`(2 cores can do at most ~${fmtNum(2000 / cost.cpuMs / 2, 1)} flows/s of two hashes each: with ${opts.users} users waiting, queueing for the CPU dominates the latency)`);

	const rows = [
		{
			bench: "auth flow",
			metric: `per-request p95 / p99, ${opts.users} VUs`,
			system: `${fmtMs(system.requests.p95)} / ${fmtMs(system.requests.p99)} ms`,
			baseline: `${fmtMs(baseline.requests.p95)} / ${fmtMs(baseline.requests.p99)} ms`,
			ratio: fmtRatio(baseline.requests.p95 / system.requests.p95),
			target: "p95 < 200 ms",
			pass: system.requests.p95 < 200 && system.failures === 0,
		},
		{ bench: "auth flow", metric: "flows/s", system: fmtNum(system.flowsPerSecond, 1), baseline: fmtNum(baseline.flowsPerSecond, 1), ratio: fmtRatio(system.flowsPerSecond / baseline.flowsPerSecond), target: "" },
		{ bench: "auth flow", metric: "scrypt share of users-service CPU", system: fmtRatio(hashShare), baseline: "", ratio: "", target: "" },
	];
	const result: BenchResult = { name: "auth-flow", rows, figures: { options: opts, scrypt: cost, system, baseline, hashes, hashDemand, hashShare, machineShare } };
	console.log(`figures: ${saveFigures(result)}`);
	return result;
}

if (isMain(import.meta.url)) {
	runAuthFlow().then(
		() => process.exit(0),
		err => {
			console.error(err);
			process.exit(1);
		},
	);
}
