#!/usr/bin/env node
// Local infrastructure for PositionPal: NATS (with JetStream) and FerretDB (MongoDB wire
// protocol on SQLite). Reuses whatever already listens on the configured ports, otherwise
// installs/builds the servers under .data/ and starts them.
//
//   import { ensureInfra } from "./infra.mjs"   → { natsUrl, mongoUrl, stop }
//   node scripts/infra.mjs up | down | status    → background servers with pidfiles in .data/run/
//
// Plain JS with no npm dependencies: it has to run on the system Node 20 and on Node 24.
import { spawn } from "node:child_process";
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ROOT, cmdlineOf, findExecutable, isAlive, sleep, spawnChild, terminate } from "./lib/proc.mjs";

const DATA = join(ROOT, ".data");
const DIRS = { bin: join(DATA, "bin"), run: join(DATA, "run"), logs: join(DATA, "logs"), src: join(DATA, "src") };

const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";
const DEFAULT_MONGO_URL = "mongodb://127.0.0.1:27017";
const FERRETDB_VERSION = "v1.24.2";
const NATS_GO_VERSIONS = ["v2.10.29", "v2.10"]; // "v2.10" = newest 2.10.x the proxy knows
const START_DEADLINE_MS = 60_000;
const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "::1", "0.0.0.0"]);

// ---------------------------------------------------------------------------------------------
// Small helpers

const defaultLog = msg => console.log(`[infra] ${msg}`);

function ensureDirs(...dirs) {
	for (const d of dirs) mkdirSync(d, { recursive: true });
}

/** True when something accepts TCP connections on host:port. */
function isPortOpen(host, port, timeoutMs = 1000) {
	return new Promise(resolve => {
		const socket = net.connect({ host, port });
		const done = ok => {
			socket.destroy();
			resolve(ok);
		};
		socket.setTimeout(timeoutMs, () => done(false));
		socket.once("connect", () => done(true));
		socket.once("error", () => done(false));
	});
}

/** Last `lines` lines of a log file (for error messages). */
function tail(file, lines = 30) {
	try {
		return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
	} catch {
		return "(no log)";
	}
}

/** Parse host/port out of a TRANSPORTER or MONGO_URL value; null when it is not a plain URL. */
function endpoint(url, scheme, defaultPort) {
	// First host of e.g. "nats://a:4222,nats://b:4222" or "mongodb://user:pw@host:port,host2/db?x".
	const m = new RegExp(`^${scheme}://(?:[^@/]*@)?(\\[[^\\]]+\\]|[^:/,?]+)(?::(\\d+))?`, "i").exec(url);
	if (!m) return null;
	return { host: m[1].replace(/^\[(.*)\]$/, "$1"), port: Number(m[2] || defaultPort) };
}

/** Run a command to completion; rejects with its output tail on failure. */
function run(cmd, args, { cwd = ROOT, env = process.env, logFile, signal, stdio } = {}) {
	return new Promise((resolve, reject) => {
		const fd = logFile ? openSync(logFile, "a") : null;
		const child = spawn(cmd, args, {
			cwd,
			env,
			signal,
			stdio: stdio || ["ignore", fd ?? "pipe", fd ?? "pipe"],
		});
		if (fd !== null) closeSync(fd);
		let out = "";
		child.stdout?.on("data", d => (out += d));
		child.stderr?.on("data", d => (out += d));
		child.once("error", reject);
		child.once("close", code => {
			if (code === 0) resolve(out);
			else {
				const detail = logFile ? tail(logFile) : out.trim().split("\n").slice(-30).join("\n");
				reject(new Error(`${cmd} ${args.join(" ")} exited with ${code}\n${detail}`));
			}
		});
	});
}

/** Log "still working… 30s" every `everyMs` while `promise` runs, so long steps never look hung. */
async function withProgress(log, label, promise, { everyMs = 15_000, extra = () => "" } = {}) {
	const started = Date.now();
	const timer = setInterval(() => {
		const s = Math.round((Date.now() - started) / 1000);
		log(`${label}… ${s}s${extra()}`);
	}, everyMs);
	try {
		return await promise;
	} finally {
		clearInterval(timer);
	}
}

