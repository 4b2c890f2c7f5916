import type { Point } from "../../events/types.js";
import { TtlCache } from "../../lib/ttl-cache.js";
import { sessionId, type SessionData } from "./session.js";
import type { Transition } from "./state-machine.js";

/**
 * The sessions of the users this instance owns (commands are sharded by user id), kept in memory
 * so a position sample costs no database round trip. A sample that changes nothing but the
 * position (and route, and the stuck circle) is applied in memory, pushed live at once and
 * written behind, coalesced with the samples that follow. Everything else — a state change, an
 * alert or notification, a route reset, a first write, or a session whose stored timers could
 * fire soon — is written through, conditionally on the stored version, as before.
 *
 * Why this keeps SPEC §5 and §8:
 * - notifications and state changes are never deferred (outbox in the same write as before);
 * - the periodic check finds due sessions by the stored `nextCheckAt`, but this instance decides
 *   on its in-memory copy (with every sample), so a deferred sample never lets an alert fire early;
 *   for the checks of other instances, sessions whose stored timers come due soon are written
 *   first, and a sample is written through when its stored timer is due within `urgentMs`;
 * - every write stays conditional on the version: when another writer got there first, the
 *   entry is dropped, the stored session reloaded and the pending samples applied again on it.
 * What it gives up: a crash (not a graceful stop, which writes everything) can lose the last
 * few seconds of positions, never an alert, a state change or a notification.
 */

export interface OwnedSession {
	/** The latest state, including changes not yet stored; `data.version` is the STORED version. */
	data: SessionData;
	/** `nextCheckAt` as stored (what the periodic check of any instance sees). */
	storedNextCheckAt: number | null;
	/** Route points applied in memory, not yet stored. */
	pendingRoute: Point[];
	/** Samples applied since the last write, to apply again if that write loses to another writer. */
	pendingSamples: Point[];
	/** When the entry first got changes not yet stored (ms), or null when clean. */
	dirtySince: number | null;
	usedAt: number;
	/**
	 * A write behind of this entry is waiting for the database (set by the writer, which holds the
	 * session's lock meanwhile). Samples that can be deferred are applied on top of it in memory
	 * instead of queueing behind the write (see `carryOver`).
	 */
	writing?: boolean;
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Whether a transition may be applied in memory and stored later: a sample that moves the user
 * within the same state, with nothing to announce, on a stored session whose timers are not due
 * within `urgentMs`.
 */
export function canDefer(before: SessionData, outcome: Transition, storedNextCheckAt: number | null, now: number, urgentMs: number): boolean {
	const next = outcome.session;
	return (
		before.version > 0 &&
		outcome.notices.length === 0 &&
		(outcome.route.kind === "keep" || outcome.route.kind === "append") &&
		next.state === before.state &&
		next.sharing === before.sharing &&
		next.blocked === before.blocked &&
		sameJson(next.journey?.alerts ?? null, before.journey?.alerts ?? null) &&
		sameJson(next.sos, before.sos) &&
		(storedNextCheckAt === null || storedNextCheckAt > now + urgentMs) &&
		(next.nextCheckAt === null || next.nextCheckAt > now + urgentMs)
	);
}

/**
 * How long before a stored timer comes due a dirty session is written first (ms): half the offline
 * threshold, at most `maxMs`. Every sharing session's stored timer is its stored last sign of life
 * plus `offlineAfter`, so a window as long as the threshold made every changed session urgent at
 * once: the write-behind then wrote each session at every flush tick, keeping the database busy
 * (measured: ~250 writes/s for 300 users sampling once a second, instead of one per session every
 * few seconds). With half, a session sampling steadily is written about every PERSIST_AFTER, and
 * one the database fell behind on still goes first half the threshold before its timer is due.
 */
export function priorityWindowMs(offlineAfterMs: number, maxMs: number): number {
	return Math.min(maxMs, offlineAfterMs / 2);
}

export function ownedEntry(data: SessionData, now: number): OwnedSession {
	return { data, storedNextCheckAt: data.nextCheckAt, pendingRoute: [], pendingSamples: [], dirtySince: null, usedAt: now };
}

/**
 * The owned entry after a successful write of `written` (the state `entry` had when the write
 * began, stored now as `stored`): changes applied on top of the entry while the write waited for
 * the database stay pending, to be written by the next write behind; without any, the stored
 * state itself, clean. `routeCount` and `sampleCount` are how many of the entry's pending route
 * points and samples the write carried.
 */
export function carryOver(entry: OwnedSession, written: SessionData, stored: SessionData, routeCount: number, sampleCount: number, now: number): OwnedSession {
	if (entry.data === written) return ownedEntry(stored, now);
	const pendingRoute = entry.pendingRoute.slice(routeCount);
	const pendingSamples = entry.pendingSamples.slice(sampleCount);
	return {
		data: { ...entry.data, routeLength: stored.routeLength + pendingRoute.length, version: stored.version },
		storedNextCheckAt: stored.nextCheckAt,
		pendingRoute,
		pendingSamples,
		dirtySince: now,
		usedAt: now,
	};
}

/** The entries by session, plus which users' sessions are all loaded (so a sample needs no query). */
export class OwnedSessions {
	private readonly entries = new Map<string, OwnedSession>();
	private readonly byUser = new Map<string, Set<string>>();
	/** Users whose every stored session is in `entries`. */
	private readonly complete = new Set<string>();

