#!/usr/bin/env node
// Local infrastructure for PositionPal: NATS (with JetStream) and FerretDB (MongoDB wire
// protocol on SQLite). Reuses whatever already listens on the configured ports, otherwise
// installs/builds the servers under .data/ and starts them.
//
//   import { ensureInfra } from "./infra.mjs"   → { natsUrl, mongoUrl, stop }
//   node scripts/infra.mjs up | down | status    → background servers with pidfiles in .data/run/
//
// The parts, in scripts/lib/: nats-install.mjs (nats-server from apt-get or `go install`),
// ferretdb-build.mjs (FerretDB from source with scripts/patches/), servers.mjs (start, reuse,
// pidfiles), data-dir.mjs (.data/ and its locks), proc.mjs (process helpers).
// Plain JS with no npm dependencies: it has to run on the system Node 20 and on Node 24.
import { fileURLToPath } from "node:url";
import { describeFerretdbBinary, findOrBuildFerretdb } from "./lib/ferretdb-build.mjs";
import { findNats } from "./lib/nats-install.mjs";
import { isPortOpen, terminate } from "./lib/proc.mjs";
import { DEFAULT_PORTS, ensureServer, owner, stopDaemons } from "./lib/servers.mjs";
import { prefixLog } from "./lib/supervise.mjs";

export { findOrBuildFerretdb };

const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";
const DEFAULT_MONGO_URL = "mongodb://127.0.0.1:27017";
const defaultLog = prefixLog("infra");

/** Parse host/port out of a TRANSPORTER or MONGO_URL value; null when it is not a plain URL. */
function endpoint(url, scheme, defaultPort) {
	// First host of e.g. "nats://a:4222,nats://b:4222" or "mongodb://user:pw@host:port,host2/db?x".
	const m = new RegExp(`^${scheme}://(?:[^@/]*@)?(\\[[^\\]]+\\]|[^:/,?]+)(?::(\\d+))?`, "i").exec(url);
	if (!m) return null;
	return { host: m[1].replace(/^\[(.*)\]$/, "$1"), port: Number(m[2] || defaultPort) };
}

/** The servers TRANSPORTER and MONGO_URL name; `endpoint` is null when we do not manage it. */
function servers() {
	const natsUrl = process.env.TRANSPORTER || DEFAULT_NATS_URL;
	const mongoUrl = process.env.MONGO_URL || DEFAULT_MONGO_URL;
	return [
		{ name: "nats", what: "NATS", variable: "TRANSPORTER", url: natsUrl, scheme: "nats" },
		{ name: "ferretdb", what: "the database", variable: "MONGO_URL", url: mongoUrl, scheme: "mongodb" },
	].map(s => ({ ...s, endpoint: endpoint(s.url, s.scheme, DEFAULT_PORTS[s.name]) }));
}

/**
 * Start (or reuse) NATS and FerretDB for TRANSPORTER / MONGO_URL.
 * `stop()` stops only what this call started. With `daemon: true` the servers outlive us
 * and get pidfiles (that is `infra up`); otherwise they die with this process.
 * `signal` (AbortSignal) cancels a slow install/build/start; anything already started is stopped.
 */
export async function ensureInfra({ log = defaultLog, signal, daemon = false } = {}) {
	const wanted = servers();
	const started = [];
	const stop = async () => {
		const procs = started.splice(0);
		await Promise.all(
			procs.map(async ({ name, child }) => {
				if (child.exitCode === null && child.signalCode === null) {
					log(`${name}: stopping (pid ${child.pid})`);
					await terminate(child);
				}
			}),
		);
	};

	try {
		for (const { name, what, variable, url, scheme, endpoint } of wanted) {
			if (!endpoint) {
				log(`${variable}=${url} is not a ${scheme}:// URL; not managing ${what}`);
				continue;
			}
			const { child } = await ensureServer({ name, url, ...endpoint, daemon, log, signal });
			if (child) started.push({ name, child });
		}
	} catch (err) {
		if (!daemon) await stop();
		throw err;
	}
	const [nats, mongo] = wanted;
	return { natsUrl: nats.url, mongoUrl: mongo.url, stop };
}

async function status(log) {
	let ok = true;
	for (const { name, url, endpoint } of servers()) {
		if (!endpoint) {
			log(`${name}: ${url} (not managed)`);
			continue;
		}
		const open = await isPortOpen(endpoint.host, endpoint.port);
		ok &&= open;
		log(`${name}: ${url} ${open ? "UP" : "DOWN"} (${owner(name, endpoint.port)})`);
	}
	log(`nats-server binary: ${findNats() || "not installed yet (installed on first start)"}`);
	log(`ferretdb binary: ${describeFerretdbBinary()}`);
	return ok;
}

async function main(cmd) {
	const log = defaultLog;
	switch (cmd) {
		case "up": {
			const { natsUrl, mongoUrl } = await ensureInfra({ log, daemon: true });
			log(`up: TRANSPORTER=${natsUrl} MONGO_URL=${mongoUrl}  (stop with: node scripts/infra.mjs down)`);
			return 0;
		}
		case "down":
			await stopDaemons(log);
			return 0;
		case "status":
			return (await status(log)) ? 0 : 1;
		default:
			console.error(
				"usage: node scripts/infra.mjs up|down|status\n" +
					"  up      start (or reuse) NATS + FerretDB in the background (pidfiles in .data/run/)\n" +
					"  down    stop what `up` started\n" +
					"  status  show whether TRANSPORTER / MONGO_URL are reachable\n" +
					`  env: TRANSPORTER [${DEFAULT_NATS_URL}], MONGO_URL [${DEFAULT_MONGO_URL}]`,
			);
			return cmd ? 2 : 0;
	}
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
	main(process.argv[2]).then(
		code => process.exit(code),
		err => {
			console.error(`[infra] ${err.message}`);
			process.exit(1);
		},
	);
}
