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

	set(token: string, value: ResolvedToken): void {
		// Oldest first out: a Map iterates in insertion order.
		if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
		this.entries.set(token, { value, until: this.now() + this.ttlMs });
	}

	/** Drops a revoked token (by jti) or every token of a user issued before `before`. */
	revoke(userId: string, jti?: string, before?: number): void {
		for (const [key, { value }] of this.entries) {
			if (value.user.id !== userId) continue;
			if (jti !== undefined && value.token.jti === jti) this.entries.delete(key);
			else if (before !== undefined && value.token.issuedAt < before) this.entries.delete(key);
			else if (jti === undefined && before === undefined) this.entries.delete(key);
		}
	}

	clear(): void {
		this.entries.clear();
	}
}

/** Whether a revocation broadcast applies to a token. */
export const revokes = (token: AuthToken, jti?: string, before?: number) =>
	(jti !== undefined && token.jti === jti) || (before !== undefined && token.issuedAt < before);
