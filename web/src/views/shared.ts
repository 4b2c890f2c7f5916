import { io, type Socket } from "socket.io-client";
import { ApiError, type Api } from "../api";
import type { ClientConfig } from "../config";
import { h, replace } from "../dom";
import { ago, ALERT_LABELS, clockTime, dateTime, MODE_LABELS, STATE_LABELS, until } from "../format";
import { distanceM } from "../geo";
import type { Journey, Point, Session, SessionState, SharedSession } from "../types";
import { MapView } from "./map";

/**
 * The page of a share link, `/s/<token>` (API.md §6.5), for someone without an account: one
 * person's name, state, position (with its accuracy), route and journey, live. It reads nothing
 * but `GET /api/shared/<token>` and the share socket (`auth: { shareToken }`), stores nothing,
 * and shows every text it gets as text. The link ends at its expiry, when deleted, or with the
 * journey; the server then disconnects the socket and the GET answers 404: the page says so (a
 * link that ended with the journey gets the journey's last update first, so the page says "Arrived").
 */

/** Leaflet's map needs an id for the person; the share link never names their user id. */
const SUBJECT = "shared";
/** The server's default ARRIVAL_RADIUS is 50 m; a journey that ends closer than this ended by arrival. */
const ARRIVED_WITHIN_M = 150;
/** Re-reading after a network failure: back off up to this long. */
const MAX_RETRY_MS = 30_000;

type Connection = "connecting" | "live" | "reconnecting";

export function metres(m: number): string {
	if (m < 1000) return `${Math.round(m / 10) * 10} m`;
	return `${(m / 1000).toFixed(m < 10_000 ? 1 : 0)} km`;
}

