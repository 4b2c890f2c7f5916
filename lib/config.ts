import { readFileSync } from "node:fs";
import { resolve } from "node:path";

/**
 * Every environment variable PositionPal reads (API.md §1, the README's table), in one table:
 * each setting with its default and its validator. `loadConfig(env)` reads and checks them all
 * and throws one ConfigError naming every bad variable; moleculer.config.ts calls it when a
 * process starts, so a bad value stops the process before anything connects.
 * Code reads a setting through `config.<setting>()`, which is parsed again only when one of its
 * variables changed (tests change process.env between brokers in one process).
 */

type Env = Readonly<Record<string, string | undefined>>;

/** One or more variables that fail validation; the message names each of them. */
export class ConfigError extends Error {
	constructor(readonly problems: string[]) {
		super(`Invalid configuration (environment variables):\n${problems.map(p => `  ${p}`).join("\n")}`);
		this.name = "ConfigError";
	}
}

/** A validator's refusal: the reader prefixes the variable (and its value, unless it may hold a credential). */
class Invalid extends Error {}

/** Reads the variables of settings from `env`, remembering which it read and what was wrong. */
class Reader {
	readonly names: string[] = [];
	readonly problems: string[] = [];

	constructor(private readonly env: Env) {}

	/** The trimmed value, or undefined when unset or blank. */
	raw(name: string): string | undefined {
		this.names.push(name);
		const value = this.env[name]?.trim();
		return value ? value : undefined;
	}

	/** NAME parsed by `parse`, or `fallback` when unset; a refused value is recorded and gives `fallback`. */
	value<T>(name: string, fallback: T, parse: (text: string) => T, opts: { hideValue?: boolean } = {}): T {
		const text = this.raw(name);
		if (text === undefined) return fallback;
		try {
			return parse(text);
		} catch (err) {
			if (!(err instanceof Invalid)) throw err;
			this.problem(opts.hideValue ? `${name} ${err.message} (value not shown: it may hold a credential)` : `${name}: "${text}" ${err.message}`);
			return fallback;
		}
	}

	/** A comma-separated list; unlike other variables, set but blank means the empty list. */
	list(name: string, fallback: string[], item: (text: string) => string): string[] {
		this.names.push(name);
		const text = this.env[name];
		if (text === undefined) return fallback;
		return text
			.split(",")
			.map(s => s.trim())
			.filter(Boolean)
			.flatMap(entry => {
				try {
					return [item(entry)];
				} catch (err) {
					if (!(err instanceof Invalid)) throw err;
					this.problem(`${name}: "${entry}" ${err.message}`);
					return [];
				}
			});
	}