/**
 * Cross-process lock around one-time installs/builds (npm start and npm test may race on a
 * fresh clone). A lock whose owner pid is dead is stale and taken over.
 */
async function withLock(name, log, signal, fn) {
	ensureDirs(DIRS.run);
	const dir = join(DIRS.run, `${name}.lock`);
	let announced = false;
	for (;;) {
		try {
			mkdirSync(dir);
			writeFileSync(join(dir, "pid"), String(process.pid));
			break;
		} catch (err) {
			if (err.code !== "EEXIST") throw err;
			let owner = 0;
			try {
				owner = Number(readFileSync(join(dir, "pid"), "utf8"));
			} catch {
				// lock just created, pid not written yet
			}
			if (owner && !isAlive(owner)) {
				rmSync(dir, { recursive: true, force: true });
				continue;
			}
			if (signal?.aborted) throw signal.reason ?? new Error("aborted");
			if (!announced) log(`waiting for another process (pid ${owner || "?"}) to finish ${name}…`);
			announced = true;
			await sleep(1000);
		}
	}
	try {
		return await fn();
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
}

function findGo() {
	return findExecutable("go", ["/usr/local/go/bin/go", "/usr/lib/go/bin/go", join(process.env.HOME || "/root", "go/bin/go")]);
}

// Both servers are pure Go: no C compiler needed. (`go build -buildvcs=false` below keeps the
// surrounding PositionPal git repo out of the FerretDB binary.)
const goEnv = (extra = {}) => ({ ...process.env, CGO_ENABLED: "0", ...extra });

// ---------------------------------------------------------------------------------------------
// Binaries

async function findOrInstallNats(log, signal) {
	const local = join(DIRS.bin, "nats-server");
	const found = findExecutable("nats-server", ["/usr/sbin/nats-server", "/usr/bin/nats-server", local]);
	if (found) return found;

	return withLock("nats-install", log, signal, async () => {
		const again = findExecutable("nats-server", ["/usr/sbin/nats-server", "/usr/bin/nats-server", local]);
		if (again) return again;
		ensureDirs(DIRS.bin, DIRS.logs);
		const logFile = join(DIRS.logs, "nats-install.log");

		// 1. Debian/Ubuntu package (needs root; refresh the index only if the first try fails).
		const aptGet = findExecutable("apt-get");
		if (aptGet && process.getuid?.() === 0) {
			const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
			log("nats-server not found; installing it with apt-get (log: .data/logs/nats-install.log)…");
			try {
				await withProgress(log, "apt-get install nats-server", run(aptGet, ["install", "-y", "nats-server"], { env, logFile, signal }));
			} catch {
				try {
					log("apt-get install failed; running apt-get update and retrying…");
					await withProgress(log, "apt-get update", run(aptGet, ["update"], { env, logFile, signal }));
					await withProgress(log, "apt-get install nats-server", run(aptGet, ["install", "-y", "nats-server"], { env, logFile, signal }));
				} catch (err) {
					if (signal?.aborted) throw err;
					log(`apt-get could not install nats-server (${err.message.split("\n")[0]})`);
				}
			}
			const viaApt = findExecutable("nats-server", ["/usr/sbin/nats-server", "/usr/bin/nats-server"]);
			if (viaApt) return viaApt;
		}

		// 2. Build it with Go into .data/bin.
		const go = findGo();
		if (!go) throw new Error("nats-server is not installed and neither apt-get (as root) nor Go is available to install it");
		for (const version of NATS_GO_VERSIONS) {
			log(`installing nats-server ${version} with go install into .data/bin (first time only)…`);
			try {
				await withProgress(
					log,
					"go install nats-server",
					run(go, ["install", `github.com/nats-io/nats-server/v2@${version}`], {
						cwd: tmpdir(),
						env: goEnv({ GOBIN: DIRS.bin }),
						logFile,
						signal,
					}),
				);
				if (existsSync(local)) return local;
			} catch (err) {
				if (signal?.aborted) throw err;
				log(`go install nats-server@${version} failed: ${err.message.split("\n").slice(-1)[0]}`);
			}
		}
		throw new Error(`could not install nats-server; see ${logFile}`);
	});
}

// FerretDB's SQLite backend runs an update as a separate read and write, so concurrent
// updates of one document are lost (measured: 100 concurrent $inc left 13). The code relies on
// MongoDB's document-level atomicity, so we serialize the write commands (insert, update,
// delete, findAndModify) per database. Per database, not process-wide: a database whose
// connection pool is exhausted (e.g. by cursors a client left open) must not stall the writes of
// every other database. Bump the stamp whenever the patch changes: an existing
// .data/bin/ferretdb with another stamp is rebuilt.
//
// Second patch: the SQLite backend indexes `_id` as the expression `_ferretdb_sjson->"_id"` but
// queries it as `_ferretdb_sjson->'$._id'`; SQLite uses an expression index only for the very
// same expression, so every lookup, update and delete by `_id` scanned (and JSON-parsed) the whole
// table. The patch makes the queries use the index's expression (same meaning), and uses the index
// also when the filter names `_id` AND other fields (`{ _id, version }`, a conditional write): only
// a filter of `_id` alone was pushed down to SQLite, and every caller applies the whole filter to
// what comes back anyway, so narrowing by `_id` first is always correct.
const FERRETDB_BUILD_STAMP = `${FERRETDB_VERSION}+positionpal-dblock.2-idindex.2`;
const WRITE_LOCKED = ["msg_delete.go:MsgDelete", "msg_findandmodify.go:MsgFindAndModify", "msg_insert.go:MsgInsert", "msg_update.go:MsgUpdate"];
const WRITE_LOCK_GO = `package handler

import (
	"sync"

	"github.com/FerretDB/wire"

	"github.com/FerretDB/FerretDB/internal/bson"
)

// writeLocks serializes write commands per database (added by PositionPal): the SQLite backend
// reads and rewrites documents in separate steps, so concurrent updates could be lost.
var writeLocks sync.Map

// lockDatabaseOf locks the database a command names and returns the unlock function.
func lockDatabaseOf(msg *wire.OpMsg) func() {
	name := ""
	if doc, err := bson.ToDocument(msg.RawSection0()); err == nil {
		if v, err := doc.Get("$db"); err == nil {
			if s, ok := v.(string); ok {
				name = s
			}
		}
	}
	m, _ := writeLocks.LoadOrStore(name, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}
`;

const ID_COLUMN_FROM = `IDColumn = DefaultColumn + "->'$._id'"`;
const ID_COLUMN_TO = `IDColumn = DefaultColumn + \`->"_id"\``;

function patchFerretdb(src) {
	const metadata = join(src, "internal", "backends", "sqlite", "metadata", "metadata.go");
	const meta = readFileSync(metadata, "utf8");
	if (!meta.includes(ID_COLUMN_FROM)) throw new Error("FerretDB patch: IDColumn not found in internal/backends/sqlite/metadata/metadata.go");
	writeFileSync(metadata, meta.replace(ID_COLUMN_FROM, ID_COLUMN_TO));
	const collection = join(src, "internal", "backends", "sqlite", "collection.go");
	const coll = readFileSync(collection, "utf8");
	const onlyId = "if params.Filter.Len() == 1 {";
	if (coll.split(onlyId).length !== 3) throw new Error("FerretDB patch: the two _id pushdowns not found in internal/backends/sqlite/collection.go");
	writeFileSync(collection, coll.replaceAll(onlyId, "if params.Filter.Len() >= 1 {"));
	const handler = join(src, "internal", "handler");
	writeFileSync(join(handler, "positionpal_write_lock.go"), WRITE_LOCK_GO);
	for (const entry of WRITE_LOCKED) {
		const [file, fn] = entry.split(":");
		const path = join(handler, file);
		const code = readFileSync(path, "utf8");
		const re = new RegExp(`(func \\(h \\*Handler\\) ${fn}\\([^)]*\\) \\([^)]*\\) \\{\\n)`);
		if (!re.test(code)) throw new Error(`FerretDB patch: ${fn} not found in internal/handler/${file}`);
		writeFileSync(path, code.replace(re, "$1\tdefer lockDatabaseOf(msg)()\n\n"));
	}
}

/** The patched FerretDB binary, built once into .data/bin (tests also start private instances of it). */
export async function findOrBuildFerretdb(log = defaultLog, signal) {
	const bin = join(DIRS.bin, "ferretdb");
	const stampFile = `${bin}.stamp`;
	const upToDate = () => existsSync(bin) && existsSync(stampFile) && readFileSync(stampFile, "utf8").trim() === FERRETDB_BUILD_STAMP;
	if (upToDate()) return bin;

	return withLock("ferretdb-build", log, signal, async () => {
		if (upToDate()) return bin;
		if (existsSync(bin)) log(`.data/bin/ferretdb is not build ${FERRETDB_BUILD_STAMP}; rebuilding it`);
		const go = findGo();
		if (!go) throw new Error("FerretDB must be built from source, but Go (>= 1.22) was not found (PATH, /usr/local/go/bin)");
		ensureDirs(DIRS.bin, DIRS.logs, DIRS.src);
		const logFile = join(DIRS.logs, "ferretdb-build.log");
		writeFileSync(logFile, `=== FerretDB ${FERRETDB_VERSION} build, ${new Date().toISOString()} ===\n`);
		log(`building FerretDB ${FERRETDB_VERSION} (first time only, takes a few minutes; log: .data/logs/ferretdb-build.log)…`);
		const started = Date.now();

		// A plain `go install …/cmd/ferretdb@v1.24.2` panics at start ("Invalid build/version/
		// version.txt"): that file is generated by their build tooling and is not in the module
		// zip. So: fetch the module source, copy it somewhere writable, add version.txt, patch
		// (see patchFerretdb), build.
		const json = await withProgress(
			log,
			"downloading FerretDB source",
			run(go, ["mod", "download", "-json", `github.com/FerretDB/FerretDB@${FERRETDB_VERSION}`], {
				cwd: tmpdir(),
				env: goEnv(),
				signal,
			}),
		);
		const { Dir: moduleDir, Error: modError } = JSON.parse(json);
		if (!moduleDir) throw new Error(`go mod download failed: ${modError || json}`);

		const src = join(DIRS.src, "ferretdb");
		rmSync(src, { recursive: true, force: true });
		cpSync(moduleDir, src, { recursive: true });
		await run("chmod", ["-R", "u+w", src]); // the module cache is read-only
		writeFileSync(join(src, "build", "version", "version.txt"), `${FERRETDB_VERSION}\n`);
		patchFerretdb(src);

		const countDownloads = () => {
			const n = (tail(logFile, 100_000).match(/go: downloading /g) || []).length;
			return n ? ` (${n} modules downloaded)` : "";
		};
		const tmpBin = `${bin}.tmp`;
		await withProgress(
			log,
			"building FerretDB",
			run(go, ["build", "-buildvcs=false", "-trimpath", "-o", tmpBin, "./cmd/ferretdb"], {
				cwd: src,
				env: goEnv(),
				logFile,
				signal,
			}),
			{ extra: countDownloads },
		);
		// Make sure it actually starts (the version.txt panic happens at init).
		await run(tmpBin, ["--version"]);
		renameSync(tmpBin, bin);
		writeFileSync(stampFile, `${FERRETDB_BUILD_STAMP}\n`);
		log(`FerretDB built in ${Math.round((Date.now() - started) / 1000)}s → .data/bin/ferretdb`);
		return bin;
	});
}

// ---------------------------------------------------------------------------------------------
// Servers

/** Per-server names/paths. Non-default ports get their own data dir, log and pidfile. */
function layout(name, port, defaultPort) {
	const tag = port === defaultPort ? name : `${name}-${port}`;
	return {
		tag,
		data: join(DATA, tag),
		log: join(DIRS.logs, `${tag}.log`),
		pidfile: join(DIRS.run, `${tag}.pid`),
	};
}

async function natsCommand(host, port, log, signal) {
	const bin = await findOrInstallNats(log, signal);
	const l = layout("nats", port, 4222);
	ensureDirs(l.data);
	const args = ["-js", "-a", host === "localhost" ? "127.0.0.1" : host, "-p", String(port), "-sd", l.data];
	// HTTP monitoring (/healthz, /jsz) on port+4000 (8222 for 4222) when that is free.
	const monitor = port + 4000;
	if (monitor <= 65535 && !(await isPortOpen("127.0.0.1", monitor))) args.push("-m", String(monitor));
	return { bin, args, layout: l };
}

async function ferretdbCommand(host, port, log, signal) {
	const bin = await findOrBuildFerretdb(log, signal);
	const l = layout("ferretdb", port, 27017);
	const stateDir = `${l.data}-state`;
	ensureDirs(l.data, stateDir);
	const args = [
		"--handler=sqlite",
		`--sqlite-url=file:${l.data}/`,
		`--listen-addr=${host === "localhost" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host}:${port}`,
		`--state-dir=${stateDir}`,
		"--telemetry=disable", // never phone home (and there is no outside network anyway)
		"--debug-addr=-", // "-" disables the debug/metrics HTTP listener (default :8088 could clash)
		"--log-level=warn",
	];
	return { bin, args, layout: l };
}

/**
 * Make sure one server listens on host:port. Returns { reused: true } or
 * { child, pid, layout } for a process we started.
 */
async function ensureServer({ name, url, host, port, command, daemon, log, signal }) {
	if (await isPortOpen(host, port)) {
		log(`${name}: reusing ${url} (something already listens there${ownerNote(name, port)})`);
		return { reused: true };
	}
	if (!LOCAL_HOSTS.has(host)) throw new Error(`${name}: ${url} is not reachable and is not a local address I can start`);

	const { bin, args, layout: l } = await command(host, port, log, signal);
	ensureDirs(DIRS.logs, DIRS.run);
	writeFileSync(l.log, `\n=== ${new Date().toISOString()} ${bin} ${args.join(" ")} ===\n`, { flag: "a" });
	const fd = openSync(l.log, "a");
	const child = spawnChild(bin, args, { tied: !daemon, stdio: ["ignore", fd, fd] });
	closeSync(fd);
	let spawnError = null;
	child.once("error", err => (spawnError = err));
	log(`${name}: starting ${bin} on ${host}:${port} (pid ${child.pid}, log .data/logs/${l.tag}.log)`);

	const deadline = Date.now() + START_DEADLINE_MS;
	for (;;) {
		if (await isPortOpen(host, port)) break;
		const dead = spawnError || child.exitCode !== null || child.signalCode !== null;
		if (dead) {
			// Lost a race with another starter? Then just use theirs.
			if (await isPortOpen(host, port)) {
				log(`${name}: another process started it meanwhile; reusing ${url}`);
				return { reused: true };
			}
			throw new Error(
				`${name} exited during startup (${spawnError?.message || `code ${child.exitCode ?? child.signalCode}`}); last log lines:\n${tail(l.log)}`,
			);
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
	return { child, pid: child.pid, layout: l };
}

/** " , started by `infra up`, pid N" when our pidfile says so. */
function ownerNote(name, port) {
	const l = layout(name, port, name === "nats" ? 4222 : 27017);
	const pid = readPid(l.pidfile);
	return pid && isAlive(pid) ? `; started by \`infra up\`, pid ${pid}` : "";
}

function readPid(pidfile) {
	try {
		return Number(readFileSync(pidfile, "utf8").trim()) || 0;
	} catch {
		return 0;
	}
}

function config() {
	const natsUrl = process.env.TRANSPORTER || DEFAULT_NATS_URL;
	const mongoUrl = process.env.MONGO_URL || DEFAULT_MONGO_URL;
	return { natsUrl, mongoUrl, nats: endpoint(natsUrl, "nats", 4222), mongo: endpoint(mongoUrl, "mongodb", 27017) };
}

/**
 * Start (or reuse) NATS and FerretDB for TRANSPORTER / MONGO_URL.
 * `stop()` stops only what this call started. With `daemon: true` the servers outlive us
 * and get pidfiles (that is `infra up`); otherwise they die with this process.
 * `signal` (AbortSignal) cancels a slow install/build/start; anything already started is stopped.
 */
export async function ensureInfra({ log = defaultLog, signal, daemon = false } = {}) {
	const { natsUrl, mongoUrl, nats, mongo } = config();
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
		if (!nats) log(`TRANSPORTER=${natsUrl} is not a nats:// URL; not managing NATS`);
		else {
			const r = await ensureServer({ name: "nats", url: natsUrl, ...nats, command: natsCommand, daemon, log, signal });
			if (r.child) started.push({ name: "nats", child: r.child });
		}
		if (!mongo) log(`MONGO_URL=${mongoUrl} is not a mongodb:// URL; not managing the database`);
		else {
			const r = await ensureServer({ name: "ferretdb", url: mongoUrl, ...mongo, command: ferretdbCommand, daemon, log, signal });
			if (r.child) started.push({ name: "ferretdb", child: r.child });
		}
	} catch (err) {
		if (!daemon) await stop();
		throw err;
	}
	return { natsUrl, mongoUrl, stop };
}

// ---------------------------------------------------------------------------------------------
// CLI

/** Stop everything our pidfiles list (any port); only processes that still look like ours. */
async function down(log) {
	let files = [];
	try {
		files = readdirSync(DIRS.run).filter(f => f.endsWith(".pid"));
	} catch {
		// no .data/run yet
	}
	let stopped = 0;
	for (const f of files) {
		const pidfile = join(DIRS.run, f);
		const pid = readPid(pidfile);
		const tag = f.slice(0, -4);
		const cmd = cmdlineOf(pid);
		const ours = isAlive(pid) && (cmd === "" || /nats-server|ferretdb/.test(cmd));
		if (ours) {
			log(`${tag}: stopping pid ${pid}`);
			await terminate(pid);
			stopped++;
		} else {
			log(`${tag}: pid ${pid || "?"} is not running (stale pidfile removed)`);
		}
		rmSync(pidfile, { force: true });
	}
	if (!files.length) log("nothing to stop (no pidfiles in .data/run)");
	return stopped;
}

async function status(log) {
	const { natsUrl, mongoUrl, nats, mongo } = config();
	let ok = true;
	for (const [name, url, ep, def] of [
		["nats", natsUrl, nats, 4222],
		["ferretdb", mongoUrl, mongo, 27017],
	]) {
		if (!ep) {
			log(`${name}: ${url} (not managed)`);
			continue;
		}
		const open = await isPortOpen(ep.host, ep.port);
		ok &&= open;
		const pid = readPid(layout(name, ep.port, def).pidfile);
		const who = pid ? (isAlive(pid) ? `started by \`infra up\`, pid ${pid}` : `stale pidfile (pid ${pid})`) : "not started by `infra up`";
		log(`${name}: ${url} ${open ? "UP" : "DOWN"} (${who})`);
	}
	const natsBin = findExecutable("nats-server", ["/usr/sbin/nats-server", "/usr/bin/nats-server", join(DIRS.bin, "nats-server")]);
	log(`nats-server binary: ${natsBin || "not installed yet (installed on first start)"}`);
	const ferret = join(DIRS.bin, "ferretdb");
	let stamp = "";
	try {
		stamp = readFileSync(`${ferret}.stamp`, "utf8").trim();
	} catch {
		// built by an older script, or not at all
	}
	log(
		`ferretdb binary: ${existsSync(ferret) ? `${ferret} (${stamp || "unstamped"}${stamp === FERRETDB_BUILD_STAMP ? "" : "; rebuilt on next start"})` : "not built yet (built on first start)"}`,
	);
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
			await down(log);
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
