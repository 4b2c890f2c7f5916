import type { Errors } from "moleculer";
import { rateLimited } from "../../events/errors.js";

/**
 * Admission control for password hashing, the one deliberately expensive thing the users service
 * does (tens of milliseconds of a core per hash, by design).
 *
 * At most `concurrency` hashes run at once (each in libuv's thread pool, never on the event
 * loop), the rest wait in a FIFO queue. Work past what the cores can do only lengthens the queue,
 * and a long enough queue makes every request wait past the gateway's timeout (each then fails
 * after 10 s, while its hash still runs and delays the next). So a hash whose expected wait
 * exceeds `maxWaitMs` is refused at once with 429 RATE_LIMITED and a retry-after hint: under
 * overload the requests that are admitted stay fast, the others learn when to come back.
 *
 * The expected wait is what is left of the running hashes plus the queued ones, shared by the
 * slots, from a moving average of the measured time of each kind of hash (an Argon2id hash and a
 * legacy scrypt verify differ tenfold). Measured as wall time, it also covers the CPU the hashes
 * lose to the other processes on the host. An estimate can still be wrong (a burst arrives before
 * any hash was measured, another process takes the cores): a queued hash that has waited past
 * the bound when its turn comes is refused then, so no admitted hash waits much longer than it.
 */

export interface HashingLimiterOptions {
	/** Hashes computed at once; at most one per core so the hashes do not slow each other down. */
	concurrency: number;
	/**
	 * A hash that would wait longer than this for a slot is refused at once, and one that waited
	 * longer all the same is refused when its turn comes (0: refuse whenever every slot is busy).
	 */
	maxWaitMs: number;
	/** Assumed duration of a kind of hash not measured yet (ms); kinds not listed assume `defaultCostMs`. */
	initialCostMs?: Record<string, number>;
	defaultCostMs?: number;
	now?: () => number;
}

export interface HashingStats {
	/** Hashes finished (successfully or not). */
	completed: number;
	/** Sum of their wall times (ms): time spent inside hashing. */
	busyMs: number;
	/** Hashes refused with RATE_LIMITED at once. */
	refused: number;
	/** Hashes refused with RATE_LIMITED after waiting past the bound (admitted on a wrong estimate). */
	expired: number;
	running: number;
	queued: number;
	/** Current estimate per kind (ms). */
	costMs: Record<string, number>;
}

/** Weight of the newest measurement in the moving average: follows a change of load within ~10 hashes. */
const EWMA_WEIGHT = 0.2;

interface Running {
	kind: string;
	startedAt: number;
}

interface Waiting {
	kind: string;
	enqueuedAt: number;
	start: () => void;
	refuse: (err: Error) => void;
}

export class HashingLimiter {
	readonly concurrency: number;
	readonly maxWaitMs: number;
	private readonly now: () => number;
	private readonly defaultCostMs: number;
	private readonly cost = new Map<string, number>();
	private readonly measured = new Set<string>();
	private readonly running = new Set<Running>();
	private readonly queue: Waiting[] = [];
	private completed = 0;
	private busyMs = 0;
	private refused = 0;
	private expired = 0;

	constructor(options: HashingLimiterOptions) {
		if (!Number.isInteger(options.concurrency) || options.concurrency < 1)
			throw new Error(`concurrency must be a positive integer, not ${options.concurrency}`);
		if (!(options.maxWaitMs >= 0)) throw new Error(`maxWaitMs must be >= 0, not ${options.maxWaitMs}`);
		this.concurrency = options.concurrency;
		this.maxWaitMs = options.maxWaitMs;
		this.now = options.now ?? (() => performance.now());
		this.defaultCostMs = options.defaultCostMs ?? 100;
		for (const [kind, ms] of Object.entries(options.initialCostMs ?? {})) this.cost.set(kind, ms);
	}

	/**
	 * Runs `job` (one hash of the given kind) when a slot is free. Rejects at once with
	 * RATE_LIMITED (`data.retryAfter` in seconds) when the expected wait is over the bound.
	 */
	run<T>(kind: string, job: () => Promise<T>): Promise<T> {
		if (this.running.size < this.concurrency && this.queue.length === 0) return this.start(kind, job);
		const waitMs = this.expectedWaitMs();
		if (waitMs > this.maxWaitMs) {
			this.refused++;
			return Promise.reject(tooBusy(waitMs));
		}
		return new Promise<T>((resolve, reject) =>
			this.queue.push({ kind, enqueuedAt: this.now(), start: () => void this.start(kind, job).then(resolve, reject), refuse: reject }),
		);
	}

	/** How long a hash submitted now would wait for a slot (ms). */
	expectedWaitMs(): number {
		if (this.running.size < this.concurrency && this.queue.length === 0) return 0;
		const now = this.now();
		let ahead = 0;
		for (const job of this.running) ahead += Math.max(0, this.costOf(job.kind) - (now - job.startedAt));
		for (const job of this.queue) ahead += this.costOf(job.kind);
		return ahead / this.concurrency;
	}

	stats(): HashingStats {
		return {
			completed: this.completed,
			busyMs: this.busyMs,
			refused: this.refused,
			expired: this.expired,
			running: this.running.size,
			queued: this.queue.length,
			costMs: Object.fromEntries(this.cost),
		};
	}

	private costOf(kind: string): number {
		return this.cost.get(kind) ?? this.defaultCostMs;
	}

	private async start<T>(kind: string, job: () => Promise<T>): Promise<T> {
		const entry: Running = { kind, startedAt: this.now() };
		this.running.add(entry);
		let ok = false;
		try {
			const result = await job();
			ok = true;
			return result;
		} finally {
			const ms = this.now() - entry.startedAt;
			this.running.delete(entry);
			this.completed++;
			this.busyMs += ms;
			// A failed hash (bad parameters) says nothing about what a real one costs.
			if (ok) {
				// The first measurement replaces the assumed cost, later ones move the average.
				const previous = this.measured.has(kind) ? this.cost.get(kind) : undefined;
				this.cost.set(kind, previous === undefined ? ms : previous + EWMA_WEIGHT * (ms - previous));
				this.measured.add(kind);
			}
			this.startNext();
		}
	}

	/**
	 * Starts the oldest waiting hash. One that already waited past the bound is refused instead:
	 * the estimate that admitted it was wrong (a burst before any hash was measured, the cores
	 * taken by another process), and answering it now beats making it wait on.
	 */
	private startNext(): void {
		for (let next = this.queue.shift(); next; next = this.queue.shift()) {
			if (this.now() - next.enqueuedAt <= this.maxWaitMs) return next.start();
			this.expired++;
			next.refuse(tooBusy(this.expectedWaitMs()));
		}
	}
}

/** The 429 of API.md §2; `data.retryAfter` (whole seconds) becomes the response's `Retry-After`. */
function tooBusy(waitMs: number): Errors.MoleculerClientError {
	const retryAfter = Math.max(1, Math.ceil(waitMs / 1000));
	return Object.assign(rateLimited("Too many password checks at once; try again shortly"), { data: { retryAfter } });
}
