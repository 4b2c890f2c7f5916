import { randomBytes } from "node:crypto";
import { io, type Socket } from "socket.io-client";
import type { Group, User } from "../../events/types.js";
import { waitFor } from "./wait.js";

/** A small REST + Socket.IO client speaking only the public contract (API.md), as a web client would. */

/**
 * The clients that logged in, by email: the people behind the emails a test invites. Nobody
 * becomes a member without accepting (API.md §6.1), so the helpers that build a group with
 * members invite each email and have the client logged in with it accept.
 */
const clientsByEmail = new Map<string, ApiClient>();
const emailKey = (email: string) => email.trim().toLowerCase();

/**
 * JSON as the server sent it. Tests read fields off answers and assert them, so a loose type is the
 * point here (a wrong field fails the assertion); product code never uses it.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface ApiResponse<T = Json> {
	status: number;
	body: T;
	headers: Headers;
}

/** The password `signUp` gives an account unless told otherwise (browser tests log in with it). */
export const SIGN_UP_PASSWORD = "correct horse battery";

export class ApiClient {
	token?: string;
	user?: User;

	constructor(readonly baseUrl: string) {}

	async request<T = Json>(
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
		// A new email is this client's to accept invitations with from now on.
		if (method === "PATCH" && path === "/api/users/me" && res.status === 200 && typeof (parsed as User | undefined)?.email === "string")
			clientsByEmail.set(emailKey((parsed as User).email), this);
		return { status: res.status, body: parsed as T, headers: res.headers };
	}

	get<T = Json>(path: string, opts?: Parameters<ApiClient["request"]>[3]) {
		return this.request<T>("GET", path, undefined, opts);
	}
	post<T = Json>(path: string, body?: unknown, opts?: Parameters<ApiClient["request"]>[3]) {
		return this.request<T>("POST", path, body, opts);
	}
	patch<T = Json>(path: string, body?: unknown, opts?: Parameters<ApiClient["request"]>[3]) {
		return this.request<T>("PATCH", path, body, opts);
	}
	delete<T = Json>(path: string, body?: unknown, opts?: Parameters<ApiClient["request"]>[3]) {
		return this.request<T>("DELETE", path, body, opts);
	}

	/** Registers a fresh account and logs in; the client then carries its token. */
	async signUp(name = "Ada", surname = "Lovelace", password = SIGN_UP_PASSWORD): Promise<User> {
		const email = `${name.toLowerCase()}.${randomBytes(4).toString("hex")}@example.com`;
		const reg = await this.passwordCheck("/api/auth/register", { name, surname, email, password });
		if (reg.status !== 201) throw new Error(`register failed: ${reg.status} ${JSON.stringify(reg.body)}`);
		await this.logIn(email, password);
		return this.user!;
	}

	/**
	 * Register or log in as a client should: a users instance hashing as many passwords as it may at
	 * once answers 429 with a Retry-After of a few seconds at most, and the request is sent again. (Other 429s,
	 * the per-address and per-account limits, wait a minute and are answered as they come.)
	 */
	private passwordCheck(path: string, body: object): Promise<{ status: number; body: Json }> {
		// Told apart from the minute-long limits by its words (services/users/hashing-limiter.ts): on a
		// loaded machine its Retry-After can be a few seconds.
		const busy = (res: { status: number; body: Json }) => res.status === 429 && /password checks at once/.test(String(res.body?.message));
		return waitFor(
			async () => {
				const res = await this.post(path, body);
				return busy(res) ? undefined : res;
			},
			{ timeoutMs: 30_000, intervalMs: 1_000, what: `${path} while the users service is busy hashing` },
		);
	}

	async logIn(email: string, password: string): Promise<string> {
		const res = await this.passwordCheck("/api/auth/login", { email, password });
		if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
		this.token = res.body.token;
		this.user = res.body.user;
		clientsByEmail.set(emailKey(this.user!.email), this);
		return this.token!;
	}

