import { TtlCache } from "../../lib/ttl-cache.js";
import type { UserDoc } from "./models.js";

/** What a group answer shows of a member. */
export type MemberFields = Pick<UserDoc, "_id" | "name" | "surname" | "email" | "phone">;

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
	/** Its `generation` is the mark: bumped by every eviction, so a read that started before one is not stored after it. */
	private readonly members: TtlCache<string, MemberFields>;

	constructor(ttlMs = 10_000, maxEntries = 100_000, now: () => number = Date.now) {
		this.members = new TtlCache(ttlMs, maxEntries, now);
	}

	get(id: string): MemberFields | undefined {
		return this.members.get(id);
	}

	/** A mark taken before reading from the database, to hand to `set` with what was read. */
	mark(): number {
		return this.members.generation;
	}

	/** Keeps what a group answer shows of `doc` (never more), unless a change came after `readSince`. */
	set(doc: MemberFields, readSince: number): void {
		const { _id, name, surname, email, phone } = doc;
		this.members.setIfUnchanged(_id, { _id, name, surname, email, ...(phone ? { phone } : {}) }, readSince);
	}

	evict(id: string): void {
		this.members.delete(id);
	}

	clear(): void {
		this.members.clear();
	}
}
