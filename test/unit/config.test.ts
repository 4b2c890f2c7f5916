import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ServiceBroker } from "moleculer";
import { anonymousNatsRefusal, config, ConfigError, configVariables, loadConfig, OSM_ATTRIBUTION, OSM_TILE_URL, readSetting } from "../../lib/config.js";
import { brokerOptions, EXIT_CONFIG } from "../../moleculer.config.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const dir = mkdtempSync(join(tmpdir(), "pp-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A secret file, as Docker mounts it under /run/secrets. */
function secretFile(name: string, content: string): string {
	const path = join(dir, name);
	writeFileSync(path, content);
	return path;
}

/** The problems loadConfig reports for `env` (none: []). */
function problemsOf(env: Record<string, string>): string[] {
	try {
		loadConfig(env);
		return [];
	} catch (err) {
		assert.ok(err instanceof ConfigError, `a ConfigError, not ${String(err)}`);
		return err.problems;
	}
}

describe("loadConfig", () => {
	test("an empty environment gives the documented defaults", () => {
		const c = loadConfig({});
		assert.deepEqual(
			{
				port: c.port,
				host: c.host,
				transporter: c.transporter,
				mongoUrl: c.mongoUrl,
				jwtTtlMs: c.jwtTtlMs,
				offlineAfterMs: c.offlineAfterMs,
				stuckAfterMs: c.stuckAfterMs,
				stuckRadiusM: c.stuckRadiusM,
				arrivalRadiusM: c.arrivalRadiusM,
				trackingCheckEveryMs: c.trackingCheckEveryMs,
				authRateLimit: c.authRateLimit,
				corsOrigins: c.corsOrigins,
				bodyLimit: c.bodyLimit,
				trustProxy: c.trustProxy,
				namespace: c.namespace,
				logLevel: c.logLevel,
				logFormat: c.logFormat,
				metricsPort: c.metricsPort,
				tracingExporter: c.tracingExporter,
				dbProfile: c.dbProfile,
				heartbeat: [c.heartbeatInterval, c.heartbeatTimeout],
				deadNodeProbeMs: c.deadNodeProbeMs,
				jetstreamReplicas: c.jetstreamReplicas,
				passwordHashMaxWaitMs: c.passwordHashMaxWaitMs,
				loginLockAfter: c.loginLockAfter,
				presenceSweep: [c.presenceSweepEveryMs, c.presenceSweepGraceMs],
				healthServices: c.healthServices,
				mongoDbPrefix: c.mongoDbPrefix,
				uvThreadpoolSize: c.uvThreadpoolSize,
				webRoot: c.webRoot,
				webClient: c.webClient,
				natsCredentials: c.natsCredentials,
				natsAllowAnonymous: c.natsAllowAnonymous,
				production: c.production,
			},
			{
				port: 3000,
				host: "0.0.0.0",
				transporter: "nats://127.0.0.1:4222",
				mongoUrl: "mongodb://127.0.0.1:27017",
				jwtTtlMs: 3_600_000,
				offlineAfterMs: 60_000,
				stuckAfterMs: 300_000,
				stuckRadiusM: 30,
				arrivalRadiusM: 50,
				trackingCheckEveryMs: 5_000,
				authRateLimit: 20,
				corsOrigins: "*",
				bodyLimit: "64kb",
				trustProxy: false,
				namespace: "positionpal",
				logLevel: "info",
				logFormat: "short",
				metricsPort: 0,
				tracingExporter: undefined,
				dbProfile: false,
				heartbeat: [2, 15],
				deadNodeProbeMs: 500,
				jetstreamReplicas: 1,
				passwordHashMaxWaitMs: 1_000,
				loginLockAfter: 10,
				presenceSweep: [10_000, 15_000],
				healthServices: ["users", "location", "chat", "notification", "devices"],
				mongoDbPrefix: "positionpal",
				uvThreadpoolSize: 4,
				webRoot: undefined,
				webClient: { tileUrl: OSM_TILE_URL, tileAttribution: OSM_ATTRIBUTION, center: null, demo: false, geocoderUrl: null },
				natsCredentials: undefined,
				natsAllowAnonymous: false,
				production: false,
			},
		);
	});

	test("values are parsed into their types: durations with units, flags, lists, names in canonical case", () => {
		const c = loadConfig({
			PORT: " 8080 ",
			OFFLINE_AFTER: "500ms",
			STUCK_AFTER: "2m",
			TRACKING_CHECK_EVERY: "0.25",
			PASSWORD_HASH_MAX_WAIT: "0",
			STUCK_RADIUS: "12.5",
			TRUST_PROXY: "1",
			DB_PROFILE: "true",
			HEALTH_SERVICES: " users , chat ",
			LOG_LEVEL: "DEBUG",
			LOG_FORMAT: "json",
			TRACING_EXPORTER: "zipkin",
			CORS_ORIGINS: "https://app.example, http://localhost:5173",
			TRANSPORTER: "nats://nats1:4222,nats://nats2:4222",
			MAP_CENTER: "51.5, -0.12",
			WEB_ROOT: "web/dist",
			NODE_ENV: "production",
		});
		assert.equal(c.port, 8080);
		assert.deepEqual([c.offlineAfterMs, c.stuckAfterMs, c.trackingCheckEveryMs, c.passwordHashMaxWaitMs], [500, 120_000, 250, 0]);
		assert.equal(c.stuckRadiusM, 12.5);
		assert.equal(c.trustProxy, true);
		assert.equal(c.dbProfile, true);
		assert.deepEqual(c.healthServices, ["users", "chat"]);
		assert.equal(c.logLevel, "debug");
		assert.equal(c.logFormat, "json");
		assert.equal(c.tracingExporter, "Zipkin");
		assert.equal(c.transporter, "nats://nats1:4222,nats://nats2:4222");
		assert.deepEqual(c.webClient.center, [51.5, -0.12]);
		assert.equal(c.webRoot, resolve("web/dist"));
		assert.equal(c.production, true);
		assert.equal(loadConfig({ TRUST_PROXY: "0" }).trustProxy, false);
	});

	test("HEALTH_SERVICES set but blank means no service (a gateway started alone), unlike other variables", () => {
		assert.deepEqual(loadConfig({ HEALTH_SERVICES: "" }).healthServices, []);
		assert.equal(loadConfig({ PORT: "" }).port, 3000, "a blank PORT is unset");
	});

	test("every bad value is reported at once, each naming its variable and value", () => {
		const problems = problemsOf({ PORT: "abc", OFFLINE_AFTER: "soon", AUTH_RATE_LIMIT: "-1", TRUST_PROXY: "maybe" });
		assert.deepEqual(problems.sort(), [
			'AUTH_RATE_LIMIT: "-1" must be 0 or more',
			'OFFLINE_AFTER: "soon" is not a duration (seconds, or a number with ms/s/m/h)',
			'PORT: "abc" is not a whole number',
			'TRUST_PROXY: "maybe" must be 1 or 0',
		]);
		const err = (() => {
			try {
				loadConfig({ PORT: "abc" });
			} catch (e) {
				return e as Error;
			}
		})();
		assert.match(err?.message ?? "", /^Invalid configuration \(environment variables\):\n {2}PORT: "abc" is not a whole number$/);
	});

	test("each variable refuses values that would misbehave later", () => {
		const bad: Record<string, string> = {
			PORT: "70000",
			HOST: "local host",
			METRICS_PORT: "x",
			JWT_TTL: "0",
			STUCK_RADIUS: "-3",
			ARRIVAL_RADIUS: "far",
			JETSTREAM_REPLICAS: "7",
			LOG_LEVEL: "loud",
			LOG_FORMAT: "xml",
			NAMESPACE: "a.b",
			MONGO_DB_PREFIX: "a/b",
			NODE_ID: "a b",
			TRACING_EXPORTER: "Carrier-pigeon",
			HEARTBEAT_INTERVAL: "0",
			HEARTBEAT_TIMEOUT: "soon",
			CORS_ORIGINS: "app.example",
			BODY_LIMIT: "lots",
			MAP_CENTER: "north",
			MAP_TILE_URL: "javascript:alert(1)",
			DB_PROFILE: "yes",
			UV_THREADPOOL_SIZE: "0",
			LOGIN_LOCK_AFTER: "0",
			PRESENCE_SWEEP_EVERY: "often",
			PRESENCE_SWEEP_GRACE: "0",
			NATS_ALLOW_ANONYMOUS: "please",
			TRANSPORTER: "tcp://127.0.0.1:4222",
		};
		const problems = problemsOf(bad);
		for (const name of Object.keys(bad)) {
			assert.ok(
				problems.some(p => p.startsWith(`${name}:`) || p.startsWith(`${name} `)),
				`${name}=${bad[name]} is refused (problems: ${problems.join("; ")})`,
			);
		}
		assert.equal(problems.length, Object.keys(bad).length, "one problem per variable");
		for (const [name, value] of Object.entries(bad)) assert.deepEqual(problemsOf({ [name]: value }).length, 1, `${name} alone`);
	});

	test("a value that may hold a credential is never repeated in the message", () => {
		const problems = problemsOf({ MONGO_URL: "mongodb:/users:hunter2@db", TRANSPORTER: "nats://positionpal:hunter2@nats1:4222" });
		assert.equal(problems.length, 2);
		assert.ok(
			problems.every(p => !p.includes("hunter2")),
			problems.join("; "),
		);
		assert.match(problems.join("\n"), /^MONGO_URL is not a mongodb/m);
		assert.match(problems.join("\n"), /^TRANSPORTER holds credentials: set NATS_USER and NATS_PASSWORD_FILE/m);
	});

	test("secrets come from NAME_FILE (trimmed; it wins over NAME) or NAME; an empty or missing file is refused", () => {
		const jwt = secretFile("jwt", "from-the-file\n");
		assert.equal(loadConfig({ JWT_SECRET_FILE: jwt, JWT_SECRET: "from-env" }).jwtSecret, "from-the-file");
		assert.equal(loadConfig({ JWT_SECRET: "from-env" }).jwtSecret, "from-env");
		assert.equal(loadConfig({}).jwtSecret, undefined);
		assert.deepEqual(problemsOf({ JWT_SECRET_FILE: secretFile("empty", "\n") }), [`JWT_SECRET_FILE: "${join(dir, "empty")}" is empty`]);
		assert.deepEqual(problemsOf({ VAPID_PRIVATE_KEY_FILE: join(dir, "nope") }), [`VAPID_PRIVATE_KEY_FILE: cannot read "${join(dir, "nope")}" (ENOENT)`]);
		const vapid = loadConfig({ VAPID_PUBLIC_KEY: "pub", VAPID_PRIVATE_KEY_FILE: secretFile("vapid", "priv"), VAPID_SUBJECT: "mailto:a@b.c" }).vapid;
		assert.deepEqual(vapid, { publicKey: "pub", privateKey: "priv", subject: "mailto:a@b.c" });
	});

	test("NATS credentials: a user and a password (from a file or the environment), both or neither", () => {
		const password = secretFile("nats", "s3cret\n");
		assert.deepEqual(loadConfig({ NATS_USER: "positionpal", NATS_PASSWORD_FILE: password }).natsCredentials, { user: "positionpal", pass: "s3cret" });
		assert.deepEqual(loadConfig({ NATS_USER: "positionpal", NATS_PASSWORD: "p" }).natsCredentials, { user: "positionpal", pass: "p" });
		assert.deepEqual(problemsOf({ NATS_USER: "positionpal" }), ["NATS_USER is set without NATS_PASSWORD_FILE (or NATS_PASSWORD)"]);
		assert.deepEqual(problemsOf({ NATS_PASSWORD_FILE: password }), ["NATS_PASSWORD is set without NATS_USER"]);
	});
});

