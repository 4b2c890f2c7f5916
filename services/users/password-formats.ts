/**
 * The stored forms of a password hash, parsed strictly: a stored value that is not exactly one of
 * them parses to `undefined` (never a throw), so a damaged row can only fail a login, and a
 * crafted one cannot make the service allocate gigabytes.
 *
 * - Argon2id as a PHC string, `$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>`
 *   (salt and hash in unpadded standard base64): the form every new hash takes.
 * - scrypt as `scrypt$N$r$p$<salt>$<key>` (padded base64): the form of accounts created before
 *   Argon2id, still verified and upgraded on the next successful login.
 */

export interface Argon2Params {
	/** Memory in KiB (PHC `m`). */
	memoryKiB: number;
	/** Passes over the memory (PHC `t`). */
	passes: number;
	/** Lanes (PHC `p`). */
	parallelism: number;
}

export interface Argon2Hash extends Argon2Params {
	algorithm: "argon2id";
	salt: Buffer;
	hash: Buffer;
}

export interface ScryptParams {
	N: number;
	r: number;
	p: number;
}

export interface ScryptHash extends ScryptParams {
	algorithm: "scrypt";
	salt: Buffer;
	key: Buffer;
}

export type StoredHash = Argon2Hash | ScryptHash;

/** Argon2 version 0x13 (19), the only one node:crypto computes. */
const ARGON2_VERSION = 19;
/** Upper bounds a stored hash may ask for: far above any sane cost, far below exhausting the host. */
const MAX_ARGON2_MEMORY_KIB = 1024 * 1024;
const MAX_PASSES = 64;
const MAX_LANES = 16;
/** scrypt needs 128·N·r bytes; the service allows it 256 MiB. */
export const SCRYPT_MAXMEM = 256 * 1024 * 1024;

const UNPADDED_B64 = /^[A-Za-z0-9+/]+$/;
const PADDED_B64 = /^[A-Za-z0-9+/]+={0,2}$/;
const DECIMAL = /^[1-9][0-9]{0,9}$/;

const int = (text: string | undefined): number | undefined => (text !== undefined && DECIMAL.test(text) ? Number(text) : undefined);

/** Decodes base64 of the given flavour, or undefined when the text is not exactly that (Buffer.from would skip bad characters). */
function bytes(text: string | undefined, padded: boolean, min: number, max: number): Buffer | undefined {
	if (!text || !(padded ? PADDED_B64 : UNPADDED_B64).test(text) || (padded && text.length % 4 !== 0)) return undefined;
	const buf = Buffer.from(text, "base64");
	return buf.length >= min && buf.length <= max ? buf : undefined;
}

/** PHC base64: standard alphabet, no padding. */
const b64 = (buf: Buffer) => buf.toString("base64").replace(/=+$/, "");

export function formatArgon2(params: Argon2Params, salt: Buffer, hash: Buffer): string {
	return `$argon2id$v=${ARGON2_VERSION}$m=${params.memoryKiB},t=${params.passes},p=${params.parallelism}$${b64(salt)}$${b64(hash)}`;
}

export function parseArgon2(stored: string): Argon2Hash | undefined {
	const parts = stored.split("$");
	if (parts.length !== 6 || parts[0] !== "" || parts[1] !== "argon2id" || parts[2] !== `v=${ARGON2_VERSION}`) return undefined;
	const match = /^m=([0-9]+),t=([0-9]+),p=([0-9]+)$/.exec(parts[3]!);
	if (!match) return undefined;
	const [memoryKiB, passes, parallelism] = [int(match[1]), int(match[2]), int(match[3])];
	if (memoryKiB === undefined || passes === undefined || parallelism === undefined) return undefined;
	if (parallelism > MAX_LANES || passes > MAX_PASSES || memoryKiB < 8 * parallelism || memoryKiB > MAX_ARGON2_MEMORY_KIB) return undefined;
	const salt = bytes(parts[4], false, 8, 64);
	const hash = bytes(parts[5], false, 16, 64);
	if (!salt || !hash) return undefined;
	return { algorithm: "argon2id", memoryKiB, passes, parallelism, salt, hash };
}

export function parseScrypt(stored: string): ScryptHash | undefined {
	const parts = stored.split("$");
	if (parts.length !== 6 || parts[0] !== "scrypt") return undefined;
	const [N, r, p] = [int(parts[1]), int(parts[2]), int(parts[3])];
	if (N === undefined || r === undefined || p === undefined) return undefined;
	if (N < 2 || (N & (N - 1)) !== 0 || r > 32 || p > 16 || 128 * N * r > SCRYPT_MAXMEM) return undefined;
	const salt = bytes(parts[4], true, 8, 64);
	const key = bytes(parts[5], true, 16, 128);
	if (!salt || !key) return undefined;
	return { algorithm: "scrypt", N, r, p, salt, key };
}

/** Either stored form, or undefined for anything else (an empty hash of a deleted account, garbage). */
export function parseStoredHash(stored: string): StoredHash | undefined {
	return stored.startsWith("$argon2id$") ? parseArgon2(stored) : parseScrypt(stored);
}
