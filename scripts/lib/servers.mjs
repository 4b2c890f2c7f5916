// Server control for NATS and FerretDB: start one on host:port unless something already listens
// there, wait until it accepts connections, and keep pidfiles for the ones `infra up` leaves
// running. Per server: data in .data/<tag>, log in .data/logs/<tag>.log, pidfile in
// .data/run/<tag>.pid, where <tag> is the name, plus the port when it is not the default.
import { closeSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DATA, DIRS, ensureDirs } from "./data-dir.mjs";
import { findOrBuildFerretdb } from "./ferretdb-build.mjs";
import { findOrInstallNats } from "./nats-install.mjs";
import { cmdlineOf, isAlive, isPortOpen, sleep, spawnChild, tail, terminate } from "./proc.mjs";

export const DEFAULT_PORTS = { nats: 4222, ferretdb: 27017 };
const START_DEADLINE_MS = 60_000;
const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "::1", "0.0.0.0"]);

/** Per-server names/paths. Non-default ports get their own data dir, log and pidfile. */
function layout(name, port) {
	const tag = port === DEFAULT_PORTS[name] ? name : `${name}-${port}`;
	return {
		tag,
		data: join(DATA, tag),
		log: join(DIRS.logs, `${tag}.log`),
		pidfile: join(DIRS.run, `${tag}.pid`),
	};
}

/** How to run each server: binary (installed or built on first use) and arguments. */
const COMMANDS = {
	async nats(host, port, log, signal) {
		const bin = await findOrInstallNats(log, signal);
		const l = layout("nats", port);
		ensureDirs(l.data);
		const args = ["-js", "-a", host === "localhost" ? "127.0.0.1" : host, "-p", String(port), "-sd", l.data];
		// HTTP monitoring (/healthz, /jsz) on port+4000 (8222 for 4222) when that is free.
		const monitor = port + 4000;
		if (monitor <= 65535 && !(await isPortOpen("127.0.0.1", monitor))) args.push("-m", String(monitor));
		return { bin, args, layout: l };
	},

	async ferretdb(host, port, log, signal) {
		const bin = await findOrBuildFerretdb(log, signal);
		const l = layout("ferretdb", port);
		const stateDir = `${l.data}-state`;
		ensureDirs(l.data, stateDir);
		const listenHost = host === "localhost" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
		const args = [
			"--handler=sqlite",
			`--sqlite-url=file:${l.data}/`,
			`--listen-addr=${listenHost}:${port}`,
			`--state-dir=${stateDir}`,
			"--telemetry=disable", // never phone home (and there is no outside network anyway)
			"--debug-addr=-", // "-" disables the debug/metrics HTTP listener (default :8088 could clash)
			"--log-level=warn",
		];
		return { bin, args, layout: l };
	},
};

/**
 * Make sure server `name` ("nats" or "ferretdb") listens on host:port. Returns { reused: true }
 * or { child } for a process we started. With `daemon` it outlives us and gets a pidfile;
 * otherwise it dies with this process.
 */
export async function ensureServer({ name, url, host, port, daemon, log, signal }) {
	if (await isPortOpen(host, port)) {
		log(`${name}: reusing ${url} (something already listens there${ownerNote(name, port)})`);
		return { reused: true };
	}
	if (!LOCAL_HOSTS.has(host)) throw new Error(`${name}: ${url} is not reachable and is not a local address I can start`);

	const { bin, args, layout: l } = await COMMANDS[name](host, port, log, signal);
	ensureDirs(DIRS.logs, DIRS.run);
	writeFileSync(l.log, `\n=== ${new Date().toISOString()} ${bin} ${args.join(" ")} ===\n`, { flag: "a" });
	const fd = openSync(l.log, "a");
	const child = spawnChild(bin, args, { tied: !daemon, stdio: ["ignore", fd, fd] });
	closeSync(fd);
	let spawnError = null;
	child.once("error", err => (spawnError = err));
	log(`${name}: starting ${bin} on ${host}:${port} (pid ${child.pid}, log .data/logs/${l.tag}.log)`);

	const deadline = Date.now() + START_DEADLINE_MS;
	while (!(await isPortOpen(host, port))) {
		if (spawnError || child.exitCode !== null || child.signalCode !== null) {
			// Lost a race with another starter? Then just use theirs.
			if (await isPortOpen(host, port)) {
				log(`${name}: another process started it meanwhile; reusing ${url}`);
				return { reused: true };
			}
			const why = spawnError?.message || `code ${child.exitCode ?? child.signalCode}`;
			throw new Error(`${name} exited during startup (${why}); last log lines:\n${tail(l.log)}`);
		}
		if (signal?.aborted || Date.now() > deadline) {
			await terminate(child);
			if (signal?.aborted) throw signal.reason ?? new Error("aborted");
			throw new Error(`${name} did not accept connections on ${host}:${port} within ${START_DEADLINE_MS / 1000}s; last log lines:\n${tail(l.log)}`);
		}
		await sleep(200);
	}
	log(`${name}: ready on ${url}`);
	if (daemon) {
		writeFileSync(l.pidfile, `${child.pid}\n`);
		child.unref();
	}
	return { child };
}

function readPid(pidfile) {
	try {
		return Number(readFileSync(pidfile, "utf8").trim()) || 0;
	} catch {
		return 0;
	}
}

/** The pid `infra up` recorded for this server (0 when none), and whether it still runs. */
function recorded(name, port) {
	const pid = readPid(layout(name, port).pidfile);
	return { pid, alive: isAlive(pid) };
}

/** Who runs server `name` on `port`, according to our pidfile (for `infra status`). */
export function owner(name, port) {
	const { pid, alive } = recorded(name, port);
	if (!pid) return "not started by `infra up`";
	return alive ? `started by \`infra up\`, pid ${pid}` : `stale pidfile (pid ${pid})`;
}

/** "; started by `infra up`, pid N" when our pidfile says so. */
function ownerNote(name, port) {
	const { pid, alive } = recorded(name, port);
	return alive ? `; started by \`infra up\`, pid ${pid}` : "";
}

/** Stop every server our pidfiles list (any port), if it still looks like ours. Returns how many. */
export async function stopDaemons(log) {
	let files = [];
	try {
		files = readdirSync(DIRS.run).filter(f => f.endsWith(".pid"));
	} catch {
		// no .data/run yet
	}
	if (!files.length) log("nothing to stop (no pidfiles in .data/run)");
	let stopped = 0;
	for (const f of files) {
		const pidfile = join(DIRS.run, f);
		const pid = readPid(pidfile);
		const tag = f.slice(0, -".pid".length);
		const cmd = cmdlineOf(pid);
		if (isAlive(pid) && (cmd === "" || /nats-server|ferretdb/.test(cmd))) {
			log(`${tag}: stopping pid ${pid}`);
			await terminate(pid);
			stopped++;
		} else {
			log(`${tag}: pid ${pid || "?"} is not running (stale pidfile removed)`);
		}
		rmSync(pidfile, { force: true });
	}
	return stopped;
}
