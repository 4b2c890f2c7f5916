import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServiceBroker } from "moleculer";
import { brokerOptions } from "../../../moleculer.config.js";
import { freePort, ROOT, type System } from "../system.js";
import { waitFor } from "../wait.js";

/**
 * The processes a fault test drives (SPEC §8–§9): private NATS and FerretDB servers a test file
 * may restart or stop without disturbing other files, and an in-process probe broker to call the
 * services' operator actions.
 */

function which(name: string): string | undefined {
	const found = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).stdout.trim();
	return found || undefined;
}

export function natsServerBinary(): string {
	const candidates = [which("nats-server"), "/usr/sbin/nats-server", join(ROOT, ".data", "bin", "nats-server")];
	const bin = candidates.find(c => c && existsSync(c));
	if (!bin) throw new Error("nats-server not found (PATH, /usr/sbin, .data/bin): run `npm test` once to install it");
	return bin;
}

export function ferretdbBinary(): string {
	const bin = join(ROOT, ".data", "bin", "ferretdb");
	if (!existsSync(bin)) throw new Error(".data/bin/ferretdb not built yet: run `npm test` once (scripts/infra.mjs builds it)");
	return bin;
}

function portOpen(port: number): Promise<boolean> {
	return new Promise(resolve => {
		const socket = netConnect({ host: "127.0.0.1", port });
		socket.once("connect", () => {
			socket.destroy();
			resolve(true);
		});
		socket.once("error", () => resolve(false));
	});
}

/** One server process (nats-server or ferretdb) on a fixed port with its data in a temp dir, restartable. */
export class ServerProcess {
	private child?: ChildProcess;

	constructor(
		readonly name: string,
		readonly bin: string,
		readonly args: string[],
		readonly port: number,
		readonly logFile: string,
	) {}

	get running(): boolean {
		return Boolean(this.child && this.child.exitCode === null && this.child.signalCode === null);
	}

	async start(): Promise<void> {
		const log = createWriteStream(this.logFile, { flags: "a" });
		const child = spawn(this.bin, this.args, { stdio: ["ignore", "pipe", "pipe"] });
		child.stdout!.pipe(log);
		child.stderr!.pipe(log);
		this.child = child;
		// A test process that dies must not leave its private server behind.
		const reap = () => child.kill("SIGKILL");
		process.once("exit", reap);
		child.once("exit", () => process.removeListener("exit", reap));
		await waitFor(
			async () => {
				if (child.exitCode !== null) throw new Error(`${this.name} exited with ${child.exitCode} (log: ${this.logFile})`);
				return portOpen(this.port);
			},
			{ timeoutMs: 20_000, what: `${this.name} to listen on ${this.port}` },
		);
	}

	/** Stops the server (SIGTERM: graceful; SIGKILL: a crash) and waits until it exited. */
	async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
		const child = this.child;
		if (!child || child.exitCode !== null || child.signalCode !== null) return;
		const exited = new Promise(resolve => child.once("exit", resolve));
		child.kill(signal);
		const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
		await exited;
		clearTimeout(timer);
	}
}

export interface PrivateInfra {
	nats: ServerProcess;
	ferretdb: ServerProcess;
	/** TRANSPORTER and MONGO_URL for `startSystem({ env })`. */
	env: { TRANSPORTER: string; MONGO_URL: string };
	cleanup(): Promise<void>;
}

/** A NATS (JetStream) and a FerretDB only this test file uses, with their data in a temp dir. */
export async function startPrivateInfra(): Promise<PrivateInfra> {
	const dir = mkdtempSync(join(tmpdir(), "positionpal-faults-"));
	const [natsPort, mongoPort] = [await freePort(), await freePort()];
	const nats = new ServerProcess(
		"nats-server",
		natsServerBinary(),
		["-js", "-a", "127.0.0.1", "-p", String(natsPort), "-sd", join(dir, "nats")],
		natsPort,
		join(dir, "nats.log"),
	);
	const ferretdb = new ServerProcess(
		"ferretdb",
		ferretdbBinary(),
		[
			"--handler=sqlite",
			`--sqlite-url=file:${join(dir, "sqlite")}/`,
			`--listen-addr=127.0.0.1:${mongoPort}`,
			`--state-dir=${join(dir, "state")}`,
			"--telemetry=disable",
			"--debug-addr=-",
			"--log-level=warn",
		],
		mongoPort,
		join(dir, "ferretdb.log"),
	);
	for (const sub of ["nats", "sqlite", "state"]) mkdirSync(join(dir, sub), { recursive: true });
	try {
		await Promise.all([nats.start(), ferretdb.start()]);
	} catch (err) {
		await Promise.all([nats.stop("SIGKILL"), ferretdb.stop("SIGKILL")]);
		rmSync(dir, { recursive: true, force: true });
		throw err;
	}
	return {
		nats,
		ferretdb,
		env: { TRANSPORTER: `nats://127.0.0.1:${natsPort}`, MONGO_URL: `mongodb://127.0.0.1:${mongoPort}` },
		async cleanup() {
			await Promise.all([nats.stop(), ferretdb.stop()]);
			rmSync(dir, { recursive: true, force: true });
		},
	};
}

// ---------------------------------------------------------------- probe broker

/** An in-process broker on the system's namespace, to call the services' operator actions. */
export async function startProbe(system: System): Promise<ServiceBroker> {
	// brokerOptions (and its channels middleware) read TRANSPORTER from the environment.
	if (system.env.TRANSPORTER) process.env.TRANSPORTER = system.env.TRANSPORTER;
	const probe = new ServiceBroker(
		brokerOptions({
			namespace: system.env.NAMESPACE,
			nodeID: `probe-${Date.now().toString(36)}`,
			logger: process.env.PROBE_LOG ? undefined : false,
			// Notices a killed node as soon as the services do (otherwise the configured defaults apply, as in the services).
			...(system.env.HEARTBEAT_INTERVAL ? { heartbeatInterval: Number(system.env.HEARTBEAT_INTERVAL) } : {}),
			...(system.env.HEARTBEAT_TIMEOUT ? { heartbeatTimeout: Number(system.env.HEARTBEAT_TIMEOUT) } : {}),
		}),
	);
	await probe.start();
	return probe;
}
