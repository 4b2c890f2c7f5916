import { randomBytes } from "node:crypto";
import { io, type Socket } from "socket.io-client";
import type { Group, User } from "../../events/types.js";
import { waitFor } from "./wait.js";

/** A small REST + Socket.IO client speaking only the public contract (API.md), as a web client would. */

export interface ApiResponse<T = any> {
	status: number;
	body: T;
	headers: Headers;
}

export class ApiClient {
	token?: string;
	user?: User;

	constructor(readonly baseUrl: string) {}

	async request<T = any>(
		method: string,
		path: string,
		body?: unknown,
		opts: { token?: string | null; headers?: Record<string, string>; raw?: string } = {},
	): Promise<ApiResponse<T>> {
		const headers: Record<string, string> = { ...opts.headers };
		const token = opts.token === undefined ? this.token : opts.token;
		if (token) headers.authorization = `Bearer ${token}`;
		let payload: string | undefined = opts.raw;
		if (body !== undefined) {
			payload = JSON.stringify(body);
			headers["content-type"] ??= "application/json";
		}
		const res = await fetch(`${this.baseUrl}${path}`, { method, headers, body: payload });
		const text = await res.text();
		let parsed: unknown = text;
		try {
			parsed = text ? JSON.parse(text) : undefined;
		} catch {
			/* not JSON: keep the text */
		}
		return { status: res.status, body: parsed as T, headers: res.headers };
	}

	get<T = any>(path: string, opts?: Parameters<ApiClient["request"]>[3]) {
		return this.request<T>("GET", path, undefined, opts);
	}
	post<T = any>(path: string, body?: unknown, opts?: Parameters<ApiClient["request"]>[3]) {
		return this.request<T>("POST", path, body, opts);
	}
	patch<T = any>(path: string, body?: unknown, opts?: Parameters<ApiClient["request"]>[3]) {
		return this.request<T>("PATCH", path, body, opts);
	}
	delete<T = any>(path: string, body?: unknown, opts?: Parameters<ApiClient["request"]>[3]) {
		return this.request<T>("DELETE", path, body, opts);
	}

	/** Registers a fresh account and logs in; the client then carries its token. */
	async signUp(name = "Ada", surname = "Lovelace", password = "correct horse battery"): Promise<User> {
		const email = `${name.toLowerCase()}.${randomBytes(4).toString("hex")}@example.com`;
		const reg = await this.post("/api/auth/register", { name, surname, email, password });
		if (reg.status !== 201) throw new Error(`register failed: ${reg.status} ${JSON.stringify(reg.body)}`);
		await this.logIn(email, password);
		return this.user!;
	}

	async logIn(email: string, password: string): Promise<string> {
		const res = await this.post("/api/auth/login", { email, password });
		if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
		this.token = res.body.token;
		this.user = res.body.user;
		return this.token!;
	}

	async createGroup(name: string, memberEmails: string[] = []): Promise<Group> {
		const res = await this.post("/api/groups", { name, memberEmails });
		if (res.status !== 201) throw new Error(`create group failed: ${res.status} ${JSON.stringify(res.body)}`);
		return res.body;
	}
}

/** Records every event a socket receives, to wait on them with deadlines. */
export class LiveSocket {
	readonly received: { event: string; payload: any }[] = [];

	constructor(readonly socket: Socket) {
		socket.onAny((event: string, payload: unknown) => this.received.push({ event, payload }));
	}

	of(event: string): any[] {
		return this.received.filter(r => r.event === event).map(r => r.payload);
	}

	/** Waits for an event matching `match`, returning its payload. */
	waitFor(event: string, match: (payload: any) => boolean = () => true, timeoutMs = 10_000): Promise<any> {
		return waitFor(() => this.of(event).find(match), { timeoutMs, what: `socket event ${event}` });
	}

	/** Emits a client event and resolves with its acknowledgement. */
	emit(event: string, payload: unknown, timeoutMs = 10_000): Promise<any> {
		return this.socket.timeout(timeoutMs).emitWithAck(event, payload);
	}

	close(): void {
		this.socket.disconnect();
	}
}

/** Connects a socket with a token; resolves once connected or rejects with the connect_error. */
export function connectSocket(baseUrl: string, token: string | undefined): Promise<LiveSocket> {
	return new Promise((resolve, reject) => {
		const socket = io(baseUrl, { auth: token === undefined ? {} : { token }, transports: ["websocket"], reconnection: false, forceNew: true });
		const live = new LiveSocket(socket);
		socket.once("connect", () => resolve(live));
		socket.once("connect_error", err => {
			socket.disconnect();
			reject(err);
		});
	});
}

/**
 * Closes `earlier` sockets of a user while `watcher` (already connected, in `groupId`) looks on,
 * and returns the user's presence flips the watcher receives from then on. The presence route
 * shows a user offline a few milliseconds before chat announces the flip, so waiting on the route
 * alone would let that late flip be counted as a later one.
 */
export async function flipsAfterClosing(
	watcher: LiveSocket,
	earlier: LiveSocket[],
	groupId: string,
	userId: string,
	isOnline: () => Promise<boolean | undefined>,
): Promise<() => { online: boolean }[]> {
	const flipsOfUser = () => watcher.of("chat:presence").filter(p => p.groupId === groupId && p.userId === userId) as { online: boolean }[];
	const wasOnline = await isOnline();
	for (const socket of earlier) socket.close();
	await waitFor(async () => (await isOnline()) === false, { what: `${userId} offline` });
	if (wasOnline) await waitFor(() => flipsOfUser().at(-1)?.online === false, { what: `${userId}'s offline flip` });
	const seenEarlier = flipsOfUser().length;
	return () => flipsOfUser().slice(seenEarlier);
}
