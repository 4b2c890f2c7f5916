import type { Context } from "moleculer";
import { conflict, ErrorTypes } from "../../events/errors.js";
import type { Point, User } from "../../events/types.js";
import { BatchedLookups } from "../../lib/batched-lookups.js";
import { ExclusiveRun, mapLimit } from "../../lib/concurrency.js";
import { toSessionData, type SessionRow } from "./models.js";
import { compactPoint } from "./point.js";
import type { NoticeEnvelopes } from "./notice-envelopes.js";
import { canDefer, carryOver, KeyedLock, ownedEntry, OwnedSessions, priorityWindowMs, SessionViews, type OwnedSession } from "./owned-sessions.js";
import { capRoute, MAX_ROUTE_POINTS, newSession, recordsRoute, sessionId, type SessionData, type Thresholds } from "./session.js";
import type { SessionRepository, SessionWrite } from "./session-repository.js";
import { decide, type LocationEvent, type Transition } from "./state-machine.js";
import type { VersionedPlace } from "./places/session-places.js";
import { replayable } from "./hand-over-replay.js";
import type { SampleJournal } from "./sample-journal.js";

/**
 * The sessions of the users this instance owns, and what happens to them: one event at a time
 * per session, decided on the copy held in memory; a position-only change is applied in memory,
 * pushed live at once and written behind (`defer`, `flush`); anything else is written through in
 * ONE conditional write with its notifications (`commit`). When another writer changed the stored
 * session first, the copy is dropped and its unwritten samples applied again on the stored one
 * (`rebase`). See owned-sessions.ts for why this keeps every alert and notification.
 */

export interface TrackingStats {
	/** Periodic checks run by this instance. */
	checks: number;
	/** Due sessions this instance updated. */
	claimed: number;
	/** Due sessions another writer updated first (the conditional write lost): nothing fired twice. */
	lost: number;
	/** Notifications written to the outbox by this instance. */
	notices: number;
	/** Samples applied in memory and written behind. */
	deferred: number;
	/** Writes behind (each one stores every sample deferred since the last write of that session). */
	flushed: number;
	/** Pending samples applied again because another writer changed the stored session first. */
	rebased: number;
	/** Sessions of owned users read from the database (once per session, then kept in memory). */
	sessionReads: number;
	/** Group projections read to check a sample's membership (one at a time per group). */
	groupReads: number;
}

const newTrackingStats = (): TrackingStats => ({
	checks: 0,
	claimed: 0,
	lost: 0,
	notices: 0,
	deferred: 0,
	flushed: 0,
	rebased: 0,
	sessionReads: 0,
	groupReads: 0,
});

/**
 * A position-only change is stored about `persistAfterMs` after it was applied, coalesced with the
 * samples that follow (later when the database is the bottleneck). Sessions whose STORED timers come
 * due within half the offline threshold (at most `priorityWithinMs`, see `priorityWindowMs`) are
 * written first, so the stored timers move on long before they are due; a sample on a session whose
 * stored timer is due within `writeThroughWithinMs` is written through at once. (This instance's own
 * periodic check decides on its in-memory copy; the margins are for the checks of other instances.)
 */
interface WriteBehind {
	persistAfterMs: number;
	priorityWithinMs: number;
	writeThroughWithinMs: number;
	/** Writes behind in flight at once: leaves the database to the commands that write through. */
	concurrency: number;
	/** Clean copies unused for this long are dropped. */
	evictIdleMs: number;
	/** First samples of many users arriving together are looked up in one query, this long after the first. */
	lookupBatchMs: number;
}

const WRITE_BEHIND: WriteBehind = {
	persistAfterMs: 5_000,
	priorityWithinMs: 60_000,
	writeThroughWithinMs: 5_000,
	concurrency: 1,
	evictIdleMs: 10 * 60_000,
	lookupBatchMs: 5,
};

const MAX_VERSION_RETRIES = 8;

