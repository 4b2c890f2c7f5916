import type { LiveGroup } from "../../events/live.js";
import { SingleFlight } from "../../lib/single-flight.js";
import type { GroupProjectionDoc, MembershipChange } from "../../mixins/membership.mixin.js";
import type { SessionRepository, TombstoneScope } from "./session-repository.js";
import type { SessionStore, TrackingStats } from "./session-store.js";
import type { Sos } from "./sos.js";

/**
 * Who is in which group, as far as a position sample needs to know, without a query per sample:
 * this service's membership projection (read by primary key, kept for `ttlMs`), corrected at once
 * by the users service's membership broadcasts. A departure announced by a broadcast excludes the
 * member here immediately — before the projection's copy is updated, and whatever a reload of the
 * projection says — until the member is added again; that is the same broadcast that takes their
 * sockets out of the group's room. Joins need no shortcut: a session only shares in a group after
 * `requireMember` confirmed the membership (asking the users service when the copy is behind), and
 * the confirmation is recorded here.
 */
export class LocalMembership {
	private readonly groups = new Map<string, { memberIds: Set<string>; deleted: boolean; until: number; doc?: GroupProjectionDoc }>();
	/** Departures and deletions announced by broadcast: `${groupId}:${userId}` or `${groupId}:*` → when. */
	private readonly gone = new Map<string, number>();

	constructor(
		private readonly ttlMs = 30_000,
		private readonly keepGoneMs = 3_600_000,
		private readonly now: () => number = Date.now,
	) {}

	/** undefined when the group must be (re)loaded from the projection. */
	isMember(groupId: string, userId: string): boolean | undefined {
		if (this.gone.has(`${groupId}:*`) || this.gone.has(`${groupId}:${userId}`)) return false;
		const entry = this.groups.get(groupId);
		if (!entry || entry.until <= this.now()) return undefined;
		return !entry.deleted && entry.memberIds.has(userId);
	}

	load(groupId: string, memberIds: Iterable<string>, deleted: boolean, doc?: GroupProjectionDoc): void {
		this.groups.set(groupId, { memberIds: new Set(memberIds), deleted, until: this.now() + this.ttlMs, doc });
	}

	/** The projected group, when loaded, fresh and `userId` is a member of it now. */
	groupFor(groupId: string, userId: string): GroupProjectionDoc | undefined {
		if (!this.isMember(groupId, userId)) return undefined;
		const doc = this.groups.get(groupId)?.doc;
		if (!doc) return undefined;
		// Members who left since the copy was read are not listed.
		const gone = (id: string) => this.gone.has(`${groupId}:${id}`);
		return doc.members.some(m => gone(m.id))
			? { ...doc, members: doc.members.filter(m => !gone(m.id)), memberIds: doc.memberIds.filter(id => !gone(id)) }
			: doc;
	}

	/** `requireMember` said yes (from the projection or the users service). */
	confirm(groupId: string, userId: string): void {
		this.gone.delete(`${groupId}:${userId}`);
		const entry = this.groups.get(groupId);
		entry?.memberIds.add(userId);
		// The stored copy lacks them: read it again when a member list is needed.
		if (entry?.doc && !entry.doc.memberIds.includes(userId)) entry.doc = undefined;
	}

	removed(groupId: string, userId: string): void {
		this.gone.set(`${groupId}:${userId}`, this.now());
		this.groups.get(groupId)?.memberIds.delete(userId);
		this.expire();
	}

	added(groupId: string, userId: string): void {
		this.gone.delete(`${groupId}:${userId}`);
		this.groups.delete(groupId);
	}

	deleted(groupId: string): void {
		this.gone.set(`${groupId}:*`, this.now());
		this.groups.delete(groupId);
		this.expire();
	}

	/** Something changed in the group (durable event): read the projection again next time. */
	changed(groupId: string): void {
		this.groups.delete(groupId);
	}

	clear(): void {
		this.groups.clear();
	}

	private expire(): void {
		const before = this.now() - this.keepGoneMs;
		for (const [key, at] of this.gone) if (at < before) this.gone.delete(key);
	}
}

export interface MembershipDeps {
	store: SessionStore;
	repository: SessionRepository;
	sos: Pick<Sos, "ensureLead">;
	/** The group as this service's projection has it (by primary key). */
	loadGroup: (groupId: string) => Promise<GroupProjectionDoc | null>;
	stats: TrackingStats;
	local?: LocalMembership;
}

