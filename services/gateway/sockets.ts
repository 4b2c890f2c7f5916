import type { Server as HttpServer } from "node:http";
import { Server as SocketServer, type Socket } from "socket.io";
import { rateLimited, unauthorized } from "../../events/errors.js";
import type {
	GroupChange,
	LiveChat,
	LiveGroup,
	LiveInvitation,
	LiveLocate,
	LivePlace,
	LiveLocationEvent,
	LiveNotification,
	LiveNotificationsRead,
	LivePresence,
	LiveRevoked,
	LiveShareEnded,
} from "../../events/live.js";
import type { Invitation, Message, Meta, Notification, Session } from "../../events/types.js";
import { toErrorBody } from "./errors.js";
import { groupIdsOfRooms, groupRoom, HandshakeLog, replayGroups, revokedDuring, unverifiedSubject, userRoom, type PendingHandshake } from "./handshakes.js";
import { locationUpdates } from "./live-location.js";
import { PresenceOrder } from "./presence-order.js";
import type { SocketChange } from "./presence-reports.js";
import type { OpenSocket } from "./presence-sync.js";
import { ackResult, asParams, SocketCommands, type SocketCommand } from "./socket-events.js";
import { revokes, type ResolvedToken, type TokenCache } from "./token-cache.js";
import { isShareHandshake, ShareSockets, type ShareSocketData } from "./share-sockets.js";

/**
 * Socket.IO (API.md §4) on the REST server's port: the handshake that authenticates a socket and
 * finds its rooms, the client commands (socket-events.ts) called as the socket's user, and the
 * live broadcasts forwarded to the rooms they concern. The service hands every `live.*` event to
 * the method of the same name.
 *
 * A socket lives no longer than its token: it is disconnected when the token expires (API.md
 * §6.6), as when it is revoked. One user holds at most `maxSocketsPerUser` sockets here; the
 * handshake of one more fails with RATE_LIMITED, and the sockets already open stay open.
 */

/** Server → client events. */
export interface ServerEvents {
	"location:update": (session: Session) => void;
	"chat:message": (message: Message) => void;
	"chat:presence": (presence: { groupId: string; userId: string; online: boolean }) => void;
	notification: (notification: Notification) => void;
	/** Notifications were marked read (on any of the user's devices): the unread count now. */
	"notifications:read": (read: { unread: number; ids?: string[] }) => void;
	"group:changed": (change: { groupId: string; change: GroupChange; userId?: string }) => void;
	invitation: (invitation: Invitation) => void;
	/** "Where are you now?" (API.md §6.3): a member of `groupId` asks for a fresh sample. */
	"location:request": (request: { groupId: string; byUserId: string }) => void;
	/** A group's place was created, changed or deleted (API.md §6.4): clients read the places again. */
	"place:changed": (change: LivePlace) => void;
}

/** Client → server events: any name (unknown ones are ignored), a payload and an acknowledgement in any number. */
type ClientEvents = Record<string, (...args: unknown[]) => void>;

interface SocketData extends ShareSocketData {
	/** Absent on a share link's socket (`share`, gateway/share-sockets.ts), which has no user. */
	auth: ResolvedToken;
	/** The user whose socket slot this socket holds, from its handshake until it closes. */
	slotOf?: string;
	/** Disconnects the socket when its token expires. */
	expiry?: NodeJS.Timeout;
	/** From the handshake until the socket joins its rooms (then deleted: the rooms hold the groups). */
	joining?: { pending: PendingHandshake; groupIds: string[] };
}

type AppSocket = Socket<ClientEvents, ServerEvents, Record<string, never>, SocketData>;
type AppServer = SocketServer<ClientEvents, ServerEvents, Record<string, never>, SocketData>;

/** What `users.resolveToken` answers; `groupIds` only when asked for `withGroupIds` (and the users service knows it). */
interface ResolvedTokenAnswer extends ResolvedToken {
	groupIds?: string[];
}