/**
 * How close a stored timer may come before a sample is written through (ms): a quarter of the
 * offline threshold, at most `maxMs`. Every sample of a sharing session moves its timer to now +
 * the offline threshold; with a fixed window as long as that threshold or longer (OFFLINE_AFTER=4
 * against 5 s) every sample was due "soon" and written through, and the write path collapsed
 * (800 samples/s at 6 % of the bare relay). A quarter keeps well inside the half-threshold at which
 * the write-behind writes a session first (`priorityWindowMs`), so a steadily sampling session is
 * written about twice per threshold and its samples are deferred in between, whatever the threshold.
 */
export function writeThroughWindowMs(offlineAfterMs: number, maxMs: number): number {
	return Math.min(maxMs, offlineAfterMs / 4);
}

/** The request a change answers (its live update goes out as that request's child), or null for the store's own work. */
export type Origin = Context | null;
export interface ApplyOptions {
	origin?: Origin;
	/** The caller, for the name in a notification when the projection does not know them yet. */
	caller?: User;
}

export interface SessionStoreDeps {
	repository: SessionRepository;
	now: () => number;
	thresholds: Thresholds;
	/** Pushes a changed session to the group's members; resolves once sent. */
	publish: (session: SessionData, origin: Origin) => Promise<void>;
	/** The outbox of this session has envelopes to relay now. */
	kickOutbox: (sessionId: string) => void;
	noticeEnvelopes: NoticeEnvelopes;
	/** The groups a user is in (authoritative), to find their sessions by primary key. */
	groupIdsOf: (userId: string) => Promise<string[]>;
	/** A group's places, for arrivals and departures on every sample (absent: samples leave places alone). */
	places?: GroupPlacesSource;
	/** Where samples written behind are appended before they are acknowledged (absent: held in memory only). */
	journal?: SampleJournal;
	logger: { warn(...args: unknown[]): void; debug(...args: unknown[]): void };
}

/** Where samples find their group's places: from memory when held (`peek`), else read (`of`). */
export interface GroupPlacesSource {
	peek(groupId: string): readonly VersionedPlace[] | undefined;
	of(groupId: string): Promise<readonly VersionedPlace[]>;
}

export type TimerOutcome = "claimed" | "lost" | "rebased";

const isInvalidState = (err: unknown) => (err as { type?: string }).type === ErrorTypes.INVALID_STATE;
const message = (err: unknown) => (err as Error).message;

export class SessionStore {
	readonly stats: TrackingStats;
	readonly now: () => number;
	private readonly repository: SessionRepository;
	private readonly thresholds: Thresholds;
	private readonly timings: WriteBehind;
	private readonly owned = new OwnedSessions();
	private readonly views = new SessionViews<SessionData>();
	private readonly locks = new KeyedLock();
	private readonly flushing = new ExclusiveRun();
	private readonly lookups: BatchedLookups<string>;
	/** The location instances last seen (a change moves the ownership of users between instances). */
	private owners?: string;

	constructor(private readonly deps: SessionStoreDeps) {
		this.repository = deps.repository;
		this.now = deps.now;
		this.thresholds = deps.thresholds;
		this.stats = newTrackingStats();
		this.timings = WRITE_BEHIND;
		this.lookups = new BatchedLookups(this.timings.lookupBatchMs, userIds => this.lookUp(userIds));
	}

	get ownedCount(): number {
		return this.owned.size;
	}

	get unwrittenCount(): number {
		return this.owned.dirty().length;
	}

	// ---- reads

