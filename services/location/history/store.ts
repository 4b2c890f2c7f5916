import { Schema, type Connection, type Model } from "mongoose";
import type { Point } from "../../../events/types.js";
import { ExclusiveRun } from "../../../lib/concurrency.js";
import { TtlCache } from "../../../lib/ttl-cache.js";
import { historyCutoff, keepsHistory } from "./export.js";

/**
 * A user's own position history (API.md §6.6): one small document per accepted sample, appended
 * through a buffer so the sample path never waits for the database (`HistoryBuffer`), read back by
 * user and time, and purged when older than HISTORY_DAYS (`purgeExpired`).
 *
 * Purging: FerretDB has no TTL index, so expired points are deleted here in batches of ids, on a
 * timer; every location instance may run it (deletes are idempotent). On MongoDB a TTL index
 * (`{ at: 1 }, { expireAfterSeconds: HISTORY_DAYS × 86400 }`) would do the same in the server; this
 * batch purge costs there one range scan of the `{ at: 1 }` index per batch plus the deletes, i.e.
 * work proportional to what expired (a day's worth of points per day), never a collection scan.
 * (FerretDB's SQLite back end uses no secondary index, so there each batch scans the collection.)
 */

export interface HistoryDoc {
	userId: string;
	at: Date;
	latitude: number;
	longitude: number;
	accuracy?: number;
	altitude?: number;
	speed?: number;
	heading?: number;
	source?: Point["source"];
}

export function historyModel(connection: Connection): Model<HistoryDoc> {
	const schema = new Schema<HistoryDoc>(
		{
			userId: { type: String, required: true },
			at: { type: Date, required: true, index: true },
			latitude: Number,
			longitude: Number,
			accuracy: Number,
			altitude: Number,
			speed: Number,
			heading: Number,
			source: String,
		},
		{ versionKey: false, collection: "historypoints" },
	);
	schema.index({ userId: 1, at: 1 });
	return connection.model<HistoryDoc>("HistoryPoint", schema);
}

/** Reads are bounded: at most this many days per request, and this many points (422 beyond). */
export const MAX_HISTORY_RANGE_DAYS = 31;
export const MAX_HISTORY_POINTS = 50_000;
/** The field error of a read over MAX_HISTORY_POINTS (422). */
export const TOO_MANY_POINTS = {
	field: "from",
	message: `More than ${MAX_HISTORY_POINTS} points in this range: ask for a shorter one.`,
	type: "rangeMax",
} as const;

const DETAILS = ["accuracy", "altitude", "speed", "heading", "source"] as const;

/** What is kept of a sample: where, when, and how well known (not the battery: it says nothing about where one was). */
export function historyDocOf(userId: string, point: Point): HistoryDoc {
	const doc: HistoryDoc = { userId, at: new Date(point.timestamp), latitude: point.latitude, longitude: point.longitude };
	for (const field of DETAILS) if (point[field] !== undefined) (doc as unknown as Record<string, unknown>)[field] = point[field];
	return doc;
}

/** A stored point as the API shows it: a Point (API.md §6.3). */
export function pointOfHistory(doc: HistoryDoc): Point {
	const point: Point = { latitude: doc.latitude, longitude: doc.longitude, timestamp: new Date(doc.at).toISOString() };
	for (const field of DETAILS) if (doc[field] !== undefined && doc[field] !== null) (point as unknown as Record<string, unknown>)[field] = doc[field];
	return point;
}

export interface HistoryBufferDeps {
	insert(docs: HistoryDoc[]): Promise<void>;
	historyDays: number;
	now: () => number;
	logger: { warn(...args: unknown[]): void };
	/** Points held while the database refuses them; the oldest go beyond it. */
	maxBuffered?: number;
}

/**
 * Points waiting to be written, written together by `flush` (the service calls it every second and at
 * a stop): one insert of many documents instead of a database round trip per sample. A point is lost
 * only if the process dies within that second, or if the database stays down until `maxBuffered`.
 */
