import type { ServiceBroker } from "moleculer";

/** What `users.reserveAttempt` answers (lib/attempt-limits.ts `AttemptVerdict`). */
interface AttemptVerdict {
	allowed: boolean;
	count: number;
	retryAfterMs: number;
}

/**
 * A moleculer-web rate-limit store (`rateLimit.StoreFactory`) whose counters live in the users
 * database (`users.reserveAttempt`, lib/attempt-limits.ts), not in this gateway's memory: with two
 * gateways a client address gets AUTH_RATE_LIMIT requests a minute in all, not per gateway, and
 * a gateway restart does not hand it a fresh minute.
 *
 * Why the users database and not NATS KV: every request this guards (register, login) is answered
 * by the users service from that database anyway, so one more atomic update there costs a round
 * trip that is small beside the password hash; the login counters per account already live there
 * (one store to purge and reason about); and NATS KV has no atomic increment (a compare-and-set
 * loop per request, with a stream per bucket to size). If the users service cannot be reached the
 * request fails (503) — it could not have been answered anyway — so no attempt goes uncounted.
 *
 * moleculer-web awaits `inc` and refuses once `limit - inc(key) < 0`; it reads `resetTime` right
 * after (the `X-Rate-Limit-Reset` header, from which the gateway's Retry-After is derived), so it is
 * set to the end of the window just counted.
 */
export function sharedRateStore(scope: "auth-address" | "shared-address") {
	return class SharedRateStore {
		resetTime = Date.now();

		constructor(
			private readonly windowMs: number,
			private readonly opts: { limit: number },
			private readonly broker: ServiceBroker,
		) {}

		async inc(key: string): Promise<number> {
			const verdict: AttemptVerdict = await this.broker.call("users.reserveAttempt", {
				scope,
				subject: key.slice(0, 200),
				limit: this.opts.limit,
				windowMs: this.windowMs,
			});
			this.resetTime = Date.now() + verdict.retryAfterMs;
			// A refused attempt is not counted in the store; one past the limit is what makes moleculer-web refuse it.
			return verdict.allowed ? verdict.count : this.opts.limit + 1;
		}
	};
}
