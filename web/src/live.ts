import { io, type Socket } from "socket.io-client";
import { ApiError } from "./api";
import type { ChatPresence, GroupChanged, Invitation, Message, Notification, PlaceChanged, Session } from "./types";

/**
 * The Socket.IO half of the contract (API.md §4). Socket.IO reconnects by itself after a
 * network loss; this wrapper reports the connection state, tells the app when it is back (so it
 * can re-read what it may have missed) and turns command acknowledgements into results or
 * ApiErrors, like REST.
 */

export type ConnectionState = "connecting" | "online" | "offline";

export interface LiveHandlers {
	state(state: ConnectionState, detail?: string): void;
	/** Connected again after a loss: live events may have been missed. */
	resumed(): void;
	/** The server refused the token (expired or revoked). */
	unauthorized(): void;
	/** The server closed the socket on purpose (e.g. a revoked token); Socket.IO will not retry by itself. */
	closedByServer(): void;
	location(session: Session): void;
	chat(message: Message): void;
	presence(presence: ChatPresence): void;
	notification(notification: Notification): void;
	/** Notifications were marked read on one of my devices: the unread count now. */
	notificationsRead?(read: { unread: number; ids?: string[] }): void;
	groupChanged(change: GroupChanged): void;
	/** Someone invited me to a group (API.md §6.1). */
	invitation(invitation: Invitation): void;
	/** A member of a group asks where I am (API.md §6.3). */
	locationRequest(request: LocationRequest): void;
	/** A place of a group was created, updated or deleted (API.md §6.4). */
	placeChanged(change: PlaceChanged): void;
}

export interface LocationRequest {
	groupId: string;
	byUserId: string;
}

type Ack = { ok: true; [key: string]: unknown } | { ok: false; error: { type: string; message: string; code: number; data?: unknown } };

export class Live {
	private socket: Socket;
	private everConnected = false;
	state: ConnectionState = "connecting";

	constructor(
		token: string,
		private readonly handlers: LiveHandlers,
	) {
		this.socket = io({
			auth: { token },
			// The default path and namespace (API.md §4); back off up to 10 s between attempts.
			reconnectionDelay: 500,
			reconnectionDelayMax: 10_000,
			timeout: 10_000,
		});
		const s = this.socket;
		s.on("connect", () => {
			this.setState("online");
			if (this.everConnected) handlers.resumed();
			this.everConnected = true;
		});
		s.on("disconnect", reason => {
			this.setState("offline", reason);
			// The server closed us on purpose (revoked token, left every group…): Socket.IO will
			// not retry by itself; the app decides (a REST call tells whether the token still works).
			if (reason === "io server disconnect") handlers.closedByServer();
		});
		s.on("connect_error", err => {
			if (err.message === "UNAUTHORIZED") {
				s.disconnect();
				handlers.unauthorized();
				return;
			}
			this.setState("offline", err.message);
		});
		s.io.on("reconnect_attempt", () => this.setState("connecting"));
		s.on("location:update", (session: Session) => handlers.location(session));
		s.on("chat:message", (message: Message) => handlers.chat(message));
		s.on("chat:presence", (presence: ChatPresence) => handlers.presence(presence));
		s.on("notification", (notification: Notification) => handlers.notification(notification));
		s.on("notifications:read", (read: { unread: number; ids?: string[] }) => handlers.notificationsRead?.(read));
		s.on("group:changed", (change: GroupChanged) => handlers.groupChanged(change));
		s.on("invitation", (invitation: Invitation) => handlers.invitation(invitation));
		s.on("location:request", (request: LocationRequest) => handlers.locationRequest(request));
		s.on("place:changed", (change: PlaceChanged) => handlers.placeChanged(change));

		// The browser knows first when the network is back: try at once instead of waiting out the back-off.
		window.addEventListener("online", this.retryNow);
	}

	private retryNow = () => {
		if (!this.socket.connected) {
			this.socket.disconnect();
			this.socket.connect();
		}
	};

	private setState(state: ConnectionState, detail?: string) {
		this.state = state;
		this.handlers.state(state, detail);
	}

	get connected(): boolean {
		return this.socket.connected;
	}

	/** Tries again after the app has checked that the token still works. */
	reconnect(): void {
		if (!this.socket.connected) this.socket.connect();
	}

	/** Sends a command and resolves with its acknowledgement, or rejects with the server's error. */
	async command<T>(event: string, payload: unknown, timeoutMs = 10_000): Promise<T> {
		let ack: Ack;
		try {
			ack = (await this.socket.timeout(timeoutMs).emitWithAck(event, payload)) as Ack;
		} catch {
			throw new ApiError("The server did not answer in time. Check your connection and try again.", 0, "TIMEOUT");
		}
		if (!ack.ok) throw new ApiError(ack.error.message || ack.error.type, ack.error.code, ack.error.type, ack.error.data);
		return ack as unknown as T;
	}

	close(): void {
		window.removeEventListener("online", this.retryNow);
		this.socket.removeAllListeners();
		this.socket.io.removeAllListeners();
		this.socket.disconnect();
	}
}