export class HistoryBuffer {
	private pending: HistoryDoc[] = [];
	private readonly flushing = new ExclusiveRun();
	private readonly maxBuffered: number;
	/** Each user's last fix queued (a resend of it is not a new point); bounded like the sessions' read cache. */
	private readonly lastFix: TtlCache<string, string>;
	dropped = 0;
	written = 0;

	constructor(private readonly deps: HistoryBufferDeps) {
		this.maxBuffered = deps.maxBuffered ?? 100_000;
		this.lastFix = new TtlCache(10 * 60_000, 100_000, () => deps.now());
	}

	get keeps(): boolean {
		return keepsHistory(this.deps.historyDays);
	}

	get size(): number {
		return this.pending.length;
	}

	/**
	 * Queues an accepted sample of `userId` (nothing when history is off, the point has already expired,
	 * or it is the same fix as the user's last one: a resend, which the sessions ignore too).
	 */
	add(userId: string, point: Point): void {
		if (!this.keeps) return;
		const doc = historyDocOf(userId, point);
		if (doc.at.getTime() < historyCutoff(this.deps.historyDays, this.deps.now()).getTime()) return;
		const fix = `${point.timestamp} ${point.latitude} ${point.longitude}`;
		if (this.lastFix.get(userId) === fix) return;
		this.lastFix.set(userId, fix);
		this.pending.push(doc);
		if (this.pending.length > this.maxBuffered) this.dropped += this.pending.splice(0, this.pending.length - this.maxBuffered).length;
	}

	/** The points of `userId` not yet written, within [from, to]. */
	pendingOf(userId: string, from: Date, to: Date): HistoryDoc[] {
		return this.pending.filter(doc => doc.userId === userId && doc.at >= from && doc.at <= to);
	}

	/** Forgets the points of `userId` not yet written, and waits for a write in flight (it may hold some): then the stored ones can be deleted. */
	async forget(userId: string): Promise<void> {
		this.lastFix.delete(userId);
		this.pending = this.pending.filter(doc => doc.userId !== userId);
		await this.flushing.idle();
		this.pending = this.pending.filter(doc => doc.userId !== userId);
	}

	/** Writes what is queued (after any write running); on failure the points stay queued for the next round. */
	async flush(): Promise<void> {
		await this.flushing.runIfIdle(async () => {
			while (this.pending.length) {
				const batch = this.pending;
				this.pending = [];
				try {
					await this.deps.insert(batch);
					this.written += batch.length;
				} catch (err) {
					this.pending = [...batch, ...this.pending];
					this.deps.logger.warn("Writing position history failed (kept for the next round):", (err as Error).message);
					return;
				}
			}
		});
	}

	/** Graceful stop: writes what is queued, after any write running. */
	async close(timeoutMs = 5_000): Promise<void> {
		const deadline = Date.now() + timeoutMs;
		while (this.pending.length && Date.now() < deadline) {
			await this.flushing.idle(deadline - Date.now());
			await this.flush();
			if (this.pending.length) await new Promise(resolve => setTimeout(resolve, 100));
		}
	}
}

/**
 * Deletes the points older than `cutoff`, `batchSize` at a time (each statement bounded, whatever
 * piled up), until none is left or `maxBatches` ran; returns how many went.
 */
export async function purgeExpired(model: Model<HistoryDoc>, cutoff: Date, batchSize = 1_000, maxBatches = 100): Promise<number> {
	let purged = 0;
	for (let batch = 0; batch < maxBatches; batch++) {
		const ids = (
			await model
				.find({ at: { $lt: cutoff } }, { _id: 1 })
				.limit(batchSize)
				.lean()
		).map(doc => doc._id);
		if (!ids.length) break;
		purged += (await model.deleteMany({ _id: { $in: ids } })).deletedCount ?? 0;
		if (ids.length < batchSize) break;
	}
	return purged;
}

export interface HistoryWindow {
	from: Date;
	to: Date;
}

