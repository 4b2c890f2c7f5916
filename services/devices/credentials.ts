import { createHash, randomInt, timingSafeEqual } from "node:crypto";

/**
 * A device's credentials are split tokens: a public `deviceId` that finds the device by primary key
 * (the OwnTracks username, the first characters of the OsmAnd id, the Device `id` of the API) and a
 * random `secret` that proves it (the OwnTracks password, the rest of the OsmAnd id). Only a hash of
 * the secret is stored, and the lookup never depends on the secret, so checking a report costs one
 * read by `_id` (or none, cached) and one hash.
 *
 * The hash is a single SHA-256, on purpose. Slow password hashes (scrypt, bcrypt) exist to make
 * guessing a low-entropy, human-chosen password expensive after a database leak; a secret of 131
 * random bits cannot be guessed at any speed, so stretching it buys nothing and would cost every
 * phone report ~35 ms of CPU (the scrypt cost of users/passwords.ts) — 300 phones reporting once a
 * second would need ten cores for hashing alone.
 */

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** 12 base62 characters (~71 bits): unique among every device ever made, and not a secret. */
export const DEVICE_ID_LENGTH = 12;
/** 22 base62 characters: 22 × log2(62) ≈ 131 random bits (API.md §6.2 asks for at least 128). */
export const SECRET_LENGTH = 22;

const DEVICE_ID = new RegExp(`^[0-9A-Za-z]{${DEVICE_ID_LENGTH}}$`);
const SECRET = new RegExp(`^[0-9A-Za-z]{${SECRET_LENGTH}}$`);

/** `length` characters drawn uniformly from base62 (randomInt rejects the biased draws a modulo would keep). */
export function randomBase62(length: number): string {
	let text = "";
	for (let i = 0; i < length; i++) text += BASE62[randomInt(BASE62.length)];
	return text;
}

export const newDeviceId = (): string => randomBase62(DEVICE_ID_LENGTH);
export const newSecret = (): string => randomBase62(SECRET_LENGTH);

export const isDeviceId = (text: unknown): text is string => typeof text === "string" && DEVICE_ID.test(text);
export const isSecret = (text: unknown): text is string => typeof text === "string" && SECRET.test(text);

/** What is stored of a secret: SHA-256, hex. */
export function hashSecret(secret: string): string {
	return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** Whether `secret` is the one `storedHash` was made from, in time that does not depend on where they differ. */
export function secretMatches(secret: string, storedHash: string): boolean {
	const given = Buffer.from(hashSecret(secret), "hex");
	const stored = Buffer.from(storedHash, "hex");
	return given.length === stored.length && timingSafeEqual(given, stored);
}

/** The OsmAnd id a device gets: its id, then its secret (34 base62 characters, typed or pasted into the app once). */
export const osmAndId = (deviceId: string, secret: string): string => deviceId + secret;

/** An OsmAnd id split back into its parts, or null when it cannot be one of ours (refused without any lookup). */
export function splitOsmAndId(id: unknown): { deviceId: string; secret: string } | null {
	if (typeof id !== "string" || id.length !== DEVICE_ID_LENGTH + SECRET_LENGTH) return null;
	const deviceId = id.slice(0, DEVICE_ID_LENGTH);
	const secret = id.slice(DEVICE_ID_LENGTH);
	return isDeviceId(deviceId) && isSecret(secret) ? { deviceId, secret } : null;
}

/**
 * HTTP Basic credentials (RFC 7617): `Basic base64(username:password)`, the password being everything
 * after the first colon. Null when the header is missing or not Basic.
 */
export function basicCredentials(header: string | undefined): { username: string; password: string } | null {
	const match = /^Basic[ \t]+([A-Za-z0-9+/=._~-]+)[ \t]*$/i.exec(header ?? "");
	if (!match) return null;
	const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
	const colon = decoded.indexOf(":");
	if (colon < 0) return null;
	return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * The OwnTracks `deviceId` for the configuration (the app shows it and sends it as X-Limit-D; it is
 * part of no identity here): the device's name in lower-case letters and digits, "phone" when that
 * leaves nothing.
 */
export function ownTracksDeviceName(name: string): string {
	const slug = name
		.normalize("NFKD")
		.replace(/[\u0300-\u036f]/g, "")
		.toLowerCase()
		.replace(/[^a-z0-9]+/g, "")
		.slice(0, 32);
	return slug || "phone";
}
