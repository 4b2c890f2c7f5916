#!/usr/bin/env node
// `npm start`: the whole system in the foreground.
//   1. npm install if needed, re-run on the project's Node 24 (scripts/lib/bootstrap.mjs)
//   2. start or reuse NATS + FerretDB (scripts/infra.mjs)
//   3. every service in one Moleculer runner: moleculer.config.ts + services/*.service.ts
// Ctrl-C / SIGTERM stops the services first, then the infrastructure we started, then exits.
// Extra arguments go to moleculer-runner (e.g. `npm start -- --hot`).
import { join } from "node:path";
import { bootstrap } from "./lib/bootstrap.mjs";
import { ROOT, exists, exited, exitStatus, signalPid, spawnChild, terminate } from "./lib/proc.mjs";
import { onTermination, prefixLog } from "./lib/supervise.mjs";

const log = prefixLog("start");
await bootstrap(import.meta.url, log);
const { ensureInfra } = await import("./infra.mjs");

// The ESM runner imports the config and services with import(), so under `--import tsx`
// it loads .ts files directly; it globs service patterns itself (relative to the cwd).
const RUNNER = join(ROOT, "node_modules", "moleculer", "bin", "moleculer-runner.mjs");
const SERVICES = "services/*.service.ts";

const abort = new AbortController();
let stopping = false;
let services = null;

onTermination(
	sig => {
		stopping = true;
		log(`${sig}: shutting down…`);
		abort.abort(new Error(`interrupted by ${sig}`)); // cancels a pending install/build/start
		// Own process group, so this reaches the runner exactly once; SIGKILL after 15 s.
		if (services) terminate(services, { group: true, timeoutMs: 15_000 });
	},
	sig => {
		log(`${sig} again: killing the services now`);
		if (services) signalPid(services.pid, "SIGKILL", { group: true });
	},
);

let infra;
try {
	infra = await ensureInfra({ log: prefixLog("infra"), signal: abort.signal });
} catch (err) {
	if (stopping) process.exit(0);
	log(`could not start the infrastructure: ${err.message}`);
	process.exit(1);
}
if (stopping) {
	await infra.stop();
	process.exit(0);
}

// The reference web client the gateway serves at `/` (rebuilt only when its sources changed).
await (await import("./build-web.mjs")).buildWeb({ ifStale: true, log: prefixLog("web") });

const args = ["--import", "tsx", RUNNER];
if (exists("moleculer.config.ts")) args.push("--config", "moleculer.config.ts");
args.push(SERVICES, ...process.argv.slice(2));
const env = { ...process.env, TRANSPORTER: infra.natsUrl, MONGO_URL: infra.mongoUrl };

log(`starting services: ${SERVICES} (TRANSPORTER=${infra.natsUrl} MONGO_URL=${infra.mongoUrl})`);
services = spawnChild(process.execPath, args, { env, stdio: ["ignore", "inherit", "inherit"] });
services.once("error", err => log(`could not start the services: ${err.message}`));

const result = await exited(services);
let code = 0;
if (!stopping) {
	code = exitStatus(result);
	log(`services exited unexpectedly (${result.signal || `code ${result.code}`}); stopping the infrastructure`);
}
await infra.stop();
log("stopped");
process.exit(code);
