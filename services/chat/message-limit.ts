import { rateLimited } from "../../events/errors.js";
import type { AttemptStore } from "../../lib/attempt-limits.js";

/**
 * Chat messages per user: at most `perMinute` in a minute, counted before the message is stored.
 * The counts live in chat's own database (MongoAttempts, one conditional update per message, next
 * to the message's own insert): sends are balanced over the chat instances, so a count kept in one
 * instance's memory would let a user through once per instance. One document per user, reused
 * minute after minute, so nothing needs purging; it goes with the account.
 */
export class MessageLimit {
	constructor(
		private readonly attempts: AttemptStore,
		/** 0: no limit. */
		readonly perMinute: number,
	) {}

	/** Counts one message of the user; 429 RATE_LIMITED (with `retryAfter`, seconds) once the minute's messages are spent. */
	async reserve(userId: string, now = Date.now()): Promise<void> {
		if (this.perMinute <= 0) return;
		const verdict = await this.attempts.reserve(`chat:${userId}`, this.perMinute, 60_000, now);
		if (verdict.allowed) return;
		const retryAfter = Math.max(1, Math.ceil(verdict.retryAfterMs / 1000));
		throw rateLimited(`At most ${this.perMinute} chat messages a minute; try again in ${retryAfter} s`, { retryAfter });
	}

	/** A deleted account's count. */
	forget(userId: string): Promise<void> {
		return this.attempts.reset(`chat:${userId}`);
	}
}
