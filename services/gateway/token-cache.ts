import type { AuthToken, User } from "../../events/types.js";
import { TtlCache } from "../../lib/ttl-cache.js";

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
	private readonly entries: TtlCache<string, ResolvedToken>;
	/**
	 * A counter of revocations seen, and the count at each user's last one: an answer of the users
	 * service that was asked for before a revocation of its user arrived may predate it, so it is
	 * not cached (the request it answers goes through; the next one asks again).
	 */
	private revocationCount = 0;
	private readonly lastRevocationOf = new Map<string, number>();
	private clearedAt = 0;

	constructor(
		ttlMs = 30_000,
		private readonly maxEntries = 50_000,
		private readonly now: () => number = Date.now,
	) {
		this.entries = new TtlCache(ttlMs, maxEntries, now);
	}

	get(token: string): ResolvedToken | undefined {
		const value = this.entries.get(token);
		if (!value) return undefined;
		// The token itself may expire before the cache entry does.
		if (value.token.expiresAt <= this.now()) {
			this.entries.delete(token);
			return undefined;
		}
		return value;
	}

	/** A mark taken before asking the users service, to hand to `set` with its answer. */
	mark(): number {
		return this.revocationCount;
	}

	set(token: string, value: ResolvedToken, askedAt = this.revocationCount): void {
		if (askedAt < this.clearedAt || askedAt < (this.lastRevocationOf.get(value.user.id) ?? 0)) return;
		this.entries.set(token, value);
	}

	/** The cached answer for a token, else `ask`'s, cached unless a revocation of its user arrived while asking. */
	async resolve(token: string, ask: () => Promise<ResolvedToken>): Promise<ResolvedToken> {
		const cached = this.get(token);
		if (cached) return cached;
		const askedAt = this.mark();
		const resolved = await ask();
		this.set(token, resolved, askedAt);
		return resolved;
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
		const everyToken = jti === undefined && before === undefined;
		this.entries.deleteWhere((_, value) => value.user.id === userId && (everyToken || revokes(value.token, jti, before)));
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