	/** A secret from NAME_FILE (a Docker secret; it wins) or NAME; undefined when neither is set. */
	secret(name: string): string | undefined {
		const file = this.raw(`${name}_FILE`);
		const direct = this.raw(name);
		if (file === undefined) return direct;
		try {
			const text = readFileSync(file, "utf8").trim();
			if (!text) this.problem(`${name}_FILE: "${file}" is empty`);
			return text || undefined;
		} catch (err) {
			this.problem(`${name}_FILE: cannot read "${file}" (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
			return undefined;
		}
	}

	problem(message: string): void {
		this.problems.push(message);
	}
}

// ---- Validators: each returns the parsed value or throws Invalid("is not ..."). ----------------

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** Durations accept plain seconds ("60") or a unit suffix ("500ms", "2m"); returns milliseconds. */
export function parseDuration(text: string, name = "duration"): number {
	const match = DURATION.exec(text.trim());
	if (!match) throw new Error(`${name}: "${text}" is not a duration (seconds, or a number with ms/s/m/h)`);
	return Math.round(Number(match[1]) * UNIT_MS[(match[2] ?? "s") as keyof typeof UNIT_MS]);
}

const duration =
	({ allowZero = false } = {}) =>
	(text: string): number => {
		const match = DURATION.exec(text);
		if (!match) throw new Invalid("is not a duration (seconds, or a number with ms/s/m/h)");
		const ms = Math.round(Number(match[1]) * UNIT_MS[(match[2] ?? "s") as keyof typeof UNIT_MS]);
		if (ms === 0 && !allowZero) throw new Invalid("must be longer than 0");
		return ms;
	};

const integer =
	(min: number, max = Number.MAX_SAFE_INTEGER) =>
	(text: string): number => {
		if (!/^[+-]?\d+$/.test(text)) throw new Invalid("is not a whole number");
		const value = Number(text);
		if (value < min || value > max) throw new Invalid(max === Number.MAX_SAFE_INTEGER ? `must be ${min} or more` : `must be from ${min} to ${max}`);
		return value;
	};

const positiveNumber = (text: string): number => {
	const value = Number(text);
	if (!/^[+]?\d*\.?\d+(e[+-]?\d+)?$/i.test(text) || !Number.isFinite(value)) throw new Invalid("is not a number");
	if (value <= 0) throw new Invalid("must be more than 0");
	return value;
};

/** 1/true and 0/false; anything else is a typo worth stopping for (TRUST_PROXY=maybe). */
const flag = (text: string): boolean => {
	if (/^(1|true)$/i.test(text)) return true;
	if (/^(0|false)$/i.test(text)) return false;
	throw new Invalid("must be 1 or 0");
};

const oneOf =
	<T extends string>(...values: T[]) =>
	(text: string): T => {
		const found = values.find(v => v.toLowerCase() === text.toLowerCase());
		if (!found) throw new Invalid(`is not one of ${values.join(", ")}`);
		return found;
	};

const matching =
	(pattern: RegExp, what: string) =>
	(text: string): string => {
		if (!pattern.test(text)) throw new Invalid(`is not ${what}`);
		return text;
	};

/** A name that is safe in NATS subjects, JetStream stream names and database names. */
const NAME = /^[A-Za-z0-9_-]{1,48}$/;

/** TRANSPORTER: one or more comma-separated nats:// URLs (every node of a cluster), credentials apart. */
const natsUrls = (text: string): string => {
	for (const part of text.split(",")) {
		let url: URL;
		try {
			url = new URL(part.trim());
		} catch {
			throw new Invalid("is not a comma-separated list of nats:// URLs");
		}
		if (url.protocol !== "nats:") throw new Invalid(`is not a comma-separated list of nats:// URLs ("${url.protocol}")`);
		if (url.username || url.password) throw new Invalid("holds credentials: set NATS_USER and NATS_PASSWORD_FILE (or NATS_PASSWORD) instead");
	}
	return text;
};

const mongoUrl = (text: string): string => {
	if (!/^mongodb(\+srv)?:\/\/[^/?#]+/.test(text)) throw new Invalid("is not a mongodb:// or mongodb+srv:// URL");
	return text;
};

/** CORS_ORIGINS: "*" or origins such as https://app.example.org (scheme, host, optional port). */
const corsOrigins = (text: string): string => {
	if (text === "*") return text;
	for (const origin of text.split(",").map(o => o.trim())) {
		if (!/^https?:\/\/[^/?#\s]+$/i.test(origin)) throw new Invalid(`is not "*" or a comma-separated list of origins (scheme://host[:port]): "${origin}"`);
	}
	return text;
};

/** PUBLIC_URL: an http(s) URL without query or fragment; stored without a trailing slash. */
const publicUrl = (text: string): string => {
	let url: URL;
	try {
		url = new URL(text);
	} catch {
		throw new Invalid("is not a URL such as https://positionpal.example.org");
	}
	if (url.protocol !== "https:" && url.protocol !== "http:") throw new Invalid("is not an http:// or https:// URL");
	if (url.search || url.hash || url.username || url.password) throw new Invalid("must not hold a query, a fragment or credentials");
	return `${url.origin}${url.pathname}`.replace(/\/+$/, "");
};

/** "lat,lng" of the web client's empty map. */
const mapCenter = (text: string): [number, number] => {
	const parts = text.split(",").map(s => Number(s.trim()));
	const [lat, lng] = parts as [number, number];
	if (parts.length !== 2 || !parts.every(Number.isFinite) || Math.abs(lat) > 90 || Math.abs(lng) > 180) throw new Invalid('is not "lat,lng" (degrees)');
	return [lat, lng];
};

const TRACING_EXPORTERS = ["Console", "Datadog", "Event", "Jaeger", "Zipkin", "NewRelic"];

/** The Web Push (VAPID) keys and contact; push is off while they are unset. */
export interface VapidSettings {
	publicKey?: string;
	privateKey?: string;
	subject?: string;
}

/** What the browser client reads at start-up; nothing secret. */
export interface WebClientSettings {
	tileUrl: string | null;
	tileAttribution: string | null;
	center: [number, number] | null;
	/** WEB_DEMO: the web client offers a simulated walk as a location source (demos, tests). */
	demo: boolean;
	/** GEOCODER_URL: a Nominatim-compatible service the page asks for street addresses and place search; null: none (no outside calls). */
	geocoderUrl: string | null;
}

/** The web map's tiles unless MAP_TILE_URL says otherwise: OpenStreetMap's standard layer. */
export const OSM_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";
export const OSM_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors';

/** MAP_TILE_URL: an http(s) template, or "none" for no tiles (a plain grid; tests and air-gapped installs). */
const tileTemplate = (text: string): string | null => {
	if (text.trim().toLowerCase() === "none") return null;
	return matching(/^https?:\/\//i, 'an http(s) URL template or "none"')(text);
};

// ---- The settings ------------------------------------------------------------------------------

const SETTINGS = {
	production: r => r.raw("NODE_ENV") === "production",

	// Gateway
	port: r => r.value("PORT", 3000, integer(0, 65535)),
	host: r => r.value("HOST", "0.0.0.0", matching(/^[\w.:-]+$/, "a host name or IP address")),
	corsOrigins: r => r.value("CORS_ORIGINS", "*", corsOrigins),
	bodyLimit: r => r.value("BODY_LIMIT", "64kb", matching(/^\d+(\.\d+)?\s*(b|kb|mb|gb)?$/i, "a size such as 64kb or 1mb")),
	authRateLimit: r => r.value("AUTH_RATE_LIMIT", 20, integer(0)),
	trustProxy: r => r.value("TRUST_PROXY", false, flag),
	/** Open sockets one user may hold on one gateway; the next handshake fails with RATE_LIMITED. */
	maxSocketsPerUser: r => r.value("MAX_SOCKETS_PER_USER", 20, integer(1)),
	/** Services whose readiness `GET /health` reports; set but blank: none. */
	healthServices: r => r.list("HEALTH_SERVICES", ["users", "location", "chat", "notification", "devices"], matching(/^[\w.-]+$/, "a service name")),
	/** The built web client; undefined: web/dist beside the sources (services/gateway/static-files). */
	webRoot: r => r.value("WEB_ROOT", undefined as string | undefined, text => resolve(text)),
	webClient: (r): WebClientSettings => {
		const tileUrl = r.value("MAP_TILE_URL", OSM_TILE_URL as string | null, tileTemplate);
		return {
			tileUrl,
			tileAttribution: r.value("MAP_TILE_ATTRIBUTION", tileUrl === OSM_TILE_URL ? OSM_ATTRIBUTION : null, text => text),
			center: r.value("MAP_CENTER", null as [number, number] | null, mapCenter),
			demo: r.value("WEB_DEMO", false, flag),
			geocoderUrl: r.value("GEOCODER_URL", null as string | null, text => matching(/^https?:\/\/[^/?#]+/i, "an http(s) URL")(text).replace(/\/+$/, "")),
		};
	},

	// Users
	jwtSecret: r => r.secret("JWT_SECRET"),
	jwtTtlMs: r => r.value("JWT_TTL", 3_600_000, duration()),
	loginLockAfter: r => r.value("LOGIN_LOCK_AFTER", 10, integer(1)),
	passwordHashMaxWaitMs: r => r.value("PASSWORD_HASH_MAX_WAIT", 1000, duration({ allowZero: true })),
	/** libuv's thread pool (Node reads the variable itself); password hashing leaves one thread free. */
	uvThreadpoolSize: r => r.value("UV_THREADPOOL_SIZE", 4, integer(1, 1024)),
	// Consent limits (API.md §6.1)
	maxGroupsPerUser: r => r.value("MAX_GROUPS_PER_USER", 100, integer(1)),
	maxGroupMembers: r => r.value("MAX_GROUP_MEMBERS", 50, integer(1)),
	/** Invitations per user per hour; 0 turns the limit off. */
	inviteRateLimit: r => r.value("INVITE_RATE_LIMIT", 50, integer(0)),

	// Location
	offlineAfterMs: r => r.value("OFFLINE_AFTER", 60_000, duration()),
	stuckAfterMs: r => r.value("STUCK_AFTER", 300_000, duration()),
	stuckRadiusM: r => r.value("STUCK_RADIUS", 30, positiveNumber),
	arrivalRadiusM: r => r.value("ARRIVAL_RADIUS", 50, positiveNumber),
	trackingCheckEveryMs: r => r.value("TRACKING_CHECK_EVERY", 5000, duration()),
	/** Position samples per user per minute, from every source together (web, sockets, phones); SOS is never limited; 0 turns the limit off. */
	sampleRateLimit: r => r.value("SAMPLE_RATE_LIMIT", 120, integer(0)),
	/** Days each user's own position history is kept (API.md §6.6); 0: none is kept. */
	historyDays: r => r.value("HISTORY_DAYS", 30, integer(0, 3650)),

	// Devices (phones, API.md §6.2)
	/**
	 * The address phones and links use to reach the gateway (`https://positionpal.example.org`, a
	 * path prefix allowed), in the credentials a device gets; unset: the address the request came to.
	 */
	publicUrl: r => r.value("PUBLIC_URL", undefined as string | undefined, publicUrl),
	/** Failed device logins (unknown OsmAnd ids, wrong OwnTracks passwords) per minute per client address; 0 turns the limit off. */
	deviceAuthRateLimit: r => r.value("DEVICE_AUTH_RATE_LIMIT", 20, integer(0)),

	// Chat
	presenceSweepEveryMs: r => r.value("PRESENCE_SWEEP_EVERY", 10_000, duration()),
	presenceSweepGraceMs: r => r.value("PRESENCE_SWEEP_GRACE", 15_000, duration()),
	/** Chat messages per user per minute, counted in chat's database (so across chat instances); 0 turns the limit off. */
	chatRateLimit: r => r.value("CHAT_RATE_LIMIT", 60, integer(0)),

	// Notification
	vapid: (r): VapidSettings => ({
		publicKey: r.secret("VAPID_PUBLIC_KEY"),
		privateKey: r.secret("VAPID_PRIVATE_KEY"),
		subject: r.raw("VAPID_SUBJECT"),
	}),
	/**
	 * Push endpoints may be any http(s) URL, loopback and private addresses included (a local push
	 * service in tests, an on-premises relay). Off by default in production: https endpoints of
	 * public hosts only, checked after DNS resolution when registered and again at every send.
	 */
	pushAllowPrivateEndpoints: r => r.value("PUSH_ALLOW_PRIVATE_ENDPOINTS", r.raw("NODE_ENV") !== "production", flag),

	// Databases
	mongoUrl: r => r.value("MONGO_URL", "mongodb://127.0.0.1:27017", mongoUrl, { hideValue: true }),
	/** Databases are `<prefix>_<service>` (tests isolate runs with it). */
	mongoDbPrefix: r => r.value("MONGO_DB_PREFIX", "positionpal", matching(NAME, "a name of letters, digits, _ and - (at most 48)")),
	dbProfile: r => r.value("DB_PROFILE", false, flag),

	// Broker and NATS (moleculer.config.ts)
	transporter: r => r.value("TRANSPORTER", "nats://127.0.0.1:4222", natsUrls, { hideValue: true }),
	natsCredentials: (r): { user: string; pass: string } | undefined => {
		const user = r.value("NATS_USER", undefined as string | undefined, matching(/^[^\s]+$/, "a user name without spaces"));
		const pass = r.secret("NATS_PASSWORD");
		if (user && !pass) r.problem("NATS_USER is set without NATS_PASSWORD_FILE (or NATS_PASSWORD)");
		if (pass && !user) r.problem("NATS_PASSWORD is set without NATS_USER");
		return user && pass ? { user, pass } : undefined;
	},
	natsAllowAnonymous: r => r.value("NATS_ALLOW_ANONYMOUS", false, flag),
	namespace: r => r.value("NAMESPACE", "positionpal", matching(NAME, "a name of letters, digits, _ and - (at most 48)")),
	nodeId: r => r.value("NODE_ID", undefined as string | undefined, matching(/^[^\s]{1,200}$/, "a node id without spaces")),
	logLevel: r => r.value("LOG_LEVEL", "info", oneOf("fatal", "error", "warn", "info", "debug", "trace")),
	logFormat: r => r.value("LOG_FORMAT", "short", oneOf("short", "json")),
	/** Prometheus `/metrics` on this port; 0: no metrics. */
	metricsPort: r => r.value("METRICS_PORT", 0, integer(0, 65535)),
	tracingExporter: r => r.value("TRACING_EXPORTER", undefined as string | undefined, oneOf(...TRACING_EXPORTERS)),
	/** Seconds, as Moleculer takes them. */
	heartbeatInterval: r => r.value("HEARTBEAT_INTERVAL", 2, positiveNumber),
	heartbeatTimeout: r => r.value("HEARTBEAT_TIMEOUT", 15, positiveNumber),
	/** A call waiting this long on a node, or its heartbeat late, makes the node suspect: NATS is asked whether it is still connected (lib/dead-node-probe.ts); 0: off. */
	deadNodeProbeMs: r => r.value("DEAD_NODE_PROBE", 500, duration({ allowZero: true })),
	jetstreamReplicas: r => r.value("JETSTREAM_REPLICAS", 1, integer(1, 5)),
} satisfies Record<string, (r: Reader) => unknown>;

type Settings = typeof SETTINGS;
/** The whole configuration, typed and validated. */
export type Config = { readonly [K in keyof Settings]: ReturnType<Settings[K]> };

/** Reads and validates every setting from `env`; throws one ConfigError listing every bad variable. */
export function loadConfig(env: Env = process.env): Config {
	const reader = new Reader(env);
	const loaded = Object.fromEntries(Object.entries(SETTINGS).map(([key, read]) => [key, read(reader)])) as Config;
	if (reader.problems.length > 0) throw new ConfigError(reader.problems);
	return loaded;
}

/** One setting from `env` with the problems found; a refused value gives the default. */
export function readSetting<K extends keyof Config>(key: K, env: Env): { value: Config[K]; problems: string[] } {
	const reader = new Reader(env);
	const value = SETTINGS[key](reader) as Config[K];
	return { value, problems: reader.problems };
}

/** The variables each setting reads (secrets as NAME_FILE and NAME), for docs and deployment checks. */
export function configVariables(): Map<keyof Config, string[]> {
	return new Map(
		(Object.keys(SETTINGS) as (keyof Config)[]).map(key => {
			const reader = new Reader({});
			SETTINGS[key](reader);
			return [key, reader.names];
		}),
	);
}

/** `config.x()`: setting x of process.env, parsed again only when one of its variables changed. */
function currentSetting<K extends keyof Config>(key: K): () => Config[K] {
	let last: { names: string[]; values: (string | undefined)[]; value: Config[K] } | undefined;
	return () => {
		if (last?.names.every((name, i) => process.env[name] === last!.values[i])) return last.value;
		const reader = new Reader(process.env);
		const value = SETTINGS[key](reader) as Config[K];
		if (reader.problems.length > 0) throw new ConfigError(reader.problems);
		last = { names: reader.names, values: reader.names.map(name => process.env[name]), value };
		return value;
	};
}

export const config = Object.fromEntries((Object.keys(SETTINGS) as (keyof Config)[]).map(key => [key, currentSetting(key)])) as {
	readonly [K in keyof Config]: () => Config[K];
};

export const isProduction = (): boolean => config.production();

/**
 * Why a production process must not connect to NATS as it is configured, or undefined when it
 * may: without credentials any process that reaches NATS could call every action
 * (users.findByEmail...). NATS_ALLOW_ANONYMOUS=1 says the NATS is open on purpose.
 */
export function anonymousNatsRefusal(settings: Pick<Config, "production" | "natsCredentials" | "natsAllowAnonymous">): string | undefined {
	if (!settings.production || settings.natsCredentials || settings.natsAllowAnonymous) return undefined;
	return "NATS_USER and NATS_PASSWORD_FILE (or NATS_PASSWORD) are required when NODE_ENV=production: without credentials any process that reaches NATS can call every action. Set NATS_ALLOW_ANONYMOUS=1 to connect without them on purpose.";
}

// ---- By name, for code that has not moved to `config` yet ------------------------------------

const env = (name: string): string | undefined => {
	const value = process.env[name];
	return value === undefined || value.trim() === "" ? undefined : value.trim();
};

export function durationFromEnv(name: string, defaultSeconds: number): number {
	const raw = env(name);
	return raw === undefined ? defaultSeconds * 1000 : parseDuration(raw, name);
}

export function numberFromEnv(name: string, fallback: number): number {
	const raw = env(name);
	if (raw === undefined) return fallback;
	const value = Number(raw);
	if (!Number.isFinite(value)) throw new Error(`${name}: "${raw}" is not a number`);
	return value;
}

/**
 * A secret from `NAME` or from the file named by `NAME_FILE` (Docker secrets).
 * Returns undefined when neither is set.
 */
export function secretFromEnv(name: string): string | undefined {
	const file = env(`${name}_FILE`);
	if (file) {
		return readFileSync(file, "utf8").trim() || undefined;
	}
	return env(name);
}
