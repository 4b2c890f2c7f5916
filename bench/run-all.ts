import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../test/support/system.js";
import { runAuthFlow } from "./auth-flow.js";
import { runFanout } from "./fanout.js";
import { runIdleSockets } from "./idle-sockets.js";
import { runOwnTracks } from "./owntracks.js";
import { runProjectionLag } from "./projection-lag.js";
import { runRest } from "./rest.js";
import { numberOption, stringOption } from "./lib/options.js";
import { machineDescription, summaryTable, type BenchResult, type SummaryRow } from "./lib/report.js";

/**
 * `npm run bench`: every benchmark in turn with defaults sized for a 2-core machine (about
 * 7 minutes in all), then one summary table. Each benchmark also runs alone (`tsx bench/<name>.ts`,
 * flags without the prefix). Parameters here: `--only=fanout,rest,auth,idle,lag` and prefixed
 * flags, e.g. `--fanout-clients=2000 --rest-seconds=30 --auth-seconds=60 --idle-sockets=20000
 * --lag-changes=300 --owntracks-devices=300` (or BENCH_FANOUT_CLIENTS=2000 …); `--only=…,owntracks` too.
 */

const only = new Set(
	stringOption("only", "fanout,rest,auth,idle,lag,owntracks")
		.split(",")
		.map(s => s.trim()),
);

const benches: [string, () => Promise<BenchResult>][] = [
	[
		"fanout",
		() =>
			runFanout({
				// 1,000 clients (the benchmark's own default) take ~3 minutes to set up here: groups of 10
				// through the API are many membership events for every projection, chat and inbox.
				clients: numberOption("fanout-clients", 300),
				groupSize: numberOption("fanout-group-size", 10),
				rate: numberOption("fanout-rate", 1),
				seconds: numberOption("fanout-seconds", 15),
				warmupSeconds: numberOption("fanout-warmup-seconds", 8),
				searchSeconds: numberOption("fanout-search-seconds", 3),
				searchMax: numberOption("fanout-search-max", 20_000),
				search: numberOption("fanout-search", 1) !== 0,
			}),
	],
	[
		"rest",
		() =>
			runRest({
				connections: numberOption("rest-connections", 50),
				seconds: numberOption("rest-seconds", 10),
				users: numberOption("rest-users", 50),
				groupSize: 10,
			}),
	],
	[
		"auth",
		() =>
			runAuthFlow({
				users: numberOption("auth-users", 50),
				seconds: numberOption("auth-seconds", 60),
				baselineSeconds: numberOption("auth-baseline-seconds", 15),
			}),
	],
	[
		"idle",
		() =>
			runIdleSockets({
				sockets: numberOption("idle-sockets", 10_000),
				groupSize: numberOption("idle-group-size", 0),
				concurrency: numberOption("idle-concurrency", 100),
				maxSeconds: numberOption("idle-max-seconds", 120),
			}),
	],
	[
		"lag",
		() => runProjectionLag({ changes: numberOption("lag-changes", 100), parallel: numberOption("lag-parallel", 2), pollMs: numberOption("lag-poll-ms", 5) }),
	],
	[
		"owntracks",
		() =>
			runOwnTracks({
				devices: numberOption("owntracks-devices", 300),
				rate: numberOption("owntracks-rate", 1),
				seconds: numberOption("owntracks-seconds", 15),
				warmupSeconds: numberOption("owntracks-warmup-seconds", 5),
				maxSeconds: numberOption("owntracks-max-seconds", 10),
			}),
	],
];

const rows: SummaryRow[] = [];
const failed: string[] = [];
const started = Date.now();
for (const [name, run] of benches) {
	if (!only.has(name)) continue;
	const t0 = Date.now();
	try {
		rows.push(...(await run()).rows);
	} catch (err) {
		failed.push(name);
		console.error(`benchmark ${name} failed:`, err);
	}
	console.log(`(${name}: ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
}

console.log(`\n=== Summary — ${machineDescription()} — ${new Date().toISOString()} — ${((Date.now() - started) / 60_000).toFixed(1)} min ===`);
console.log(summaryTable(rows));
if (failed.length) console.log(`failed to run: ${failed.join(", ")}`);
writeFileSync(
	join(ROOT, ".data", "bench", "summary-latest.json"),
	JSON.stringify({ machine: machineDescription(), at: new Date().toISOString(), rows, failed }, null, 2),
);
process.exit(failed.length ? 1 : 0);
