import type { NotificationData, NotificationKind, UserRef } from "./types.js";

/** Durable domain events of API.md §5, carried by NATS JetStream (at-least-once). */
export const DomainEvents = {
	userDeleted: "users.deleted",
	groupCreated: "groups.created",
	groupRenamed: "groups.renamed",
	groupDeleted: "groups.deleted",
	memberAdded: "groups.memberAdded",
	memberRemoved: "groups.memberRemoved",
	notificationSend: "notifications.send",
} as const;
export type DomainEventType = (typeof DomainEvents)[keyof typeof DomainEvents];
export const AllDomainEvents: DomainEventType[] = Object.values(DomainEvents);

/** The envelope every durable event travels in; `id` is unique and makes consumers idempotent. */
export interface Envelope<T = unknown> {
	id: string;
	type: DomainEventType;
	occurredAt: string;
	payload: T;
}

/**
 * Every group event also carries the group's `version` and a snapshot of its name and members
 * after the change (extra fields allowed by API.md): projections keep the newest snapshot, so a
 * duplicate or a reordered delivery can never leave them wrong.
 */
export interface GroupSnapshot {
	version: number;
	name: string;
	members: UserRef[];
	deleted?: boolean;
}

export interface UserDeleted {
	userId: string;
}
export interface GroupCreated extends GroupSnapshot {
	groupId: string;
	createdBy: UserRef;
}
export interface GroupRenamed extends GroupSnapshot {
	groupId: string;
}
export interface GroupDeleted extends GroupSnapshot {
	groupId: string;
}
export interface MemberAdded extends GroupSnapshot {
	groupId: string;
	member: UserRef;
	by: string;
}
export interface MemberRemoved extends GroupSnapshot {
	groupId: string;
	member: UserRef;
	by: string;
}
export type GroupEvent = GroupCreated | GroupRenamed | GroupDeleted | MemberAdded | MemberRemoved;

/** `userIds`: exactly these users (an invitee, an inviter), whatever groups they are in. */
export type NotificationTarget = { groupId: string } | { coMembersOf: string } | { userIds: string[] };

export interface NotificationSend {
	target: NotificationTarget;
	kind: NotificationKind;
	title: string;
	body: string;
	groupId?: string;
	subjectUserId?: string;
	/** Extra users to notify besides the target (e.g. the user who was removed from the group). */
	alsoUserIds?: string[];
	/** The facts behind the texts (journey ETA and destination, last position), handed on to the Notification. */
	data?: NotificationData;
	/** Users not to notify although the target includes them: whoever caused it (their own action). */
	exceptUserIds?: string[];
	/** The group version the command was written at: a consumer whose projection is older asks the users service. */
	groupVersion?: number;
}

export interface DomainPayloads {
	"users.deleted": UserDeleted;
	"groups.created": GroupCreated;
	"groups.renamed": GroupRenamed;
	"groups.deleted": GroupDeleted;
	"groups.memberAdded": MemberAdded;
	"groups.memberRemoved": MemberRemoved;
	"notifications.send": NotificationSend;
}