	/**
	 * Creates a group inviting `memberEmails`, and has the client logged in with each email accept:
	 * the group as the creator then sees it, with every invitee a member.
	 */
	async createGroup(name: string, memberEmails: string[] = []): Promise<Group> {
		const res = await this.post("/api/groups", { name, memberEmails });
		if (res.status !== 201) throw new Error(`create group failed: ${res.status} ${JSON.stringify(res.body)}`);
		if (!memberEmails.length) return res.body;
		for (const email of memberEmails) await inviteeOf(email).acceptInvitationTo(res.body.id);
		return this.groupNow(res.body.id);
	}

	/** Invites `email` to a group (202) and has the client logged in with it accept: the way a member is added. */
	async addMember(groupId: string, email: string): Promise<Group> {
		const res = await this.post(`/api/groups/${groupId}/members`, { email });
		if (res.status !== 202) throw new Error(`invite failed: ${res.status} ${JSON.stringify(res.body)}`);
		await inviteeOf(email).acceptInvitationTo(groupId);
		return this.groupNow(groupId);
	}

	/** This client's invitation to `groupId`, if it has one it can answer. */
	async invitationTo(groupId: string): Promise<{ id: string; groupId: string } | undefined> {
		const res = await this.get("/api/invitations");
		if (res.status !== 200) throw new Error(`list invitations failed: ${res.status} ${JSON.stringify(res.body)}`);
		return (res.body as { id: string; groupId: string }[]).find(invitation => invitation.groupId === groupId);
	}

	/** Accepts this client's invitation to `groupId`; returns the group as the new member sees it. */
	async acceptInvitationTo(groupId: string): Promise<Group> {
		const invitation = await this.invitationTo(groupId);
		if (!invitation) throw new Error(`${this.user?.email} has no invitation to ${groupId}`);
		const res = await this.post(`/api/invitations/${invitation.id}/accept`);
		if (res.status !== 200) throw new Error(`accept failed: ${res.status} ${JSON.stringify(res.body)}`);
		return res.body;
	}

	private async groupNow(groupId: string): Promise<Group> {
		const res = await this.get(`/api/groups/${groupId}`);
		if (res.status !== 200) throw new Error(`get group failed: ${res.status} ${JSON.stringify(res.body)}`);
		return res.body;
	}
}

/** Ada Lovelace, Bob Noyce and Cy Young signed up, and Ada's group "Family", which Bob and Cy joined (invited, then accepted). */
export async function signUpFamily(url: string): Promise<{ people: Record<"ada" | "bob" | "cy", ApiClient>; group: Group }> {
	const people = { ada: new ApiClient(url), bob: new ApiClient(url), cy: new ApiClient(url) };
	await people.ada.signUp("Ada", "Lovelace");
	await people.bob.signUp("Bob", "Noyce");
	await people.cy.signUp("Cy", "Young");
	const group = await people.ada.createGroup("Family", [people.bob.user!.email, people.cy.user!.email]);
	return { people, group };
}

/** The client logged in with `email`, to answer its invitations. */
function inviteeOf(email: string): ApiClient {
	const client = clientsByEmail.get(emailKey(email));
	if (!client) throw new Error(`no client has logged in as ${email}: nobody can accept its invitation`);
	return client;
}

/** Records every event a socket receives, to wait on them with deadlines. */
export class LiveSocket {
	readonly received: { event: string; payload: Json }[] = [];

	constructor(readonly socket: Socket) {
		socket.onAny((event: string, payload: unknown) => this.received.push({ event, payload }));
	}

	of(event: string): Json[] {
		return this.received.filter(r => r.event === event).map(r => r.payload);
	}

	/** Waits for an event matching `match`, returning its payload. */
	waitFor(event: string, match: (payload: Json) => boolean = () => true, timeoutMs = 10_000): Promise<Json> {
		return waitFor(() => this.of(event).find(match), { timeoutMs, what: `socket event ${event}` });
	}

	/** Emits a client event and resolves with its acknowledgement. */
	emit(event: string, payload: unknown, timeoutMs = 10_000): Promise<Json> {
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
