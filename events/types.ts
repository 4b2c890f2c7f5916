/** Resource shapes of API.md §3, shared by the services and the tests. */

export interface User {
	id: string;
	name: string;
	surname: string;
	email: string;
	/** Given by the user for their groups (E.164, "+393331234567"): shown to fellow members, e.g. to call during an SOS. */
	phone?: string;
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

/** Where a position came from (API.md §6.3): a browser, or a phone app registered as a device. */
export const PositionSources = ["web", "owntracks", "osmand"] as const;
export type PositionSource = (typeof PositionSources)[number];

/**
 * A position (API.md §3, with the optional fields of §6.3). Optional fields are absent when the
 * sender did not know them (never zero or -1 stand-ins), so a stored point holds only what is known.
 */
export interface Point {
	latitude: number;
	longitude: number;
	timestamp: string;
	/** Horizontal accuracy radius, metres. */
	accuracy?: number;
	/** Metres above sea level. */
	altitude?: number;
	/** Metres per second. */
	speed?: number;
	/** Degrees clockwise from true north, 0 ≤ heading < 360. */
	heading?: number;
	/** Percent, 0–100. */
	battery?: number;
	charging?: boolean;
	source?: PositionSource;
}

export interface Destination {
	name: string;
	latitude: number;
	longitude: number;
	/** A journey to one of the group's places (API.md §6.4): the place it was resolved from at the start. */
	placeId?: string;
	/** Metres: a place's radius, within which the journey counts as arrived (at least ARRIVAL_RADIUS). */
	radius?: number;
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
	/** The group's place the user is in now (API.md §6.4), the most specific one; null when in none (always set by the location service). */
	place?: SessionPlace | null;
	updatedAt: string;
}

/** Session.place: which of the group's places the user is in (API.md §6.4). */
export interface SessionPlace {
	id: string;
	name: string;
}

/** A group's place (API.md §6.4). */
export interface Place {
	id: string;
	groupId: string;
	name: string;
	latitude: number;
	longitude: number;
	/** Metres, 25–5000. */
	radius: number;
	createdBy: string;
	createdAt: string;
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
	// API.md §6.3: someone asked where the recipient is.
	"LOCATE_REQUESTED",
	// API.md §6.4: a member entered or left one of the group's places; a running journey's ETA moved.
	"PLACE_ARRIVED",
	"PLACE_LEFT",
	"JOURNEY_UPDATED",
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
	/** Extra field: what the texts say, as data, so a client writes times in its viewer's own time zone. */
	data?: NotificationData;
}

/** The facts behind a notification's words (all optional: only what its kind has). */
export interface NotificationData {
	/** A journey's expected arrival (ISO instant). */
	eta?: string;
	destination?: { name: string; latitude: number; longitude: number };
	mode?: string;
	/** The last known position (an SOS, an alert), with when it was taken (ISO instant). */
	position?: { latitude: number; longitude: number; timestamp: string };
	/** A place arrived at or left. */
	place?: { name: string };
}

export const DeviceProtocols = ["owntracks", "osmand"] as const;
export type DeviceProtocol = (typeof DeviceProtocols)[number];

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
	/**
	 * The phone app a position came from (API.md §6.2), set by the devices service when it passes a
	 * device's report on as a sample of its user; never taken from a client. Marks the sample's
	 * `source`, and makes the location service store it before answering.
	 */
	device?: { id: string; protocol: DeviceProtocol };
	/**
	 * The origin (scheme://host[:port]) the client reached the gateway at, for links a service hands
	 * out (a new device's server URL); PUBLIC_URL wins when set. Set by the gateway for those calls only.
	 */
	origin?: string;
	/** Set by moleculer-web when an action answers with a status other than 200. */
	$statusCode?: number;
}