describe("anonymousNatsRefusal", () => {
	test("a production process without NATS credentials is refused unless NATS_ALLOW_ANONYMOUS=1 says so", () => {
		const refusal = anonymousNatsRefusal(loadConfig({ NODE_ENV: "production" }));
		assert.match(refusal ?? "", /NATS_USER and NATS_PASSWORD_FILE .* required when NODE_ENV=production.*NATS_ALLOW_ANONYMOUS=1/);
		assert.equal(anonymousNatsRefusal(loadConfig({ NODE_ENV: "production", NATS_ALLOW_ANONYMOUS: "1" })), undefined);
		assert.equal(anonymousNatsRefusal(loadConfig({ NODE_ENV: "production", NATS_USER: "u", NATS_PASSWORD: "p" })), undefined);
		assert.equal(anonymousNatsRefusal(loadConfig({ NODE_ENV: "test" })), undefined, "local runs stay open (loopback)");
	});
});

describe("config accessors", () => {
	test("follow process.env: a changed variable is parsed again, a bad one throws naming it", () => {
		const saved = process.env.STUCK_RADIUS;
		try {
			process.env.STUCK_RADIUS = "40";
			assert.equal(config.stuckRadiusM(), 40);
			process.env.STUCK_RADIUS = "45";
			assert.equal(config.stuckRadiusM(), 45);
			process.env.STUCK_RADIUS = "wide";
			assert.throws(
				() => config.stuckRadiusM(),
				(err: unknown) => err instanceof ConfigError && /^STUCK_RADIUS: "wide" is not a number$/.test(err.problems.join()),
			);
		} finally {
			if (saved === undefined) delete process.env.STUCK_RADIUS;
			else process.env.STUCK_RADIUS = saved;
		}
	});

	test("readSetting reads one setting of a given environment and leaves a refused value out", () => {
		assert.deepEqual(readSetting("webClient", { MAP_TILE_URL: "javascript:alert(1)", MAP_TILE_ATTRIBUTION: "© OSM" }), {
			value: { tileUrl: OSM_TILE_URL, tileAttribution: "© OSM", center: null, demo: false, geocoderUrl: null },
			problems: ['MAP_TILE_URL: "javascript:alert(1)" is not an http(s) URL template or "none"'],
		});
	});

	test("the web map shows OpenStreetMap's tiles with their attribution unless MAP_TILE_URL is none or another server", () => {
		assert.deepEqual(readSetting("webClient", {}).value, {
			tileUrl: OSM_TILE_URL,
			tileAttribution: OSM_ATTRIBUTION,
			center: null,
			demo: false,
			geocoderUrl: null,
		});
		assert.deepEqual(readSetting("webClient", { MAP_TILE_URL: "none", WEB_DEMO: "true", GEOCODER_URL: "https://nominatim.example.org/" }).value, {
			tileUrl: null,
			tileAttribution: null,
			center: null,
			demo: true,
			geocoderUrl: "https://nominatim.example.org",
		});
		assert.equal(readSetting("webClient", { MAP_TILE_URL: "https://tiles.example.org/{z}/{x}/{y}.png" }).value.tileAttribution, null);
	});
});

