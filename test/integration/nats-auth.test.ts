import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { ServiceBroker } from "moleculer";
import { connect, type NatsError } from "nats";
import { brokerOptions } from "../../moleculer.config.js";
import { AllDomainEvents } from "../../events/domain.js";
import { freePort, ROOT } from "../support/system.js";
import { waitFor } from "../support/wait.js";

/**
 * NATS authentication as deployed (issue 14, hole 6): a private nats-server started by
 * docker/nats/start.sh with docker/nats/nats.conf, the files of the Docker stack, with a password
 * in a secret file. A client without the credentials, or with a wrong password, is refused;
 * PositionPal processes given NATS_USER and NATS_PASSWORD_FILE connect (requests and JetStream),
 * also when started by moleculer-runner; a production process without them refuses to start.
 */

const USER = "positionpal";
/** Starts like a number: start.sh must hand it to the config quoted, or nats-server would not start. */
const PASSWORD = `12e45${randomBytes(16).toString("hex")}`;

let dir: string;
let server: ChildProcess;
let serverLog = "";
let url: string;
let passwordFile: string;
const brokers: ServiceBroker[] = [];
const children: ChildProcess[] = [];

function natsServerDir(): string {
	for (const candidate of [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/bin", join(ROOT, ".data", "bin")]) {
		try {
			accessSync(join(candidate, "nats-server"), constants.X_OK);
			return candidate;
		} catch {
			// not here
		}
	}
	throw new Error("nats-server not found (PATH, /usr/sbin, .data/bin): run `npm test` once to install it");
}

const portOpen = (port: number) =>
	new Promise<boolean>(resolve => {
		const socket = netConnect({ host: "127.0.0.1", port });
		socket.once("connect", () => {
			socket.destroy();
			resolve(true);
		});
		socket.once("error", () => resolve(false));
	});

function exited(child: ChildProcess): Promise<number | null> {
	if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
	return new Promise(resolve => child.once("exit", code => resolve(code)));
}

before(async () => {
	dir = mkdtempSync(join(tmpdir(), "pp-nats-auth-"));
	passwordFile = join(dir, "nats_password");
	writeFileSync(passwordFile, `${PASSWORD}\n`);
	const [port, monitorPort] = [await freePort(), await freePort()];
	url = `nats://127.0.0.1:${port}`;
	// As the stack runs it (entrypoint /bin/sh start.sh <config>), on a loopback port of its own.
	server = spawn(
		"/bin/sh",
		[
			join(ROOT, "docker/nats/start.sh"),
			join(ROOT, "docker/nats/nats.conf"),
			"--server_name",
			"auth-test",
			"-a",
			"127.0.0.1",
			"-p",
			String(port),
			"-m",
			String(monitorPort),
			"-sd",
			join(dir, "js"),
		],
		{
			env: { PATH: `${natsServerDir()}${delimiter}${process.env.PATH ?? ""}`, NATS_USER: USER, NATS_PASSWORD_FILE: passwordFile },
			stdio: ["ignore", "pipe", "pipe"],
		},
	);
	server.stdout!.on("data", chunk => (serverLog += chunk));
	server.stderr!.on("data", chunk => (serverLog += chunk));
	await waitFor(
		async () => {
			if (server.exitCode !== null) throw new Error(`nats-server exited with ${server.exitCode}:\n${serverLog}`);
			return portOpen(port);
		},
		{ timeoutMs: 20_000, what: "the private nats-server to listen" },
	);
});

after(async () => {
	for (const broker of brokers) await broker.stop();
	for (const child of children) {
		child.kill("SIGKILL");
		await exited(child);
	}
	if (server) {
		server.kill("SIGTERM");
		await exited(server);
	}
	rmSync(dir, { recursive: true, force: true });
});

const servers = () => url.replace("nats://", "");

async function refusal(opts: { user?: string; pass?: string }): Promise<string> {
	try {
		const nc = await connect({ servers: servers(), reconnect: false, ...opts });
		await nc.close();
		return "connected";
	} catch (err) {
		return (err as NatsError).code;
	}
}

test("a client without the credentials, or with a wrong password, is refused; with them it connects and has JetStream", async () => {
	assert.equal(await refusal({}), "AUTHORIZATION_VIOLATION", "anonymous");
	assert.equal(await refusal({ user: USER, pass: `${PASSWORD}x` }), "AUTHORIZATION_VIOLATION", "wrong password");
	assert.equal(await refusal({ user: "route", pass: PASSWORD }), "AUTHORIZATION_VIOLATION", "the routes' user is no client");

	const nc = await connect({ servers: servers(), user: USER, pass: PASSWORD, reconnect: false });
	try {
		const account = await (await nc.jetstreamManager()).getAccountInfo();
		assert.ok(account.limits, "JetStream answers an authenticated client");
	} finally {
		await nc.close();
	}
});

test("brokers configured with NATS_USER and NATS_PASSWORD_FILE call each other and create the domain-event streams", { timeout: 60_000 }, async () => {
	const namespace = `auth${randomBytes(3).toString("hex")}`;
	const env = { TRANSPORTER: url, NATS_USER: USER, NATS_PASSWORD_FILE: passwordFile, NAMESPACE: namespace };
	const create = (nodeID: string) => {
		const broker = new ServiceBroker(brokerOptions({ nodeID: `${nodeID}-${process.pid}`, logger: false }, env));
		brokers.push(broker);
		return broker;
	};
	const serving = create("serving");
	serving.createService({ name: "authprobe", actions: { ping: () => "pong" } });
	const calling = create("calling");
	await Promise.all([serving.start(), calling.start()]);
	await calling.waitForServices(["authprobe"], 10_000);
	assert.equal(await calling.call("authprobe.ping"), "pong", "a request and its reply crossed the authenticated NATS");

	// The JetStream adapter (@moleculer/channels) logged in too: the brokers created the streams.
	const nc = await connect({ servers: servers(), user: USER, pass: PASSWORD, reconnect: false });
	try {
		const names: string[] = [];
		for await (const stream of (await nc.jetstreamManager()).streams.list()) names.push(stream.config.name);
		for (const type of AllDomainEvents) assert.ok(names.includes(`${namespace}_${type.split(".").join("_")}`), `stream of ${type} in ${names.join(", ")}`);
	} finally {
		await nc.close();
	}
});

/** Runs the gateway as the image does (moleculer-runner + moleculer.config), in production mode. */
function runGateway(env: Record<string, string>) {
	const child = spawn(
		process.execPath,
		["--import", "tsx", "node_modules/moleculer/bin/moleculer-runner.mjs", "--config", "moleculer.config.ts", "services/gateway.service.ts"],
		{
			cwd: ROOT,
			env: {
				PATH: process.env.PATH ?? "",
				HOME: process.env.HOME ?? dirname(dir),
				NODE_ENV: "production",
				TRANSPORTER: url,
				HOST: "127.0.0.1",
				HEALTH_SERVICES: "",
				...env,
			},
			stdio: ["ignore", "pipe", "pipe"],
		},
	);
	children.push(child);
	let output = "";
	child.stdout!.on("data", chunk => (output += chunk));
	child.stderr!.on("data", chunk => (output += chunk));
	return { child, output: () => output };
}

test("in production, a process without NATS credentials refuses to start; with them moleculer-runner's process connects", { timeout: 90_000 }, async () => {
	const namespace = `authrun${randomBytes(3).toString("hex")}`;
	const anonymous = runGateway({ NAMESPACE: namespace, NODE_ID: `${namespace}-anonymous`, PORT: String(await freePort()) });
	assert.notEqual(await exited(anonymous.child), 0);
	assert.match(anonymous.output(), /NATS_USER and NATS_PASSWORD_FILE \(or NATS_PASSWORD\) are required when NODE_ENV=production/);
	assert.doesNotMatch(anonymous.output(), /NATS client is connected/);

	// moleculer-runner replaces the `transporter` option with TRANSPORTER: the credentials must survive it.
	const authenticated = runGateway({
		NAMESPACE: namespace,
		NODE_ID: `${namespace}-authenticated`,
		PORT: String(await freePort()),
		NATS_USER: USER,
		NATS_PASSWORD_FILE: passwordFile,
	});
	await waitFor(
		() => {
			if (authenticated.child.exitCode !== null)
				throw new Error(`the gateway exited with ${authenticated.child.exitCode}:\n${authenticated.output().slice(-3000)}`);
			return /ServiceBroker with .* started successfully/.test(authenticated.output());
		},
		{ timeoutMs: 60_000, what: "the authenticated gateway to start" },
	);
	assert.match(authenticated.output(), /NATS client is connected/);
	authenticated.child.kill("SIGTERM");
	assert.equal(await exited(authenticated.child), 0, "stops cleanly");
});
