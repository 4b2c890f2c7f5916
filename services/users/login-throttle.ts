/**
 * Slows down password guessing per account: after a few failures each further attempt waits
 * longer, and after many the account refuses logins for the rest of the window (429), whatever
 * address they come from. The per-address limit lives in the gateway (AUTH_RATE_LIMIT).
 */
export interface LoginThrottleOptions {
	/** Failures answered without delay. */
	freeFailures: number;
	/** Failures after which logins are refused until the window passes. */
	lockAfter: number;
	windowMs: number;
	maxDelayMs: number;
}

export const defaultLoginThrottle: LoginThrottleOptions = { freeFailures: 3, lockAfter: 10, windowMs: 15 * 60_000, maxDelayMs: 2_000 };

export class LoginThrottle {
	private readonly failures = new Map<string, { count: number; since: number }>();

	constructor(
		private readonly opts: LoginThrottleOptions = defaultLoginThrottle,
		private readonly now: () => number = Date.now,
		private readonly maxAccounts = 100_000,
	) {}

	private current(account: string) {
		const entry = this.failures.get(account);
		if (entry && this.now() - entry.since > this.opts.windowMs) {
			this.failures.delete(account);
			return undefined;
		}
		return entry;
	}

	isLocked(account: string): boolean {
		return (this.current(account)?.count ?? 0) >= this.opts.lockAfter;
	}

	/** How long to wait before checking this attempt's password. */
	delayMs(account: string): number {
		const extra = (this.current(account)?.count ?? 0) - this.opts.freeFailures;
		return extra <= 0 ? 0 : Math.min(this.opts.maxDelayMs, 100 * 2 ** (extra - 1));
	}

	recordFailure(account: string): void {
		const entry = this.current(account);
		if (entry) entry.count += 1;
		else {
			// Bounded memory: forget the oldest account when full (a Map iterates in insertion order).
			if (this.failures.size >= this.maxAccounts) this.failures.delete(this.failures.keys().next().value!);
			this.failures.set(account, { count: 1, since: this.now() });
		}
	}

	recordSuccess(account: string): void {
		this.failures.delete(account);
	}
}
