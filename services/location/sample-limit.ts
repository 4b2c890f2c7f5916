import { rateLimited } from "../../events/errors.js";

/**
 * Position samples per user: at most `perMinute` a minute from all of a user's sources together
 * (browsers, sockets, phones), as a token bucket that holds a minute's worth — a phone emptying
 * its buffer after a tunnel gets through at once — and refills evenly, so a client sending too
 * fast is slowed to the limit rather than cut off for the rest of a window.
 *
 * The buckets live in memory in the location instance that owns the user: every sample command
 * is routed to that instance (Shard strategy on the caller's id), so one bucket sees all of a
 * user's samples and the limit holds across the cluster without a database round trip on the hot
 * path. When location instances come or go, users may move to another owner, which starts them
 * with a full bucket: at most one extra minute's worth per rebalance.
 */

export type SampleVerdict = { allowed: true } | { allowed: false; retryAfterMs: number };

interface Bucket {
	tokens: number;
	at: number;
}

const MINUTE_MS = 60_000;
/** Buckets that have filled up again are forgotten (a full bucket is the same as none) this often. */
const SWEEP_EVERY_MS = MINUTE_MS;

export class SampleLimit {
	private readonly buckets = new Map<string, Bucket>();
	private sweptAt: number;

	/** `perMinute` 0: no limit. */
	constructor(
		readonly perMinute: number,
		private readonly now: () => number = Date.now,
		private readonly maxUsers = 200_000,
	) {
		this.sweptAt = now();
	}

	/** Takes one sample of the user from their bucket, or says how long until the next one may come. */
	take(userId: string): SampleVerdict {
		if (this.perMinute <= 0) return { allowed: true };
		const now = this.now();
		this.sweep(now);
		const bucket = this.buckets.get(userId);
		const tokens = bucket ? this.tokensAt(bucket, now) : this.perMinute;
		if (tokens < 1) return { allowed: false, retryAfterMs: Math.ceil(((1 - tokens) * MINUTE_MS) / this.perMinute) };
		if (bucket) {
			bucket.tokens = tokens - 1;
			bucket.at = now;
		} else {
			if (this.buckets.size >= this.maxUsers) this.buckets.delete(this.buckets.keys().next().value!);
			this.buckets.set(userId, { tokens: tokens - 1, at: now });
		}
		return { allowed: true };
	}

	/**
	 * Takes one sample of the user; when there is none left, refused (429, with the whole seconds to wait)
	 * unless `inSos` (asked only then): someone in an SOS is never slowed down, their position is what their groups need most.
	 */
	async admit(userId: string, inSos: () => Promise<boolean>): Promise<void> {
		const verdict = this.take(userId);
		if (verdict.allowed || (await inSos())) return;
		const retryAfter = Math.max(1, Math.ceil(verdict.retryAfterMs / 1000));
		throw rateLimited(`At most ${this.perMinute} position samples a minute; try again in ${retryAfter} s`, { retryAfter });
	}

	/** Users with a bucket that is not full (for tests and operators). */
	get size(): number {
		return this.buckets.size;
	}

	private tokensAt(bucket: Bucket, now: number): number {
		return Math.min(this.perMinute, bucket.tokens + (Math.max(0, now - bucket.at) * this.perMinute) / MINUTE_MS);
	}

	private sweep(now: number): void {
		if (now - this.sweptAt < SWEEP_EVERY_MS) return;
		this.sweptAt = now;
		for (const [userId, bucket] of this.buckets) if (this.tokensAt(bucket, now) >= this.perMinute) this.buckets.delete(userId);
	}
}
