// Runs the given test files, in the given order, with node:test — run by scripts/test.mjs as
// `node --import tsx scripts/lib/run-tests.mjs [options] files…`.
//
// Why not `node --test a b c`: the CLI sorts its file list alphabetically, which would run
// test/e2e before test/integration before test/unit. run() keeps our order (unit, integration,
// e2e), runs one file at a time, and prints the usual spec output with one summary at the end.
// Each file still runs in its own process, which inherits `--import tsx` from this one.
import { run } from "node:test";
import { spec } from "node:test/reporters";
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

const toRegExps = list => list?.map(p => new RegExp(p));
const stream = run({
	files,
	concurrency: 1,
	isolation: "process",
	signal: abort.signal,
	testNamePatterns: toRegExps(values["test-name-pattern"]),
	testSkipPatterns: toRegExps(values["test-skip-pattern"]),
	only: values["test-only"],
	// A test that hangs fails after 5 minutes (the longest takes under 30 s) instead of holding CI
	// until its own limit. (Not `forceExit`: on Node 24 it ends a file after its first describe.)
	timeout: values["test-timeout"] ? Number(values["test-timeout"]) : 300_000,
});

process.exitCode = 1; // until a successful summary says otherwise
let success = false;
stream.on("test:summary", summary => {
	// One summary per file plus the overall one (which has no file).
	if (summary.file === undefined) success = summary.success;
});
stream.compose(spec).pipe(process.stdout);
stream.on("end", () => {
	process.exitCode = interrupted ? 130 : success ? 0 : 1;
});
