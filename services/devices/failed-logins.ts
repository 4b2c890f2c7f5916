/**
 * Failed device logins per client address, counted for the gateways' DEVICE_AUTH_RATE_LIMIT
 * (gateway/device-auth-limit.ts). Addresses are stored hashed: the counters are not a log of who tried.
 */
import { createHash } from "node:crypto";
import type { AttemptVerdict } from "../../lib/attempt-limits.js";

/** Ended windows of the counters are removed this often (FerretDB has no TTL index). */
export const ATTEMPT_PURGE_EVERY_MS = 10 * 60_000;

/** The counter of one client address. */
export const failedLoginKey = (address: string): string => `device-address:${createHash("sha256").update(address).digest("base64url")}`;

/** What the counters are kept in (lib/attempt-limits.ts's MongoAttempts in the service). */
export interface FailedLoginCounters {
	reserve(key: string, limit: number, windowMs: number): Promise<AttemptVerdict>;
	purge(): Promise<unknown>;
}

export class FailedLogins {
	private counters?: FailedLoginCounters;

	/** `open` makes the counters on the first failure: an instance nobody fails against touches no collection. */
	constructor(private readonly open: () => FailedLoginCounters) {}

	/** Counts one failed login from `address`; refused once `limit` are in the `windowMs` window. */
	count(address: string, limit: number, windowMs: number): Promise<AttemptVerdict> {
		this.counters ??= this.open();
		return this.counters.reserve(failedLoginKey(address), limit, windowMs);
	}

	/** Removes ended windows; errors are left for the next purge. */
	purge(): void {
		void this.counters?.purge().catch(() => undefined);
	}
}
