/**
 * The public contract's resource shapes (API.md §3), straight from the shared contract: the
 * client and the services cannot disagree on them. Type-only: nothing server-side is bundled.
 */
export type {
	Group,
	GroupInvitation,
	Invitation,
	Journey,
	JourneyMode,
	Message,
	Notification,
	NotificationKind,
	Point,
	Session,
	SessionState,
	User,
	UserRef,
} from "../../events/types.js";

import type { Notification, User } from "../../events/types.js";

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

