import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parse } from "yaml";
import { configVariables } from "../../lib/config.js";
import { GATEWAY_NODE_OPTIONS } from "../support/system.js";

/**
 * The deployment files (docker/) checked without a Docker engine: the CLI's own validation of the
 * stack, and the facts the stack and the image depend on in the code (service files, secrets the
 * code reads, databases, NATS cluster, networks, package scripts, runner path). The entrypoint and
 * healthcheck scripts run here for real.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");
const run = promisify(execFile);

// ---- Compose file model (only what the checks read) ---------------------------------------------

type Env = Record<string, string | number | boolean | null>;
type SecretRef = string | { source: string; target?: string };
interface ComposeService {
	image?: string;
	entrypoint?: string | string[];
	command?: string | string[];
	environment?: Env | string[];
	secrets?: SecretRef[];
	configs?: Array<string | { source: string; target?: string }>;
	networks?: string[] | Record<string, unknown>;
	ports?: Array<string | number | { target: number; published?: number | string }>;
	volumes?: Array<string | { type?: string; source?: string; target: string }>;
	healthcheck?: { test?: string | string[]; disable?: boolean };
	deploy?: {
		replicas?: number;
		restart_policy?: { condition?: string };
		update_config?: { order?: string };
		resources?: { limits?: { cpus?: string; memory?: string } };
	};
}
interface ComposeFile {
	services: Record<string, ComposeService>;
	networks?: Record<string, { driver?: string; internal?: boolean } | null>;
	volumes?: Record<string, unknown>;
	secrets?: Record<string, { external?: boolean; file?: string } | null>;
	configs?: Record<string, { file?: string; name?: string } | null>;
}

const loadCompose = (path: string) => parse(read(path), { merge: true }) as ComposeFile;

function envOf(service: ComposeService): Record<string, string> {
	const env: Record<string, string> = {};
	if (Array.isArray(service.environment)) {
		for (const line of service.environment) {
			const at = line.indexOf("=");
			if (at > 0) env[line.slice(0, at)] = line.slice(at + 1);
		}
	} else {
		for (const [key, value] of Object.entries(service.environment ?? {})) env[key] = value === null ? "" : String(value);
	}
	return env;
}
const networksOf = (service: ComposeService) => (Array.isArray(service.networks) ? service.networks : Object.keys(service.networks ?? {}));
/** Secrets as mounted: /run/secrets/<target> → source name. */
function secretMountsOf(service: ComposeService): Map<string, string> {
	const mounts = new Map<string, string>();
	for (const ref of service.secrets ?? []) {
		if (typeof ref === "string") mounts.set(ref, ref);
		else mounts.set(ref.target ?? ref.source, ref.source);
	}
	return mounts;
}
const commandOf = (service: ComposeService) => (Array.isArray(service.command) ? service.command : (service.command ?? "").split(/\s+/).filter(Boolean));
function flag(args: string[], ...names: string[]): string | undefined {
	const at = args.findIndex(arg => names.includes(arg));
	return at >= 0 ? args[at + 1] : undefined;
}

// ---- What the code needs ---------------------------------------------------------------------------

const serviceFiles = () =>
	readdirSync(join(ROOT, "services"))
		.filter(file => file.endsWith(".service.ts"))
		.map(file => file.replace(/\.service\.ts$/, ""));

/** The service file and its own folder (services/<name>/), where its code may read configuration. */
function sourcesOf(name: string): string {
	let text = read(`services/${name}.service.ts`);
	const folder = join(ROOT, "services", name);
	if (existsSync(folder)) {
		for (const file of readdirSync(folder, { recursive: true, encoding: "utf8" })) {
			if (file.endsWith(".ts")) text += "\n" + readFileSync(join(folder, file), "utf8");
		}
	}
	return text;
}