	/**
	 * A session as members read it: this instance's copy when it holds changes not yet written
	 * (newer than the stored one), else a copy read in the last few seconds, else the stored one.
	 * (A clean owned copy is not trusted blindly: another instance's periodic check may have
	 * changed the stored session.)
	 */
	async get(groupId: string, userId: string): Promise<SessionData> {
		const owned = this.owned.get(groupId, userId);
		if (owned && owned.dirtySince !== null) return owned.data;
		const seen = this.views.get(groupId, userId);
		if (seen) return seen;
		const row = await this.repository.find(groupId, userId);
		const session = row ? this.freshest(row) : (owned?.data ?? newSession(groupId, userId));
		this.views.set(groupId, userId, session);
		return session;
	}

	/** The stored sessions of a group by user, each as fresh as this instance knows it. */
	async inGroup(groupId: string): Promise<Map<string, SessionData>> {
		const rows = await this.repository.findInGroup(groupId);
		return new Map(rows.map(row => [row.userId, this.freshest(row)]));
	}

	/** The route a member recorded since their journey or SOS began, with points not yet written behind. */
	async route(groupId: string, userId: string): Promise<Point[]> {
		const row = await this.repository.route(groupId, userId);
		if (!row || row.removed || !recordsRoute(row.state)) return [];
		const owned = this.owned.get(groupId, userId);
		const pending = owned && owned.data.version === row.version && recordsRoute(owned.data.state) ? owned.pendingRoute : [];
		return [...(row.route ?? []), ...pending].map(compactPoint);
	}

	/**
	 * The groups where a user's samples go (sharing, or in an SOS), from memory. The users whose
	 * first sample arrives within `lookupBatchMs` are looked up together, and a user's samples that
	 * arrive while their lookup runs wait for it (after a restart every client sends at once).
	 */
	async sharingGroupsOf(userId: string): Promise<string[]> {
		let known = this.owned.ofUser(userId);
		if (!known) {
			await this.lookups.wait(userId);
			known = this.owned.ofUser(userId) ?? [];
		}
		return known.filter(entry => entry.data.sharing || entry.data.state === "SOS").map(entry => entry.data.groupId);
	}

	// ---- changes

	/** Applies an event to a session; one change at a time per session on this instance. */
	apply(groupId: string, userId: string, event: LocationEvent, options: ApplyOptions = {}): Promise<SessionData> {
		const key = sessionId(groupId, userId);
		if (event.type === "sample") {
			// A sample meeting nothing but a write behind waiting for the database is applied on top of
			// it (the write keeps it pending, see `carryOver`) instead of adding the database's latency to
			// its live update. Anything queued behind the write keeps its turn: order is preserved.
			const entry = this.owned.get(groupId, userId);
			const places = this.deps.places?.peek(groupId);
			if (entry?.writing && this.locks.inFlight(key) === 1 && (places || !this.deps.places)) {
				const now = this.now();
				const placed = places ? { ...event, places } : event;
				const outcome = decide(entry.data, placed, now, this.thresholds);
				if (this.deferrable(entry, outcome, now)) {
					entry.usedAt = now;
					return this.defer(entry, outcome, event.point, now, options.origin ?? null);
				}
			}
		}
		return this.locks.run(key, async () => this.applyLocked(groupId, userId, await this.withPlaces(groupId, event), options));
	}

	/** Like `apply`, but null when the event no longer applies (for commands spanning several groups). */
	async tryApply(groupId: string, userId: string, event: LocationEvent, options: ApplyOptions = {}): Promise<SessionData | null> {
		try {
			return await this.apply(groupId, userId, event, options);
		} catch (err) {
			if (isInvalidState(err)) return null;
			throw err;
		}
	}

	/**
	 * The periodic check's turn at a due session (`row` as stored): decided on this instance's copy
	 * when it holds one, and claimed by the conditional write, together with any alert's notification.
	 */
	checkTimers(row: SessionRow): Promise<TimerOutcome> {
		return this.locks.run(sessionId(row.groupId, row.userId), async () => {
			const entry = row.removed ? undefined : this.owned.get(row.groupId, row.userId);
			if (entry && entry.data.version !== row.version) {
				await this.rebase(row.groupId, row.userId);
				return "rebased"; // checked again next round, on the fresh copy
			}
			const before = entry ? entry.data : toSessionData(row);
			const outcome = decide(before, { type: "timer" }, this.now(), this.thresholds);
			const after = await this.commit(before, outcome, undefined, entry);
			if (!after) {
				this.stats.lost++;
				if (entry) await this.rebase(row.groupId, row.userId);
				return "lost";
			}
			this.stats.claimed++;
			if (outcome.changed) await this.deps.publish(after, null);
			return "claimed";
		});
	}

