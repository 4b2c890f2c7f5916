import { Schema, type Connection, type Model } from "mongoose";
import { isDuplicateKey } from "./mongo-errors.js";

/**
 * Fixed-window attempt counters: password guesses per (account, client address), password
 * re-checks per user, invitations per user, and the like.
 *
 * An attempt is COUNTED BEFORE the work it guards (the password hash, the send), so a burst of
 * parallel guesses cannot slip past the limit while the first ones are still being checked.
 * `retryAfterMs` is the true time left in the window, for an honest `Retry-After`.
 *
 * The counters live in a store: `MemoryAttempts` for one process (unit tests), `MongoAttempts`
 * in the owning service's database, so a limit holds across instances and restarts.
 */

export interface AttemptVerdict {
	allowed: boolean;
	/** Attempts counted in the current window, this one included. */
	count: number;
	/** Until the window ends (0 when allowed with room to spare is irrelevant to the caller). */
	retryAfterMs: number;
}

export interface AttemptStore {
	/** Counts one attempt on `key`; refused (not counted further) once `limit` attempts are in the window. */
	reserve(key: string, limit: number, windowMs: number, now?: number): Promise<AttemptVerdict>;
	/** Attempts counted in the current window, without counting one. */
	peek(key: string, now?: number): Promise<number>;
	/** Forgets the key's attempts (a success). */
	reset(key: string): Promise<void>;
}

export class MemoryAttempts implements AttemptStore {
	private readonly windows = new Map<string, { count: number; endsAt: number }>();

	constructor(private readonly maxKeys = 100_000) {}

	async reserve(key: string, limit: number, windowMs: number, now = Date.now()): Promise<AttemptVerdict> {
		let window = this.windows.get(key);
		if (!window || window.endsAt <= now) {
			if (!window && this.windows.size >= this.maxKeys) this.windows.delete(this.windows.keys().next().value!);
			window = { count: 0, endsAt: now + windowMs };
			this.windows.set(key, window);
		}
		if (window.count >= limit) return { allowed: false, count: window.count, retryAfterMs: window.endsAt - now };
		window.count += 1;
		return { allowed: true, count: window.count, retryAfterMs: window.endsAt - now };
	}

	async peek(key: string, now = Date.now()): Promise<number> {
		const window = this.windows.get(key);
		return window && window.endsAt > now ? window.count : 0;
	}

	async reset(key: string): Promise<void> {
		this.windows.delete(key);
	}
}

interface AttemptDoc {
	_id: string;
	count: number;
	endsAt: Date;
}

/** Documents past their window are removed by `purge` (FerretDB has no TTL index; MongoDB could use one on `endsAt`). */
export class MongoAttempts implements AttemptStore {
	private readonly model: Model<AttemptDoc>;

	constructor(connection: Connection, collection = "attempts") {
		this.model =
			(connection.models.Attempt as Model<AttemptDoc>) ??
			connection.model<AttemptDoc>("Attempt", new Schema<AttemptDoc>({ _id: String, count: Number, endsAt: Date }, { versionKey: false }), collection);
	}

	async reserve(key: string, limit: number, windowMs: number, now = Date.now()): Promise<AttemptVerdict> {
		for (let tries = 0; tries < 5; tries++) {
			// One conditional update per attempt: atomic on the document, so instances never over-count.
			const counted = await this.model
				.findOneAndUpdate({ _id: key, endsAt: { $gt: new Date(now) }, count: { $lt: limit } }, { $inc: { count: 1 } }, { returnDocument: "after" })
				.lean();
			if (counted) return { allowed: true, count: counted.count, retryAfterMs: counted.endsAt.getTime() - now };
			const current = await this.model.findById(key).lean();
			if (current && current.endsAt.getTime() > now) return { allowed: false, count: current.count, retryAfterMs: current.endsAt.getTime() - now };
			// No window, or an ended one: start a new window (a racing instance may start it first).
			try {
				if (current) {
					const restarted = await this.model.updateOne({ _id: key, endsAt: current.endsAt }, { $set: { count: 1, endsAt: new Date(now + windowMs) } });
					if (restarted.matchedCount === 1) return { allowed: true, count: 1, retryAfterMs: windowMs };
				} else {
					await this.model.create({ _id: key, count: 1, endsAt: new Date(now + windowMs) });
					return { allowed: true, count: 1, retryAfterMs: windowMs };
				}
			} catch (err) {
				if (!isDuplicateKey(err)) throw err;
			}
		}
		// Contended beyond reason: refuse rather than let attempts through uncounted.
		return { allowed: false, count: limit, retryAfterMs: 1_000 };
	}

	async peek(key: string, now = Date.now()): Promise<number> {
		const current = await this.model.findById(key).lean();
		return current && current.endsAt.getTime() > now ? current.count : 0;
	}

	async reset(key: string): Promise<void> {
		await this.model.deleteOne({ _id: key });
	}

	/** Removes windows that have ended; returns how many. */
	async purge(now = Date.now()): Promise<number> {
		const result = await this.model.deleteMany({ endsAt: { $lte: new Date(now) } });
		return result.deletedCount ?? 0;
	}
}
