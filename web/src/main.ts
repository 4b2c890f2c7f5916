import "leaflet/dist/leaflet.css";
import "./styles.css";
import { Api, ApiError, errorText } from "./api";
import { App } from "./app";
import { loadConfig, type ClientConfig } from "./config";
import { $, h } from "./dom";
import type { Group, LoginResult, User } from "./types";
import { toast } from "./ui";
import { authView } from "./views/auth";
import { expiredView, joinIntro, joinProblemView, joinView } from "./views/join";
import { SharedPage } from "./views/shared";

/**
 * Boot: read the client config, restore the saved login (if still valid) and show either the
 * login screen or the app. The token lives in localStorage so a reload keeps you signed in;
 * logging out (or a 401) clears it. An invite link, `/join/<code>`, first shows what it is for,
 * then joins (after logging in or registering, for a visitor without a session) and opens the group.
 * A share link, `/s/<token>`, shows one person's shared location to anyone, signed in or not: it
 * neither reads nor stores a login.
 */

const SESSION_KEY = "positionpal.session";

interface SavedSession {
	token: string;
	expiresAt: string;
	user: User;
}

const api = new Api();
let app: App | null = null;
let config: ClientConfig;

function saved(): SavedSession | null {
	try {
		const value = JSON.parse(localStorage.getItem(SESSION_KEY) ?? "null") as SavedSession | null;
		if (value && typeof value.token === "string" && Date.parse(value.expiresAt) > Date.now() + 5_000) return value;
	} catch {
		/* a damaged entry: log in again */
	}
	localStorage.removeItem(SESSION_KEY);
	return null;
}

function save(login: LoginResult) {
	localStorage.setItem(SESSION_KEY, JSON.stringify({ token: login.token, expiresAt: login.expiresAt, user: login.user } satisfies SavedSession));
}

function show(view: HTMLElement, title: string) {
	const host = $("#app");
	host.replaceChildren(view);
	host.removeAttribute("aria-busy");
	document.title = title;
}

function showLogin(notice?: string) {
	app?.stop();
	app = null;
	api.token = null;
	localStorage.removeItem(SESSION_KEY);
	// On an invite link the login leads on to joining.
	if (joining) return void showJoin(joining.code, notice);
	show(
		authView(api, login => void signedIn(login), { notice }),
		"PositionPal — log in",
	);
}

async function signedIn(login: LoginResult) {
	save(login);
	await startApp(login.token, login.user, login.expiresAt);
}

let expiryTimer = 0;

async function startApp(token: string, user: User, expiresAt: string) {
	api.token = token;
	app?.stop();
	document.title = "PositionPal";
	app = new App(api, config, user, token, {
		signedOut: notice => showLogin(notice),
		relogged: login => {
			save(login);
			scheduleExpiry(login.expiresAt);
		},
	});
	scheduleExpiry(expiresAt);
	await app.start($("#app"));
}

/** Tokens expire (JWT_TTL); say so plainly instead of failing the next request. */
function scheduleExpiry(expiresAt: string) {
	window.clearTimeout(expiryTimer);
	const ms = Date.parse(expiresAt) - Date.now();
	if (ms > 0 && ms < 2 ** 31 - 1) expiryTimer = window.setTimeout(() => showLogin("Your session has expired. Please log in again."), ms);
}

api.onUnauthorized = err => showLogin(err.type === "UNAUTHORIZED" ? "Your session has ended. Please log in again." : err.message);

// ---------------------------------------------------------------- invite links (/join/<code>)

/** The invite link this page was opened with, until it is used or left. */
let joining: { code: string } | null = null;

function joinCode(): string | null {
	const match = /^\/join\/([^/]+)\/?$/.exec(location.pathname);
	if (!match) return null;
	try {
		return decodeURIComponent(match[1]!);
	} catch {
		return match[1]!;
	}
}

/** Leaves the link's address for the app's own (a reload then opens the app, not the link again). */
function leaveJoin(groupId?: string) {
	joining = null;
	history.replaceState(null, "", groupId ? `/#group=${encodeURIComponent(groupId)}` : "/");
}

/** What the link is for, then: join (signed in), or log in / register and join. */
async function showJoin(code: string, notice?: string) {
	joining = { code };
	let preview;
	try {
		preview = await api.previewInviteLink(code);
	} catch (err) {
		if (err instanceof ApiError && err.code === 404)
			return show(
				expiredView(Boolean(saved()), () => continueToApp()),
				"PositionPal — invite link expired",
			);
		return show(joinProblemView(errorText(err), { retry: () => void showJoin(code), skip: () => continueToApp() }), "PositionPal");
	}
	const session = saved();
	if (session) {
		api.token = session.token;
		return show(joinView(preview, session.user, { join: () => join(code, session), skip: () => continueToApp() }), `PositionPal — join ${preview.groupName}`);
	}
	show(
		authView(
			api,
			login => {
				save(login);
				void join(code, login).catch(err =>
					show(joinProblemView(errorText(err), { retry: () => void showJoin(code), skip: () => continueToApp() }), "PositionPal"),
				);
			},
			{ notice: notice ?? "Create an account or log in to join.", intro: joinIntro(preview), start: "register" },
		),
		`PositionPal — join ${preview.groupName}`,
	);
}

/** Joins with the link and opens the group; a link that stopped working meanwhile shows the expired page. */
async function join(code: string, session: { token: string; expiresAt: string; user: User }): Promise<void> {
	api.token = session.token;
	let group: Group;
	try {
		group = await api.joinByLink(code);
	} catch (err) {
		if (err instanceof ApiError && err.code === 404)
			return show(
				expiredView(true, () => continueToApp()),
				"PositionPal — invite link expired",
			);
		throw err;
	}
	leaveJoin(group.id);
	await startApp(session.token, session.user, session.expiresAt);
	toast({ title: `You joined “${group.name}”`, kind: "success", key: `joined-${group.id}` });
}

/** Out of the join flow, into the app (or its login screen). */
function continueToApp() {
	leaveJoin();
	void resume();
}

// ---------------------------------------------------------------- start

/** The token of a share link's page, `/s/<token>`, or null. */
function shareToken(): string | null {
	const match = /^\/s\/([^/]+)\/?$/.exec(location.pathname);
	if (!match) return null;
	try {
		return decodeURIComponent(match[1]!);
	} catch {
		return match[1]!;
	}
}

async function boot() {
	config = await loadConfig();
	const share = shareToken();
	if (share) return new SharedPage(new Api(), config, share, show).start();
	const code = joinCode();
	if (code) return showJoin(code);
	await resume();
}

/** The saved session, if it still works; else the login screen. */
async function resume() {
	const session = saved();
	if (!session) return showLogin();
	api.token = session.token;
	try {
		// The saved user may be stale (a profile edit elsewhere): read it again.
		const user = await api.me();
		await startApp(session.token, user, session.expiresAt);
	} catch (err) {
		// A 401 already went back to the login screen; anything else: offline at start-up.
		if (api.token) {
			const host = $("#app");
			host.replaceChildren(
				h(
					"main",
					{ id: "main", class: "auth" },
					h(
						"div",
						{ class: "auth-card" },
						h("h1", {}, "PositionPal"),
						h("p", { role: "alert" }, (err as Error).message),
						h("button", { type: "button", class: "btn btn-primary", onclick: () => location.reload() }, "Try again"),
					),
				),
			);
			host.removeAttribute("aria-busy");
		}
	}
}

void boot();