	// ---- writing behind

	/**
	 * Writes behind what has waited `persistAfterMs`, and first what has stored timers coming due
	 * soon (everything with `all`), a few writes at a time; drops idle copies. Skipped while a flush runs.
	 */
	async flush(all = false): Promise<void> {
		if (!this.repository.ready) return;
		await this.flushing.runIfIdle(() => this.writeBehind(all));
	}

	/**
	 * Writes now what this instance holds unwritten of one session, after any change queued before
	 * it. A phone's report is answered only once stored: the app deletes it on a 200 and keeps no
	 * other copy (a browser sends its next sample within seconds, so its samples are written behind).
	 * When another writer got there first, the samples are applied again on the stored session and
	 * written then. Throws when the database cannot be written (the caller answers 503, the phone
	 * sends again, and the copy here is written with the retry or the next flush).
	 */
	async persist(groupId: string, userId: string): Promise<void> {
		for (let attempt = 0; attempt < MAX_VERSION_RETRIES; attempt++) {
			const entry = this.owned.get(groupId, userId);
			if (!entry || entry.dirtySince === null) return;
			await this.flushOne(groupId, userId);
		}
		throw conflict("Your session is changing too fast, try again");
	}

	/** Graceful stop: writes everything applied in memory (within `timeoutMs`), after any flush running. */
	async close(timeoutMs = 8_000): Promise<void> {
		if (!this.repository.ready) return;
		const deadline = Date.now() + timeoutMs;
		while (this.owned.dirty().length && Date.now() < deadline) {
			await this.flushing.idle(deadline - Date.now());
			await this.flush(true);
		}
	}

	/**
	 * Resolves once the samples this instance applied to the session and writes behind are durable
	 * (journaled): what a sample's acknowledgement waits for. Rejects (503) when they could not be stored.
	 */
	durable(groupId: string, userId: string): Promise<void> {
		return this.deps.journal?.durable(groupId, userId) ?? Promise.resolve();
	}

	/**
	 * Applies again, in order, the samples a crashed owner had acknowledged but not written behind
	 * (hand-over-replay.ts): on the stored session, as samples; those it had written are skipped.
	 */
	adopt(groupId: string, userId: string, journaled: Point[]): Promise<void> {
		return this.locks.run(sessionId(groupId, userId), async () => {
			const entry = await this.entry(groupId, userId);
			for (const point of replayable(journaled, entry.data.position)) {
				try {
					await this.applyLocked(groupId, userId, await this.withPlaces(groupId, { type: "sample", point }), {});
				} catch (err) {
					if (!isInvalidState(err)) throw err;
				}
			}
		});
	}

	/** The location instances now (any stable string): when they change, users may move to another owner, so write everything and forget. */
	async ownersSeen(owners: string): Promise<void> {
		const before = this.owners;
		this.owners = owners;
		if (before === undefined || before === owners || !this.repository.ready) return;
		while (!(await this.flushing.runIfIdle(() => this.writeBehind(true)))) await this.flushing.idle();
		this.owned.clear();
		this.deps.journal?.forgetAll();
	}

	// ---- membership: copies of sessions that are going away, with whatever they had not written

	forgetMember(groupId: string, userId: string): void {
		this.views.drop(groupId, userId);
		this.drop(groupId, userId);
	}

	forgetGroup(groupId: string): void {
		this.views.drop(groupId);
		for (const entry of this.owned.inGroup(groupId)) this.drop(groupId, entry.data.userId);
	}

