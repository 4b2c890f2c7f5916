// First steps of `npm start` / `npm test` on a fresh clone, where only the system Node (20)
// exists: install dependencies, then re-run the calling script on the project's Node 24
// (the `node` devDependency, node_modules/.bin/node).
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ROOT, exitStatus } from "./proc.mjs";

export const NODE24 = join(ROOT, "node_modules", ".bin", "node");
const TSX = join(ROOT, "node_modules", ".bin", "tsx");
const WANTED_MAJOR = 24;

/** Run `npm install` when the toolchain we rely on (Node 24, tsx) is not installed yet. */
function ensureDependencies(log) {
	const missing = [NODE24, TSX].filter(p => !existsSync(p));
	if (!missing.length) return;
	log(`dependencies missing (${missing.map(p => p.slice(ROOT.length + 1)).join(", ")}); running npm install…`);
	const npm = process.platform === "win32" ? "npm.cmd" : "npm";
	const r = spawnSync(npm, ["install"], { cwd: ROOT, stdio: "inherit" });
	if (r.error || r.status !== 0) {
		log(`npm install failed (${r.error?.message || `exit ${r.status}`})`);
		process.exit(r.status || 1);
	}
}

/**
 * Make sure dependencies are installed and we run on Node 24. When we are on another Node,
 * re-run `scriptUrl` with node_modules/.bin/node (same arguments and stdio), forward
 * termination signals, and exit with its status — this call then never returns.
 */
export async function bootstrap(scriptUrl, log) {
	ensureDependencies(log);
	const major = Number(process.versions.node.split(".")[0]);
	if (major === WANTED_MAJOR) return;
	if (process.env.POSITIONPAL_REEXEC) {
		log(`re-executed but still on Node ${process.versions.node} (${process.execPath}); giving up`);
		process.exit(1);
	}

	const script = fileURLToPath(scriptUrl);
	log(`Node ${process.versions.node} → re-running on node_modules/.bin/node (Node ${WANTED_MAJOR})`);
	const child = spawn(NODE24, [script, ...process.argv.slice(2)], {
		cwd: process.cwd(),
		stdio: "inherit",
		env: { ...process.env, POSITIONPAL_REEXEC: "1" },
	});
	// Ctrl-C on a terminal signals the whole foreground group, so the child usually gets it
	// directly as well; the child treats repeats as one. `kill <our pid>` needs forwarding.
	for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
		process.on(sig, () => {
			if (child.exitCode === null && child.signalCode === null) child.kill(sig);
		});
	}
	child.once("error", err => {
		log(`could not run ${NODE24}: ${err.message}`);
		process.exit(1);
	});
	child.once("exit", (code, signal) => process.exit(exitStatus({ code, signal })));
	await new Promise(() => {}); // the exit handler above ends this process
}
