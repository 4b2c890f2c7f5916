import { Schema, type Connection, type Model } from "mongoose";
import type { Context, Service, ServiceSchema } from "moleculer";
import { forbidden, notFound } from "../events/errors.js";
import { DomainEvents, type DomainEventType, type Envelope, type GroupEvent, type GroupSnapshot, type UserDeleted } from "../events/domain.js";
import { isMember, type MembershipAnswer } from "../events/membership.js";
import type { MembershipEventType } from "../events/streams.js";
import type { UserRef } from "../events/types.js";
import { LiveEvents, type LiveGroup } from "../events/live.js";
import { isDuplicateKey } from "../lib/mongo-errors.js";
import type { Consumer, EventHandler, EveryDelivery } from "./idempotent-consumer.mixin.js";

/**
 * A service's own read-only copy of group memberships, fed by the users service's durable events.
 *
 * Every group event carries the group's version and full member snapshot, so the projection keeps
 * the newest snapshot and duplicates or reordered deliveries cannot make it wrong. When the copy
 * has not yet seen a membership, `requireMember` asks the users service before refusing: a member
 * is never refused because the copy is behind (read your own writes).
 *
 * A service reacts to membership changes with the `onChange` hook (idempotent: it may run again
 * for the same event after a crash). A service that needs the members at a given version (not
 * only the newest) passes `onSnapshot`: it is called with every snapshot this service learns,
 * whether or not it is the newest. Who is a member is decided by events/membership.ts `isMember`.
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
	/** When it happened (the event's `occurredAt`), not when this service heard of it. */
	occurredAt: string;
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
	/** Who added or removed the member (a member who left removed themself). */
	by?: string;
}

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
const currentMembers = (doc: GroupProjectionDoc): UserRef[] => doc.members.filter(member => isMember(doc, member.id));

/** The change an event announces, from the event itself (not from a diff, which may be stale). */
export function changeOf(envelope: Envelope<GroupEvent>): MembershipChange {
	const p = envelope.payload as GroupEvent & { member?: UserRef; createdBy?: UserRef; by?: string };
	const base = {
		eventId: envelope.id,
		type: envelope.type,
		occurredAt: envelope.occurredAt,
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
			return { ...base, added: p.member ? [p.member] : [], by: p.by };
		case DomainEvents.memberRemoved:
			return { ...base, removed: p.member ? [p.member] : [], by: p.by };
		case DomainEvents.groupDeleted:
			return { ...base, deleted: true };
		default:
			return base;
	}
}

/** The change a `users.deleted` event announces: the account's traces go everywhere. */
export function userDeletedChange(envelope: Envelope<UserDeleted>): MembershipChange {
	return {
		eventId: envelope.id,
		type: envelope.type,
		occurredAt: envelope.occurredAt,
		groupId: "",
		groupName: "",
		added: [],
		removed: [],
		deleted: false,
		deletedUserId: envelope.payload.userId,
	};
}

/**
 * Keeps the newest snapshot: written only when its version is newer than the stored one, in one
 * conditional update, so another instance storing a snapshot of the same group at the same time
 * can never be overwritten by an older one. That update is the usual case (a new event) and costs
 * one statement; only when it matched nothing is the group read by `_id`: known at this or a newer
 * version (a redelivery, reordered events), or unknown and inserted (not upserted: an insert
 * colliding with another instance's is told apart by its error, and the versions are compared again).
 */
async function storeNewestSnapshot(projection: Model<GroupProjectionDoc>, groupId: string, snapshot: GroupSnapshot): Promise<void> {
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
			if (!isDuplicateKey(err)) throw err;
		}
	}
	throw new Error(`Group ${groupId}: snapshot ${snapshot.version} not stored, the projection kept changing`);
}

/** How a service reacts to what its projection learns. */
export interface MembershipHooks<S> {
	/** Once per membership event (it may run again after a crash: idempotent), after its snapshot was stored. */
	onChange?: (this: S, change: MembershipChange, ctx: Context) => Promise<void>;
	/** Every snapshot this service learns, whether or not it is the newest (for members at a given version). */
	onSnapshot?: (this: S, groupId: string, snapshot: GroupSnapshot) => Promise<void>;
}

/** What the projection adds to a service. */
export interface MembershipMethods {
	groupProjection(): Model<GroupProjectionDoc>;
	/** Hands the snapshot to `onSnapshot` and keeps it if it is the newest. */
	storeSnapshot(groupId: string, snapshot: GroupSnapshot): Promise<void>;
	/** Runs the service's `onChange` hook. */
	membershipChanged(change: MembershipChange, ctx: Context): Promise<void>;
	/** The users service's answer for one user and group; the snapshot it carries is stored. */
	askUsers(ctx: Context, groupId: string, userId: string): Promise<MembershipAnswer>;
	/**
	 * The group if `userId` (default: the caller) is a member; 404 for an unknown or deleted
	 * group, 403 for a non-member. Asks the users service when the local copy says no.
	 */
	requireMember(ctx: Context<unknown, { user?: { id: string } }>, groupId: string, userId?: string): Promise<GroupProjectionDoc>;
	/** The members of a group as this service knows them (empty for an unknown group). */
	groupMembers(groupId: string): Promise<UserRef[]>;
	/** Groups this service knows the user to be in. */
	groupsOfUser(userId: string): Promise<GroupProjectionDoc[]>;
	/** Every user who shares at least one group with `userId` (each once; the user included). */
	coMembersOf(userId: string): Promise<UserRef[]>;
}