	forgetUser(userId: string): void {
		this.views.dropUser(userId);
		for (const entry of this.owned.ofUserAll(userId)) this.drop(entry.data.groupId, userId);
	}

	/** Forgets the owned copy and whatever it held unwritten. */
	private drop(groupId: string, userId: string): OwnedSession | undefined {
		this.deps.journal?.forget(groupId, userId);
		return this.owned.delete(groupId, userId);
	}

	// ---- inside

	/**
	 * Decides on the session as this instance holds it; applies a position-only change in memory
	 * (written behind), writes anything else through; when another writer got there first, rebases
	 * and tries again. Lock held.
	 */
	private async applyLocked(groupId: string, userId: string, event: LocationEvent, { origin = null, caller }: ApplyOptions): Promise<SessionData> {
		for (let attempt = 0; attempt < MAX_VERSION_RETRIES; attempt++) {
			const entry = await this.entry(groupId, userId);
			const before = entry.data;
			const now = this.now();
			let outcome: Transition;
			try {
				outcome = decide(before, event, now, this.thresholds);
			} catch (err) {
				// Refused on this instance's copy. While users change owner (an instance came or went, and
				// the gateways do not all see it at the same moment) another instance may have changed the
				// session since: a refusal a client sees must be of the stored session, not of a stale copy.
				if (isInvalidState(err) && before.version > 0 && (await this.storedIsNewer(groupId, userId, before.version))) {
					await this.rebase(groupId, userId);
					continue;
				}
				throw err;
			}
			if (event.type === "sample" && this.deferrable(entry, outcome, now)) return this.defer(entry, outcome, event.point, now, origin);
			const after = await this.commit(before, outcome, caller, entry);
			if (after) {
				if (outcome.changed) await this.deps.publish(after, origin);
				return after;
			}
			await this.rebase(groupId, userId);
		}
		throw conflict("Your session is changing too fast, try again");
	}

	/**
	 * A sample with its group's places attached. When they cannot be read (the database away), the
	 * sample is applied without them: the places stay as they were and the next sample decides.
	 */
	private async withPlaces(groupId: string, event: LocationEvent): Promise<LocationEvent> {
		if (event.type !== "sample" || event.places || !this.deps.places) return event;
		try {
			return { ...event, places: await this.deps.places.of(groupId) };
		} catch (err) {
			this.deps.logger.warn("A group's places could not be read; this sample is not checked against them:", message(err));
			return event;
		}
	}

	private deferrable(entry: OwnedSession, outcome: Transition, now: number): boolean {
		return canDefer(entry.data, outcome, entry.storedNextCheckAt, now, writeThroughWindowMs(this.thresholds.offlineAfterMs, this.timings.writeThroughWithinMs));
	}

	/** Applies a deferrable sample's outcome to the owned copy (written behind later) and pushes it live. */
	private async defer(entry: OwnedSession, outcome: Transition, point: Point, now: number, origin: Origin): Promise<SessionData> {
		const before = entry.data;
		// A stale sample changes nothing at all.
		if (outcome.session === before) return before;
		const appended = outcome.route.kind === "append" ? outcome.route.points : [];
		entry.data = { ...outcome.session, routeLength: before.routeLength + appended.length };
		entry.pendingRoute.push(...appended);
		entry.pendingSamples.push(point);
		this.deps.journal?.append(before.groupId, before.userId, point);
		entry.dirtySince ??= now;
		this.stats.deferred++;
		if (outcome.changed) await this.deps.publish(entry.data, origin);
		return entry.data;
	}

