import { Schema, type Connection, type Model } from "mongoose";
import type { Context, ServiceSchema } from "moleculer";
import type { ConsumerSpec } from "./durable-events.mixin.js";
import { forbidden, notFound } from "../events/errors.js";
import { DomainEvents, type DomainEventType, type Envelope, type GroupEvent, type GroupSnapshot, type UserDeleted } from "../events/domain.js";
import type { UserRef } from "../events/types.js";
import { LiveEvents, type LiveGroup } from "../events/live.js";

/**
 * A service's own read-only copy of group memberships, fed by the users service's durable events.
 *
 * Every group event carries the group's version and full member snapshot, so the projection keeps
 * the newest snapshot and duplicates or reordered deliveries cannot make it wrong. When the copy
 * has not yet seen a membership, `requireMember` asks the users service before refusing: a member
 * is never refused because the copy is behind (read your own writes).
 *
 * A service reacts to membership changes by defining the method `onMembershipChange(change, ctx)`
 * (idempotent: it may run again for the same event after a crash). A service that needs the
 * members at a given version (not only the newest) defines `recordGroupVersion(groupId, snapshot)`:
 * it is called with every snapshot this service learns, whether or not it is the newest.
 */

export interface GroupProjectionDoc {
	_id: string;
	name: string;
	version: number;
	members: UserRef[];
	memberIds: string[];
	deleted: boolean;
}

export interface MembershipChange {
	eventId: string;
	type: DomainEventType;
	groupId: string;
	groupName: string;
	/** Members who joined (creator of a new group included). */
	added: UserRef[];
	/** Members who left or were removed. */
	removed: UserRef[];
	/** The group was deleted: everything about it goes. */
	deleted: boolean;
	/** A user account was deleted (users.deleted). */
	deletedUserId?: string;
}

/**
 * The event types a projection consumes → the mixin's methods. A group event's snapshot is stored
 * on every delivery, alongside the duplicate check (it is kept by version, so repeating it is
 * harmless): it is what the service's authorization reads, so the change is in effect as early as
 * possible, and before `onMembershipChange` runs (a hook that reloads the projection, as location's
 * cache does, reads the new members).
 */
const groupEvent: ConsumerSpec = { handler: "applyGroupEvent", everyDelivery: "storeEventSnapshot" };
export const MembershipConsumers: Partial<Record<DomainEventType, ConsumerSpec>> = {
	[DomainEvents.groupCreated]: groupEvent,
	[DomainEvents.groupRenamed]: groupEvent,
	[DomainEvents.groupDeleted]: groupEvent,
	[DomainEvents.memberAdded]: groupEvent,
	[DomainEvents.memberRemoved]: groupEvent,
	[DomainEvents.userDeleted]: "applyUserDeleted",
};

export function groupProjectionModel(connection: Connection): Model<GroupProjectionDoc> {
	return (
		(connection.models.GroupProjection as Model<GroupProjectionDoc>) ??
		connection.model<GroupProjectionDoc>(
			"GroupProjection",
			new Schema<GroupProjectionDoc>(
				{
					_id: String,
					name: String,
					version: Number,
					members: { type: Schema.Types.Mixed, default: () => [] },
					memberIds: { type: [String], index: true },
					deleted: { type: Boolean, default: false },
				},
				{ versionKey: false },
			),
		)
	);
}

/** Members with their names; `memberIds` is authoritative (a live removal updates it before the snapshot). */
const currentMembers = (doc: GroupProjectionDoc): UserRef[] => doc.members.filter(member => doc.memberIds.includes(member.id));

/** The change an event announces, from the event itself (not from a diff, which may be stale). */
export function changeOf(envelope: Envelope<GroupEvent>): MembershipChange {
	const p = envelope.payload as GroupEvent & { member?: UserRef; createdBy?: UserRef };
	const base = {
		eventId: envelope.id,
		type: envelope.type,
		groupId: p.groupId,
		groupName: p.name,
		added: [] as UserRef[],
		removed: [] as UserRef[],
		deleted: false,
	};
	switch (envelope.type) {
		case DomainEvents.groupCreated:
			return { ...base, added: p.createdBy ? [p.createdBy] : [] };
		case DomainEvents.memberAdded:
			return { ...base, added: p.member ? [p.member] : [] };
		case DomainEvents.memberRemoved:
			return { ...base, removed: p.member ? [p.member] : [] };
		case DomainEvents.groupDeleted:
			return { ...base, deleted: true };
		default:
			return base;
	}
}

