import { fieldProblemText, type FieldProblem } from "./texts";
import type {
	Device,
	DeviceProtocol,
	Group,
	GroupInvitation,
	Invitation,
	InviteLink,
	InviteLinkPreview,
	LoginResult,
	Message,
	NewDevice,
	NotificationPage,
	Place,
	Point,
	Precision,
	Presence,
	Session,
	ShareLink,
	SharedSession,
	User,
} from "./types";

/**
 * The REST half of the public contract (API.md §3). Every failure becomes an ApiError that
 * carries the server's `message` (or a plain explanation when the server could not be reached),
 * so the UI never shows a blank failure.
 */

export type { FieldProblem } from "./texts";

export class ApiError extends Error {
	constructor(
		message: string,
		readonly code: number,
		readonly type: string,
		readonly data?: unknown,
	) {
		super(message);
		this.name = "ApiError";
	}

	/** The message to show: for validation errors, what is wrong with each field. */
	get detail(): string {
		const problems = Array.isArray(this.data)
			? (this.data as FieldProblem[]).filter(p => typeof p?.message === "string" && p.message.length > 0).map(fieldProblemText)
			: [];
		// The validator's own message is generic ("Parameters validation error!"): the fields say more.
		if (problems.length && /validation error/i.test(this.message)) return problems.join(" ");
		return this.message;
	}
}

/** A position sample (API.md §3, with the details of §6.3; the server says the source). */
export type SampleBody = Omit<Point, "timestamp" | "source"> & { timestamp?: string };

/** An error of the network, not of the API: the request may not have reached the server. */
export const NETWORK_ERROR = "NETWORK_ERROR";

/** The text to show for any failure. */
export function errorText(err: unknown): string {
	if (err instanceof ApiError) return err.detail;
	if (err instanceof Error && err.message) return err.message;
	return "Something went wrong.";
}

export class Api {
	token: string | null = null;
	/** Called on every 401 for an authenticated request: the session is over. */
	onUnauthorized: (err: ApiError) => void = () => undefined;

	constructor(readonly baseUrl = "") {}