	/**
	 * Writes a transition in ONE conditional write: the session, its route (with the points applied
	 * in memory since the last write, when `before` is the owned copy) and the notifications announcing
	 * it. Returns the stored session, or null when the stored version moved on.
	 */
	private async commit(before: SessionData, outcome: Transition, caller?: User, entry?: OwnedSession): Promise<SessionData | null> {
		const { session, notices } = outcome;
		const ownCopy = entry !== undefined && entry.data === before;
		const pending = ownCopy ? [...entry.pendingRoute] : [];
		const pendingSamples = ownCopy ? entry.pendingSamples.length : 0;
		const unwritten = ownCopy && entry.dirtySince !== null;
		const needsWrite = unwritten || outcome.changed || notices.length > 0 || outcome.route.kind !== "keep" || session.nextCheckAt !== before.nextCheckAt;
		if (!needsWrite) return before;
		const now = this.now();
		const { route, routeLength } = await this.routeWrite(before, outcome, pending);
		const outbox = await this.deps.noticeEnvelopes(session, notices, now, caller);
		const next: SessionData = { ...session, routeLength, version: before.version + 1 };
		const write: SessionWrite = { session: next, expectedVersion: before.version, outbox, ...(route ? { route } : {}) };
		if (!(await this.repository.write(write))) return null;
		if (pendingSamples) this.deps.journal?.written(session.groupId, session.userId, pendingSamples);
		const id = sessionId(session.groupId, session.userId);
		if (outbox.length) {
			this.stats.notices += outbox.length;
			this.deps.kickOutbox(id);
		}
		// The owned copy is now exactly what is stored, plus any sample applied on top of it while a
		// write behind waited for the database (still pending).
		if (entry)
			this.owned.set(
				this.owned.get(session.groupId, session.userId) === entry ? carryOver(entry, before, next, pending.length, pendingSamples, now) : ownedEntry(next, now),
			);
		// What was just stored is what a read would find now: members' reads (and the people of phones'
		// answers, one write per report) are served from it instead of reading it back.
		this.views.set(session.groupId, session.userId, next);
		return next;
	}

	/** The route part of a write: reset, appended (pending points first), or — past the cap — thinned and rewritten. */
	private async routeWrite(before: SessionData, { route }: Transition, pending: Point[]): Promise<{ route?: SessionWrite["route"]; routeLength: number }> {
		if (route.kind === "reset") {
			const set = capRoute(route.points);
			return { route: { set }, routeLength: set.length };
		}
		// `before.routeLength` counts the pending points; the stored route does not have them yet.
		const storedLength = before.routeLength - pending.length;
		const added = [...pending, ...(route.kind === "append" ? route.points : [])];
		if (storedLength + added.length > MAX_ROUTE_POINTS) {
			// FerretDB ignores `$push: { $slice }`, so a full route is thinned here and rewritten (rarely).
			const stored = await this.repository.route(before.groupId, before.userId);
			const set = capRoute([...(stored?.route ?? []), ...added]);
			return { route: { set }, routeLength: set.length };
		}
		if (added.length) return { route: { push: added }, routeLength: storedLength + added.length };
		return { routeLength: before.routeLength };
	}

	/**
	 * Another writer changed the stored session first (the periodic check of another instance, a
	 * departure, a previous owner): forget our copy, and apply the samples it still held on the
	 * stored session (stale ones are ignored by the state machine as usual). Lock held by the caller.
	 */
	private async rebase(groupId: string, userId: string): Promise<void> {
		// Applied again below, they are journaled again.
		const entry = this.drop(groupId, userId);
		if (!entry?.pendingSamples.length) return;
		this.stats.rebased += entry.pendingSamples.length;
		for (const point of entry.pendingSamples) {
			try {
				await this.applyLocked(groupId, userId, await this.withPlaces(groupId, { type: "sample", point }), {});
			} catch (err) {
				if (!isInvalidState(err)) this.deps.logger.warn("A pending sample could not be applied again:", message(err));
			}
		}
	}

	private async storedIsNewer(groupId: string, userId: string, version: number): Promise<boolean> {
		const row = await this.repository.find(groupId, userId);
		return row !== null && row.version > version;
	}

