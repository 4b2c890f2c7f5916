// Runs the given test files with node:test — run by scripts/test.mjs as
// `node --import tsx scripts/lib/run-tests.mjs [options] files…`.
//
// Why not `node --test a b c`: the CLI sorts its file list alphabetically, which would run
// test/e2e before test/integration before test/unit. run() keeps our order (unit, integration,
// e2e) and prints the usual spec output with ONE summary at the end.
//
// Two batches, so the suite fits CI's time without making timing tests flaky:
//   1. every file that does not say otherwise, TEST_CONCURRENCY [2] files at a time: each file
//      has its own namespace (NATS subjects, databases), and most of a file's time is spent
//      waiting on its own system (timers, deadlines), not on the CPU;
//   2. files whose first lines hold the marker `@test-solo` (with the reason), alone, one after
//      another: they measure recovery times or kill processes under load, and a neighbour's load
//      would be measured with them.
// Each file still runs in its own process, which inherits `--import tsx` from this one.
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { run } from "node:test";
import { spec } from "node:test/reporters";
import { Readable } from "node:stream";
import { parseArgs } from "node:util";
import { TEST_OPTIONS } from "./test-options.mjs";

const { values, positionals: files } = parseArgs({ options: TEST_OPTIONS, allowPositionals: true });

// SIGINT/SIGTERM cancel the run: running files are killed, the rest reported as cancelled.
const abort = new AbortController();
let interrupted = null;
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
	process.on(sig, () => {
		interrupted ??= sig;
		abort.abort();
	});
}

/** The marker is looked for in a file's first 2 KB (its header comment). */
const isSolo = file => readFileSync(file, "utf8").slice(0, 2048).includes("@test-solo");
const concurrency = Math.max(1, Number(process.env.TEST_CONCURRENCY || 2));
const batches = [
	{ files: files.filter(f => !isSolo(f)), concurrency },
	{ files: files.filter(isSolo), concurrency: 1 },
].filter(b => b.files.length);

const toRegExps = list => list?.map(p => new RegExp(p));
const options = {
	isolation: "process",
	signal: abort.signal,
	testNamePatterns: toRegExps(values["test-name-pattern"]),
	testSkipPatterns: toRegExps(values["test-skip-pattern"]),
	only: values["test-only"],
	// A test that hangs fails after 5 minutes instead of holding CI until its own limit.
	// (Not `forceExit`: on Node 24 it ends a file after its first describe.)
	timeout: values["test-timeout"] ? Number(values["test-timeout"]) : 300_000,
};

/** Each run ends with its own "ℹ tests N …" lines; they are dropped here and one total is printed. */
const RUN_TOTAL = /^(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) /;
let success = true;

async function* allBatches() {
	const started = performance.now();
	const fileTimes = [];
	const total = { tests: 0, suites: 0, passed: 0, failed: 0, cancelled: 0, skipped: 0, todo: 0 };
	for (const batch of batches) {
		if (abort.signal.aborted) break;
		for await (const event of run({ ...options, ...batch })) {
			const { type, data } = event;
			if (type === "test:summary" && data.file !== undefined)
				fileTimes.push({ file: relative(process.cwd(), data.file), ms: data.duration_ms, solo: batch.concurrency === 1 });
			if (type === "test:summary" && data.file === undefined) {
				success &&= data.success;
				for (const key of Object.keys(total)) total[key] += data.counts[key] ?? 0;
				continue;
			}
			if (type === "test:diagnostic" && data.nesting === 0 && data.file === undefined && RUN_TOTAL.test(data.message)) continue;
			yield event;
		}
	}
	const lines = [
		`tests ${total.tests}`,
		`suites ${total.suites}`,
		`pass ${total.passed}`,
		`fail ${total.failed}`,
		`cancelled ${total.cancelled}`,
		`skipped ${total.skipped}`,
		`todo ${total.todo}`,
		`duration_ms ${performance.now() - started}`,
	];
	// Where the time goes (the suite must stay within CI's budget): the slowest files, and the solo ones' sum.
	const slowest = [...fileTimes].sort((a, b) => b.ms - a.ms).slice(0, 8);
	const soloMs = fileTimes.filter(f => f.solo).reduce((sum, f) => sum + f.ms, 0);
	lines.push(`slowest files: ${slowest.map(f => `${f.file} ${Math.round(f.ms / 1000)} s${f.solo ? " (solo)" : ""}`).join(", ")}`);
	lines.push(`solo files: ${Math.round(soloMs / 1000)} s in all`);
	for (const message of lines) yield { type: "test:diagnostic", data: { nesting: 0, message, level: "info" } };
	// A run with nothing in it is no success.
	if (total.tests === 0) success = false;
}

process.exitCode = 1; // until the run ends well
const stream = Readable.from(allBatches());
stream.compose(spec).pipe(process.stdout);
stream.on("end", () => {
	process.exitCode = interrupted ? 130 : success ? 0 : 1;
});