/**
 * What membership means to the sessions: whether a sample may reach a group (from memory, see
 * LocalMembership), and what becomes of the sessions of members who leave, of deleted groups and
 * of deleted users.
 */
export class Membership {
	private readonly local: LocalMembership;
	/** One projection read per group at a time (every member's first sample after a start asks for it). */
	private readonly groupReads = new SingleFlight<string, GroupProjectionDoc | null>();

	constructor(private readonly deps: MembershipDeps) {
		this.local = deps.local ?? new LocalMembership();
	}

	/** Whether the user is in the group now (projection by primary key, corrected by membership broadcasts). */
	async isMemberNow(groupId: string, userId: string): Promise<boolean> {
		const known = this.local.isMember(groupId, userId);
		if (known !== undefined) return known;
		const group = await this.groupReads.run(groupId, () => {
			this.deps.stats.groupReads++;
			return this.deps.loadGroup(groupId);
		});
		this.local.load(groupId, group?.memberIds ?? [], !group || group.deleted, group ?? undefined);
		return this.local.isMember(groupId, userId) ?? false;
	}

	/** Those of `groupIds` the user is in now, sorted: a session may outlive a departure until its durable event arrives, and a departed member's position must not leak. */
	async groupsWithMember(groupIds: string[], userId: string): Promise<string[]> {
		const member = await Promise.all(groupIds.map(groupId => this.isMemberNow(groupId, userId)));
		return groupIds.filter((_, i) => member[i]).sort();
	}

	/** `requireMember` said yes (from the projection or the users service). */
	confirm(groupId: string, userId: string): void {
		this.local.confirm(groupId, userId);
	}

	/**
	 * The group, for a read by one of its members: from memory when the projection said so
	 * recently (and no broadcast has said otherwise since); anything else — a refusal, a member
	 * the copy does not know yet — is decided by `requireMember` as before.
	 */
	async readableGroup(groupId: string, userId: string, requireMember: () => Promise<GroupProjectionDoc>): Promise<GroupProjectionDoc> {
		if (await this.isMemberNow(groupId, userId)) {
			const group = this.local.groupFor(groupId, userId);
			if (group) return group;
		}
		const group = await requireMember();
		// requireMember's answer is the projection or the users service's current snapshot: keep it.
		this.local.confirm(groupId, userId);
		this.local.load(groupId, group.memberIds, false, group);
		return group;
	}

	/**
	 * The users service broadcasts every membership change before it answers: a member who left
	 * (or whose group went) is no longer admitted from our memory, and their sessions here are
	 * dropped with anything not yet written (the durable event turns them into tombstones).
	 */
	broadcast({ groupId, change, userId }: LiveGroup): void {
		if (change === "deleted") {
			this.local.deleted(groupId);
			this.deps.store.forgetGroup(groupId);
		} else if (change === "memberRemoved" && userId) {
			this.local.removed(groupId, userId);
			this.deps.store.forgetMember(groupId, userId);
		} else if ((change === "memberAdded" || change === "created") && userId) {
			this.local.added(groupId, userId);
		}
	}

	/** A reconnect to NATS may have missed membership broadcasts: read the projection again. */
	reconnected(): void {
		this.local.clear();
	}

	/**
	 * A durable membership event: sessions of members who left, of deleted users and of deleted
	 * groups go. They become blank tombstones (not deleted) so notifications still in their outbox
	 * are published; the periodic check purges them afterwards. Idempotent.
	 */
	async changed(change: MembershipChange): Promise<void> {
		const { store } = this.deps;
		let scope: TombstoneScope;
		if (change.deletedUserId) {
			store.forgetUser(change.deletedUserId);
			scope = { userId: change.deletedUserId };
		} else if (change.deleted) {
			this.local.deleted(change.groupId);
			store.forgetGroup(change.groupId);
			scope = { groupId: change.groupId };
		} else {
			// Joins are not taken from here: a late redelivery of an old join must not readmit someone
			// who has left since (a re-added member's next start of sharing confirms them).
			this.local.changed(change.groupId);
			for (const member of change.removed) {
				this.local.removed(change.groupId, member.id);
				store.forgetMember(change.groupId, member.id);
			}
			if (!change.removed.length) return;
			scope = { groupId: change.groupId, userIds: change.removed.map(member => member.id) };
		}
		const affected = await this.deps.repository.tombstone(scope);
		// A deleted user's SOS is over; a group gone may have held the lead of a member's SOS.
		if (change.deletedUserId) return;
		for (const userId of affected) await this.deps.sos.ensureLead(userId);
	}
}
