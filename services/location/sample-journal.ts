import { Schema, type Connection, type Model } from "mongoose";
import type { Point } from "../../events/types.js";
import { serviceUnavailable } from "../../events/errors.js";
import { sessionId } from "./session.js";

/**
 * "Acknowledged" means durable (issue 18.4). A sample written behind lives only in the owning
 * instance's memory for up to PERSIST_AFTER; a crash of that instance lost every acknowledged sample
 * of those seconds. So before a sample written behind is acknowledged, it is appended here: one small
 * document per sample and session, inserted together with every other sample waiting (group commit:
 * one `insertMany` per turn, the acknowledgements released when it is stored). Once the write behind
 * of a session has stored its samples, their documents are deleted (by time, per instance: everything
 * this instance appended before its oldest sample still unwritten). What a crashed instance leaves
 * here is applied again by the next owner of each user (hand-over-replay.ts).
 */

export interface JournalDoc {
	/** The location instance (node id) that applied the sample and holds it unwritten. */
	node: string;
	groupId: string;
	userId: string;
	point: Point;
	/** When it was appended (server time): the order of a session's samples, and what the trim goes by. */
	at: Date;
}

export function journalModel(connection: Connection): Model<JournalDoc> {
	const schema = new Schema<JournalDoc>(
		{
			node: { type: String, required: true },
			groupId: { type: String, required: true },
			userId: { type: String, required: true },
			point: { type: Schema.Types.Mixed, required: true },
			at: { type: Date, required: true },
		},
		{ versionKey: false, collection: "samplejournal" },
	);
	schema.index({ node: 1, at: 1 });
	schema.index({ userId: 1, at: 1 });
	return connection.model<JournalDoc>("SampleJournal", schema);
}

export interface SampleJournalDeps {
	node: string;
	/** Stores the documents (throws when the database refuses them). */
	insert(docs: JournalDoc[]): Promise<void>;
	/** Deletes what this node appended before `before` (its sessions are written). */
	trim(node: string, before: Date): Promise<void>;
	now: () => number;
	logger: { warn(...args: unknown[]): void };
	/** Samples held while the database refuses them; the oldest go beyond it. */
	maxQueued?: number;
}

interface Waiter {
	resolve: () => void;
	reject: (err: Error) => void;
}

/** The appends of one instance: queued, stored in one insert per turn, trimmed once written behind. */
export class SampleJournal {
	private queue: JournalDoc[] = [];
	private running?: Promise<void>;
	/** Per session: samples appended and not yet stored here. */
	private readonly unstored = new Map<string, number>();
	private readonly waiters = new Map<string, Waiter[]>();
	/** Per session: when each sample still unwritten by the write behind was appended, oldest first. */
	private readonly unwritten = new Map<string, number[]>();
	private trimmedBefore = 0;
	appended = 0;
	dropped = 0;

	constructor(private readonly deps: SampleJournalDeps) {}

	get queued(): number {
		return this.queue.length;
	}

	/** Appends a sample applied in memory to (groupId, userId); stored with the others of this turn. */
	append(groupId: string, userId: string, point: Point): void {
		const now = this.deps.now();
		const key = sessionId(groupId, userId);
		this.queue.push({ node: this.deps.node, groupId, userId, point, at: new Date(now) });
		this.unstored.set(key, (this.unstored.get(key) ?? 0) + 1);
		const times = this.unwritten.get(key);
		if (times) times.push(now);
		else this.unwritten.set(key, [now]);
		this.appended++;
		const max = this.deps.maxQueued ?? 100_000;
		if (this.queue.length > max) this.dropQueued(this.queue.length - max);
		this.schedule();
	}

	/** Resolves once every sample appended so far to this session is stored; rejects (503) when the database refused them. */
	durable(groupId: string, userId: string): Promise<void> {
		const key = sessionId(groupId, userId);
		if (!this.unstored.get(key)) return Promise.resolve();
		return new Promise((resolve, reject) => {
			const list = this.waiters.get(key);
			if (list) list.push({ resolve, reject });
			else this.waiters.set(key, [{ resolve, reject }]);
		});
	}

