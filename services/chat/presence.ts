import { isMember, type Membership } from "../../events/membership.js";

/** Presence rules: who is online, and which reported sockets can no longer be open. */

export interface PresenceEntry {
	userId: string;
	online: boolean;
	lastSeenAt: string | null;
}

/**
 * One entry per member, in member order. Online members are seen now; offline ones were last
 * seen when they went offline (null if never connected).
 */
export function presenceList(memberIds: string[], onlineIds: Set<string>, lastSeen: Map<string, Date>, now: Date): PresenceEntry[] {
	return memberIds.map(userId => {
		const online = onlineIds.has(userId);
		const seen = online ? now : lastSeen.get(userId);
		return { userId, online, lastSeenAt: seen ? seen.toISOString() : null };
	});
}

export const socketKey = (gatewayNodeID: string, socketId: string) => `${gatewayNodeID}/${socketId}`;

/**
 * Broadcast by chat when a gateway it took for gone is back (payload `{ gatewayNodeID }`): that
 * gateway answers with `chat.syncSockets`, since its sockets were closed here by inference.
 */
export const PRESENCE_RESYNC_EVENT = "chat.presenceResync";
export interface PresenceResync {
	gatewayNodeID: string;
}

/** What the broker's registry knows about a gateway node. */
export interface GatewayNodeInfo {
	available: boolean;
	instanceID: string | null;
}

export type GatewayVerdict =
	| { action: "keep" }
	/** The node is gone: every socket it reported is closed. */
	| { action: "dropAll" }
	/** The node restarted under the same id: sockets of earlier incarnations are closed. */
	| { action: "dropOtherInstances"; instanceID: string };

/**
 * Sockets live as long as their gateway. A node this broker does not know, or knows to be
 * gone, has no open sockets — but only after `graceMs` of uptime, because a freshly started
 * broker has not discovered every node yet.
 */
export function judgeGateway(node: GatewayNodeInfo | undefined, uptimeMs: number, graceMs: number): GatewayVerdict {
	if (!node || !node.available) return uptimeMs >= graceMs ? { action: "dropAll" } : { action: "keep" };
	if (node.instanceID) return { action: "dropOtherInstances", instanceID: node.instanceID };
	return { action: "keep" };
}

/** A socket a gateway reports opened or closed (one entry of `chat.socketsChanged`). */
export interface SocketReport {
	socketId: string;
	userId: string;
	open: boolean;
}

/**
 * A gateway's batch of reports as the sockets' final states: a socket reported closed is closed,
 * even if its open report comes later in the list (the two are separate events that may be
 * reordered, and a closed socket never reopens under the same id).
 */
export function foldSocketReports(reports: SocketReport[]): { opened: SocketReport[]; closed: SocketReport[] } {
	const bySocket = new Map<string, SocketReport>();
	for (const report of reports) {
		const known = bySocket.get(report.socketId);
		if (!known || known.open) bySocket.set(report.socketId, report);
	}
	const opened: SocketReport[] = [];
	const closed: SocketReport[] = [];
	for (const report of bySocket.values()) (report.open ? opened : closed).push(report);
	return { opened, closed };
}

/** The users whose stored online flag (absent = offline) differs from whether they have open sockets. */
export function presenceFlips(
	userIds: Iterable<string>,
	withOpenSockets: Set<string>,
	storedOnline: Map<string, boolean>,
): { userId: string; online: boolean }[] {
	const flips: { userId: string; online: boolean }[] = [];
	for (const userId of new Set(userIds)) {
		const online = withOpenSockets.has(userId);
		if ((storedOnline.get(userId) ?? false) !== online) flips.push({ userId, online });
	}
	return flips;
}

/** A presence to announce (as `LivePresence`, without a flip count: it states, it does not flip). */
export interface PresenceNotice {
	groupIds: string[];
	userId: string;
	online: true;
	/** Only this user's sockets. */
	to?: string;
}

/**
 * A member who joins a group while connected does not come online again, so no flip tells anyone:
 * the group hears that the newcomer is online, and the newcomer hears who of the others is.
 */
export function newcomerPresence(groupId: string, newcomerId: string, newcomerOnline: boolean, onlineOthers: Iterable<string>): PresenceNotice[] {
	if (!newcomerOnline) return [];
	const notices: PresenceNotice[] = [{ groupIds: [groupId], userId: newcomerId, online: true }];
	for (const userId of new Set(onlineOthers)) {
		if (userId !== newcomerId) notices.push({ groupIds: [groupId], userId, online: true, to: newcomerId });
	}
	return notices;
}

/** A flip of a user's online flag, with the flag's flip count after it. */
export interface PresenceFlip {
	userId: string;
	online: boolean;
	version?: number;
}

/** Each flip as told to the groups of its user (as `LivePresence`); a user in no group is told to nobody. */
export function flipNotices(
	flipped: PresenceFlip[],
	groups: (Membership & { _id: string })[],
): { groupIds: string[]; userId: string; online: boolean; version?: number }[] {
	return flipped.flatMap(({ userId, online, version }) => {
		const groupIds = groups.filter(g => isMember(g, userId)).map(g => g._id);
		return groupIds.length ? [{ groupIds, userId, online, version }] : [];
	});
}
