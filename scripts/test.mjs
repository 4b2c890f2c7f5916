#!/usr/bin/env node
// `npm test`: every test, with the infrastructure it needs.
//   1. npm install if needed, re-run on the project's Node 24 (scripts/lib/bootstrap.mjs)
//   2. start or reuse NATS + FerretDB (scripts/infra.mjs)
//   3. typecheck and lint (whole suite only); the web client built and Chromium installed once when
//      browser tests are in the run (they then run side by side); then test/unit, test/integration,
//      test/e2e (**/*.test.ts), TEST_CONCURRENCY [2] files at a time, and the files marked
//      `@test-solo` alone at the end (scripts/lib/run-tests.mjs), with one summary
//      ("ℹ tests N … ℹ fail N") at the end
// Infrastructure we started is always stopped, also on failure or Ctrl-C; the exit status is
// the test run's.
//
//   npm test -- test/unit/foo.test.ts test/integration   only these files / folders
//   npm test -- --test-name-pattern=login                 node:test filters (see lib/test-options.mjs)
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { bootstrap } from "./lib/bootstrap.mjs";
import { ROOT, exited, exitStatus, signalPid, spawnChild } from "./lib/proc.mjs";
import { onTermination, prefixLog } from "./lib/supervise.mjs";
import { TEST_OPTIONS, toArgs } from "./lib/test-options.mjs";

const log = prefixLog("test");
await bootstrap(import.meta.url, log);
const { ensureInfra, findOrBuildFerretdb } = await import("./infra.mjs");

const PHASES = ["unit", "integration", "e2e"];
const RUN_TESTS = join(ROOT, "scripts", "lib", "run-tests.mjs");
const EXIT_GUARD = join(ROOT, "scripts", "lib", "exit-guard.mjs");

/** All *.test.ts below `dir`, sorted; [] when it does not exist. */
function testFilesUnder(dir) {
	let entries;
	try {
		entries = readdirSync(dir, { withFileTypes: true });
	} catch {
		return [];
	}
	const files = [];
	for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
		const p = join(dir, e.name);
		if (e.isDirectory() && e.name !== "node_modules") files.push(...testFilesUnder(p));
		else if (e.isFile() && e.name.endsWith(".test.ts")) files.push(p);
	}
	return files;
}

// ---- which files

let options;
try {
	options = parseArgs({ args: process.argv.slice(2), options: TEST_OPTIONS, allowPositionals: true });
} catch (err) {
	log(`${err.message}\nusage: npm test [-- [files or folders…] [--test-name-pattern=RE] [--test-skip-pattern=RE] [--test-only] [--test-timeout=MS]]`);
	process.exit(2);
}

let files = [];
if (options.positionals.length) {
	// npm runs us from the package root; paths are relative to where `npm test` was typed.
	const base = process.env.INIT_CWD || process.cwd();
	for (const p of options.positionals) {
		const abs = resolve(base, p);
		let st;
		try {
			st = statSync(abs);
		} catch {
			log(`no such test file or folder: ${p}`);
			process.exit(2);
		}
		files.push(...(st.isDirectory() ? testFilesUnder(abs) : [abs]));
	}
	log(`running ${files.length} selected file(s)`);
} else {
	const counts = [];
	for (const phase of PHASES) {
		const found = testFilesUnder(join(ROOT, "test", phase));
		if (found.length) counts.push(`${phase} ${found.length}`);
		files.push(...found);
	}
	log(`running ${files.length} file(s): ${counts.join(", ") || "none"}`);
}
files = [...new Set(files)].map(f => relative(ROOT, f));
if (!files.length) {
	log("no test files found; nothing to do");
	process.exit(0);
}

// ---- typecheck and lint: the whole suite starts with `npm run typecheck` (strict TypeScript) and
// `npm run lint` (ESLint, then Prettier's check), as CI must

