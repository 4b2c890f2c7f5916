import type { Server as SocketServer, Socket } from "socket.io";
import type { LiveGroup, LiveShareEnded } from "../../events/live.js";
import type { Session } from "../../events/types.js";
import { shareEndReason, type ResolvedShareLink } from "../location/sharing/share-links.js";

/**
 * Sockets opened with a share link's token (`auth: { shareToken }`, API.md §6.5): people without an
 * account watching ONE session. Such a socket joins no user or group room, only the rooms of its link
 * and of the session it follows, so it receives that session's `location:update` and nothing else;
 * every command it sends is refused (403), and it is disconnected when the link ends: at its expiry
 * (a timer), when it is deleted or its creator leaves the group (`live.shareEnded`, `live.group`), and
 * when an update shows the link has ended (sharing stopped, the untilArrival journey over: that
 * last update is sent before the disconnect, so the page can say the person arrived).
 */

/** The session a share socket follows, by its subject: `share:<groupId>:<userId>`. */
export const sharedSessionRoom = (groupId: string, userId: string) => `share:${groupId}:${userId}`;
/** Every socket of one link. */
export const shareLinkRoom = (linkId: string) => `sharelink:${linkId}`;

/** Sockets one link may have open on one gateway (a link posted publicly cannot hold the gateway's sockets). */
export const MAX_SOCKETS_PER_SHARE_LINK = 50;
const MAX_TOKEN_LENGTH = 200;
/** setTimeout's longest delay; links last at most a day anyway. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Links ended lately, remembered so a socket whose handshake ran meanwhile does not outlive its link. */
const KEEP_ENDED_MS = 60_000;

export interface ShareSocketData {
	share?: ResolvedShareLink;
	shareExpiry?: NodeJS.Timeout;
}

type ShareSocket = Socket<
	Record<string, (...args: unknown[]) => void>,
	{ "location:update": (session: Session) => void },
	Record<string, never>,
	ShareSocketData
>;
type AnyServer = SocketServer<never, never, never, never>;

export interface ShareSocketsDeps {
	call(action: string, params: object): Promise<unknown>;
	now?: () => number;
}

/** The refusal every command of a share socket gets. */
export const READ_ONLY = { ok: false, error: { type: "FORBIDDEN", message: "A share link is read-only", code: 403 } } as const;

export const isShareHandshake = (auth: unknown): boolean => {
	const { token, shareToken } = (auth ?? {}) as { token?: unknown; shareToken?: unknown };
	return token === undefined && shareToken !== undefined;
};

export class ShareSockets {
	private readonly now: () => number;
	private readonly ended = new Map<string, number>();

	constructor(private readonly deps: ShareSocketsDeps) {
		this.now = deps.now ?? Date.now;
	}

	/** The link a handshake's share token opens; throws Error(NOT_FOUND | RATE_LIMITED | SERVICE_UNAVAILABLE) otherwise. */
	async authenticate(io: SocketServer, socket: Socket, shareToken: unknown): Promise<ResolvedShareLink> {
		if (typeof shareToken !== "string" || shareToken.length === 0 || shareToken.length > MAX_TOKEN_LENGTH) throw new Error("NOT_FOUND");
		let link: ResolvedShareLink;
		try {
			link = (await this.deps.call("location.resolveShareLink", { token: shareToken })) as ResolvedShareLink;
		} catch (err) {
			const code = (err as { code?: number }).code;
			throw new Error(code === 404 || code === 422 ? "NOT_FOUND" : "SERVICE_UNAVAILABLE");
		}
		if ((io.of("/").adapter.rooms.get(shareLinkRoom(link.linkId))?.size ?? 0) >= MAX_SOCKETS_PER_SHARE_LINK) throw new Error("RATE_LIMITED");
		(socket as ShareSocket).data.share = link;
		return link;
	}

	/** A share socket connected: its rooms, its refusals, its expiry. */
	connected(socket: Socket): void {
		const shareSocket = socket as ShareSocket;
		const link = shareSocket.data.share!;
		if (this.ended.has(link.linkId) || link.expiresAt <= this.now()) {
			socket.disconnect(true);
			return;
		}
		void socket.join([shareLinkRoom(link.linkId), sharedSessionRoom(link.groupId, link.userId)]);
		socket.onAny((...args: unknown[]) => {
			const ack = args.at(-1);
			if (typeof ack === "function") (ack as (body: unknown) => void)(READ_ONLY);
		});
		socket.on("disconnect", () => clearTimeout(shareSocket.data.shareExpiry));
		this.expireWithLink(shareSocket);
	}

	/** A session changed: its share sockets get it, or are disconnected when it shows their link has ended. */
	update(io: SocketServer, groupId: string, session: Session & { sharing?: boolean }): void {
		const nsp = io.of("/");
		const ids = nsp.adapter.rooms.get(sharedSessionRoom(groupId, session.userId));
		if (!ids) return;
		const now = this.now();
		for (const id of [...ids]) {
			const socket = nsp.sockets.get(id) as ShareSocket | undefined;
			const link = socket?.data.share;
			if (!socket || !link) continue;
			const end = shareEndReason(link, session, now);
			if (end === null) socket.emit("location:update", session);
			else if (end === "journey ended") {
				// The journey's last update first (the page shows "Arrived"), then the namespace's
				// disconnect: packets on one connection arrive in order, so the update is not lost.
				socket.emit("location:update", session);
				socket.disconnect();
			} else socket.disconnect(true);
		}
	}

	/** Links deleted, or whose creator left or is gone (`live.shareEnded`). */
	linksEnded(io: SocketServer, { linkIds = [], userId, groupId }: LiveShareEnded): void {
		const now = this.now();
		for (const linkId of linkIds) this.ended.set(linkId, now);
		for (const [linkId, at] of this.ended) if (at < now - KEEP_ENDED_MS) this.ended.delete(linkId);
		for (const linkId of linkIds) io.in(shareLinkRoom(linkId)).disconnectSockets(true);
		if (userId) this.disconnectWhere(io, link => link.userId === userId && (groupId === undefined || link.groupId === groupId));
	}

	/** A member removed (or who left) stops being shown at once; a deleted group's links all end. */
	group(io: SocketServer, { groupId, change, userId }: LiveGroup): void {
		if (change === "memberRemoved" && userId) io.in(sharedSessionRoom(groupId, userId)).disconnectSockets(true);
		if (change === "deleted") this.disconnectWhere(io, link => link.groupId === groupId);
	}

	private disconnectWhere(io: SocketServer | AnyServer, matches: (link: ResolvedShareLink) => boolean): void {
		for (const socket of (io as SocketServer).of("/").sockets.values()) {
			const link = (socket as ShareSocket).data.share;
			if (link && matches(link)) socket.disconnect(true);
		}
	}

	private expireWithLink(socket: ShareSocket): void {
		const left = socket.data.share!.expiresAt - this.now();
		if (left <= 0) {
			socket.disconnect(true);
			return;
		}
		socket.data.shareExpiry = setTimeout(() => this.expireWithLink(socket), Math.min(left, MAX_TIMER_MS));
	}
}
