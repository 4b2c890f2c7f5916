import type { UserDoc } from "./models.js";

/** What a group answer shows of a member. */
export type MemberFields = Pick<UserDoc, "_id" | "name" | "surname" | "email">;

/** Broadcast to every users instance when a user's name, email or existence changes. */
export const MEMBER_CHANGED_EVENT = "users.memberChanged";
export interface MemberChanged {
	userId: string;
}

/**
 * Members as shown in group answers, kept for a short while: `GET /groups` shows the same few
 * co-members again and again, and each would otherwise be one read per member per request.
 * Changes evict at once on every users instance (MEMBER_CHANGED_EVENT); the TTL bounds how long a
 * missed broadcast could show an old name. Membership itself is never cached: only names.
 */
export class MemberCache {
	private readonly entries = new Map<string, { member: MemberFields; until: number }>();
	/** Bumped by every eviction, so a read that started before one is not stored after it. */
	private evictions = 0;

	constructor(
		private readonly ttlMs = 10_000,
		private readonly maxEntries = 100_000,
		private readonly now: () => number = Date.now,
	) {}

	get(id: string): MemberFields | undefined {
		const entry = this.entries.get(id);
		if (!entry) return undefined;
		if (entry.until <= this.now()) {
			this.entries.delete(id);
			return undefined;
		}
		return entry.member;
	}

	/** A mark taken before reading from the database, to hand to `set` with what was read. */
	mark(): number {
		return this.evictions;
	}

	set(doc: MemberFields, readSince: number): void {
		if (readSince !== this.evictions) return; // the read may predate a change
		if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
		const { _id, name, surname, email } = doc;
		this.entries.set(_id, { member: { _id, name, surname, email }, until: this.now() + this.ttlMs });
	}

	evict(id: string): void {
		this.evictions += 1;
		this.entries.delete(id);
	}

	clear(): void {
		this.evictions += 1;
		this.entries.clear();
	}
}
