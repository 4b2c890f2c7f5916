import { ExclusiveRun } from "../../lib/concurrency.js";
import type { SessionRepository } from "./session-repository.js";
import type { SessionStore } from "./session-store.js";

/**
 * The periodic check: applies the time-based rules to every session whose stored `nextCheckAt` has
 * come, so alerts fire while the user is silent and after a restart. Every instance runs it; each
 * session is claimed by a conditional write on its version, together with the alert's notification,
 * so an alert fires once however many instances look. It also purges tombstones whose outbox is out.
 */

/** Due sessions handled per round and instance; the rest wait for the next round. */
const CHECK_BATCH = 200;
const TOMBSTONE_PURGE_EVERY_MS = 60_000;

export class PeriodicCheck {
	private readonly running = new ExclusiveRun();
	private lastPurgeAt = 0;
	/** No round before this (ms): a location instance went away, its users are moving to another owner. */
	private heldUntil = 0;

	constructor(
		private readonly store: SessionStore,
		private readonly repository: SessionRepository,
		private readonly logger: { warn(...args: unknown[]): void },
	) {}

	/**
	 * A location instance went away (crashed): until `until` (ms) no alert is decided. Its users could
	 * not report while calls still went to it, and the stored copies of their sessions may lack the
	 * last seconds it held in memory; their samples reach the new owner within seconds (DEAD_NODE_PROBE)
	 * and refresh the sessions first, so the outage itself raises no OFFLINE or STUCK. An alert that
	 * is really due fires at most that much later.
	 */
	holdUntil(until: number): void {
		this.heldUntil = Math.max(this.heldUntil, until);
	}

	/** One round, unless one is running. */
	async run(): Promise<void> {
		if (!this.repository.ready || this.store.now() < this.heldUntil) return;
		await this.running.runIfIdle(() => this.round());
	}

	/** Resolves once no round is running (or after `timeoutMs`). */
	idle(timeoutMs?: number): Promise<void> {
		return this.running.idle(timeoutMs);
	}

	private async round(): Promise<void> {
		const now = this.store.now;
		try {
			this.store.stats.checks++;
			const due = await this.repository.findDue(now(), CHECK_BATCH);
			for (const row of due) await this.store.checkTimers(row);
			if (now() - this.lastPurgeAt > TOMBSTONE_PURGE_EVERY_MS) {
				this.lastPurgeAt = now();
				await this.repository.purgeTombstones();
			}
		} catch (err) {
			this.logger.warn("Periodic tracking check failed:", (err as Error).message);
		}
	}
}