describe("brokerOptions", () => {
	test("takes every broker option from the configuration", () => {
		const options = brokerOptions(
			{},
			{
				NAMESPACE: "ns1",
				NODE_ID: "n1",
				LOG_LEVEL: "warn",
				LOG_FORMAT: "json",
				METRICS_PORT: "3030",
				TRACING_EXPORTER: "Console",
				HEARTBEAT_INTERVAL: "1",
				HEARTBEAT_TIMEOUT: "3",
			},
		);
		assert.equal(options.namespace, "ns1");
		assert.equal(options.nodeID, "n1");
		const logger = options.logger as unknown as { options: { level: string; formatter: string } };
		assert.deepEqual([logger.options.level, logger.options.formatter], ["warn", "json"]);
		assert.equal(options.metrics && typeof options.metrics === "object" && options.metrics.enabled, true);
		assert.deepEqual(options.tracing && typeof options.tracing === "object" && options.tracing.exporter, ["Console"]);
		assert.deepEqual([options.heartbeatInterval, options.heartbeatTimeout], [1, 3]);
		assert.throws(() => brokerOptions({}, { LOG_LEVEL: "loud" }), ConfigError);
	});

	test("the NATS transporter gets the credentials beside a server list, also when moleculer-runner set `transporter` from TRANSPORTER", async () => {
		const env = { TRANSPORTER: "nats://nats1:4222,nats://nats2:4222", NATS_USER: "positionpal", NATS_PASSWORD_FILE: secretFile("nats-pw", "p@ss:word/1\n") };
		// The runner overwrites `transporter` with the raw TRANSPORTER value, as here.
		const broker = new ServiceBroker({ ...brokerOptions({ logger: false }, env), transporter: env.TRANSPORTER as "NATS" });
		const opts = broker.transit!.tx.opts as Record<string, unknown>;
		assert.equal(opts.url, undefined, "no URL left for the transporter to take (empty) credentials from");
		assert.deepEqual(opts.servers, ["nats1:4222", "nats2:4222"]);
		assert.equal(opts.user, "positionpal");
		assert.equal(opts.pass, "p@ss:word/1");

		const open = new ServiceBroker(brokerOptions({ logger: false }, { TRANSPORTER: "nats://nats1:4222" }));
		assert.equal((open.transit!.tx.opts as Record<string, unknown>).url, "nats://nats1:4222", "without credentials the transporter is left as it was");
		assert.equal((open.transit!.tx.opts as Record<string, unknown>).user, undefined);
	});
});

