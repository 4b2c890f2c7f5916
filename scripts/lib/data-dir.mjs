// Everything the infrastructure installs, builds, runs and logs lives under .data/ (git-ignored),
// and one-time installs/builds take a cross-process lock there.
// Plain JS, no npm dependencies (runs before `npm install`).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, isAlive, sleep } from "./proc.mjs";

export const DATA = join(ROOT, ".data");
export const DIRS = {
	bin: join(DATA, "bin"),
	run: join(DATA, "run"),
	logs: join(DATA, "logs"),
	src: join(DATA, "src"),
};

export function ensureDirs(...dirs) {
	for (const d of dirs) mkdirSync(d, { recursive: true });
}

/**
 * Run `fn` holding the lock `name` (a directory in .data/run): npm start and npm test may race
 * to install or build the same thing on a fresh clone. A lock whose owner pid is dead is stale
 * and taken over.
 */
export async function withLock(name, log, signal, fn) {
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
