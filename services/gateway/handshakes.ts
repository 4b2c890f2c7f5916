import jwt from "jsonwebtoken";
import type { GroupChange } from "../../events/live.js";
import type { AuthToken } from "../../events/types.js";
import { revokes } from "./token-cache.js";

/**
 * Socket handshakes and the broadcasts that overtake them.
 *
 * A socket's group rooms come from a snapshot (the users service's answer, or the rooms of another
 * socket of the same user on this gateway) taken while the handshake runs, and are joined only
 * once Socket.IO counts the socket as connected. A `live.group` or `live.revoked` broadcast that
 * arrives in between reaches neither: `socketsJoin`/`socketsLeave` only move connected sockets that
 * are already in the user's room. So every such broadcast is noted while handshakes are pending,
 * and each handshake replays, when it joins, the notes taken since it began. Replaying is safe
 * whether or not the snapshot already reflected a note: each note sets one (user, group) pair to
 * a definite state, so the last note about a pair wins, and pairs without notes keep the snapshot's value.
 */

export type HandshakeNotice =
	{ kind: "group"; groupId: string; change: GroupChange; userId?: string } | { kind: "revoked"; userId: string; jti?: string; before?: number };

export interface PendingHandshake {
	/** Sequence number of the first notice this handshake must replay. */
	readonly start: number;
}

export class HandshakeLog {
	private notices: HandshakeNotice[] = [];
	/** Sequence number of `notices[0]`. */
	private offset = 0;
	/** In the order they began, so the first one has the smallest `start`. */
	private readonly pending = new Set<PendingHandshake>();

	begin(): PendingHandshake {
		const handshake = { start: this.offset + this.notices.length };
		this.pending.add(handshake);
		return handshake;
	}

	/** Notes a broadcast; nothing is kept while no handshake is pending. */
	record(notice: HandshakeNotice): void {
		if (this.pending.size > 0) this.notices.push(notice);
	}

	/** The notices since `handshake` began; it is forgotten (ending it twice returns nothing). */
	end(handshake: PendingHandshake): HandshakeNotice[] {
		if (!this.pending.delete(handshake)) return [];
		const since = this.notices.slice(handshake.start - this.offset);
		const first = this.pending.values().next().value;
		const keepFrom = first ? first.start : this.offset + this.notices.length;
		if (keepFrom > this.offset) {
			this.notices.splice(0, keepFrom - this.offset);
			this.offset = keepFrom;
		}
		return since;
	}

	get pendingCount(): number {
		return this.pending.size;
	}

	get noticeCount(): number {
		return this.notices.length;
	}
}

/** The user's groups after replaying the notices on a snapshot taken after the handshake began. */
export function replayGroups(snapshot: Iterable<string>, userId: string, notices: HandshakeNotice[]): string[] {
	const groups = new Set(snapshot);
	for (const notice of notices) {
		if (notice.kind !== "group") continue;
		if (notice.change === "deleted") groups.delete(notice.groupId);
		else if (notice.userId !== userId) continue;
		else if (notice.change === "created" || notice.change === "memberAdded") groups.add(notice.groupId);
		else if (notice.change === "memberRemoved") groups.delete(notice.groupId);
	}
	return [...groups];
}

/** Whether a revocation noted during the handshake applies to its token. */
export function revokedDuring(userId: string, token: AuthToken, notices: HandshakeNotice[]): boolean {
	return notices.some(n => n.kind === "revoked" && n.userId === userId && revokes(token, n.jti, n.before));
}

export const GROUP_ROOM_PREFIX = "group:";
export const userRoom = (userId: string) => `user:${userId}`;
export const groupRoom = (groupId: string) => `${GROUP_ROOM_PREFIX}${groupId}`;

/** The group ids of a socket's rooms. */
export function groupIdsOfRooms(rooms: Iterable<string>): string[] {
	const ids: string[] = [];
	for (const room of rooms) if (room.startsWith(GROUP_ROOM_PREFIX)) ids.push(room.slice(GROUP_ROOM_PREFIX.length));
	return ids;
}

/**
 * The subject of a JWT, read WITHOUT verifying it: only a hint for choosing what to ask the
 * users service (which verifies the token); never trusted for anything else.
 */
export function unverifiedSubject(token: string): string | undefined {
	if (token.length > 4096) return undefined;
	try {
		const sub = jwt.decode(token, { json: true })?.sub;
		return typeof sub === "string" ? sub : undefined;
	} catch {
		return undefined;
	}
}