export type MembershipThis = Service & MembershipMethods & { connection: Connection };

/**
 * A group event's snapshot is stored on every delivery, alongside the duplicate check (it is kept
 * by version, so repeating it is harmless): it is what the service's authorization reads, so the
 * change is in effect as early as possible, and before `onChange` runs (a hook that reloads the
 * projection, as location's cache does, reads the new members).
 */
const storeEventSnapshot: EveryDelivery<MembershipThis, DomainEventType> = function (envelope) {
	const payload = envelope.payload as GroupEvent;
	return this.storeSnapshot(payload.groupId, payload);
};
const applyGroupEvent: EventHandler<MembershipThis, DomainEventType> = function (envelope, ctx) {
	return this.membershipChanged(changeOf(envelope as Envelope<GroupEvent>), ctx);
};
const groupEvent = { everyDelivery: storeEventSnapshot, handler: applyGroupEvent };

/** How a projection consumes the membership events (events/streams.ts `MembershipEvents`). */
export const MembershipConsumers: { [T in MembershipEventType]: Consumer<MembershipThis, T> } = {
	[DomainEvents.groupCreated]: groupEvent,
	[DomainEvents.groupRenamed]: groupEvent,
	[DomainEvents.groupDeleted]: groupEvent,
	[DomainEvents.memberAdded]: groupEvent,
	[DomainEvents.memberRemoved]: groupEvent,
	[DomainEvents.userDeleted]: function (envelope, ctx) {
		return this.membershipChanged(userDeletedChange(envelope), ctx);
	},
};

/**
 * The service's copy of group memberships (see the top of this file). Its events come through the
 * service's IdempotentConsumer with `MembershipConsumers`.
 */
export function MembershipProjection<S = MembershipThis>(hooks: MembershipHooks<S> = {}): Partial<ServiceSchema> {
	const schema: Partial<ServiceSchema<object, MembershipMethods, object, MembershipThis & S>> = {
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
			groupProjection() {
				return groupProjectionModel(this.connection);
			},

			async storeSnapshot(groupId: string, snapshot: GroupSnapshot) {
				// Independent writes (the hook keeps every version, whether or not it is the newest): at the same time.
				await Promise.all([hooks.onSnapshot?.call(this, groupId, snapshot), storeNewestSnapshot(this.groupProjection(), groupId, snapshot)]);
			},

			async membershipChanged(change: MembershipChange, ctx: Context) {
				await hooks.onChange?.call(this, change, ctx);
			},

			async askUsers(ctx: Context, groupId: string, userId: string): Promise<MembershipAnswer> {
				const answer = await ctx.call<MembershipAnswer, { groupId: string; userId: string }>("users.membership", { groupId, userId });
				if (answer.group) {
					const { groupId: _id, ...snapshot } = answer.group;
					await this.storeSnapshot(groupId, snapshot);
				}
				return answer;
			},

			async requireMember(ctx: Context<unknown, { user?: { id: string } }>, groupId: string, userId?: string): Promise<GroupProjectionDoc> {
				const uid = userId ?? ctx.meta.user?.id;
				if (!uid) throw forbidden();
				const local = await this.groupProjection().findById(groupId).lean();
				if (local && isMember(local, uid)) return { ...local, members: currentMembers(local) };
				const answer = await this.askUsers(ctx, groupId, uid);
				if (!answer.exists || !answer.group) throw notFound("Group");
				if (!answer.isMember) throw forbidden("You are not a member of this group");
				const { name, version, members } = answer.group;
				return { _id: groupId, name, version, members, memberIds: members.map(m => m.id), deleted: false };
			},

			async groupMembers(groupId: string): Promise<UserRef[]> {
				const doc = await this.groupProjection().findById(groupId).lean();
				return doc ? currentMembers(doc) : [];
			},

			async groupsOfUser(userId: string): Promise<GroupProjectionDoc[]> {
				return this.groupProjection().find({ memberIds: userId, deleted: false }).lean();
			},

			async coMembersOf(userId: string): Promise<UserRef[]> {
				const byId = new Map<string, UserRef>();
				for (const group of await this.groupsOfUser(userId)) for (const member of currentMembers(group)) byId.set(member.id, member);
				return [...byId.values()];
			},
		},
	};
	return schema as Partial<ServiceSchema>;
}
