// Small process helpers shared by infra.mjs, start.mjs and test.mjs.
// Plain JS, no npm dependencies: this must work on the system Node 20 before `npm install`.
import { spawn } from "node:child_process";
import { accessSync, constants as fsConstants, existsSync, readFileSync } from "node:fs";
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
