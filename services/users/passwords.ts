import { argon2, randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { availableParallelism } from "node:os";
import { config } from "../../lib/config.js";
import { HashingLimiter } from "./hashing-limiter.js";
import { formatArgon2, parseArgon2, parseStoredHash, SCRYPT_MAXMEM, type Argon2Params, type ScryptParams } from "./password-formats.js";

/**
 * Password hashing with Argon2id at OWASP's recommended cost (m = 19 MiB, t = 2, p = 1): memory-
 * hard for an attacker, ~35 ms of one core here, where the scrypt it replaces (N = 2^17) cost
 * ~400 ms and capped the whole service at ~5 hashes/s. Each hash is stored as a PHC string with
 * its parameters, so they can be raised later: `passwordNeedsRehash` then says which stored
 * hashes to upgrade at their next successful login. Hashes of older accounts (scrypt) still verify.
 *
 * Every hash and verify goes through one `HashingLimiter` per process (see there): at most one
 * per core at once, a short queue, and a 429 RATE_LIMITED with a retry-after hint when the queue
 * would make the caller wait longer than PASSWORD_HASH_MAX_WAIT [1 s].
 *
 * node:crypto's argon2 (Node >= 24.7) emits no ExperimentalWarning in Node 24, so logs stay clean
 * without --no-warnings (a unit test checks it).
 */

export const ARGON2_PARAMS: Argon2Params = { memoryKiB: 19_456, passes: 2, parallelism: 1 };
/** The cost of the scrypt hashes stored before Argon2id; only verified now, never produced. */
export const SCRYPT_PARAMS: ScryptParams = { N: 2 ** 17, r: 8, p: 1 };
const SALT_BYTES = 16;
const TAG_BYTES = 32;

/**
 * One slot per core, but never the whole libuv pool (4 threads unless UV_THREADPOOL_SIZE says
 * otherwise): DNS look-ups and file reads share it and must not wait behind hashes.
 */
function hashingSlots(): number {
	const pool = config.uvThreadpoolSize();
	return Math.max(1, Math.min(availableParallelism(), pool - 1));
}

let limiter: HashingLimiter | undefined;
/** The process's limiter, created at first use (so the environment is read once the process is configured). */
export function passwordHashing(): HashingLimiter {
	limiter ??= new HashingLimiter({
		concurrency: hashingSlots(),
		maxWaitMs: config.passwordHashMaxWaitMs(),
		// Until measured: the figures of an idle core here; the first hashes replace them.
		initialCostMs: { [argon2Kind(ARGON2_PARAMS)]: 40, scrypt: 400 },
	});
	return limiter;
}

const argon2Kind = (p: Argon2Params) => `argon2id m=${p.memoryKiB} t=${p.passes} p=${p.parallelism}`;

// Compatibility normalisation: the same password typed on another keyboard or OS (composed or
// decomposed accents, full-width forms) verifies. Existing scrypt hashes were made this way too.
const normalized = (password: string) => password.normalize("NFKC");

function argon2Key(password: string, salt: Buffer, params: Argon2Params, tagLength: number): Promise<Buffer> {
	return new Promise((resolve, reject) =>
		argon2(
			"argon2id",
			{ message: normalized(password), nonce: salt, memory: params.memoryKiB, passes: params.passes, parallelism: params.parallelism, tagLength },
			(err, key) => (err ? reject(err) : resolve(key)),
		),
	);
}

function scryptKey(password: string, salt: Buffer, params: ScryptParams, keyLength: number): Promise<Buffer> {
	return new Promise((resolve, reject) =>
		scrypt(normalized(password), salt, keyLength, { ...params, maxmem: SCRYPT_MAXMEM }, (err, key) => (err ? reject(err) : resolve(key))),
	);
}

/** A new Argon2id hash of `password` (PHC string). Rejects with RATE_LIMITED when hashing is saturated. */
export async function hashPassword(password: string, params: Argon2Params = ARGON2_PARAMS): Promise<string> {
	const salt = randomBytes(SALT_BYTES);
	const hash = await passwordHashing().run(argon2Kind(params), () => argon2Key(password, salt, params, TAG_BYTES));
	return formatArgon2(params, salt, hash);
}

/**
 * Whether `password` matches a stored hash (Argon2id or legacy scrypt), compared in constant
 * time. A stored value in neither form (empty, damaged) is false at once. Rejects with
 * RATE_LIMITED when hashing is saturated.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
	const parsed = parseStoredHash(stored);
	if (!parsed) return false;
	const expected = parsed.algorithm === "argon2id" ? parsed.hash : parsed.key;
	const actual =
		parsed.algorithm === "argon2id"
			? await passwordHashing().run(argon2Kind(parsed), () => argon2Key(password, parsed.salt, parsed, parsed.hash.length))
			: await passwordHashing().run("scrypt", () => scryptKey(password, parsed.salt, parsed, parsed.key.length));
	return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * True when a stored hash is weaker than what `hashPassword` makes now (scrypt, or Argon2id with
 * less memory, fewer passes or a shorter hash), or unreadable: after a successful verify, login
 * stores `hashPassword(password)` in its place.
 */
export function passwordNeedsRehash(stored: string): boolean {
	const parsed = parseArgon2(stored);
	return !parsed || parsed.memoryKiB < ARGON2_PARAMS.memoryKiB || parsed.passes < ARGON2_PARAMS.passes || parsed.hash.length < TAG_BYTES;
}

/**
 * A hash to verify against when the email is unknown, so a login for an unknown account costs
 * exactly what one with a wrong password does (no account enumeration by timing). It needs no
 * hashing to make: a random salt and random hash at the current parameters cost the same to
 * verify as a real one, and match no password.
 */
let decoyHash: string | undefined;
export function decoyPasswordHash(): Promise<string> {
	decoyHash ??= formatArgon2(ARGON2_PARAMS, randomBytes(SALT_BYTES), randomBytes(TAG_BYTES));
	return Promise.resolve(decoyHash);
}
