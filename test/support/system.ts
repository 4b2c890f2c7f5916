import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { mkdirSync, createWriteStream, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { waitFor } from "./wait.js";

/**
 * Starts PositionPal for real, one OS process per service (as in production), on the NATS and
 * FerretDB servers the test script started. Each test file gets its own namespace (NATS subjects
 * and JetStream streams) and its own databases, so files never see each other's data.
 */

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const TEST_JWT_SECRET = "test-only-secret-0123456789abcdef0123456789abcdef";

/**
 * The gateway's Node.js options in the Docker stack and compose file (test/unit/deployment checks
 * they agree), so the tests and the benchmarks run the gateway as it is deployed.
 */
export const GATEWAY_NODE_OPTIONS = "--max-semi-space-size=16";

export type ServiceName = "users" | "gateway" | "location" | "chat" | "notification" | "devices";
/** A process: a service, or another instance of it as `name#suffix` (e.g. "location#2"). */
export type ProcessName = ServiceName | `${ServiceName}#${string}`;
export const serviceOf = (name: ProcessName) => name.split("#")[0] as ServiceName;

export interface SystemOptions {
	services: ServiceName[];
	/** Extra environment for every process (e.g. short OFFLINE_AFTER). */
	env?: Record<string, string>;
	/** Extra environment for one service's processes only (e.g. a METRICS_PORT). */
	serviceEnv?: Partial<Record<ServiceName, Record<string, string>>>;
}

export function freePort(): Promise<number> {
	return new Promise((resolvePort, reject) => {
		const server = createServer();
		server.listen(0, "127.0.0.1", () => {
			const address = server.address();
			server.close(() => (typeof address === "object" && address ? resolvePort(address.port) : reject(new Error("no port"))));
		});
	});
}

export class System {
	readonly processes = new Map<ProcessName, ChildProcess>();
	readonly logs = new Map<ProcessName, string>();
	/** Extra environment for one process only (another gateway instance's PORT). */
	readonly processEnv = new Map<ProcessName, Record<string, string>>();
	url = "";

	constructor(
		readonly services: ServiceName[],
		readonly env: Record<string, string>,
		readonly serviceEnv: Partial<Record<ServiceName, Record<string, string>>> = {},
	) {}

	get port(): number {
		return Number(this.env.PORT);
	}

	/** Starts one service process (or another instance: "location#2") and waits until its broker reports it started. */
	async start(name: ProcessName): Promise<void> {
		const label = name.replace("#", "-");
		const logFile = join(ROOT, ".data", "logs", "test", `${this.env.NAMESPACE}-${label}.log`);
		mkdirSync(dirname(logFile), { recursive: true });
		const log = createWriteStream(logFile, { flags: "a" });
		this.logs.set(name, logFile);
		const child = spawn(
			process.execPath,
			["--import", "tsx", "node_modules/moleculer/bin/moleculer-runner.mjs", "--config", "moleculer.config.ts", `services/${serviceOf(name)}.service.ts`],
			{
				cwd: ROOT,
				env: {
					...process.env,
					...(serviceOf(name) === "gateway" ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} ${GATEWAY_NODE_OPTIONS}`.trim() } : {}),
					...this.env,
					...this.serviceEnv[serviceOf(name)],
					...this.processEnv.get(name),
					NODE_ID: `${this.env.NAMESPACE}-${label}-${randomBytes(3).toString("hex")}`,
				},
				stdio: ["ignore", "pipe", "pipe"],
			},
		);
		child.stdout!.pipe(log);
		child.stderr!.pipe(log);
		this.processes.set(name, child);
		let output = "";
		child.stdout!.on("data", chunk => (output += chunk));
		child.stderr!.on("data", chunk => (output += chunk));
		await waitFor(
			() => {
				if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${output.slice(-3000)}`);
				return /ServiceBroker with .* started successfully/.test(output);
			},
			{ timeoutMs: 60_000, what: `${name} to start` },
		).catch(err => {
			child.kill("SIGKILL");
			throw err;
		});
	}

	/** Stops a service: SIGTERM (graceful) by default, or SIGKILL to simulate a crash. */
	async stop(name: ProcessName, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
		const child = this.processes.get(name);
		if (!child || child.exitCode !== null || child.signalCode !== null) return;
		const exited = new Promise(resolveExit => child.once("exit", resolveExit));
		child.kill(signal);
		const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
		await exited;
		clearTimeout(timer);
		this.processes.delete(name);
	}

	async restart(name: ProcessName, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
		await this.stop(name, signal);
		await this.start(name);
	}

	/** Waits for `GET /health` to answer 200 (every started service up and connected). */
	async waitHealthy(timeoutMs = 30_000): Promise<void> {
		await waitFor(
			async () => {
				const res = await fetch(`${this.url}/health`);
				// Thrown, so a timeout names the parts still failing.
				if (res.status !== 200) throw new Error(`last answer ${res.status} ${await res.text()}`);
				return true;
			},
			{ timeoutMs, what: "GET /health to answer 200" },
		);
	}

	async stopAll(): Promise<void> {
		// The gateway first, so no new work arrives while the others stop.
		const gateway = (name: ProcessName) => serviceOf(name) === "gateway";
		const order = [...this.processes.keys()].sort((a, b) => (gateway(a) ? -1 : gateway(b) ? 1 : 0));
		for (const name of order) await this.stop(name);
	}

	log(name: ProcessName): string {
		const file = this.logs.get(name);
		return file ? readFileSync(file, "utf8") : "";
	}
}

export function testNamespace(): string {
	return `t${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
}

/** The environment every process of a test system shares: its own namespace and databases, test secrets. */
export function systemEnv(services: ServiceName[], port: number, extra: Record<string, string> = {}): Record<string, string> {
	const namespace = testNamespace();
	const backend = services.filter(s => s !== "gateway");
	return {
		NODE_ENV: "test",
		NAMESPACE: namespace,
		MONGO_DB_PREFIX: namespace,
		PORT: String(port),
		HOST: "127.0.0.1",
		JWT_SECRET: TEST_JWT_SECRET,
		HEALTH_SERVICES: backend.join(","),
		AUTH_RATE_LIMIT: "0",
		// No map tiles: the browser tests never fetch anything from outside (a plain grid instead).
		MAP_TILE_URL: "none",
		LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "info",
		...extra,
	};
}

export async function startSystem(opts: SystemOptions): Promise<System> {
	const port = await freePort();
	const backend = opts.services.filter(s => s !== "gateway");
	const env = systemEnv(opts.services, port, opts.env);
	const system = new System(opts.services, env, opts.serviceEnv);
	system.url = `http://127.0.0.1:${port}`;
	try {
		// Backend first, concurrently; the gateway last so it finds them.
		await Promise.all(backend.map(name => system.start(name)));
		if (opts.services.includes("gateway")) {
			await system.start("gateway");
			await system.waitHealthy();
		}
	} catch (err) {
		await system.stopAll();
		throw err;
	}
	return system;
}
