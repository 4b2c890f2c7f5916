import "leaflet/dist/leaflet.css";
import "./styles.css";
import { Api } from "./api";
import { App } from "./app";
import { loadConfig, type ClientConfig } from "./config";
import { $, h } from "./dom";
import type { LoginResult, User } from "./types";
import { authView } from "./views/auth";

/**
 * Boot: read the client config, restore the saved login (if still valid) and show either the
 * login screen or the app. The token lives in localStorage so a reload keeps you signed in;
 * logging out (or a 401) clears it.
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

function showLogin(notice?: string) {
	app?.stop();
	app = null;
	api.token = null;
	localStorage.removeItem(SESSION_KEY);
	const host = $("#app");
	host.replaceChildren(authView(api, login => void signedIn(login), notice));
	host.removeAttribute("aria-busy");
	document.title = "PositionPal — log in";
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

async function boot() {
	config = await loadConfig();
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
