/**
 * The public contract's resource shapes (API.md §3), straight from the shared contract: the
 * client and the services cannot disagree on them. Type-only: nothing server-side is bundled.
 */
export type {
	DeviceProtocol,
	Group,
	GroupInvitation,
	Invitation,
	Journey,
	JourneyMode,
	Message,
	Notification,
	NotificationKind,
	Place,
	Point,
	Session,
	SessionState,
	User,
	UserRef,
} from "../../events/types.js";

import type { DeviceProtocol, Journey, Notification, Point, SessionState, User } from "../../events/types.js";

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

/** An invite link; `code` and `url` are certain only in the answer that created it (the server keeps a hash). */
export interface InviteLink {
	id: string;
	code?: string;
	url?: string;
	expiresAt: string;
	maxUses: number;
	uses: number;
	/** Extra fields this server gives (API.md allows extras). */
	createdBy?: string;
	createdAt?: string;
}

/** What anyone holding an invite link's code may see before joining (no login needed). */
export interface InviteLinkPreview {
	groupName: string;
	invitedBy: { name: string };
	memberCount: number;
	expiresAt: string;
}

// ---- phones (API.md §6.2)

/** A registered phone app, as every read shows it: no secrets. */
export interface Device {
	id: string;
	name: string;
	protocol: DeviceProtocol;
	createdAt: string;
	lastSeenAt: string | null;
}

/** What OwnTracks needs; `configUrl` (owntracks:///config?inline=…) sets the app up in one step. */
export interface OwnTracksCredentials {
	url: string;
	username: string;
	password: string;
	deviceId: string;
	tid: string;
	configUrl: string;
}

/** What Traccar Client and OsmAnd need: the server's address and the device's id (its secret). */
export interface OsmAndCredentials {
	url: string;
	id: string;
}

/** The answer that creates a device: the only one that holds its credentials (the server keeps hashes). */
export type NewDevice =
	(Device & { protocol: "owntracks"; credentials: OwnTracksCredentials }) | (Device & { protocol: "osmand"; credentials: OsmAndCredentials });

// ---- share links (API.md §6.5)

/** What anyone holding a share link's token sees (`GET /api/shared/:token`): one person's session, read-only. */
export interface SharedSession {
	/** First name and surname initial, "Ada L.". */
	name: string;
	state: SessionState;
	position: Point | null;
	journey: Journey | null;
	/** The points since the journey or SOS began, oldest first; [] otherwise. */
	route: Point[];
	expiresAt: string;
	/** The link ends with the journey. */
	untilArrival?: boolean;
}

/** One of my share links; `token` and `url` only in the answer that created it (the server keeps a hash). */
export interface ShareLink {
	id: string;
	groupId: string;
	token?: string;
	url?: string;
	expiresAt: string;
	createdAt?: string;
	untilArrival: boolean;
}

/** How the other members of a group see my position (API.md §6.6). */
export type Precision = "exact" | "approximate";

/** `place:changed`: a place of the group was created, updated or deleted (re-read the places). */
export interface PlaceChanged {
	groupId: string;
	change: "created" | "updated" | "deleted";
	placeId: string;
}
