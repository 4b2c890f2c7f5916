import type { Invitation, Message, Notification, Place, Session, User } from "./types.js";

/**
 * Live fan-out events: ordinary broker broadcasts that every gateway instance receives and
 * forwards to its own sockets. Losing one on a crash is acceptable; the data is in the databases.
 */
export const LiveEvents = {
	location: "live.location",
	chat: "live.chat",
	presence: "live.presence",
	notification: "live.notification",
	notificationsRead: "live.notificationsRead",
	group: "live.group",
	revoked: "live.revoked",
	invitation: "live.invitation",
	locate: "live.locate",
	place: "live.place",
	shareEnded: "live.shareEnded",
} as const;

export interface LiveLocation {
	groupId: string;
	/** The session as its subject sees it (exact). */
	session: Session;
	/**
	 * What the other members see when the subject shares an approximate position there (API.md §6.6):
	 * `session` then goes to the subject's own sockets only, this to the rest of the group.
	 */
	others?: Session;
}
/**
 * Several location updates in one `live.location` broadcast, in the order they happened: a
 * location instance coalesces what it publishes within one turn of its event loop, so under load
 * every gateway receives one message per batch instead of one per update.
 */
export interface LiveLocationBatch {
	updates: LiveLocation[];
}
/** What a `live.location` broadcast carries: one update, or a batch of them. */
export type LiveLocationEvent = LiveLocation | LiveLocationBatch;
export interface LiveChat {
	groupId: string;
	message: Message;
}
export interface LivePresence {
	groupIds: string[];
	userId: string;
	online: boolean;
	/**
	 * Counts the user's flips. Two chat instances may announce two flips of one user at once and
	 * their broadcasts may arrive in either order: gateways forward only the newest. Absent from
	 * an older chat instance (forwarded as it comes).
	 */
	version?: number;
	/**
	 * Only this user's sockets hear it (the others' state, told to a member who just joined). Absent:
	 * every socket of the groups. Such a state (and any without `version`) is not a flip: gateways
	 * forward it as it comes.
	 */
	to?: string;
}
/** A user marked notifications read (on one device): their other sockets update the count and list. */
export interface LiveNotificationsRead {
	userId: string;
	unread: number;
	/** The ids marked read; absent when all were. */
	ids?: string[];
}
export interface LiveNotification {
	userId: string;
	notification: Notification;
}
/** A new invitation, to its addressee's sockets. */
export interface LiveInvitation {
	userId: string;
	invitation: Invitation;
}
export type GroupChange = "created" | "renamed" | "memberAdded" | "memberRemoved" | "deleted";
export interface LiveGroup {
	groupId: string;
	change: GroupChange;
	userId?: string;
}
/** A token (by `jti`) or every token of a user issued before `before` (ms) stops working. */
export interface LiveRevoked {
	userId: string;
	jti?: string;
	before?: number;
}
/** "Where are you now?" (API.md §6.3): the member's open sockets get `location:request { groupId, byUserId }`. */
export interface LiveLocate {
	userId: string;
	groupId: string;
	byUserId: string;
}
/** A group's place was created, changed or deleted (API.md §6.4): the group's sockets get `place:changed`. */
export type PlaceChange = "created" | "updated" | "deleted";
export interface LivePlace {
	groupId: string;
	change: PlaceChange;
	placeId: string;
	/** The place as it is now (absent when deleted). */
	place?: Place;
}

/** Share links that ended (deleted, or their creator left): their share sockets are disconnected (API.md §6.5). */
export interface LiveShareEnded {
	linkIds?: string[];
	/** Every link of this user (in this group, when given). */
	userId?: string;
	groupId?: string;
}
export type { User };
