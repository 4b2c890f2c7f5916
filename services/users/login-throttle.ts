import { createHash } from "node:crypto";
import { isIPv6 } from "node:net";
import { rateLimited } from "../../events/errors.js";
import type { AttemptStore } from "../../lib/attempt-limits.js";

/**
 * Password guessing, limited so that it costs the guesser and not the owner:
 *
 * - Logins, per (account, client address): after `lockAfter` attempts without a success in the
 *   window, that address is refused for that account until the window ends (429, with the true
 *   seconds left). The owner, from anywhere else, still logs in.
 * - Logins, per account from every address: after `freeFailures` attempts without a success, each
 *   attempt waits a little longer (doubling, up to `maxDelayMs`) before its password is checked.
 *   A slowdown and never a lock: guessers spread over many addresses cannot lock the owner out
 *   (which a per-account lock would let anyone do to anyone), and the owner pays at most
 *   `maxDelayMs`. Many addresses still get `lockAfter` guesses each per window; the gateway's
 *   per-address AUTH_RATE_LIMIT and the hashing limiter bound how fast.
 * - Password re-checks (the `currentPassword` of a profile change or an account deletion), per
 *   user: after `lockAfter` attempts without a success, refused until the window ends. Whoever
 *   sends them already holds the user's token and could send them from any address.
 *
 * Every attempt is counted BEFORE its password is hashed (lib/attempt-limits.ts), so parallel
 * guesses cannot slip past the limit while the first ones are still being checked; a success
 * forgets the counts it was admitted under. The counters live in the users service's database:
 * the limits hold across instances and restarts.
 */

export interface LoginThrottleOptions {
	/** Attempts per account answered without delay. */
	freeFailures: number;
	/** Attempts without a success after which an (account, address) — or a user's re-checks — are refused until the window ends. */
	lockAfter: number;
	windowMs: number;
	maxDelayMs: number;
}

export const defaultLoginThrottle: LoginThrottleOptions = { freeFailures: 3, lockAfter: 10, windowMs: 15 * 60_000, maxDelayMs: 2_000 };

/** An admitted attempt: call `succeeded` once its password proved right. */
export interface Admission {
	succeeded(): Promise<void>;
}

export interface ThrottleStats {
	/** Login attempts refused because their address used up its guesses at the account. */
	loginsRefused: number;
	/** Password re-checks refused because the user used up their guesses. */
	rechecksRefused: number;
}

/** The delay before checking an attempt that follows `failures` attempts without a success. */
export function slowdownMs(failures: number, opts: Pick<LoginThrottleOptions, "freeFailures" | "maxDelayMs">): number {
	const extra = failures - opts.freeFailures;
	return extra <= 0 ? 0 : Math.min(opts.maxDelayMs, 100 * 2 ** (extra - 1));
}

/**
 * The part of a client address that identifies one client: an IPv4 address (also when IPv6-mapped),
 * or the /64 prefix of an IPv6 address — one subscriber usually holds a whole /64, so counting
 * its addresses apart would hand out billions of guesses. Unknown: one shared bucket.
 */
export function addressKey(address: string | undefined): string {
	if (!address) return "unknown";
	const bare = address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "");
	if (!isIPv6(bare)) return bare.toLowerCase();
	const [head = "", tail] = bare.split("%")[0]!.split("::");
	const headGroups = head ? head.split(":") : [];
	if (tail === undefined) return `${headGroups.slice(0, 4).map(hextet).join(":")}::/64`;
	const tailGroups = tail ? tail.split(":") : [];
	const tailLength = tailGroups.reduce((n, group) => n + (group.includes(".") ? 2 : 1), 0);
	const groups = [...headGroups, ...Array<string>(Math.max(0, 8 - headGroups.length - tailLength)).fill("0"), ...tailGroups];
	return `${groups.slice(0, 4).map(hextet).join(":")}::/64`;
}

const hextet = (group: string) => (Number.parseInt(group, 16) || 0).toString(16);

/** Counter keys hold no email or address in clear: the collection is not a log of who tried what. */
const keyOf = (kind: string, ...parts: string[]) => `${kind}:${createHash("sha256").update(JSON.stringify(parts)).digest("base64url")}`;

const sleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms));

export class LoginThrottle {
	readonly stats: ThrottleStats = { loginsRefused: 0, rechecksRefused: 0 };

	private readonly now: () => number;
	private readonly wait: (ms: number) => Promise<void>;

	constructor(
		private readonly store: AttemptStore,
		private readonly opts: LoginThrottleOptions = defaultLoginThrottle,
		clock: { now?: () => number; wait?: (ms: number) => Promise<void> } = {},
	) {
		this.now = clock.now ?? Date.now;
		this.wait = clock.wait ?? sleep;
	}

	/**
	 * Counts a login attempt at `account` from `address` and admits it after the account's
	 * slowdown; refuses it (429) when that address has used up its guesses at that account.
	 */
	async admitLogin(account: string, address: string | undefined): Promise<Admission> {
		const { lockAfter, windowMs } = this.opts;
		const fromAddress = keyOf("login-from", account, addressKey(address));
		const verdict = await this.store.reserve(fromAddress, lockAfter, windowMs, this.now());
		if (!verdict.allowed) {
			this.stats.loginsRefused++;
			throw tooManyGuesses("Too many failed logins for this account from your address; try again later", verdict.retryAfterMs);
		}
		const anywhere = keyOf("login", account);
		const { count } = await this.store.reserve(anywhere, Number.MAX_SAFE_INTEGER, windowMs, this.now());
		const delay = slowdownMs(count - 1, this.opts);
		if (delay > 0) await this.wait(delay);
		return { succeeded: async () => void (await Promise.all([this.store.reset(fromAddress), this.store.reset(anywhere)])) };
	}

	/** Counts a re-check of `userId`'s password; refuses it (429) when the user has used up their guesses. */
	async admitRecheck(userId: string): Promise<Admission> {
		const key = keyOf("recheck", userId);
		const verdict = await this.store.reserve(key, this.opts.lockAfter, this.opts.windowMs, this.now());
		if (!verdict.allowed) {
			this.stats.rechecksRefused++;
			throw tooManyGuesses("Too many wrong passwords; try again later", verdict.retryAfterMs);
		}
		return { succeeded: () => this.store.reset(key) };
	}
}

/** The 429 of API.md §2; `data.retryAfter` (whole seconds left in the window) becomes `Retry-After`. */
function tooManyGuesses(message: string, retryAfterMs: number) {
	return Object.assign(rateLimited(message), { data: { retryAfter: Math.max(1, Math.ceil(retryAfterMs / 1000)) } });
}