	async request<T>(method: string, path: string, body?: unknown, opts: { auth?: boolean } = {}): Promise<T> {
		const headers: Record<string, string> = { accept: "application/json" };
		const auth = opts.auth ?? true;
		if (auth && this.token) headers.authorization = `Bearer ${this.token}`;
		if (body !== undefined) headers["content-type"] = "application/json";
		let res: Response;
		try {
			res = await fetch(`${this.baseUrl}/api${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
		} catch {
			throw new ApiError("Cannot reach PositionPal. Check your connection and try again.", 0, NETWORK_ERROR);
		}
		const text = await res.text().catch(() => "");
		let parsed: unknown;
		try {
			parsed = text ? JSON.parse(text) : undefined;
		} catch {
			parsed = undefined;
		}
		if (!res.ok) {
			const error = (parsed ?? {}) as { message?: unknown; type?: unknown; data?: unknown };
			const message = typeof error.message === "string" && error.message ? error.message : `The server answered ${res.status} ${res.statusText || ""}`.trim();
			const err = new ApiError(message, res.status, typeof error.type === "string" ? error.type : "HTTP_ERROR", error.data);
			// A wrong current password (profile edit) is a 401 too, but the session is fine.
			if (res.status === 401 && auth && this.token && err.type !== "INVALID_CREDENTIALS") this.onUnauthorized(err);
			throw err;
		}
		return parsed as T;
	}

	// ---- account
	register = (body: { name: string; surname: string; email: string; password: string }) => this.request<User>("POST", "/auth/register", body, { auth: false });
	login = (email: string, password: string) => this.request<LoginResult>("POST", "/auth/login", { email, password }, { auth: false });
	logout = () => this.request<void>("POST", "/auth/logout");
	me = () => this.request<User>("GET", "/users/me");
	updateMe = (body: Partial<{ name: string; surname: string; email: string; phone: string; password: string; currentPassword: string }>) =>
		this.request<User>("PATCH", "/users/me", body);

	// ---- groups
	groups = () => this.request<Group[]>("GET", "/groups");
	group = (groupId: string) => this.request<Group>("GET", `/groups/${enc(groupId)}`);
	createGroup = (name: string, memberEmails: string[]) => this.request<Group>("POST", "/groups", { name, memberEmails });
	renameGroup = (groupId: string, name: string) => this.request<Group>("PATCH", `/groups/${enc(groupId)}`, { name });
	deleteGroup = (groupId: string) => this.request<void>("DELETE", `/groups/${enc(groupId)}`);
	/** Invites by email (202): the answer is the same whether or not the email has an account. */
	addMember = (groupId: string, email: string) => this.request<{ invitation: GroupInvitation }>("POST", `/groups/${enc(groupId)}/members`, { email });
	removeMember = (groupId: string, userId: string) => this.request<Group>("DELETE", `/groups/${enc(groupId)}/members/${enc(userId)}`);
	leaveGroup = (groupId: string) => this.request<void>("POST", `/groups/${enc(groupId)}/leave`);

	// ---- consent (API.md §6.1): invitations and invite links
	invitations = () => this.request<Invitation[]>("GET", "/invitations");
	acceptInvitation = (id: string) => this.request<Group>("POST", `/invitations/${enc(id)}/accept`);
	declineInvitation = (id: string, block = false) => this.request<void>("POST", `/invitations/${enc(id)}/decline`, block ? { block: true } : {});
	groupInvitations = (groupId: string) => this.request<GroupInvitation[]>("GET", `/groups/${enc(groupId)}/invitations`);
	revokeInvitation = (groupId: string, id: string) => this.request<void>("DELETE", `/groups/${enc(groupId)}/invitations/${enc(id)}`);
	createInviteLink = (groupId: string, opts: { expiresIn?: number; maxUses?: number } = {}) =>
		this.request<InviteLink>("POST", `/groups/${enc(groupId)}/invite-links`, opts);
	inviteLinks = (groupId: string) => this.request<InviteLink[]>("GET", `/groups/${enc(groupId)}/invite-links`);
	revokeInviteLink = (groupId: string, id: string) => this.request<void>("DELETE", `/groups/${enc(groupId)}/invite-links/${enc(id)}`);
	/** No login needed: what the link's holder sees before joining. */
	previewInviteLink = (code: string) => this.request<InviteLinkPreview>("GET", `/invite-links/${enc(code)}`, undefined, { auth: false });
	joinByLink = (code: string) => this.request<Group>("POST", `/invite-links/${enc(code)}/join`);

	// ---- location
	startSharing = (groupId: string) => this.request<Session>("POST", `/groups/${enc(groupId)}/sharing`);
	stopSharing = (groupId: string) => this.request<Session>("DELETE", `/groups/${enc(groupId)}/sharing`);
	sample = (body: SampleBody) => this.request<{ sessions: Session[] }>("POST", "/location/samples", body);
	/** This browser may not read the location (permission denied): the groups are told (`locationBlocked`). */
	reportBlocked = () => this.request<{ sessions: Session[] }>("POST", "/location/blocked");
	/** "Where are you now?" (API.md §6.3): 202; 429 with `data.retryAfter` (s) within a minute of the last ask. */
	locate = (groupId: string, userId: string) =>
		this.request<{ groupId: string; userId: string; devices: number }>("POST", `/groups/${enc(groupId)}/members/${enc(userId)}/locate`);
	startJourney = (groupId: string, body: { destination: { name: string; latitude: number; longitude: number }; eta: string; mode: string }) =>
		this.request<Session>("POST", `/groups/${enc(groupId)}/journey`, body);
	stopJourney = (groupId: string) => this.request<Session>("DELETE", `/groups/${enc(groupId)}/journey`);
	startSos = (latitude: number, longitude: number) => this.request<{ sessions: Session[] }>("POST", "/sos", { latitude, longitude });
	stopSos = () => this.request<{ sessions: Session[] }>("DELETE", "/sos");
	sessions = (groupId: string) => this.request<Session[]>("GET", `/groups/${enc(groupId)}/sessions`);
	session = (groupId: string, userId: string) => this.request<Session>("GET", `/groups/${enc(groupId)}/sessions/${enc(userId)}`);
	route = (groupId: string, userId: string) => this.request<{ points: Point[] }>("GET", `/groups/${enc(groupId)}/sessions/${enc(userId)}/route`);
	/** No login needed: the session a share link shows (API.md §6.5). */
	shared = (token: string) => this.request<SharedSession>("GET", `/shared/${enc(token)}`, undefined, { auth: false });

	// ---- places (API.md §6.4)
	places = (groupId: string) => this.request<Place[]>("GET", `/groups/${enc(groupId)}/places`);
	createPlace = (groupId: string, body: { name: string; latitude: number; longitude: number; radius: number }) =>
		this.request<Place>("POST", `/groups/${enc(groupId)}/places`, body);
	updatePlace = (groupId: string, placeId: string, body: Partial<{ name: string; latitude: number; longitude: number; radius: number }>) =>
		this.request<Place>("PATCH", `/groups/${enc(groupId)}/places/${enc(placeId)}`, body);
	deletePlace = (groupId: string, placeId: string) => this.request<void>("DELETE", `/groups/${enc(groupId)}/places/${enc(placeId)}`);

	// ---- share links and precision (API.md §6.5, §6.6)
	createShareLink = (body: { groupId: string; duration?: number; untilArrival?: boolean }) => this.request<ShareLink>("POST", "/share-links", body);
	shareLinks = () => this.request<ShareLink[]>("GET", "/share-links");
	deleteShareLink = (id: string) => this.request<void>("DELETE", `/share-links/${enc(id)}`);
	setPrecision = (groupId: string, precision: Precision) =>
		this.request<{ groupId: string; userId: string; precision: Precision }>("PUT", `/groups/${enc(groupId)}/sharing/precision`, { precision });

	// ---- my history (API.md §6.6)
	history = (from: string, to: string) => this.request<{ points: Point[] }>("GET", `/users/me/history${query({ from, to })}`);
	deleteHistory = () => this.request<void>("DELETE", "/users/me/history");
	/** GPX or GeoJSON as a file: the route needs the Authorization header, so a plain link cannot fetch it. */
	async historyFile(from: string, to: string, format: "gpx" | "geojson" | "json"): Promise<Blob> {
		const headers: Record<string, string> = {};
		if (this.token) headers.authorization = `Bearer ${this.token}`;
		let res: Response;
		try {
			res = await fetch(`${this.baseUrl}/api/users/me/history${query({ from, to, format })}`, { headers, cache: "no-store" });
		} catch {
			throw new ApiError("Cannot reach PositionPal. Check your connection and try again.", 0, NETWORK_ERROR);
		}
		if (!res.ok) {
			const error = (await res.json().catch(() => ({}))) as { message?: unknown; type?: unknown; data?: unknown };
			throw new ApiError(
				typeof error.message === "string" ? error.message : `The server answered ${res.status}`,
				res.status,
				String(error.type ?? "HTTP_ERROR"),
				error.data,
			);
		}
		return res.blob();
	}

	// ---- chat
	messages = (groupId: string, opts: { limit?: number; before?: string } = {}) =>
		this.request<{ messages: Message[] }>("GET", `/groups/${enc(groupId)}/messages${query(opts)}`);
	sendMessage = (groupId: string, text: string, clientMessageId?: string) =>
		this.request<Message>("POST", `/groups/${enc(groupId)}/messages`, { text, clientMessageId });
	presence = (groupId: string) => this.request<Presence[]>("GET", `/groups/${enc(groupId)}/presence`);

	// ---- phones (API.md §6.2): the credentials are in the answer to create only
	devices = () => this.request<Device[]>("GET", "/devices");
	createDevice = (name: string, protocol: DeviceProtocol) => this.request<NewDevice>("POST", "/devices", { name, protocol });
	deleteDevice = (id: string) => this.request<void>("DELETE", `/devices/${enc(id)}`);

	// ---- notifications
	notifications = (opts: { limit?: number; before?: string } = {}) => this.request<NotificationPage>("GET", `/notifications${query(opts)}`);
	markRead = (body: { ids: string[] } | { all: true }) => this.request<{ unread: number }>("POST", "/notifications/read", body);
	pushKey = () => this.request<{ publicKey: string }>("GET", "/notifications/push-key");
	subscribePush = (subscription: PushSubscriptionJSON) => this.request<unknown>("POST", "/notifications/subscriptions", subscription);
	unsubscribePush = (endpoint: string) => this.request<void>("DELETE", "/notifications/subscriptions", { endpoint });
}

const enc = encodeURIComponent;

function query(params: Record<string, string | number | undefined>): string {
	const search = new URLSearchParams();
	for (const [key, value] of Object.entries(params)) if (value !== undefined) search.set(key, String(value));
	const text = search.toString();
	return text ? `?${text}` : "";
}
