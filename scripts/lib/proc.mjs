// Small process helpers shared by infra.mjs (and its lib/ modules), start.mjs and test.mjs.
// Plain JS, no npm dependencies: this must work on the system Node 20 before `npm install`.
import { spawn } from "node:child_process";
import { accessSync, closeSync, constants as fsConstants, existsSync, openSync, readFileSync } from "node:fs";
import net from "node:net";
import { delimiter, dirname, join, resolve } from "node:path";
import { constants as osConstants } from "node:os";
import { fileURLToPath } from "node:url";

/** Absolute path of the repository root (scripts/lib/../..). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** First executable called `name` on PATH, then in `extra` locations; null if none. */
export function findExecutable(name, extra = []) {
	const dirs = (process.env.PATH || "").split(delimiter).filter(Boolean);
	const candidates = [...dirs.map(d => join(d, name)), ...extra];
	for (const c of candidates) {
		try {
			accessSync(c, fsConstants.X_OK);
			return c;
		} catch {
			// not here, keep looking
		}
	}
	return null;
}

const SETPRIV = process.platform === "linux" ? findExecutable("setpriv", ["/usr/bin/setpriv"]) : null;

/**
 * Spawn a long-running child in its own process group (so a terminal Ctrl-C reaches only us,
 * and we decide the shutdown order), tied to our lifetime: on Linux it gets SIGTERM if we die,
 * even by SIGKILL, via `setpriv --pdeathsig` (util-linux). `tied: false` gives a free-standing
 * daemon (for `infra up`).
 */
export function spawnChild(cmd, args, { tied = true, ...opts } = {}) {
	const useSetpriv = tied && SETPRIV;
	const file = useSetpriv ? SETPRIV : cmd;
	const argv = useSetpriv ? ["--pdeathsig", "TERM", "--", cmd, ...args] : args;
	return spawn(file, argv, { cwd: ROOT, detached: true, ...opts });
}

/** Is `pid` a live process? */
export function isAlive(pid) {
	if (!pid) return false;
	try {
		process.kill(pid, 0);
		return true;
	} catch (err) {
		return err.code === "EPERM";
	}
}

/** Command line of `pid` (Linux /proc), or "" when unknown. */
export function cmdlineOf(pid) {
	try {
		return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
	} catch {
		return "";
	}
}

export const sleep = ms => new Promise(r => setTimeout(r, ms));

/** Send `signal` to a pid (or, with group, its whole process group); ignore "already gone". */
export function signalPid(pid, signal, { group = false } = {}) {
	try {
		process.kill(group ? -pid : pid, signal);
		return true;
	} catch {
		return false;
	}
}

/**
 * Stop a process politely: `signal` first, SIGKILL after `timeoutMs`. Works for children
 * (ChildProcess) and for plain pids (pidfiles). Resolves once it is gone.
 */
export async function terminate(target, { signal = "SIGTERM", timeoutMs = 10_000, group = false } = {}) {
	const isChild = typeof target === "object";
	const pid = isChild ? target.pid : target;
	if (!pid) return;
	const gone = () => (isChild ? target.exitCode !== null || target.signalCode !== null : !isAlive(pid));
	if (gone()) return;
	signalPid(pid, signal, { group });
	const deadline = Date.now() + timeoutMs;
	while (!gone() && Date.now() < deadline) await sleep(100);
	if (!gone()) {
		signalPid(pid, "SIGKILL", { group });
		const hard = Date.now() + 5_000;
		while (!gone() && Date.now() < hard) await sleep(100);
	}
	// Whatever else is left in a group we killed (grandchildren) goes too.
	if (group) signalPid(pid, "SIGKILL", { group });
}

/** Resolve with { code, signal } when the child exits (or could not be spawned at all). */
export function exited(child) {
	if (child.exitCode !== null || child.signalCode !== null) {
		return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
	}
	return new Promise(r => {
		child.once("exit", (code, signal) => r({ code, signal }));
		child.once("error", err => child.pid === undefined && r({ code: 127, signal: null, error: err }));
	});
}

/** Shell-style exit status for a child result: its code, or 128 + signal number. */
export function exitStatus({ code, signal }) {
	if (code !== null && code !== undefined) return code;
	return 128 + (osConstants.signals[signal] || 1);
}

/** Does a file exist (relative paths are from the repo root)? */
export const exists = p => existsSync(resolve(ROOT, p));

/** Last `lines` lines of a text file (for error messages); "(no log)" when it cannot be read. */
export function tail(file, lines = 30) {
	try {
		return lastLines(readFileSync(file, "utf8"), lines);
	} catch {
		return "(no log)";
	}
}

const lastLines = (text, lines) => text.trimEnd().split("\n").slice(-lines).join("\n");

/**
 * Run a command to completion and resolve with its output (stdout and stderr, or "" when they
 * go to `logFile`). Rejects with the last 30 lines of that output when it exits non-zero.
 */
export function run(cmd, args, { cwd = ROOT, env = process.env, logFile, signal } = {}) {
	return new Promise((resolve, reject) => {
		const fd = logFile ? openSync(logFile, "a") : null;
		const child = spawn(cmd, args, { cwd, env, signal, stdio: ["ignore", fd ?? "pipe", fd ?? "pipe"] });
		if (fd !== null) closeSync(fd);
		let out = "";
		child.stdout?.on("data", d => (out += d));
		child.stderr?.on("data", d => (out += d));
		child.once("error", reject);
		child.once("close", code => {
			if (code === 0) resolve(out);
			else reject(new Error(`${cmd} ${args.join(" ")} exited with ${code}\n${logFile ? tail(logFile) : lastLines(out, 30)}`));
		});
	});
}

/** Log "<label>… 30s" every `everyMs` while `promise` runs, so long steps never look hung. */
export async function withProgress(log, label, promise, { everyMs = 15_000, extra = () => "" } = {}) {
	const started = Date.now();
	const timer = setInterval(() => log(`${label}… ${Math.round((Date.now() - started) / 1000)}s${extra()}`), everyMs);
	try {
		return await promise;
	} finally {
		clearInterval(timer);
	}
}

/** True when something accepts TCP connections on host:port. */
export function isPortOpen(host, port, timeoutMs = 1000) {
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