	get size(): number {
		return this.entries.size;
	}

	get(groupId: string, userId: string): OwnedSession | undefined {
		return this.entries.get(sessionId(groupId, userId));
	}

	set(entry: OwnedSession): void {
		const { groupId, userId } = entry.data;
		this.entries.set(sessionId(groupId, userId), entry);
		let keys = this.byUser.get(userId);
		if (!keys) this.byUser.set(userId, (keys = new Set()));
		keys.add(groupId);
	}

	delete(groupId: string, userId: string): OwnedSession | undefined {
		const key = sessionId(groupId, userId);
		const entry = this.entries.get(key);
		this.entries.delete(key);
		this.byUser.get(userId)?.delete(groupId);
		if (!this.byUser.get(userId)?.size) this.byUser.delete(userId);
		this.complete.delete(userId);
		return entry;
	}

	/** Every cached session of a user, or undefined when they are not all known. */
	ofUser(userId: string): OwnedSession[] | undefined {
		if (!this.complete.has(userId)) return undefined;
		return [...(this.byUser.get(userId) ?? [])].map(groupId => this.entries.get(sessionId(groupId, userId))!).filter(Boolean);
	}

	markComplete(userId: string): void {
		this.complete.add(userId);
	}

	/** Entries of one group (a deleted group), or of one user (a deleted account). */
	inGroup(groupId: string): OwnedSession[] {
		return [...this.entries.values()].filter(entry => entry.data.groupId === groupId);
	}

	ofUserAll(userId: string): OwnedSession[] {
		return [...(this.byUser.get(userId) ?? [])].map(groupId => this.entries.get(sessionId(groupId, userId))!).filter(Boolean);
	}

	/** Entries with changes not yet stored, oldest first. */
	dirty(): OwnedSession[] {
		return [...this.entries.values()].filter(entry => entry.dirtySince !== null).sort((a, b) => a.dirtySince! - b.dirtySince!);
	}

	/**
	 * What to write behind now: entries dirty since `before`, and — first, soonest first — those
	 * whose stored timers come due before `soon` (writing them refreshes the stored timers before
	 * samples would have to be written through, so sessions started together do not all turn to
	 * writing through in the same second).
	 */
	toWrite(before: number, soon: number): OwnedSession[] {
		const urgent: OwnedSession[] = [];
		const due: OwnedSession[] = [];
		for (const entry of this.entries.values()) {
			if (entry.dirtySince === null) continue;
			if (entry.storedNextCheckAt !== null && entry.storedNextCheckAt <= soon) urgent.push(entry);
			else if (entry.dirtySince <= before) due.push(entry);
		}
		urgent.sort((a, b) => a.storedNextCheckAt! - b.storedNextCheckAt!);
		due.sort((a, b) => a.dirtySince! - b.dirtySince!);
		return [...urgent, ...due];
	}

	/** Clean entries not used since `before` (ms). */
	idle(before: number): OwnedSession[] {
		return [...this.entries.values()].filter(entry => entry.dirtySince === null && entry.usedAt < before);
	}

	clear(): void {
		this.entries.clear();
		this.byUser.clear();
		this.complete.clear();
	}
}

/** One operation at a time per key (a session), in arrival order. */
export class KeyedLock {
	private readonly tails = new Map<string, Promise<unknown>>();
	/** Operations per key that have not finished yet (the running one and those waiting behind it). */
	private readonly counts = new Map<string, number>();

	run<T>(key: string, fn: () => Promise<T>): Promise<T> {
		const previous = this.tails.get(key) ?? Promise.resolve();
		this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
		const result = previous.then(fn, fn);
		const tail = result.catch(() => undefined);
		this.tails.set(key, tail);
		void tail.then(() => {
			const left = (this.counts.get(key) ?? 1) - 1;
			if (left > 0) this.counts.set(key, left);
			else this.counts.delete(key);
			if (this.tails.get(key) === tail) this.tails.delete(key);
		});
		return result;
	}

	/** How many operations on `key` have not finished: 1 means only the running one, nothing waits behind it. */
	inFlight(key: string): number {
		return this.counts.get(key) ?? 0;
	}
}

/**
 * Sessions as members read them, for sessions this instance does not own (never-seen members, or
 * users owned by another instance): kept a few seconds, so a group's sessions cost no query per
 * member on every read. Owned sessions are always read from the owned copy, which is exact.
 */
export class SessionViews<T> {
	private readonly cache: TtlCache<string, T>;

	constructor(ttlMs = 5_000, maxEntries = 50_000, now: () => number = Date.now) {
		this.cache = new TtlCache(ttlMs, maxEntries, now);
	}

	get(groupId: string, userId: string): T | undefined {
		return this.cache.get(sessionId(groupId, userId));
	}

	set(groupId: string, userId: string, value: T): void {
		this.cache.set(sessionId(groupId, userId), value);
	}

	/** Forgets one member's session, or (without `userId`) every session of the group. */
	drop(groupId: string, userId?: string): void {
		if (userId !== undefined) this.cache.delete(sessionId(groupId, userId));
		else this.cache.deleteWhere(key => key.startsWith(`${groupId}:`));
	}

	dropUser(userId: string): void {
		this.cache.deleteWhere(key => key.endsWith(`:${userId}`));
	}
}