/** A field error of a history read (422). */
export interface WindowProblem {
	field: "from" | "to";
	message: string;
	type: string;
}

/**
 * The window a history read covers: `to` defaults to now, `from` to 24 h before `to`; a problem when a
 * date is none (the validator's pattern lets "2026-13-45" through), `from` is after `to`, or the window
 * is longer than MAX_HISTORY_RANGE_DAYS.
 */
export function historyWindow(params: { from?: string; to?: string }, now: number): HistoryWindow | WindowProblem {
	for (const field of ["from", "to"] as const) {
		const value = params[field];
		if (value !== undefined && Number.isNaN(Date.parse(value))) return { field, message: `The '${field}' field must be an ISO-8601 date.`, type: "date" };
	}
	const to = params.to === undefined ? new Date(now) : new Date(params.to);
	const from = params.from === undefined ? new Date(to.getTime() - DAY_MS) : new Date(params.from);
	if (from.getTime() > to.getTime()) return { field: "from", message: "'from' must not be after 'to'.", type: "dateMax" };
	if (to.getTime() - from.getTime() > MAX_HISTORY_RANGE_DAYS * DAY_MS)
		return { field: "from", message: `At most ${MAX_HISTORY_RANGE_DAYS} days per request: ask for the history in parts.`, type: "rangeMax" };
	return { from, to };
}

const DAY_MS = 86_400_000;

/**
 * The HistoryPoint collection and the buffer in front of it: what the service's actions read and
 * delete. Reads merge the points not yet written (the user's samples are buffered on the instance
 * that owns the user, where their reads are routed too), and never show a point past the retention.
 */
export class History {
	constructor(
		private readonly model: () => Model<HistoryDoc>,
		readonly buffer: HistoryBuffer,
		private readonly historyDays: number,
	) {}

	/** The history over its collection, with a buffer that writes there (`model` read at each call: the connection opens later). */
	static over(model: () => Model<HistoryDoc>, deps: Omit<HistoryBufferDeps, "insert">): History {
		const buffer = new HistoryBuffer({ ...deps, insert: async docs => void (await model().insertMany(docs, { ordered: false, lean: true })) });
		return new History(model, buffer, deps.historyDays);
	}

	/** The user's points in the window, oldest first; null when there are more than MAX_HISTORY_POINTS. */
	async read(userId: string, { from, to }: HistoryWindow, now: number): Promise<Point[] | null> {
		if (!this.buffer.keeps) return [];
		const since = new Date(Math.max(from.getTime(), historyCutoff(this.historyDays, now).getTime()));
		const stored = await this.model()
			.find({ userId, at: { $gte: since, $lte: to } }, { _id: 0, userId: 0 })
			.limit(MAX_HISTORY_POINTS + 1)
			.lean<HistoryDoc[]>();
		const docs = [...stored, ...this.buffer.pendingOf(userId, since, to)];
		if (docs.length > MAX_HISTORY_POINTS) return null;
		return docs.map(pointOfHistory).sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
	}

	/** All of the user's history, queued points included. */
	async erase(userId: string): Promise<void> {
		await this.buffer.forget(userId);
		await this.model().deleteMany({ userId });
	}

	/** Operators: how many points the user has, the oldest and the newest. */
	async stats(userId: string) {
		const [count, oldest, newest] = await Promise.all([
			this.model().countDocuments({ userId }),
			this.model().findOne({ userId }, { at: 1 }).sort({ at: 1 }).lean<HistoryDoc>(),
			this.model().findOne({ userId }, { at: 1 }).sort({ at: -1 }).lean<HistoryDoc>(),
		]);
		return {
			userId,
			historyDays: this.historyDays,
			count,
			oldest: oldest ? new Date(oldest.at).toISOString() : null,
			newest: newest ? new Date(newest.at).toISOString() : null,
		};
	}

	/** Deletes the expired points (a round of bounded batches); how many went. */
	purge(now: number): Promise<number> {
		return purgeExpired(this.model(), historyCutoff(this.historyDays, now));
	}
}
