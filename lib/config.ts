import { readFileSync } from "node:fs";

/** Reads the configuration of API.md §1 from the environment, with its documented defaults. */

const env = (name: string): string | undefined => {
	const value = process.env[name];
	return value === undefined || value.trim() === "" ? undefined : value.trim();
};

/** Durations accept plain seconds ("60") or a unit suffix ("500ms", "2m"); returns milliseconds. */
export function parseDuration(text: string, name = "duration"): number {
	const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(text.trim());
	if (!match) throw new Error(`${name}: "${text}" is not a duration (seconds, or a number with ms/s/m/h)`);
	const value = Number(match[1]);
	const unit = match[2] ?? "s";
	const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as "ms" | "s" | "m" | "h"];
	return Math.round(value * factor);
}

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

export const isProduction = () => process.env.NODE_ENV === "production";

export const config = {
	port: () => numberFromEnv("PORT", 3000),
	transporter: () => env("TRANSPORTER") ?? "nats://127.0.0.1:4222",
	mongoUrl: () => env("MONGO_URL") ?? "mongodb://127.0.0.1:27017",
	jwtTtlMs: () => durationFromEnv("JWT_TTL", 3600),
	offlineAfterMs: () => durationFromEnv("OFFLINE_AFTER", 60),
	stuckAfterMs: () => durationFromEnv("STUCK_AFTER", 300),
	stuckRadiusM: () => numberFromEnv("STUCK_RADIUS", 30),
	arrivalRadiusM: () => numberFromEnv("ARRIVAL_RADIUS", 50),
	trackingCheckEveryMs: () => durationFromEnv("TRACKING_CHECK_EVERY", 5),
	authRateLimit: () => numberFromEnv("AUTH_RATE_LIMIT", 20),
	corsOrigins: () => env("CORS_ORIGINS") ?? "*",
	bodyLimit: () => env("BODY_LIMIT") ?? "64kb",
	vapid: () => ({
		publicKey: secretFromEnv("VAPID_PUBLIC_KEY"),
		privateKey: secretFromEnv("VAPID_PRIVATE_KEY"),
		subject: env("VAPID_SUBJECT"),
	}),
	// Consent limits (API.md §6.1).
	maxGroupsPerUser: () => countFromEnv("MAX_GROUPS_PER_USER", 100, 1),
	maxGroupMembers: () => countFromEnv("MAX_GROUP_MEMBERS", 50, 1),
	/** Invitations per user per hour; 0 turns the limit off. */
	inviteRateLimit: () => countFromEnv("INVITE_RATE_LIMIT", 50, 0),
};

/** A whole number of at least `min`; anything else stops the process with the variable's name. */
function countFromEnv(name: string, fallback: number, min: number): number {
	const value = numberFromEnv(name, fallback);
	if (!Number.isInteger(value) || value < min) throw new Error(`${name}: "${env(name)}" is not a whole number of at least ${min}`);
	return value;
}