export interface LiveSocketsDeps {
	/** Calls an action through the broker (the users service for handshakes, the commands' actions). */
	call(action: string, params: object, opts?: { meta: Meta }): Promise<unknown>;
	/** Shared with REST authentication; revocations are applied to it by the service. */
	tokenCache: TokenCache;
	/** Each socket that opens or closes here (for presence). */
	socketChanged(change: SocketChange): void;
	corsOrigin: string | string[];
	/** Open sockets (and handshakes) one user may have here at once [unlimited]. */
	maxSocketsPerUser?: number;
	/** The clock tokens expire by [Date.now]. */
	now?: () => number;
}

const socketCommands = new Map<string, SocketCommand>(Object.entries(SocketCommands));
const MAX_TOKEN_LENGTH = 4096;
/** setTimeout's longest delay (~24.8 days); a longer-lived token's timer is set again when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class LiveSockets {
	private io: AppServer | undefined;
	private readonly handshakes = new HandshakeLog();
	private readonly presenceOrder = new PresenceOrder();
	/** Sockets per user here, counted from the handshake (a burst of handshakes cannot pass the cap) until the socket closes. */
	private readonly slots = new Map<string, number>();
	private readonly maxSocketsPerUser: number;
	private readonly now: () => number;
	/**
	 * One command dispatcher and one disconnect listener for all sockets (Socket.IO calls them
	 * with the socket as `this`), instead of nine closures per socket.
	 */
	private readonly dispatchCommand: (this: AppSocket, event: string, ...args: unknown[]) => void;
	private readonly onClosed: (this: AppSocket) => void;
	/** Sockets of share links (API.md §6.5): one session, read-only. */
	private readonly shares: ShareSockets;

	constructor(private readonly deps: LiveSocketsDeps) {
		// Socket.IO calls listeners with the socket as `this`; the service's own parts are captured here.
		const runCommand = this.runCommand.bind(this);
		const socketChanged = deps.socketChanged;
		const releaseSlot = this.releaseSlot.bind(this);
		this.dispatchCommand = function (event, ...args) {
			const command = socketCommands.get(event);
			if (command) void runCommand(this, command, args);
		};
		this.onClosed = function () {
			clearTimeout(this.data.expiry);
			releaseSlot(this);
			socketChanged({
				socketId: this.id,
				userId: this.data.auth.user.id,
				open: false,
			});
		};
		this.maxSocketsPerUser = deps.maxSocketsPerUser ?? Number.POSITIVE_INFINITY;
		this.now = deps.now ?? Date.now;
		this.shares = new ShareSockets({ call: (action, params) => deps.call(action, params), now: this.now });
	}

	/** Socket.IO on the same HTTP server and port as REST. */
	attach(server: HttpServer): void {
		const io: AppServer = new SocketServer(server, {
			path: "/socket.io",
			cors: { origin: this.deps.corsOrigin },
			maxHttpBufferSize: 64 * 1024,
			serveClient: false,
		});
		this.io = io;
		io.use((socket, next) => {
			if (isShareHandshake(socket.handshake.auth)) {
				const { shareToken } = socket.handshake.auth as { shareToken?: unknown };
				this.shares.authenticate(this.untyped(), socket as unknown as Socket, shareToken).then(
					() => next(),
					(err: Error) => next(err),
				);
				return;
			}
			this.authenticate(socket).then(
				() => {
					next();
					// Socket.IO connects the socket (or drops it, if the client left) in a tick it queued
					// in `next()`, before this one: a handshake still open here never connected.
					process.nextTick(() => this.abandonHandshake(socket));
				},
				(err: Error) => next(err),
			);
		});
		io.on("connection", socket => (socket.data.share ? this.shares.connected(socket as unknown as Socket) : this.connected(socket)));
	}

	/** The server without this file's event typing, for the share sockets' own. */
	private untyped(): SocketServer {
		return this.io as unknown as SocketServer;
	}

	/** Open sockets on this instance. */
	get count(): number {
		return this.io?.engine?.clientsCount ?? 0;
	}

	/** Every authenticated socket open here; undefined before Socket.IO is up. */
	openSockets(): OpenSocket[] | undefined {
		if (!this.io) return undefined;
		return [...this.io.of("/").sockets.values()]
			.filter(socket => socket.data.auth)
			.map(socket => ({
				socketId: socket.id,
				userId: socket.data.auth.user.id,
			}));
	}

	/**
	 * Closes the transports without a Socket.IO "disconnect" packet: clients see "transport close"
	 * and reconnect (to another gateway) by themselves, instead of treating it as a kick-out.
	 */
	close(): void {
		if (!this.io) return;
		for (const socket of this.io.of("/").sockets.values()) socket.conn.close();
		this.io.engine.close();
	}

	// ---- live broadcasts, each to the rooms it concerns

	/**
	 * One update, or a location instance's batch of them (events/live.ts), each to its group's room in
	 * order. An approximate one (`others`, API.md §6.6) goes exact to its subject's own sockets and
	 * approximate to the rest of the group; share links get the exact one (they were made to show it).
	 */
	location(event: LiveLocationEvent): void {
		if (!this.io) return;
		for (const { groupId, session, others } of locationUpdates(event)) {
			if (others) {
				this.io.to(userRoom(session.userId)).emit("location:update", session);
				this.io.to(groupRoom(groupId)).except(userRoom(session.userId)).emit("location:update", others);
			} else this.io.to(groupRoom(groupId)).emit("location:update", session);
			this.shares.update(this.untyped(), groupId, session);
		}
	}

	/** Share links that ended: their sockets are disconnected. */
	shareEnded(payload: LiveShareEnded): void {
		if (this.io) this.shares.linksEnded(this.untyped(), payload);
	}

	chat({ groupId, message }: LiveChat): void {
		this.io?.to(groupRoom(groupId)).emit("chat:message", message);
	}

	presence({ groupIds, userId, online, version, to }: LivePresence): void {
		if (!this.presenceOrder.isNewest(userId, version)) return;
		for (const groupId of groupIds) this.io?.to(to ? userRoom(to) : groupRoom(groupId)).emit("chat:presence", { groupId, userId, online });
	}

	notification({ userId, notification }: LiveNotification): void {
		this.io?.to(userRoom(userId)).emit("notification", notification);
	}

	/** Notifications marked read: every socket of their user (the other devices' counts follow). */
	notificationsRead({ userId, unread, ids }: LiveNotificationsRead): void {
		this.io?.to(userRoom(userId)).emit("notifications:read", { unread, ...(ids ? { ids } : {}) });
	}

	/** A new invitation, to every socket of its addressee (API.md §6.1). */
	invitation({ userId, invitation }: LiveInvitation): void {
		this.io?.to(userRoom(userId)).emit("invitation", invitation);
	}

	/** A place of the group changed: every socket of its members. */
	place(change: LivePlace): void {
		this.io?.to(groupRoom(change.groupId)).emit("place:changed", change);
	}

	/** "Where are you now?": every open socket of the member asked. */
	locateRequest({ userId, groupId, byUserId }: LiveLocate): void {
		this.io?.to(userRoom(userId)).emit("location:request", { groupId, byUserId });
	}

	group({ groupId, change, userId }: LiveGroup): void {
		const room = groupRoom(groupId);
		const payload = { groupId, change, ...(userId ? { userId } : {}) };
		// Sockets still in their handshake are not in the user's room yet: they replay this when they join.
		if (change !== "renamed")
			this.handshakes.record({
				kind: "group",
				groupId,
				change,
				...(userId ? { userId } : {}),
			});
		if (!this.io) return;
		// Added users join before the announcement, removed ones leave after it: both hear it.
		if ((change === "created" || change === "memberAdded") && userId) this.io.in(userRoom(userId)).socketsJoin(room);
		this.io.to(room).emit("group:changed", payload);
		if (change === "memberRemoved" && userId) {
			this.io.to(userRoom(userId)).except(room).emit("group:changed", payload);
			this.io.in(userRoom(userId)).socketsLeave(room);
		}
		if (change === "deleted") this.io.in(room).socketsLeave(room);
		this.shares.group(this.untyped(), { groupId, change, ...(userId ? { userId } : {}) });
	}

	/** Disconnects the sockets whose token was revoked (the token cache is the service's to update). */
	revoked({ userId, jti, before }: LiveRevoked): void {
		this.handshakes.record({
			kind: "revoked",
			userId,
			...(jti !== undefined ? { jti } : {}),
			...(before !== undefined ? { before } : {}),
		});
		if (!this.io) return;
		for (const socket of this.io.of("/").sockets.values()) {
			const auth = socket.data.auth;
			if (auth?.user.id === userId && revokes(auth.token, jti, before)) socket.disconnect(true);
		}
	}

	// ---- handshakes and commands

	/**
	 * The socket's user and the groups whose rooms it joins, with as few calls to the users
	 * service as possible: none when the token is cached and the user already has a socket here,
	 * one otherwise (`users.resolveToken` with `withGroupIds`, or `users.groupIdsOf` for a cached token).
	 */
	private async authenticate(socket: AppSocket): Promise<void> {
		const { call, tokenCache } = this.deps;
		const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
		if (typeof token !== "string" || token.length === 0) throw new Error("UNAUTHORIZED");
		// Begun before any read of the user's groups: broadcasts from now on are replayed at the join.
		const pending = this.handshakes.begin();
		try {
			if (token.length > MAX_TOKEN_LENGTH) throw unauthorized("Invalid token");
			let auth = tokenCache.get(token);
			let groupIds: string[] | undefined;
			if (!auth) {
				// The (unverified) subject only decides whether the groups are worth asking for.
				const subject = unverifiedSubject(token);
				const withGroupIds = !(subject && this.siblingSocket(subject));
				const askedAt = tokenCache.mark();
				const answer = (await call("users.resolveToken", withGroupIds ? { token, withGroupIds } : { token })) as ResolvedTokenAnswer;
				// Cached without the groups: memberships change, tokens do not.
				auth = { user: answer.user, token: answer.token };
				tokenCache.set(token, auth, askedAt);
				if (Array.isArray(answer.groupIds)) groupIds = answer.groupIds;
			}
			this.takeSlot(socket, auth.user.id);
			if (!groupIds) {
				// Another socket of the user that has joined its rooms holds the user's groups as of the
				// last `live.group` this gateway handled (the handler moves every joined socket of the
				// user at once), so copying them now is as good as asking users now; a broadcast that
				// arrives between this copy and our join is replayed from the handshake log. A socket of
				// the user still in its own handshake is no source: it is not in the user's room yet.
				const sibling = this.siblingSocket(auth.user.id);
				groupIds = sibling
					? groupIdsOfRooms(sibling.rooms)
					: ((await call("users.groupIdsOf", { userId: auth.user.id }, { meta: { user: auth.user, token: auth.token } })) as string[]);
			}
			socket.data.auth = auth;
			socket.data.joining = { pending, groupIds };
		} catch (err) {
			this.handshakes.end(pending);
			this.releaseSlot(socket);
			const code = (err as { code?: number }).code;
			throw new Error(code === 401 ? "UNAUTHORIZED" : code === 429 ? "RATE_LIMITED" : "SERVICE_UNAVAILABLE");
		}
	}

	/**
	 * Counts the socket against its user's cap, or refuses it. Refusing the new socket, rather than
	 * closing the oldest, keeps the devices already connected working: a client stuck in a
	 * reconnect loop (or someone holding a stolen token) cannot push the user's own devices off.
	 */
	private takeSlot(socket: AppSocket, userId: string): void {
		const held = this.slots.get(userId) ?? 0;
		if (held >= this.maxSocketsPerUser) throw rateLimited(`At most ${this.maxSocketsPerUser} open sockets per user`);
		this.slots.set(userId, held + 1);
		socket.data.slotOf = userId;
	}

	/** Gives the socket's slot back (once, whichever way it ends: refused, abandoned or closed). */
	private releaseSlot(socket: AppSocket): void {
		const userId = socket.data.slotOf;
		if (userId === undefined) return;
		delete socket.data.slotOf;
		const held = (this.slots.get(userId) ?? 1) - 1;
		if (held > 0) this.slots.set(userId, held);
		else this.slots.delete(userId);
	}

	/** Disconnects the socket when its token expires, or at once when it already has. */
	private expireWithToken(socket: AppSocket): void {
		const left = socket.data.auth.token.expiresAt - this.now();
		if (left <= 0) {
			socket.disconnect(true);
			return;
		}
		socket.data.expiry = setTimeout(() => this.expireWithToken(socket), Math.min(left, MAX_TIMER_MS));
	}

	/** A connected socket of the user on this gateway (one in the user's room has joined its group rooms). */
	private siblingSocket(userId: string): AppSocket | undefined {
		const nsp = this.io?.of("/");
		const ids = nsp?.adapter.rooms.get(userRoom(userId));
		if (!nsp || !ids) return undefined;
		for (const id of ids) {
			const socket = nsp.sockets.get(id);
			if (socket?.connected) return socket;
		}
		return undefined;
	}

	private abandonHandshake(socket: AppSocket): void {
		const joining = socket.data.joining;
		if (!joining) return;
		this.handshakes.end(joining.pending);
		delete socket.data.joining;
		this.releaseSlot(socket);
	}

	private connected(socket: AppSocket): void {
		const joining = socket.data.joining!;
		delete socket.data.joining;
		const { user, token } = socket.data.auth;
		const notices = this.handshakes.end(joining.pending);
		if (revokedDuring(user.id, token, notices) || token.expiresAt <= this.now()) {
			this.releaseSlot(socket);
			socket.disconnect(true);
			return;
		}
		// Rooms are known before the client sees `connect` (same tick), so no live event is missed after it.
		void socket.join([userRoom(user.id), ...replayGroups(joining.groupIds, user.id, notices).map(groupRoom)]);
		// Commands are handled from now on, so none sent right after connecting is lost.
		socket.onAny(this.dispatchCommand);
		socket.on("disconnect", this.onClosed);
		// The upgrade request (headers, parser state) is not needed once the handshake is built.
		(socket.conn as { request?: unknown }).request = null;
		this.deps.socketChanged({
			socketId: socket.id,
			userId: user.id,
			open: true,
		});
		// Last: a token expiring this very moment closes the socket after its opening was reported.
		this.expireWithToken(socket);
	}

	/**
	 * One client command: the acknowledgement is the last argument, so a client that sends no
	 * payload (`emit("sos:stop", cb)`) or an extra one still gets its answer instead of waiting forever.
	 */
	private async runCommand(socket: AppSocket, command: SocketCommand, args: unknown[]): Promise<void> {
		const ack = args.at(-1);
		const reply = typeof ack === "function" ? (ack as (body: unknown) => void) : () => undefined;
		const payload = typeof args[0] === "function" ? undefined : args[0];
		const { user, token } = socket.data.auth;
		try {
			// The expiry timer may not have fired yet when the command arrives: it is refused all the same.
			if (token.expiresAt <= this.now()) {
				reply({
					ok: false,
					error: { type: "UNAUTHORIZED", message: "Token expired", code: 401 },
				});
				socket.disconnect(true);
				return;
			}
			const meta: Meta = { user, token };
			const result = await this.deps.call(command.action, asParams(payload), {
				meta,
			});
			reply(ackResult(command, result));
		} catch (err) {
			const { type, message, code, data } = toErrorBody(err);
			reply({
				ok: false,
				error: { type, message, code, ...(data !== undefined ? { data } : {}) },
			});
		}
	}
}