	/** The write behind stored the first `count` samples held for this session. */
	written(groupId: string, userId: string, count: number): void {
		if (count <= 0) return;
		const key = sessionId(groupId, userId);
		const times = this.unwritten.get(key);
		if (!times) return;
		times.splice(0, count);
		if (!times.length) this.unwritten.delete(key);
	}

	/** The session's samples are no longer held here (applied again, or the session is gone). */
	forget(groupId: string, userId: string): void {
		this.unwritten.delete(sessionId(groupId, userId));
	}

	/** Nothing is held unwritten any more (every copy was written, then dropped). */
	forgetAll(): void {
		this.unwritten.clear();
	}

	/** Everything appended before this is written behind: the oldest sample still unwritten, or now. */
	watermark(): number {
		let oldest = this.deps.now();
		for (const times of this.unwritten.values()) if (times[0]! < oldest) oldest = times[0]!;
		return oldest;
	}

	/** Stores what is queued (a retry after a failure), then deletes what the write behind has stored (at most once a second). */
	async tick(): Promise<void> {
		this.schedule();
		await this.running;
		const before = this.watermark();
		if (before - this.trimmedBefore < 1_000 || this.queue.length) return;
		try {
			await this.deps.trim(this.deps.node, new Date(before));
			this.trimmedBefore = before;
		} catch (err) {
			this.deps.logger.warn("Trimming the sample journal failed (tried again later):", (err as Error).message);
		}
	}

	/** Graceful stop: stores what is queued (the sessions are written next, then trimmed). */
	async close(): Promise<void> {
		this.schedule();
		await this.running;
	}

	private schedule(): void {
		if (this.running || !this.queue.length) return;
		this.running = new Promise<void>(resolve => setImmediate(resolve)).then(() => this.storeQueued());
	}

	private async storeQueued(): Promise<void> {
		try {
			while (this.queue.length) {
				const batch = this.queue;
				this.queue = [];
				try {
					await this.deps.insert(batch);
				} catch (err) {
					this.queue = [...batch, ...this.queue];
					this.rejectWaiters(batch, err as Error);
					this.deps.logger.warn("Appending to the sample journal failed (kept for the next round):", (err as Error).message);
					return;
				}
				this.stored(batch);
			}
		} finally {
			this.running = undefined;
		}
	}

	private stored(batch: JournalDoc[]): void {
		for (const doc of batch) {
			const key = sessionId(doc.groupId, doc.userId);
			const left = (this.unstored.get(key) ?? 1) - 1;
			if (left > 0) {
				this.unstored.set(key, left);
				continue;
			}
			this.unstored.delete(key);
			for (const waiter of this.waiters.get(key) ?? []) waiter.resolve();
			this.waiters.delete(key);
		}
	}

	private rejectWaiters(batch: JournalDoc[], cause: Error): void {
		const error = serviceUnavailable("Your position could not be stored; send it again", { cause: cause.message });
		for (const key of new Set(batch.map(doc => sessionId(doc.groupId, doc.userId)))) {
			for (const waiter of this.waiters.get(key) ?? []) waiter.reject(error);
			this.waiters.delete(key);
		}
	}

	/** Beyond `maxQueued` (the database refusing for long): the oldest go, and whoever waits for them is told (503). */
	private dropQueued(count: number): void {
		const gone = this.queue.splice(0, count);
		this.dropped += gone.length;
		this.rejectWaiters(gone, new Error("the journal is full"));
		for (const doc of gone) {
			const key = sessionId(doc.groupId, doc.userId);
			const left = (this.unstored.get(key) ?? 1) - 1;
			if (left > 0) this.unstored.set(key, left);
			else this.unstored.delete(key);
		}
	}
}
