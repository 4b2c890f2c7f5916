import { cpus, loadavg, totalmem, release } from "node:os";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../../test/support/system.js";
import { fmtNum, table, type LatencySummary } from "./stats.js";
import type { ProcUsage } from "./procs.js";

/** What every benchmark hands back: its summary rows (for the run-all table) and where its figures went. */
export interface SummaryRow {
	bench: string;
	metric: string;
	system: string;
	baseline: string;
	/** system ÷ baseline, as text ("62 %"), or "" when there is no comparable baseline. */
	ratio: string;
	target: string;
	/** true/false when the target is met or missed; undefined when there is no target. */
	pass?: boolean;
}

export interface BenchResult {
	name: string;
	rows: SummaryRow[];
	/** Raw figures (also written as JSON under .data/bench/). */
	figures: Record<string, unknown>;
}

export function machineDescription(): string {
	const cpu = cpus();
	return `${cpu.length} × ${cpu[0]?.model ?? "?"} · ${(totalmem() / 2 ** 30).toFixed(0)} GiB · Linux ${release()} · Node ${process.versions.node}`;
}

export function procTable(usage: ProcUsage[]): string {
	return table([
		["process", "CPU (% of a core)", "RSS MB", "peak RSS MB"],
		...usage.map(u => [u.name, `${u.cpuPercent.toFixed(0)} %`, fmtNum(u.rssMb, 0), fmtNum(u.rssPeakMb, 0)]),
	]);
}

export const latencyCells = (s: LatencySummary) => [s.p50, s.p95, s.p99, s.max].map(v => (Number.isFinite(v) ? v.toFixed(1) : "–"));

export function saveFigures(result: BenchResult): string {
	const dir = join(ROOT, ".data", "bench");
	mkdirSync(dir, { recursive: true });
	const file = join(dir, `${result.name}-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
	writeFileSync(file, JSON.stringify({ machine: machineDescription(), at: new Date().toISOString(), ...result }, null, 2));
	return file;
}

export function summaryTable(rows: SummaryRow[]): string {
	return table([
		["benchmark", "metric", "system", "baseline", "ratio", "target", "met"],
		...rows.map(r => [r.bench, r.metric, r.system, r.baseline, r.ratio, r.target, r.pass === undefined ? "" : r.pass ? "yes" : "NO"]),
	]);
}

export function heading(text: string): void {
	console.log(`\n=== ${text} ===\n${machineDescription()} · ${loadText()}`);
}

/** The machine's load average: the benchmarks share it with whatever else runs (other test suites…). */
export function loadText(): string {
	const [one, five] = loadavg();
	return `load average ${one!.toFixed(1)} (1 min), ${five!.toFixed(1)} (5 min) on ${cpus().length} cores`;
}
