#!/usr/bin/env node
// `npm run bench`: the benchmarks (bench/run-all.ts) with the infrastructure they need, like
// `npm test`: installs what is missing, re-runs on the project's Node 24, starts (or reuses) NATS
// and the Mongo-wire server, and stops what it started. Arguments go to bench/run-all.ts, e.g.
//   npm run bench -- --only=fanout --fanout-clients=2000
import { join } from "node:path";
import { bootstrap } from "../scripts/lib/bootstrap.mjs";
import { ROOT, exited, exitStatus, signalPid, spawnChild } from "../scripts/lib/proc.mjs";
import { onTermination, prefixLog } from "../scripts/lib/supervise.mjs";

const log = prefixLog("bench");
await bootstrap(import.meta.url, log);
const { ensureInfra } = await import("../scripts/infra.mjs");

let runner = null;
let interrupted = false;
const abort = new AbortController();
onTermination(
	sig => {
		interrupted = true;
		log(`${sig}: stopping the benchmarks…`);
		abort.abort(new Error(`interrupted by ${sig}`));
		if (runner) signalPid(runner.pid, "SIGINT");
	},
	() => runner && signalPid(runner.pid, "SIGKILL", { group: true }),
);

let infra;
try {
	infra = await ensureInfra({ log: prefixLog("infra"), signal: abort.signal });
} catch (err) {
	log(`could not start the infrastructure: ${err.message}`);
	process.exit(interrupted ? 130 : 1);
}
let code = 130;
if (!interrupted) {
	const env = { ...process.env, TRANSPORTER: infra.natsUrl, MONGO_URL: infra.mongoUrl };
	runner = spawnChild(process.execPath, ["--import", "tsx", join(ROOT, "bench", "run-all.ts"), ...process.argv.slice(2)], {
		env,
		stdio: ["ignore", "inherit", "inherit"],
	});
	code = exitStatus(await exited(runner));
	if (interrupted) code = 130;
}
await infra.stop();
process.exit(code);