	/** Writes one session's pending changes (lock taken here). */
	private flushOne(groupId: string, userId: string): Promise<void> {
		return this.locks.run(sessionId(groupId, userId), async () => {
			const entry = this.owned.get(groupId, userId);
			if (!entry || entry.dirtySince === null) return;
			let after: SessionData | null;
			entry.writing = true;
			try {
				after = await this.commit(entry.data, { session: entry.data, changed: false, route: { kind: "keep" }, notices: [] }, undefined, entry);
			} finally {
				entry.writing = false;
			}
			if (after) this.stats.flushed++;
			else await this.rebase(groupId, userId);
		});
	}

	private async writeBehind(all: boolean): Promise<void> {
		const now = this.now();
		const { persistAfterMs, priorityWithinMs, concurrency, evictIdleMs } = this.timings;
		const due = all ? this.owned.dirty() : this.owned.toWrite(now - persistAfterMs, now + priorityWindowMs(this.thresholds.offlineAfterMs, priorityWithinMs));
		await mapLimit(due, concurrency, async entry => {
			const { groupId, userId } = entry.data;
			try {
				await this.flushOne(groupId, userId);
			} catch (err) {
				this.deps.logger.warn("Writing a session behind failed (retried on the next round):", message(err));
			}
		});
		for (const entry of this.owned.idle(this.now() - evictIdleMs)) this.drop(entry.data.groupId, entry.data.userId);
	}

	/** A session of a user this instance owns: from memory, else read once and kept. */
	private async entry(groupId: string, userId: string): Promise<OwnedSession> {
		const cached = this.owned.get(groupId, userId);
		if (cached) {
			cached.usedAt = this.now();
			return cached;
		}
		this.stats.sessionReads++;
		const row = await this.repository.find(groupId, userId);
		const again = this.owned.get(groupId, userId);
		if (again) return again;
		const entry = ownedEntry(row ? toSessionData(row) : newSession(groupId, userId), this.now());
		this.owned.set(entry);
		return entry;
	}

	/** The stored session, or this instance's copy when it is of the same stored version (it may hold newer positions). */
	private freshest(row: SessionRow): SessionData {
		const owned = row.removed ? undefined : this.owned.get(row.groupId, row.userId);
		return owned && owned.data.version >= row.version ? owned.data : toSessionData(row);
	}

	/**
	 * Reads the sessions of these users and keeps them (a copy already held of the same or a newer
	 * version wins). By primary key: the users service lists each user's groups, and a session's id
	 * is its group's and user's. (A query by `userId` scans the collection on the Mongo-wire server
	 * used here; after a restart hundreds of users send their first samples in the same second.)
	 */
	private async lookUp(userIds: string[]): Promise<void> {
		let rows: SessionRow[];
		try {
			const found = await Promise.all(
				userIds.map(async userId => {
					const groupIds = await this.deps.groupIdsOf(userId);
					// A session held here is as new as any stored one (this instance owns the user; a newer
					// stored version shows at its next write, which then reloads it).
					const unheld = groupIds.filter(groupId => !this.owned.get(groupId, userId));
					this.stats.sessionReads += unheld.length;
					return Promise.all(unheld.map(groupId => this.repository.find(groupId, userId)));
				}),
			);
			rows = found.flat().filter((row): row is SessionRow => row !== null && !row.removed);
		} catch (err) {
			// Samples must not depend on the users service being up: the slow way then.
			this.deps.logger.debug("Looking sessions up by group failed, by user instead:", message(err));
			rows = await this.repository.findOfUsers(userIds);
		}
		for (const row of rows) {
			const cached = this.owned.get(row.groupId, row.userId);
			if (!cached || cached.data.version < row.version) this.owned.set(ownedEntry(toSessionData(row), this.now()));
		}
		for (const userId of userIds) this.owned.markComplete(userId);
	}
}