const SECRET_CALL = /secretFromEnv\(\s*["'`]([A-Z0-9_]+)["'`]\s*\)/g;

/** config.<setting>() of lib/config.ts → the secrets (variables it reads as NAME_FILE) of that setting. */
function secretsByConfigAccessor(): Map<string, string[]> {
	const result = new Map<string, string[]>();
	for (const [setting, names] of configVariables()) {
		const secrets = names.filter(name => name.endsWith("_FILE")).map(name => name.slice(0, -"_FILE".length));
		if (secrets.length > 0) result.set(setting, secrets);
	}
	assert.ok(result.has("jwtSecret") && result.has("vapid"), "lib/config.ts reads secrets (JWT_SECRET, VAPID keys)");
	return result;
}

/** Secrets (NAME, read as NAME or NAME_FILE) each service's code reads. */
function secretsNeededBy(name: string): string[] {
	const source = sourcesOf(name);
	// Every process runs moleculer.config.ts, which reads `settings.<setting>` of lib/config.ts.
	const broker = read("moleculer.config.ts");
	const needed = new Set([...source.matchAll(SECRET_CALL)].map(m => m[1]!));
	for (const [accessor, secrets] of secretsByConfigAccessor()) {
		if (new RegExp(`\\bconfig\\.${accessor}\\(`).test(source) || new RegExp(`\\bsettings\\.${accessor}\\b`).test(broker)) secrets.forEach(s => needed.add(s));
	}
	return [...needed].sort();
}

const usesDatabase = (name: string) => /\bMongooseMixin\(/.test(sourcesOf(name));

// ---- The stack -------------------------------------------------------------------------------------

const STACK = "docker/docker-stack.yml";
const COMPOSE = "docker/docker-compose.yml";
const stack = loadCompose(STACK);

/** The stack services running PositionPal code (the gateway's image), with the service names they run. */
function appServices(file: ComposeFile): Array<[string, ComposeService, string[]]> {
	const image = file.services.gateway?.image;
	assert.ok(image, "a gateway service with an image");
	return Object.entries(file.services)
		.filter(([, service]) => service.image === image)
		.map(([key, service]) => {
			const names = (envOf(service).SERVICES ?? "")
				.split(",")
				.map(s => s.trim())
				.filter(Boolean);
			return [key, service, names];
		});
}
const stackServiceRunning = (name: string) => appServices(stack).find(([, , names]) => names.includes(name));

const dockerCli = spawnSync("docker", ["--version"], { encoding: "utf8" });
const hasDocker = !dockerCli.error && dockerCli.status === 0;

test(
	"docker stack config accepts the stack file",
	{ skip: hasDocker ? false : "the docker CLI is not installed here, so `docker stack config` cannot run" },
	() => {
		// `docker stack config` validates and interpolates the file with the CLI's own loader; no engine needed.
		const result = spawnSync("docker", ["stack", "config", "-c", STACK], { cwd: ROOT, encoding: "utf8", timeout: 30_000 });
		assert.equal(result.status, 0, `docker stack config failed:\n${result.stderr}`);
		for (const name of Object.keys(stack.services)) assert.match(result.stdout, new RegExp(`^  ${name}:$`, "m"));
	},
);

test("docker compose config accepts the compose file", t => {
	const probe = hasDocker ? spawnSync("docker", ["compose", "version"], { encoding: "utf8" }) : undefined;
	if (!probe || probe.status !== 0) {
		t.skip("the Docker Compose plugin is not installed here, so `docker compose config` cannot run");
		return;
	}
	// The secret files are local and git-ignored; compose only needs them to exist.
	const created = ["jwt_secret", "nats_password"].map(name => join(ROOT, "docker", "secrets", name)).filter(file => !existsSync(file));
	for (const file of created) writeFileSync(file, "validation-only\n");
	try {
		const result = spawnSync("docker", ["compose", "-f", COMPOSE, "config", "--quiet"], { cwd: ROOT, encoding: "utf8", timeout: 30_000 });
		assert.equal(result.status, 0, `docker compose config failed:\n${result.stderr}`);
	} finally {
		for (const file of created) rmSync(file);
	}
});

test("every PositionPal service of the stack and of the compose file runs a service file that exists, and every service file runs", () => {
	for (const [path, file] of [
		[STACK, stack],
		[COMPOSE, loadCompose(COMPOSE)],
	] as const) {
		const running: string[] = [];
		for (const [key, , names] of appServices(file)) {
			assert.ok(names.length > 0, `${path}: ${key} sets SERVICES`);
			for (const name of names) {
				assert.ok(existsSync(join(ROOT, "services", `${name}.service.ts`)), `${path}: ${key} runs "${name}" but services/${name}.service.ts does not exist`);
				running.push(name);
			}
		}
		assert.deepEqual([...new Set(running)].sort(), serviceFiles().sort(), `${path}: every services/*.service.ts runs exactly somewhere`);
		assert.equal(running.length, new Set(running).size, `${path}: no service runs in two stack services`);
	}
});

test("every secret the code reads is a Docker secret of the service that reads it", () => {
	const declared = stack.secrets ?? {};
	let checked = 0;
	for (const name of serviceFiles()) {
		const entry = stackServiceRunning(name);
		assert.ok(entry, `a stack service runs ${name}`);
		const [key, service] = entry;
		const env = envOf(service);
		const mounts = secretMountsOf(service);
		for (const secret of secretsNeededBy(name)) {
			checked++;
			const path = env[`${secret}_FILE`];
			assert.ok(path, `${key}: the ${name} service reads ${secret}: set ${secret}_FILE`);
			assert.equal(env[secret], undefined, `${key}: ${secret} must come from a secret file, not the environment`);
			const target = path.replace(/^\/run\/secrets\//, "");
			assert.notEqual(target, path, `${key}: ${secret}_FILE points into /run/secrets/`);
			const source = mounts.get(target);
			assert.ok(source, `${key}: secret ${target} (for ${secret}_FILE) is attached`);
			assert.ok(source in declared, `secret ${source} is declared at the top level`);
		}
	}
	assert.ok(checked >= 3, "the code's secrets were found (JWT_SECRET, VAPID keys)");
	assert.deepEqual(secretsNeededBy("users"), ["JWT_SECRET", "NATS_PASSWORD"]);
	assert.deepEqual(secretsNeededBy("gateway"), ["NATS_PASSWORD"], "every process logs in to NATS");
});

test("each service with a database has its own MongoDB user, created by the init script from the same secret", () => {
	const mongo = Object.values(stack.services).find(s => s.image?.startsWith("mongo:"));
	assert.ok(mongo, "a MongoDB service (official image)");
	const mongoMounts = secretMountsOf(mongo);
	assert.ok(envOf(mongo).MONGO_INITDB_ROOT_PASSWORD_FILE?.startsWith("/run/secrets/"), "root password from a secret");
	assert.ok(mongoMounts.has(envOf(mongo).MONGO_INITDB_ROOT_PASSWORD_FILE!.replace("/run/secrets/", "")));
	const init = (mongo.configs ?? []).map(c => (typeof c === "string" ? { source: c, target: `/${c}` } : c));
	const script = init.find(c => c.target?.startsWith("/docker-entrypoint-initdb.d/") && c.target.endsWith(".js"));
	assert.ok(script, "an init script in /docker-entrypoint-initdb.d/");
	const scriptFile = stack.configs?.[script.source]?.file;
	assert.ok(scriptFile && existsSync(join(ROOT, "docker", scriptFile)), `config ${script.source} names a file that exists`);
	assert.match(readFileSync(join(ROOT, "docker", scriptFile), "utf8"), /mongo_\(\[a-z\]/, "the script finds mongo_<service>_password secrets");

	const databaseServices = serviceFiles().filter(usesDatabase);
	assert.ok(databaseServices.includes("users") && !databaseServices.includes("gateway"));
	for (const name of databaseServices) {
		const entry = stackServiceRunning(name);
		assert.ok(entry, `a stack service runs ${name}`);
		const [key, service] = entry;
		const env = envOf(service);
		assert.equal(env.MONGO_URL, undefined, `${key}: no credentials in plain environment`);
		assert.equal(env.MONGO_USERNAME, name, `${key}: MongoDB user`);
		assert.equal(env.MONGO_AUTH_SOURCE, `positionpal_${name}`, `${key}: the user lives in the service's own database`);
		const target = `mongo_${name}_password`;
		assert.equal(env.MONGO_PASSWORD_FILE, `/run/secrets/${target}`, `${key}: MONGO_PASSWORD_FILE`);
		const source = secretMountsOf(service).get(target);
		assert.ok(source, `${key}: secret ${target} attached`);
		assert.equal(mongoMounts.get(target), source, `mongo gets the same secret as ${target}, so the init script creates the user`);
	}
});

test("only the gateway publishes a port; everything is on the internal overlay network", () => {
	const internal = stack.networks?.internal;
	assert.ok(internal, "an `internal` network");
	assert.equal(internal.driver, "overlay");
	assert.equal(internal.internal, true, "no way in or out of the internal network");
	for (const [key, service] of Object.entries(stack.services)) {
		assert.ok(networksOf(service).includes("internal"), `${key} is on the internal network`);
		if (key !== "gateway") assert.equal(service.ports, undefined, `${key} publishes no port`);
	}
	const gateway = stack.services.gateway!;
	const ports = gateway.ports ?? [];
	assert.equal(ports.length, 1, "the gateway publishes one port");
	const port = ports[0]!;
	assert.equal(
		typeof port === "object" ? port.target : Number(String(port).split(":").at(-1)),
		Number(envOf(gateway).PORT),
		"the published port is the gateway's PORT",
	);
	assert.ok((gateway.deploy?.replicas ?? 1) >= 2, "at least two gateways");
	assert.equal(envOf(gateway).TRUST_PROXY, "1");

	const compose = loadCompose(COMPOSE);
	for (const [key, service] of Object.entries(compose.services)) {
		if (key !== "gateway") assert.equal(service.ports, undefined, `compose: ${key} publishes no port`);
	}
});

test("the gateway runs with the Node.js options the tests and benchmarks measured", () => {
	assert.equal(envOf(stack.services.gateway!).NODE_OPTIONS, GATEWAY_NODE_OPTIONS, "stack");
	assert.equal(envOf(loadCompose(COMPOSE).services.gateway!).NODE_OPTIONS, GATEWAY_NODE_OPTIONS, "compose");
});

/** A NATS config of docker/nats/ without its comments. */
const natsConfig = (file: string) => read(join("docker", "nats", file)).replace(/#.*$/gm, "");
const natsServices = (file: ComposeFile) => Object.entries(file.services).filter(([, s]) => s.image?.startsWith("nats:"));
const listOf = (value: string | string[] | undefined) => (Array.isArray(value) ? value : (value ?? "").split(/\s+/).filter(Boolean));
/** The docker/nats/ file a stack config names. */
const stackConfigFile = (source: string) => stack.configs?.[source]?.file?.replace(/^\.\//, "docker/");

test("NATS is a 3-node JetStream cluster with persistent volumes, and every process knows all nodes", () => {
	const nats = natsServices(stack);
	assert.equal(nats.length, 3, "three NATS services");
	const names = nats.map(([key]) => key);
	for (const [key, service] of nats) {
		// docker/nats/start.sh starts nats-server with the stack's configs: cluster.conf includes nats.conf.
		assert.deepEqual(listOf(service.entrypoint), ["/bin/sh", "/etc/nats/start.sh", "/etc/nats/cluster.conf"], `${key}: started by start.sh with cluster.conf`);
		const mounted = new Map((service.configs ?? []).map(c => (typeof c === "string" ? [`/${c}`, c] : [c.target ?? `/${c.source}`, c.source])));
		for (const file of ["start.sh", "nats.conf", "cluster.conf"]) {
			const source = mounted.get(`/etc/nats/${file}`);
			assert.ok(source, `${key}: /etc/nats/${file} is mounted`);
			assert.equal(stackConfigFile(source), `docker/nats/${file}`, `${key}: /etc/nats/${file} is docker/nats/${file}`);
		}
		const args = commandOf(service);
		assert.equal(flag(args, "--server_name", "-n", "--name"), key, `${key}: server name`);
		const storeDir = flag(args, "-sd", "--store_dir");
		assert.ok(storeDir, `${key}: JetStream store dir`);
		const mount = (service.volumes ?? [])
			.map(v => (typeof v === "string" ? { source: v.split(":")[0], target: v.split(":")[1] } : v))
			.find(v => v.target === storeDir);
		assert.ok(mount?.source && mount.source in (stack.volumes ?? {}), `${key}: ${storeDir} is a named volume`);
		const routes = (envOf(service).NATS_ROUTE_HOSTS ?? "").split(",");
		for (const peer of names) assert.ok(routes.includes(`${peer}:6222`), `${key} routes to ${peer}`);
	}
	const cluster = natsConfig("cluster.conf");
	assert.match(cluster, /^include \.\/nats\.conf$/m);
	assert.match(cluster, /cluster \{[^]*name: positionpal[^]*listen: 0\.0\.0\.0:6222[^]*routes: \$NATS_ROUTES/);
	assert.match(natsConfig("nats.conf"), /^jetstream: enabled$/m);

	for (const [key, service] of appServices(stack)) {
		const servers = (envOf(service).TRANSPORTER ?? "").split(",");
		assert.deepEqual(servers.sort(), names.map(n => `nats://${n}:4222`).sort(), `${key}: TRANSPORTER lists every NATS node`);
		const env = envOf(service);
		assert.equal(env.NODE_ENV, "production");
		assert.equal(env.LOG_FORMAT, "json");
		assert.equal(env.METRICS_PORT, "3030");
	}
});

test("NATS requires credentials from one Docker secret, and every PositionPal process and NATS node gets it", () => {
	// The server side: clients and routes log in with the variables start.sh sets from the secret.
	const server = natsConfig("nats.conf");
	assert.match(server, /^authorization \{\s*user: \$NATS_USER\s+password: \$NATS_PASSWORD\s*\}/m, "nats.conf: clients log in");
	assert.doesNotMatch(server, /no_auth_user|allow_anonymous/i, "no anonymous fallback");
	assert.match(natsConfig("cluster.conf"), /cluster \{[^]*authorization \{\s*user: route\s+password: \$NATS_PASSWORD\s*\}/, "cluster.conf: routes log in");
	const start = read("docker/nats/start.sh");
	assert.match(start, /password="\$\(cat "\$NATS_PASSWORD_FILE"\)"/, "start.sh reads the password from NATS_PASSWORD_FILE");
	assert.match(start, /nats:\/\/route:\$password@\$host/, "start.sh gives each route the credentials");

	for (const [path, file] of [
		[STACK, stack],
		[COMPOSE, loadCompose(COMPOSE)],
	] as const) {
		const nats = natsServices(file);
		assert.ok(nats.length >= 1, `${path}: a NATS service`);
		const sources = new Set<string>();
		const users = new Set<string>();
		const secretSource = (key: string, service: ComposeService) => {
			const env = envOf(service);
			assert.equal(env.NATS_PASSWORD, undefined, `${path}: ${key}: the password comes from a secret file, not the environment`);
			const target = env.NATS_PASSWORD_FILE?.replace(/^\/run\/secrets\//, "");
			assert.ok(target && target !== env.NATS_PASSWORD_FILE, `${path}: ${key}: NATS_PASSWORD_FILE points into /run/secrets/`);
			const source = secretMountsOf(service).get(target);
			assert.ok(source, `${path}: ${key}: secret ${target} (NATS_PASSWORD_FILE) is attached`);
			assert.ok(source in (file.secrets ?? {}), `${path}: secret ${source} is declared`);
			assert.ok(env.NATS_USER, `${path}: ${key}: NATS_USER`);
			sources.add(source);
			users.add(env.NATS_USER);
		};
		for (const [key, service] of nats) {
			assert.equal(listOf(service.entrypoint)[1], "/etc/nats/start.sh", `${path}: ${key} starts through start.sh`);
			secretSource(key, service);
		}
		for (const [key, service] of appServices(file)) {
			assert.equal(envOf(service).NODE_ENV, "production", `${path}: ${key}: production, so it refuses to start without the credentials`);
			assert.equal(envOf(service).NATS_ALLOW_ANONYMOUS, undefined, `${path}: ${key}: no anonymous NATS`);
			secretSource(key, service);
		}
		assert.equal(sources.size, 1, `${path}: one NATS password secret for servers and clients (${[...sources].join(", ")})`);
		assert.equal(users.size, 1, `${path}: one NATS user for servers and clients`);
	}
	assert.equal(stack.secrets?.positionpal_nats_password?.external, true, "the stack's NATS password is created with `docker secret create`");
});

test("every stack service restarts, updates in order, has limits and a healthcheck; stateful ones stop before they start", () => {
	for (const [key, service] of Object.entries(stack.services)) {
		const deploy = service.deploy;
		assert.ok(deploy?.restart_policy?.condition, `${key}: restart policy`);
		assert.ok(deploy.update_config?.order, `${key}: update order`);
		assert.ok(deploy.resources?.limits?.memory && deploy.resources.limits.cpus, `${key}: resource limits`);
		assert.ok(service.healthcheck?.test && !service.healthcheck.disable, `${key}: healthcheck`);
		const hasVolume = (service.volumes ?? []).length > 0;
		assert.equal(
			deploy.update_config.order,
			hasVolume ? "stop-first" : "start-first",
			`${key}: ${hasVolume ? "one copy per volume" : "no downtime on update"}`,
		);
	}
	for (const [key, service] of appServices(stack)) {
		assert.deepEqual(service.healthcheck?.test, ["CMD", "node", "/app/docker/healthcheck.mjs"], `${key}: the image's healthcheck`);
	}
});

// ---- The image -------------------------------------------------------------------------------------

interface Instruction {
	op: string;
	args: string;
}
function dockerfile(): Instruction[][] {
	const text = read("docker/Dockerfile").replace(/\\\r?\n/g, " ");
	const stages: Instruction[][] = [];
	const argDefaults: Record<string, string> = {};
	for (const line of text.split(/\r?\n/)) {
		const match = /^\s*([A-Z]+)\s+(.*)$/.exec(line);
		if (!match || line.trim().startsWith("#")) continue;
		const op = match[1]!;
		const args = match[2]!.replace(/\$\{(\w+)\}/g, (_, name: string) => argDefaults[name] ?? "");
		if (op === "ARG" && stages.length === 0) {
			const [name, value] = args.split("=");
			argDefaults[name!.trim()] = value?.trim() ?? "";
			continue;
		}
		if (op === "FROM") stages.push([]);
		stages.at(-1)?.push({ op, args });
	}
	return stages;
}
const isDockerIgnored = (path: string) =>
	read(".dockerignore")
		.split(/\r?\n/)
		.map(line => line.trim())
		.filter(line => line && !line.startsWith("#"))
		.some(pattern => {
			const clean = pattern.replace(/^\*\*\//, "");
			return path === clean || path.startsWith(`${clean}/`);
		});

test("the Dockerfile builds with the package scripts and runs the compiled services as a non-root user", () => {
	const stages = dockerfile();
	assert.ok(stages.length >= 2, "multi-stage");
	const runtime = stages.at(-1)!;
	assert.match(runtime[0]!.args, /^node:24-alpine\b/, "runtime image node:24-alpine");
	const all = stages.flat();
	const runs = all.filter(i => i.op === "RUN").map(i => i.args);

	// Scripts named in RUN lines exist in package.json; the build is `npm run build` → tsconfig.build.json.
	const pkg = JSON.parse(read("package.json")) as { scripts: Record<string, string>; dependencies: Record<string, string> };
	const scripts = runs.flatMap(r => [...r.matchAll(/npm run ([\w:-]+)/g)].map(m => m[1]!));
	assert.ok(scripts.includes("build"), "the image runs `npm run build`");
	for (const script of scripts) assert.ok(pkg.scripts[script], `package.json has script "${script}"`);
	assert.match(pkg.scripts.build!, /tsconfig\.build\.json/);
	assert.ok(
		runs.some(r => /npm ci\b.*--omit=dev/.test(r)),
		"production dependencies via npm ci --omit=dev",
	);
	assert.ok(pkg.dependencies.moleculer, "moleculer (the runner) is a production dependency");

	// What `npm run build` compiles is copied into the build stage, and lands where the runtime expects it.
	const build = stages.find(stage => stage.some(i => i.op === "RUN" && /npm run build/.test(i.args)))!;
	const copied = build.filter(i => i.op === "COPY" && !i.args.includes("--from")).flatMap(i => i.args.split(/\s+/).slice(0, -1));
	const buildConfig = JSON.parse(read("tsconfig.build.json")) as { extends?: string; include: string[] };
	const baseConfig = JSON.parse(read("tsconfig.json")) as { compilerOptions: { outDir?: string; rootDir?: string } };
	assert.equal(baseConfig.compilerOptions.outDir, "dist");
	assert.equal(baseConfig.compilerOptions.rootDir, ".", "dist/ mirrors the source tree");
	for (const pattern of buildConfig.include) {
		const top = pattern.split("/")[0]!;
		assert.ok(copied.includes(top), `the build stage copies ${top} (tsconfig.build.json includes ${pattern})`);
	}
	for (const file of ["package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json"])
		assert.ok(copied.includes(file), `build stage copies ${file}`);

	// Every file copied from the context exists and is not excluded by .dockerignore.
	for (const instruction of all.filter(i => i.op === "COPY" && !i.args.includes("--from"))) {
		for (const source of instruction.args
			.split(/\s+/)
			.filter(a => !a.startsWith("--"))
			.slice(0, -1)) {
			assert.ok(existsSync(join(ROOT, source)), `COPY ${source}: exists`);
			assert.ok(!isDockerIgnored(source), `COPY ${source}: not in .dockerignore`);
		}
	}

	// Runtime: non-root, healthcheck, entrypoint that runs the moleculer runner on the compiled config.
	const user = runtime
		.filter(i => i.op === "USER")
		.at(-1)
		?.args.trim();
	assert.ok(user && !["root", "0", "0:0"].includes(user), "runs as a non-root user");
	const health = runtime.find(i => i.op === "HEALTHCHECK");
	assert.ok(health, "HEALTHCHECK");
	assert.match(health.args, /\/app\/docker\/healthcheck\.mjs/);
	assert.ok(runtime.some(i => i.op === "COPY" && i.args.includes("docker/healthcheck.mjs")));
	assert.ok(
		runtime.some(i => i.op === "ENV" && /SERVICEDIR=dist\/services\b/.test(i.args)),
		"SERVICEDIR=dist/services",
	);
	const entrypoint = runtime.find(i => i.op === "ENTRYPOINT");
	assert.ok(entrypoint);
	assert.deepEqual(JSON.parse(entrypoint.args), ["/app/docker/entrypoint.sh"]);
	accessSync(join(ROOT, "docker", "entrypoint.sh"), constants.X_OK);

	const script = read("docker/entrypoint.sh");
	const runner = /exec node (\S+) --config (\S+)/.exec(script);
	assert.ok(runner, "the entrypoint execs node <runner> --config <file>");
	assert.equal(runner[1], "node_modules/moleculer/bin/moleculer-runner.mjs");
	assert.ok(statSync(join(ROOT, runner[1]!)).isFile(), `${runner[1]} exists in node_modules`);
	assert.equal(runner[2], "dist/moleculer.config.js");
	assert.ok(
		existsSync(join(ROOT, "moleculer.config.ts")) && buildConfig.include.includes("moleculer.config.ts"),
		"dist/moleculer.config.js is compiled from moleculer.config.ts",
	);
});

// ---- The entrypoint and healthcheck, run for real ---------------------------------------------

/** Runs docker/entrypoint.sh with a fake compiled tree, printing what it would pass on. */
async function entrypoint(env: Record<string, string>, command = 'printf "%s|%s" "$SERVICES" "$MONGO_URL"') {
	const dir = mkdtempSync(join(tmpdir(), "pp-entrypoint-"));
	try {
		mkdirSync(join(dir, "services", "gateway"), { recursive: true });
		for (const name of ["gateway", "users", "location"]) writeFileSync(join(dir, "services", `${name}.service.js`), "");
		const { stdout } = await run("sh", [join(ROOT, "docker", "entrypoint.sh"), "sh", "-c", command], {
			cwd: dir,
			env: { PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH}`, SERVICEDIR: join(dir, "services"), ...env },
		});
		return stdout;
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
}

test("the entrypoint turns short service names into files and refuses unknown ones", async () => {
	// "gateway" alone would be the helper folder services/gateway/ for moleculer-runner.
	assert.equal(await entrypoint({ SERVICES: "gateway" }), "gateway.service.js|");
	assert.equal(await entrypoint({ SERVICES: " users , location " }), "users.service.js,location.service.js|");
	assert.equal(await entrypoint({}), "*.service.js|", "all services by default");
	await assert.rejects(entrypoint({ SERVICES: "users,nope" }), (err: { code?: number; stderr?: string }) => {
		assert.equal(err.code, 64);
		assert.match(err.stderr ?? "", /"nope".*available: gateway location users/);
		return true;
	});
});

test("the entrypoint builds MONGO_URL from a secret file, percent-encoding the credentials", async () => {
	const dir = mkdtempSync(join(tmpdir(), "pp-secret-"));
	try {
		writeFileSync(join(dir, "password"), "p@ss/w:rd%\n");
		writeFileSync(join(dir, "url"), "mongodb://u:p@db:27017/?authSource=x\n");
		const built = await entrypoint({
			SERVICES: "users",
			MONGO_USERNAME: "users",
			MONGO_PASSWORD_FILE: join(dir, "password"),
			MONGO_AUTH_SOURCE: "positionpal_users",
		});
		assert.equal(built, "users.service.js|mongodb://users:p%40ss%2Fw%3Ard%25@mongo:27017/?authSource=positionpal_users");
		const url = new URL(built.split("|")[1]!);
		assert.equal(decodeURIComponent(url.password), "p@ss/w:rd%");
		assert.equal(await entrypoint({ SERVICES: "users", MONGO_URL_FILE: join(dir, "url") }), "users.service.js|mongodb://u:p@db:27017/?authSource=x");
		writeFileSync(join(dir, "empty"), "\n");
		await assert.rejects(entrypoint({ MONGO_USERNAME: "users", MONGO_PASSWORD_FILE: join(dir, "empty") }), /is empty/);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});

async function listen(status: (path: string) => number): Promise<Server> {
	const server = createServer((req, res) => res.writeHead(status(req.url ?? "")).end());
	await new Promise<void>(resolve => server.listen(0, "127.0.0.1", resolve));
	return server;
}
async function healthcheck(env: Record<string, string>): Promise<number> {
	try {
		await run(process.execPath, [join(ROOT, "docker", "healthcheck.mjs")], { env: { PATH: process.env.PATH ?? "", ...env }, timeout: 15_000 });
		return 0;
	} catch (err) {
		return (err as { code?: number }).code ?? -1;
	}
}

test("the healthcheck: the gateway is alive while /health answers, other services while /metrics answers", async () => {
	let healthStatus = 200;
	const server = await listen(path => (path === "/health" ? healthStatus : path === "/metrics" ? 200 : 404));
	const port = String((server.address() as AddressInfo).port);
	try {
		assert.equal(await healthcheck({ SERVICES: "gateway", PORT: port }), 0);
		healthStatus = 503; // a backend is down: restarting the gateway would not help
		assert.equal(await healthcheck({ SERVICES: "gateway", PORT: port }), 0);
		healthStatus = 500;
		assert.equal(await healthcheck({ SERVICES: "gateway", PORT: port }), 1);
		assert.equal(await healthcheck({ SERVICES: "users", METRICS_PORT: port }), 0);
	} finally {
		await new Promise(resolve => server.close(resolve));
	}
	assert.equal(await healthcheck({ SERVICES: "users", METRICS_PORT: port }), 1, "nothing listens any more");
	assert.equal(await healthcheck({ SERVICES: "gateway", PORT: port }), 1);
});
