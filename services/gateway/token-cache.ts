import type { AuthToken, User } from "../../events/types.js";

export interface ResolvedToken {
	user: User;
	token: AuthToken;
}

/**
 * Remembers resolved tokens for a short while so each request does not cost a call to the users
 * service. Revocations evict entries at once (they arrive as broadcasts); the TTL bounds how long
 * a missed broadcast could matter.
 */
export class TokenCache {
	private readonly entries = new Map<string, { value: ResolvedToken; until: number }>();
	/**
	 * A counter of revocations seen, and the count at each user's last one: an answer of the users
	 * service that was asked for before a revocation of its user arrived may predate it, so it is
	 * not cached (the request it answers goes through; the next one asks again).
	 */
	private revocationCount = 0;
	private readonly lastRevocationOf = new Map<string, number>();
	private clearedAt = 0;

	constructor(
		private readonly ttlMs = 30_000,
		private readonly maxEntries = 50_000,
		private readonly now: () => number = Date.now,
	) {}

	get(token: string): ResolvedToken | undefined {
		const entry = this.entries.get(token);
		if (!entry) return undefined;
		if (entry.until <= this.now() || entry.value.token.expiresAt <= this.now()) {
			this.entries.delete(token);
			return undefined;
		}
		return entry.value;
	}

	/** A mark taken before asking the users service, to hand to `set` with its answer. */
	mark(): number {
		return this.revocationCount;
	}

	set(token: string, value: ResolvedToken, askedAt = this.revocationCount): void {
		if (askedAt < this.clearedAt || askedAt < (this.lastRevocationOf.get(value.user.id) ?? 0)) return;
		// Oldest first out: a Map iterates in insertion order.
		if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
		this.entries.set(token, { value, until: this.now() + this.ttlMs });
	}

	/** Drops a revoked token (by jti) or every token of a user issued before `before`. */
	revoke(userId: string, jti?: string, before?: number): void {
		this.revocationCount += 1;
		// Only answers asked for within the TTL can still arrive; old marks are dropped in bulk.
		if (this.lastRevocationOf.size >= this.maxEntries) {
			this.lastRevocationOf.clear();
			this.clearedAt = this.revocationCount;
		}
		this.lastRevocationOf.set(userId, this.revocationCount);
		for (const [key, { value }] of this.entries) {
			if (value.user.id !== userId) continue;
			if (jti !== undefined && value.token.jti === jti) this.entries.delete(key);
			else if (before !== undefined && value.token.issuedAt < before) this.entries.delete(key);
			else if (jti === undefined && before === undefined) this.entries.delete(key);
		}
	}

	clear(): void {
		this.entries.clear();
		this.revocationCount += 1;
		this.clearedAt = this.revocationCount;
		this.lastRevocationOf.clear();
	}
}

/** Whether a revocation broadcast applies to a token. */
export const revokes = (token: AuthToken, jti?: string, before?: number) =>
	(jti !== undefined && token.jti === jti) || (before !== undefined && token.issuedAt < before);