test("every variable lib/config.ts reads is in the README's configuration table", () => {
	const readme = readFileSync(join(ROOT, "README.md"), "utf8");
	const table = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("\n## ", readme.indexOf("## Configuration") + 1));
	const documented = new Set([...table.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map(m => m[1]!));
	const missing: string[] = [];
	for (const names of configVariables().values()) {
		for (const name of names) {
			// NAME_FILE is documented as "(`_FILE`)" or "NAME / NAME_FILE" beside NAME.
			const base = name.replace(/_FILE$/, "");
			if (!documented.has(name) && !documented.has(base)) missing.push(name);
		}
	}
	assert.deepEqual(missing, []);
});

test("a service process started with bad values exits at once with EXIT_CONFIG and a message naming each, without a stack trace", async () => {
	const env: NodeJS.ProcessEnv = { ...process.env, PORT: "abc", OFFLINE_AFTER: "soon", AUTH_RATE_LIMIT: "-1", TRUST_PROXY: "maybe", NODE_ID: "config-check" };
	const child = spawn(
		process.execPath,
		["--import", "tsx", "node_modules/moleculer/bin/moleculer-runner.mjs", "--config", "moleculer.config.ts", "services/gateway.service.ts"],
		{
			cwd: ROOT,
			env,
			stdio: ["ignore", "pipe", "pipe"],
		},
	);
	let output = "";
	child.stdout.on("data", chunk => (output += chunk));
	child.stderr.on("data", chunk => (output += chunk));
	const code = await new Promise<number | null>(resolveExit => child.once("exit", resolveExit));
	assert.equal(code, EXIT_CONFIG, output);
	for (const line of ['PORT: "abc"', 'OFFLINE_AFTER: "soon"', 'AUTH_RATE_LIMIT: "-1"', 'TRUST_PROXY: "maybe"'])
		assert.ok(output.includes(line), `${line} in:\n${output}`);
	assert.doesNotMatch(output, /^\s+at /m, "no stack trace");
	assert.doesNotMatch(output, /ServiceBroker/, "stopped before a broker was made");
});