/** Run a step of the whole-suite checks; a failure ends the run with its status. */
async function check(what, cmd, args) {
	const status = exitStatus(await exited(spawnChild(cmd, args, { stdio: ["ignore", "inherit", "inherit"] })));
	if (status !== 0) {
		log(`${what} failed`);
		process.exit(status || 1);
	}
}

if (!options.positionals.length) {
	log("typecheck (tsc --noEmit)");
	for (const project of ["tsconfig.json", "web/tsconfig.json"]) {
		await check(`typecheck of ${project}`, process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "--noEmit", "-p", project]);
	}
	log("lint (npm run lint: eslint ., prettier --check .)");
	await check("lint (`npm run format` fixes the formatting; eslint names the rest)", process.platform === "win32" ? "npm.cmd" : "npm", [
		"run",
		"--silent",
		"lint",
	]);
}

// ---- browser tests run side by side: build the web client and install Chromium once, before them

if (files.some(f => readFileSync(join(ROOT, f), "utf8").includes("support/browser.js"))) {
	log("web client build and Chromium for the browser tests");
	await check("the web client build (node scripts/build-web.mjs)", process.execPath, [
		"--import",
		"tsx",
		"-e",
		'import("./test/support/browser.ts").then(b => { b.ensureWebBuild(); b.ensureChromium(); })',
	]);
}

// ---- run

const abort = new AbortController();
let interrupted = false;
let runner = null;

onTermination(
	sig => {
		interrupted = true;
		log(`${sig}: stopping the tests…`);
		abort.abort(new Error(`interrupted by ${sig}`));
		if (runner) {
			// The runner cancels the remaining tests and kills their processes itself; if it has
			// not finished after 20 s, kill its whole process group.
			signalPid(runner.pid, "SIGINT");
			setTimeout(() => signalPid(runner.pid, "SIGKILL", { group: true }), 20_000).unref();
		}
	},
	sig => {
		log(`${sig} again: killing the tests now`);
		if (runner) signalPid(runner.pid, "SIGKILL", { group: true });
	},
);

let infra;
try {
	infra = await ensureInfra({ log: prefixLog("infra"), signal: abort.signal });
	// The fault tests start private FerretDB instances: the binary must exist even when a running
	// Mongo-wire server was reused above.
	await findOrBuildFerretdb(prefixLog("infra"), abort.signal);
} catch (err) {
	await infra?.stop();
	if (interrupted) process.exit(130);
	log(`could not start the infrastructure: ${err.message}`);
	process.exit(1);
}

let code = 130;
if (!interrupted) {
	const env = { ...process.env, NODE_ENV: "test", TRANSPORTER: infra.natsUrl, MONGO_URL: infra.mongoUrl };
	// Both preloads reach every test file's process (the runner passes its own flags on).
	const args = ["--import", "tsx", "--import", EXIT_GUARD, RUN_TESTS, ...toArgs(options.values), ...files];
	runner = spawnChild(process.execPath, args, { env, stdio: ["ignore", "inherit", "inherit"] });
	// A file that never exits (a handle left open after its tests) would hold the run until CI
	// gives up at 90 minutes; the whole suite takes under 20. Past the limit the runner is
	// interrupted, which reports the file still running as cancelled, and the run fails.
	let overran = false;
	const limitMinutes = Number(process.env.TEST_RUN_LIMIT_MINUTES || 45);
	const watchdog = setTimeout(() => {
		overran = true;
		log(`still running after ${limitMinutes} min (TEST_RUN_LIMIT_MINUTES): stopping the tests`);
		signalPid(runner.pid, "SIGINT");
		setTimeout(() => signalPid(runner.pid, "SIGKILL", { group: true }), 20_000).unref();
	}, limitMinutes * 60_000);
	code = exitStatus(await exited(runner));
	clearTimeout(watchdog);
	if (overran) code = 1;
	if (interrupted) code = 130;
}
await infra.stop();
process.exit(code);
