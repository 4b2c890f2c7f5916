/** Resource shapes of API.md §3, shared by the services and the tests. */

export interface User {
	id: string;
	name: string;
	surname: string;
	email: string;
}

/** A user as other services see them: enough to name them in notifications. */
export interface UserRef {
	id: string;
	name: string;
	surname: string;
	email?: string;
}

export interface Group {
	id: string;
	name: string;
	createdBy: string;
	createdAt: string;
	members: UserRef[];
	/** Invitations sent and not yet answered or expired (API.md §6.1). */
	pendingInvitations?: number;
}

/** An invitation as the group's members see it (API.md §6.1). */
export interface GroupInvitation {
	id: string;
	groupId: string;
	email: string;
	invitedBy: string;
	createdAt: string;
	expiresAt: string;
}

/** An invitation as its addressee sees it (API.md §6.1). */
export interface Invitation {
	id: string;
	groupId: string;
	groupName: string;
	invitedBy: { id: string; name: string; surname: string };
	createdAt: string;
	expiresAt: string;
}

export const SessionStates = ["ACTIVE", "INACTIVE", "ROUTING", "WARNING", "SOS"] as const;
export type SessionState = (typeof SessionStates)[number];

export const JourneyModes = ["driving", "walking", "cycling"] as const;
export type JourneyMode = (typeof JourneyModes)[number];

export const AlertKinds = ["LATE", "STUCK", "OFFLINE"] as const;
export type AlertKind = (typeof AlertKinds)[number];

export interface Point {
	latitude: number;
	longitude: number;
	timestamp: string;
}

export interface Destination {
	name: string;
	latitude: number;
	longitude: number;
}

export interface Journey {
	destination: Destination;
	eta: string;
	mode: JourneyMode;
	startedAt: string;
	alerts: AlertKind[];
}

export interface Session {
	groupId: string;
	userId: string;
	state: SessionState;
	position: Point | null;
	journey: Journey | null;
	updatedAt: string;
}

export type MessageKind = "user" | "system";

export interface Message {
	id: string;
	groupId: string;
	userId: string;
	text: string;
	kind: MessageKind;
	createdAt: string;
	clientMessageId?: string;
}

export const NotificationKinds = [
	"JOURNEY_STARTED",
	"JOURNEY_ENDED",
	"ARRIVED",
	"LATE",
	"STUCK",
	"OFFLINE",
	"SOS",
	"SOS_ENDED",
	"MEMBER_ADDED",
	"MEMBER_REMOVED",
	"INVITED",
	"INVITATION_ACCEPTED",
] as const;
export type NotificationKind = (typeof NotificationKinds)[number];

export interface Notification {
	id: string;
	kind: NotificationKind;
	title: string;
	body: string;
	groupId?: string;
	subjectUserId?: string;
	createdAt: string;
	read: boolean;
}

/** The authenticated caller, put in `ctx.meta` by the gateway and passed along every call. */
export interface AuthToken {
	jti: string;
	/** Issue time in milliseconds: finer than JWT `iat` so "revoke earlier tokens" is exact. */
	issuedAt: number;
	expiresAt: number;
}

export interface Meta {
	user?: User;
	token?: AuthToken;
	/** Client address, for rate limiting register and login. */
	clientAddress?: string;
	/** Set by moleculer-web when an action answers with a status other than 200. */
	$statusCode?: number;
}