export function MembershipProjection(): Partial<ServiceSchema> {
	return {
		actions: {
			/** This service's copy of a group (operators, and the projection-lag benchmark). */
			projectedGroup: {
				visibility: "public",
				params: { $$strict: "remove", groupId: { type: "string", min: 1, max: 64 } },
				async handler(ctx: Context<{ groupId: string }>) {
					return (await this.groupProjection().findById(ctx.params.groupId).lean()) ?? null;
				},
			},
		},
		events: {
			/**
			 * The users service broadcasts each change before it answers the client. Removals are
			 * applied from it at once, so a member who just left is refused even before the durable
			 * event arrives (the durable event still brings the full snapshot). Additions need no such
			 * shortcut: a member the copy does not know yet is confirmed with the users service.
			 */
			async [LiveEvents.group](ctx: Context<LiveGroup>) {
				const { groupId, change, userId } = ctx.params;
				if (change === "memberRemoved" && userId) await this.groupProjection().updateOne({ _id: groupId }, { $pull: { memberIds: userId } });
				if (change === "deleted") await this.groupProjection().updateOne({ _id: groupId }, { $set: { deleted: true, memberIds: [] } });
			},
		},
		methods: {
			groupProjection(): Model<GroupProjectionDoc> {
				return groupProjectionModel(this.connection);
			},

			/** Hands every snapshot to `recordGroupVersion` (if defined) and keeps the newest one. */
			async storeSnapshot(groupId: string, snapshot: GroupSnapshot) {
				// Independent writes (the hook keeps every version, whether or not it is the newest): at the same time.
				await Promise.all([
					typeof this.recordGroupVersion === "function" ? this.recordGroupVersion(groupId, snapshot) : undefined,
					this.storeNewestSnapshot(groupId, snapshot),
				]);
			},

			/**
			 * Keeps the newest snapshot: written only when its version is newer than the stored one,
			 * in one conditional update, so another instance storing a snapshot of the same group at
			 * the same time can never be overwritten by an older one. That update is the usual case
			 * (a new event) and costs one statement; only when it matched nothing is the group read
			 * by `_id`: known at this or a newer version (a redelivery, reordered events), or unknown
			 * and inserted (not upserted: an insert colliding with another instance's is told apart
			 * by its error, and the versions are compared again).
			 */
			async storeNewestSnapshot(groupId: string, snapshot: GroupSnapshot) {
				const projection: Model<GroupProjectionDoc> = this.groupProjection();
				const doc = {
					name: snapshot.name,
					version: snapshot.version,
					members: snapshot.deleted ? [] : snapshot.members,
					memberIds: snapshot.deleted ? [] : snapshot.members.map(m => m.id),
					deleted: Boolean(snapshot.deleted),
				};
				// Each round ends unless another instance changed the group in between; a few suffice.
				for (let attempt = 0; attempt < 5; attempt++) {
					const updated = await projection.updateOne({ _id: groupId, version: { $lt: snapshot.version } }, { $set: doc });
					if (updated.matchedCount > 0) return;
					const stored = await projection.findById(groupId, { version: 1 }).lean();
					if (stored && stored.version >= snapshot.version) return;
					// Unknown (or stored at an older version just now): insert, or try the update again.
					if (stored) continue;
					try {
						await projection.create({ _id: groupId, ...doc });
						return;
					} catch (err) {
						if ((err as { code?: number }).code !== 11000) throw err;
					}
				}
				throw new Error(`Group ${groupId}: snapshot ${snapshot.version} not stored, the projection kept changing`);
			},

			/** Every delivery of a group event, before `applyGroupEvent` (see MembershipConsumers). */
			async storeEventSnapshot(envelope: Envelope<GroupEvent>) {
				await this.storeSnapshot(envelope.payload.groupId, envelope.payload);
			},

			/** Once per group event, after its snapshot was stored; may run again after a crash (the hook is idempotent). */
			async applyGroupEvent(envelope: Envelope<GroupEvent>, ctx: Context) {
				if (typeof this.onMembershipChange === "function") await this.onMembershipChange(changeOf(envelope), ctx);
			},

			async applyUserDeleted(envelope: Envelope<UserDeleted>, ctx: Context) {
				const change: MembershipChange = {
					eventId: envelope.id,
					type: envelope.type,
					groupId: "",
					groupName: "",
					added: [],
					removed: [],
					deleted: false,
					deletedUserId: envelope.payload.userId,
				};
				if (typeof this.onMembershipChange === "function") await this.onMembershipChange(change, ctx);
			},

			/**
			 * The group if `userId` (default: the caller) is a member; 404 for an unknown or deleted
			 * group, 403 for a non-member. Asks the users service when the local copy says no.
			 */
			async requireMember(ctx: Context<unknown, { user?: { id: string } }>, groupId: string, userId?: string): Promise<GroupProjectionDoc> {
				const uid = userId ?? ctx.meta.user?.id;
				if (!uid) throw forbidden();
				const local = await this.groupProjection().findById(groupId).lean();
				if (local && !local.deleted && local.memberIds.includes(uid)) return { ...local, members: currentMembers(local) };
				const answer = (await ctx.call("users.membership", { groupId, userId: uid })) as {
					exists: boolean;
					isMember: boolean;
					group: (GroupSnapshot & { groupId: string }) | null;
				};
				if (answer.group) await this.storeSnapshot(groupId, answer.group);
				if (!answer.exists || !answer.group) throw notFound("Group");
				if (!answer.isMember) throw forbidden("You are not a member of this group");
				const { groupId: _id, ...snapshot } = answer.group;
				return {
					_id: groupId,
					name: snapshot.name,
					version: snapshot.version,
					members: snapshot.members,
					memberIds: snapshot.members.map(m => m.id),
					deleted: false,
				};
			},

			/** The members of a group as this service knows them (empty for an unknown group). */
			async groupMembers(groupId: string): Promise<UserRef[]> {
				const doc = await this.groupProjection().findById(groupId).lean();
				return doc && !doc.deleted ? currentMembers(doc) : [];
			},

			/** Groups this service knows the user to be in. */
			async groupsOfUser(userId: string): Promise<GroupProjectionDoc[]> {
				return this.groupProjection().find({ memberIds: userId, deleted: false }).lean();
			},

			/** Every user who shares at least one group with `userId` (each once; the user included). */
			async coMembersOf(userId: string): Promise<UserRef[]> {
				const groups: GroupProjectionDoc[] = await this.groupsOfUser(userId);
				const byId = new Map<string, UserRef>();
				for (const group of groups) for (const member of currentMembers(group)) byId.set(member.id, member);
				return [...byId.values()];
			},
		},
	} as Partial<ServiceSchema>;
}