/** "14:05" under an hour, "1 h 05 min" above; the sign is the caller's. */
export function countdown(ms: number): string {
	const s = Math.max(0, Math.floor(Math.abs(ms) / 1000));
	const hours = Math.floor(s / 3600);
	const minutes = Math.floor((s % 3600) / 60);
	if (hours > 0) return `${hours} h ${String(minutes).padStart(2, "0")} min`;
	return `${String(minutes).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

export class SharedPage {
	private readonly root: HTMLElement;
	private readonly panel = h("section", { class: "shared-panel", "aria-labelledby": "shared-name" });
	private readonly mapEl = h("div", { class: "map shared-map", role: "region", "aria-label": "Map" });
	private map: MapView | null = null;
	private socket: Socket | null = null;
	private view: SharedSession | null = null;
	/** The journey before the latest update: its end by arrival is shown. */
	private arrivedAt: { name: string; at: string } | null = null;
	private connection: Connection = "connecting";
	private ticker = 0;
	private expiryTimer = 0;
	private retryTimer = 0;
	private retryMs = 1000;
	private ended = false;

	constructor(
		private readonly api: Api,
		private readonly config: ClientConfig,
		private readonly token: string,
		private readonly show: (view: HTMLElement, title: string) => void,
	) {
		this.root = h("main", { id: "main", class: "shared" }, this.panel, h("div", { class: "shared-map-wrap" }, this.mapEl));
	}

	async start(): Promise<void> {
		const first = await this.read();
		if (!first) return;
		this.show(this.root, `${first.name} — PositionPal`);
		// The panel first: on a phone it sets the map's height, which Leaflet measures once, here.
		this.view = first;
		this.render();
		this.map = new MapView(this.mapEl, this.config, { pick: () => undefined, canPick: () => false });
		const [name, ...rest] = first.name.split(" ");
		this.map.reset([{ id: SUBJECT, name: name ?? first.name, surname: rest.join(" ") }], "");
		this.apply(first, true);
		this.connect();
		this.ticker = window.setInterval(() => this.tick(), 1000);
	}

	/** The link's view now; null when the page has moved on (ended, or retrying). */
	private async read(): Promise<SharedSession | null> {
		try {
			const view = await this.api.shared(this.token);
			this.retryMs = 1000;
			return view;
		} catch (err) {
			if (err instanceof ApiError && err.code === 404) this.end();
			else this.problem(err);
			return null;
		}
	}

	private connect() {
		const socket = io({ auth: { shareToken: this.token }, reconnectionDelay: 500, reconnectionDelayMax: 10_000, timeout: 10_000 });
		this.socket = socket;
		let everConnected = false;
		socket.on("connect", () => {
			this.setConnection("live");
			// Back after a loss: what changed meanwhile.
			if (everConnected) void this.refresh();
			everConnected = true;
		});
		socket.on("disconnect", reason => {
			this.setConnection("reconnecting");
			// Closed on purpose: the link may have ended (Socket.IO will not retry by itself).
			if (reason === "io server disconnect") void this.recheck();
		});
		socket.on("connect_error", err => {
			this.setConnection("reconnecting");
			if (err.message === "NOT_FOUND") {
				socket.disconnect();
				void this.recheck();
			}
		});
		socket.on("location:update", (session: Session) => this.update(session));
	}

	/** The socket was closed by the server: ended (404), or connect again. */
	private async recheck(): Promise<void> {
		window.clearTimeout(this.retryTimer);
		if (this.ended) return;
		const view = await this.read();
		if (!view || this.ended) return;
		this.apply(view, false);
		this.socket?.connect();
	}

	private async refresh(): Promise<void> {
		const view = await this.read();
		if (view && !this.ended) this.apply(view, false);
	}

	/** A network failure at start or on a re-check: say so, try again with a back-off. */
	private problem(err: unknown) {
		if (!this.view) {
			this.show(
				card(
					h("h1", {}, "Cannot load this shared location"),
					h("p", { role: "alert" }, err instanceof Error ? err.message : "Something went wrong."),
					h("p", { class: "muted" }, "Trying again…"),
				),
				"PositionPal",
			);
		} else this.setConnection("reconnecting");
		window.clearTimeout(this.retryTimer);
		this.retryTimer = window.setTimeout(() => (this.view ? void this.recheck() : void this.start()), this.retryMs);
		this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
	}

	private update(session: Session) {
		if (!this.view) return;
		this.apply({ ...this.view, state: session.state, position: session.position, journey: session.journey }, false, session.position);
	}

	private apply(next: SharedSession, first: boolean, appended?: Point | null) {
		const before = this.view;
		this.view = next;
		if (before?.journey && !next.journey) this.arrivedAt = arrival(before.journey, next.position);
		else if (next.journey) this.arrivedAt = null;
		this.render();

		const map = this.map!;
		const session: Session = { groupId: "", userId: SUBJECT, state: next.state, position: next.position, journey: next.journey, updatedAt: "" };
		map.update(session);
		const travelling = next.journey !== null || next.state === "SOS";
		if (!travelling) map.clearRoute(SUBJECT);
		else if (first || !appended || !map.hasRoute(SUBJECT)) map.setRoute(SUBJECT, routeOf(next), next.state);
		else map.appendRoute(SUBJECT, appended, next.state);
		if (first) {
			map.resized();
			map.fit();
		} else if (next.position && !map.map.getBounds().contains([next.position.latitude, next.position.longitude]))
			map.map.panTo([next.position.latitude, next.position.longitude]);

		window.clearTimeout(this.expiryTimer);
		const left = Date.parse(next.expiresAt) - Date.now();
		// The server disconnects at expiry; this covers a socket that was down at that moment.
		if (left > 0 && left < 2 ** 31 - 1) this.expiryTimer = window.setTimeout(() => void this.recheck(), left + 1000);
	}

	private setConnection(connection: Connection) {
		if (this.connection === connection || this.ended) return;
		this.connection = connection;
		this.render();
	}

	/** Every second: the countdown and the "seen … ago" move on. */
	private tick() {
		if (!this.view || this.ended) return;
		const eta = this.panel.querySelector<HTMLElement>(".shared-countdown");
		if (eta && this.view.journey) eta.textContent = etaText(this.view.journey.eta);
		const seen = this.panel.querySelector<HTMLElement>(".shared-seen");
		if (seen && this.view.position) seen.textContent = `Seen ${ago(this.view.position.timestamp)} (${clockTime(this.view.position.timestamp)})`;
		this.map?.refreshTimes();
	}

	private render() {
		const view = this.view;
		if (!view) return;
		const { journey, position } = view;
		const stateLabel = STATE_LABELS[view.state as SessionState] ?? view.state;
		replace(
			this.panel,
			h("div", { class: "brand" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), "PositionPal"),
			h(
				"div",
				{ class: "shared-who" },
				h("h1", { id: "shared-name", class: "shared-name" }, view.name),
				h("span", { class: `badge state-${view.state}`, "data-state": view.state }, stateLabel),
			),
			h(
				"p",
				{ class: `shared-connection is-${this.connection}`, role: "status" },
				this.connection === "live" ? "Live" : this.connection === "connecting" ? "Connecting…" : "Reconnecting…",
			),
			view.state === "SOS" ? h("p", { class: "shared-sos", role: "alert" }, `${view.name} has raised an SOS alert.`) : null,
			this.arrivedAt
				? h(
						"p",
						{ class: "shared-arrived", role: "status" },
						h("strong", {}, "Arrived"),
						" at ",
						h("span", { class: "shared-destination" }, this.arrivedAt.name),
						` · ${clockTime(this.arrivedAt.at)}`,
					)
				: null,
			journey ? journeyFacts(journey, position) : null,
			position
				? h("p", { class: "muted shared-seen" }, `Seen ${ago(position.timestamp)} (${clockTime(position.timestamp)})`)
				: h("p", { class: "muted shared-seen" }, `${view.name} is not sharing a position right now.`),
			h(
				"p",
				{ class: "muted shared-expiry" },
				"This link ends ",
				h("time", { datetime: view.expiresAt, title: dateTime(view.expiresAt) }, until(view.expiresAt)),
				journey ? " or when the journey ends." : ".",
			),
		);
	}

	/** The link is over: an unknown, deleted, expired or finished link looks the same. */
	private end() {
		if (this.ended) return;
		this.ended = true;
		window.clearInterval(this.ticker);
		window.clearTimeout(this.expiryTimer);
		window.clearTimeout(this.retryTimer);
		this.socket?.removeAllListeners();
		this.socket?.disconnect();
		this.socket = null;
		const last = this.view;
		// A link that ends with the journey ends because they arrived: that is the news, not the end.
		if (last?.untilArrival && this.arrivedAt) {
			this.show(
				card(
					h("h1", { class: "shared-ended shared-arrived-end" }, "Arrived"),
					h(
						"p",
						{},
						`${last.name} arrived at `,
						h("strong", {}, this.arrivedAt.name),
						" at ",
						h("time", { datetime: this.arrivedAt.at, title: dateTime(this.arrivedAt.at) }, clockTime(this.arrivedAt.at)),
						".",
					),
					h("p", { class: "muted" }, "This link ended with the journey: the location is no longer shared."),
				),
				`${last.name} arrived — PositionPal`,
			);
			return;
		}
		this.show(
			card(
				h("h1", { class: "shared-ended" }, "This link has ended"),
				last ? h("p", {}, `${last.name} is no longer sharing their location with this link.`) : null,
				h("p", { class: "muted" }, "Shared location links work for a limited time, and the person who shared it can end it sooner."),
			),
			"PositionPal — link ended",
		);
	}
}

/** The journey just ended, if it ended at its destination. */
function arrival(journey: Journey, position: Point | null): { name: string; at: string } | null {
	if (!position) return null;
	const near = distanceM(position, journey.destination) <= Math.max(ARRIVED_WITHIN_M, position.accuracy ?? 0);
	return near ? { name: journey.destination.name, at: position.timestamp } : null;
}

function etaText(eta: string): string {
	const ms = Date.parse(eta) - Date.now();
	return ms >= 0 ? `in ${countdown(ms)}` : `${countdown(ms)} late`;
}

function routeOf(view: SharedSession): Point[] {
	const route = [...view.route];
	const last = route.at(-1);
	if (view.position && (!last || last.latitude !== view.position.latitude || last.longitude !== view.position.longitude)) route.push(view.position);
	return route;
}

function journeyFacts(journey: Journey, position: Point | null): HTMLElement {
	const left = position ? distanceM(position, journey.destination) : null;
	return h(
		"div",
		{ class: "shared-journey" },
		h(
			"p",
			{ class: "shared-to" },
			`On the way to `,
			h("strong", { class: "shared-destination" }, journey.destination.name),
			` (${MODE_LABELS[journey.mode] ?? journey.mode})`,
		),
		h(
			"dl",
			{ class: "shared-facts" },
			h(
				"div",
				{},
				h("dt", {}, "Arrives by"),
				h("dd", {}, h("time", { class: "shared-eta", datetime: journey.eta, title: dateTime(journey.eta) }, clockTime(journey.eta))),
			),
			h("div", {}, h("dt", {}, "Time left"), h("dd", { class: "shared-countdown" }, etaText(journey.eta))),
			h("div", {}, h("dt", {}, "Distance left"), h("dd", { class: "shared-distance" }, left === null ? "—" : metres(left))),
		),
		journey.alerts.length
			? h(
					"p",
					{ class: "alerts" },
					journey.alerts.map(a => h("span", { class: "chip chip-warning" }, ALERT_LABELS[a] ?? a)),
				)
			: null,
	);
}

function card(...children: (Node | null)[]): HTMLElement {
	return h(
		"main",
		{ id: "main", class: "auth shared-end" },
		h(
			"div",
			{ class: "auth-card" },
			h("div", { class: "brand brand-large" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), "PositionPal"),
			...children,
		),
	);
}
