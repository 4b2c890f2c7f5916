// nats-server: the installed one, else installed once — with apt-get when we are root, else
// built with `go install` into .data/bin.
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DIRS, ensureDirs, withLock } from "./data-dir.mjs";
import { findGo, goEnv } from "./go.mjs";
import { findExecutable, run, withProgress } from "./proc.mjs";

const NATS_GO_VERSIONS = ["v2.10.29", "v2.10"]; // "v2.10" = newest 2.10.x the proxy knows
const SYSTEM_PATHS = ["/usr/sbin/nats-server", "/usr/bin/nats-server"];
const LOCAL = join(DIRS.bin, "nats-server");

/** The nats-server binary on PATH, in the Debian package's place or in .data/bin; null if none. */
export const findNats = () => findExecutable("nats-server", [...SYSTEM_PATHS, LOCAL]);

export async function findOrInstallNats(log, signal) {
	const found = findNats();
	if (found) return found;

	return withLock("nats-install", log, signal, async () => {
		const again = findNats();
		if (again) return again;
		ensureDirs(DIRS.bin, DIRS.logs);
		const logFile = join(DIRS.logs, "nats-install.log");
		return (await installWithApt(log, signal, logFile)) ?? (await installWithGo(log, signal, logFile));
	});
}

/** Debian/Ubuntu package (needs root); refreshes the index only if the first try fails. */
async function installWithApt(log, signal, logFile) {
	const aptGet = findExecutable("apt-get");
	if (!aptGet || process.getuid?.() !== 0) return null;
	const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
	const install = () => withProgress(log, "apt-get install nats-server", run(aptGet, ["install", "-y", "nats-server"], { env, logFile, signal }));
	log("nats-server not found; installing it with apt-get (log: .data/logs/nats-install.log)…");
	try {
		await install();
	} catch {
		try {
			log("apt-get install failed; running apt-get update and retrying…");
			await withProgress(log, "apt-get update", run(aptGet, ["update"], { env, logFile, signal }));
			await install();
		} catch (err) {
			if (signal?.aborted) throw err;
			log(`apt-get could not install nats-server (${err.message.split("\n")[0]})`);
		}
	}
	return findExecutable("nats-server", SYSTEM_PATHS);
}

/** `go install` into .data/bin. */
async function installWithGo(log, signal, logFile) {
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
			if (existsSync(LOCAL)) return LOCAL;
		} catch (err) {
			if (signal?.aborted) throw err;
			log(`go install nats-server@${version} failed: ${err.message.split("\n").slice(-1)[0]}`);
		}
	}
	throw new Error(`could not install nats-server; see ${logFile}`);
}
