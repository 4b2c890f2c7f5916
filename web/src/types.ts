/**
 * The public contract's resource shapes (API.md §3), straight from the shared contract: the
 * client and the services cannot disagree on them. Type-only: nothing server-side is bundled.
 */
export type { Journey, JourneyMode, Message, Point, Session, SessionState, User, UserRef } from "../../events/types.js";

import type { Group as ContractGroup, Notification as ContractNotification, NotificationKind as ContractKind, User } from "../../events/types.js";

/** API.md §6.1: a group also counts its pending invitations. */
export interface Group extends ContractGroup {
	pendingInvitations?: number;
}

/** API.md §6.1 adds kinds; named here too, so the client does not wait for the shared list to gain them. */
export type NotificationKind = ContractKind | "INVITED" | "INVITATION_ACCEPTED";

export interface Notification extends Omit<ContractNotification, "kind"> {
	kind: NotificationKind;
}

export interface LoginResult {
	token: string;
	expiresAt: string;
	user: User;
}

export interface Presence {
	userId: string;
	online: boolean;
	lastSeenAt: string | null;
}

export interface NotificationPage {
	notifications: Notification[];
	unread: number;
}

export type GroupChange = "created" | "renamed" | "memberAdded" | "memberRemoved" | "deleted";

export interface GroupChanged {
	groupId: string;
	change: GroupChange;
	userId?: string;
}

export interface ChatPresence {
	groupId: string;
	userId: string;
	online: boolean;
}

// ---- consent (API.md §6.1)

/** An invitation as the group's members see it. */
export interface GroupInvitation {
	id: string;
	groupId: string;
	email: string;
	/** The inviting member's user id. */
	invitedBy: string;
	createdAt: string;
	expiresAt: string;
}

/** An invitation as the invitee sees it (GET /invitations, the `invitation` socket event). */
export interface Invitation {
	id: string;
	groupId: string;
	groupName: string;
	invitedBy: { id: string; name: string; surname: string };
	createdAt: string;
	expiresAt: string;
}

/** An invite link; `code` and `url` are certain only in the answer that created it (the server keeps a hash). */
export interface InviteLink {
	id: string;
	code?: string;
	url?: string;
	expiresAt: string;
	maxUses: number;
	uses: number;
}

/** What anyone holding an invite link's code may see before joining (no login needed). */
export interface InviteLinkPreview {
	groupName: string;
	invitedBy: { name: string };
	memberCount: number;
	expiresAt: string;
}
