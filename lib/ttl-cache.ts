/**
 * A bounded in-memory map whose entries expire after `ttlMs`; when full, the oldest entry goes
 * first (a Map iterates in insertion order). The caches in front of other services' answers
 * (tokens, member names, session views) are this with their own key and eviction rules.
 *
 * `generation` grows with every eviction, so a caller can take it before a read from the
 * database and skip storing the answer when an eviction happened meanwhile (the answer may
 * predate the change that caused it).
 */
export class TtlCache<K, V> {
	private readonly entries = new Map<K, { value: V; until: number }>();
	private evictions = 0;

	constructor(
		private readonly ttlMs: number,
		private readonly maxEntries: number,
		private readonly now: () => number = Date.now,
	) {}

	get size(): number {
		return this.entries.size;
	}

	/** Evictions so far: take it before a read, hand it to `setIfUnchanged` with the answer. */
	get generation(): number {
		return this.evictions;
	}

	get(key: K): V | undefined {
		const entry = this.entries.get(key);
		if (!entry) return undefined;
		if (entry.until <= this.now()) {
			this.entries.delete(key);
			return undefined;
		}
		return entry.value;
	}

	set(key: K, value: V): void {
		this.entries.delete(key);
		if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as K);
		this.entries.set(key, { value, until: this.now() + this.ttlMs });
	}

	/** Stores `value` unless something was evicted since `generation` was taken; true when stored. */
	setIfUnchanged(key: K, value: V, generation: number): boolean {
		if (generation !== this.evictions) return false;
		this.set(key, value);
		return true;
	}

	delete(key: K): void {
		this.evictions += 1;
		this.entries.delete(key);
	}

	/** Drops every entry whose key matches. */
	deleteWhere(matches: (key: K, value: V) => boolean): void {
		this.evictions += 1;
		for (const [key, entry] of this.entries) if (matches(key, entry.value)) this.entries.delete(key);
	}

	clear(): void {
		this.evictions += 1;
		this.entries.clear();
	}
}
