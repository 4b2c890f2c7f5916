import { disablePush } from "./push";
import { ApiError, errorText, type Api, type SampleBody } from "./api";
import type { ClientConfig } from "./config";
import { busy, h } from "./dom";
import { ago, clockTime, fullName, plural } from "./format";
import { Live, type ConnectionState, type LocationRequest } from "./live";
import { locationDenied, Tracker, type Fix, type SourceKind, type Target } from "./tracker";
import type { ChatPresence, Group, GroupChanged, Invitation, LoginResult, Message, Notification, Point, Precision, Session, User } from "./types";
import { clearToasts, confirmAction, dismissToast, hasToast, toast, toastError } from "./ui";
import { SosBanners, TabBadge } from "./alerts";
import { openSosCalls } from "./sos-calls";
import { ChatView } from "./views/chat";
import { openDevices, phoneIcon } from "./views/devices";
import { GroupList, manageGroup, type GroupActions } from "./views/groups";
import { Inbox } from "./views/inbox";
import { invitePeople } from "./views/invite";
import { invitationToastKey, InvitationList } from "./views/invitations";
import { planJourney, type JourneyRequest } from "./views/journey";
import { MapView } from "./views/map";
import { MemberList } from "./views/members";
import { PlacesPanel } from "./views/places";
import { openShareLinks } from "./views/sharing";
import { openHistory } from "./views/history";
import { blockedStatus, sharesIn, sharingStatus, type SharedSession } from "./whereabouts";
import { editProfile } from "./views/profile";

/**
 * The signed-in app: groups, the selected group's live map, members and chat, the user's own
 * location controls (sharing, journey, SOS) and notifications. REST for commands and reads,
 * Socket.IO for everything live; after a reconnection it re-reads what it may have missed.
 */

const ROUTED = new Set(["ROUTING", "WARNING", "SOS"]);
const STORAGE = { source: "positionpal.source", speed: "positionpal.speed", group: "positionpal.group" };
type Tab = "map" | "members" | "chat" | "groups";

export interface AppHooks {
	/** The user logged out, or the session ended (with a reason to show on the login screen). */
	signedOut(notice?: string): void;
	/** A new token (after a password change). */
	relogged(login: LoginResult): void;
}

export class App {
	private live: Live | null = null;
	private groups: Group[] = [];
	private groupId: string | null = null;
	/** My own session in each of my groups (samples apply to all of them). */
	private mine = new Map<string, Session>();
	/** The selected group's sessions, by user. */
	private sessions = new Map<string, Session>();
	private online = new Map<string, boolean>();
	private tracker: Tracker;
	private timers: number[] = [];
	private stopped = false;
	private lastSessionsRefresh = 0;
	private relogging = false;
	/** This browser refused to tell the location (permission denied); the groups were told. */
	private locationBlocked = false;
	/** When the page went to the background (browsers stop sending positions from there). */
	private hiddenAt: number | null = null;

	// views
	private root!: HTMLElement;
	private layout!: HTMLElement;
	private groupList!: GroupList;
	private map!: MapView;
	private members!: MemberList;
	private places!: PlacesPanel;
	private chat!: ChatView;
	private inbox!: Inbox;
	private invitations!: InvitationList;
	private invitationsHint!: HTMLElement;
	private groupsTab!: HTMLButtonElement;
	/** Someone's SOS, unmistakable (alerts.ts); new chat messages on the phone's Chat tab. */
	private sos!: SosBanners;
	private chatBadge!: TabBadge;
	private conn!: HTMLElement;
	private banner!: HTMLElement;
	private title!: HTMLElement;
	private subtitle!: HTMLElement;
	private manageButton!: HTMLButtonElement;
	private inviteButton!: HTMLButtonElement;
	private shareButton!: HTMLButtonElement;
	private sourceSelect!: HTMLSelectElement;
	private speedField!: HTMLElement;
	private speedSelect!: HTMLSelectElement;
	private journeyButton!: HTMLButtonElement;
	private sosButton!: HTMLButtonElement;
	private linkButton!: HTMLButtonElement;
	private precisionSelect!: HTMLSelectElement;
	/** My precision choice per group, from the PUT answer or my own session's `precision` (absent: exact). */
	private precision = new Map<string, Precision>();
	private myStatus!: HTMLElement;
	private groupView!: HTMLElement;
	private noGroup!: HTMLElement;
	private profileButton!: HTMLButtonElement;
	private side!: HTMLElement;

	constructor(
		private readonly api: Api,
		private readonly config: ClientConfig,
		private me: User,
		private token: string,
		private readonly hooks: AppHooks,
	) {
		const stored = localStorage.getItem(STORAGE.source);
		// The simulated walk is a demo's (WEB_DEMO): real users only ever send their device's position.
		const source: SourceKind = !config.demo
			? "device"
			: stored === "device" || stored === "simulate"
				? stored
				: "geolocation" in navigator && window.isSecureContext
					? "device"
					: "simulate";
		this.tracker = new Tracker(
			{
				onFix: fix => {
					// A fix after a passing failure (no signal for a moment): the failure is over.
					dismissToast("location-error");
					this.locationBlocked = false;
					void this.sendSample(fix);
				},
				onError: (message, blocked) => this.onLocationError(message, blocked),
				target: () => this.simulationTarget(),
				start: () => this.simulationStart(),
			},
			source,
		);
		this.tracker.speed = Number(localStorage.getItem(STORAGE.speed)) || 10;
	}

	// ---------------------------------------------------------------- start and stop

	async start(host: HTMLElement): Promise<void> {
		this.build(host);
		this.connect();
		this.timers.push(window.setInterval(() => this.refreshTimes(), 30_000));
		try {
			await this.loadGroups();
			const wanted = hashGroup() ?? localStorage.getItem(STORAGE.group);
			const initial = this.groups.find(g => g.id === wanted) ?? this.groups[0];
			await Promise.all([
				initial ? this.select(initial.id) : this.showNoGroup(),
				this.loadMine(),
				this.inbox
					.load()
					.then(() => this.raiseOpenSosCalls())
					.catch(err => toastError("Could not load notifications", err)),
				this.invitations.load().catch(err => toastError("Could not load your invitations", err)),
			]);
			// Nothing to show but invitations: show them (on a phone they are behind the Groups tab).
			if (!initial && this.invitations.count > 0) this.revealInvitations();
		} catch (err) {
			toastError("Could not load your groups", err);
		}
		window.addEventListener("hashchange", this.onHash);
		document.addEventListener("visibilitychange", this.onVisibility);
	}

	/** Stops everything this app started (sockets, timers, location). */
	stop(): void {
		this.stopped = true;
		this.tracker.stop();
		this.live?.close();
		this.live = null;
		for (const t of this.timers) window.clearInterval(t);
		delete document.body.dataset.tab;
		window.removeEventListener("hashchange", this.onHash);
		document.removeEventListener("visibilitychange", this.onVisibility);
		// Nothing private stays on screen after logout.
		clearToasts();
		this.sos?.clear();
	}

	/**
	 * Back from the background: browsers stop a background tab's location within about a minute, and
	 * the group then sees "No signal". Say so (it must not go unnoticed), and send a position at once.
	 */
	private onVisibility = () => {
		if (document.visibilityState === "hidden") {
			this.hiddenAt = Date.now();
			return;
		}
		const since = this.hiddenAt;
		this.hiddenAt = null;
		const sharing = [...this.mine.values()].filter(s => sharesIn(s));
		if (since === null || sharing.length === 0 || this.locationBlocked) return;
		const silent = sharing.some(s => s.state === "INACTIVE");
		if (silent || Date.now() - since >= 60_000) {
			toast({
				title: "Your location stopped while this page was in the background",
				body: `From about ${clockTime(new Date(since).toISOString())} your browser sent nothing, so your group saw “No signal”. It is on again now. Keep this page in front, or add your phone (Phones) to share with the screen off.`,
				kind: "warning",
				key: "background-stop",
				timeoutMs: 30_000,
			});
		}
		void this.tracker.fixNow().then(
			fix => this.sendSample(fix),
			() => undefined,
		);
	};

	/** The location source failed: blocked (tell the groups, say how to fix it), or a passing failure. */
	private onLocationError(message: string, blocked: boolean) {
		if (!blocked) {
			// A passing failure while good positions keep coming is no news: no red alert for it.
			const last = this.tracker.last;
			if (last && Date.now() - Date.parse(last.timestamp) < 30_000) return;
			toast({ title: "Location unavailable", body: message, kind: "error", key: "location-error" });
			return;
		}
		this.locationBlocked = true;
		this.renderControls();
		toast({ title: "Location blocked", body: message, kind: "error", key: "location-error" });
		// The groups must not keep seeing "Sharing" with an old position.
		if ([...this.mine.values()].some(s => sharesIn(s)))
			void this.api.reportBlocked().then(
				({ sessions }) => {
					for (const s of sessions) {
						this.setMine(s);
						if (s.groupId === this.groupId) this.showSession(s, false);
					}
				},
				() => undefined,
			);
	}

	private onHash = () => {
		const id = hashGroup();
		if (id && id !== this.groupId && this.groups.some(g => g.id === id)) void this.select(id);
	};

	private connect() {
		this.live?.close();
		this.live = new Live(this.token, {
			state: (state, detail) => this.showConnection(state, detail),
			resumed: () => void this.resync(),
			unauthorized: () => void this.checkSession(),
			closedByServer: () => void this.checkSession(),
			location: session => this.onLocation(session),
			chat: message => this.onChat(message),
			presence: presence => this.onPresence(presence),
			notification: notification => this.onNotification(notification),
			notificationsRead: read => this.inbox.syncRead(read),
			groupChanged: change => void this.onGroupChanged(change),
			invitation: invitation => this.onInvitation(invitation),
			locationRequest: request => void this.onLocationRequest(request),
			placeChanged: change => {
				if (change.groupId === this.groupId) void this.places.load(change.groupId);
			},
		});
	}

	/** The socket was refused or closed by the server: is the token still good? */
	private async checkSession() {
		if (this.relogging) return;
		try {
			await this.api.me();
			this.live?.reconnect();
		} catch (err) {
			// A 401 signs out through api.onUnauthorized; a network error: Socket.IO keeps retrying.
			if (!(err instanceof ApiError && err.code === 401)) window.setTimeout(() => this.live?.reconnect(), 3_000);
		}
	}

	/** Back after a connection loss: re-read everything live events may have changed. */
	private async resync() {
		try {
			await this.loadGroups();
			if (this.groupId && !this.groups.some(g => g.id === this.groupId)) this.groupId = null;
			const id = this.groupId ?? this.groups[0]?.id;
			if (id) void this.places.load(id);
			await Promise.all([
				id ? this.loadGroupState(id) : this.showNoGroup(),
				this.chat.catchUp(),
				this.loadMine(),
				this.inbox.load().then(() => this.raiseOpenSosCalls()),
				this.invitations.load(),
			]);
		} catch (err) {
			toastError("Could not refresh after reconnecting", err);
		}
	}

	async logout(): Promise<void> {
		// A signed-out browser must not keep receiving this account's pushes (positions, SOS).
		await disablePush(this.api).catch(() => undefined);
		try {
			await this.api.logout();
		} catch (err) {
			// Signing out locally works regardless; say so if the server did not hear it.
			if (!(err instanceof ApiError && err.code === 401)) toastError("Signed out on this device only", err);
		}
		this.hooks.signedOut();
	}

	// ---------------------------------------------------------------- layout

	private build(host: HTMLElement) {
		this.conn = h("span", { class: "conn conn-connecting", role: "status" }, h("span", { class: "conn-text" }, "Connecting…"));
		this.banner = h("div", { class: "banner", role: "alert", hidden: true });
		this.inbox = new Inbox(this.api, id => void this.select(id));
		this.profileButton = h(
			"button",
			{ type: "button", class: "btn btn-quiet profile-btn", title: "Your profile", onclick: () => this.openProfile() },
			h("span", {}, fullName(this.me)),
		);
		const phones = h(
			"button",
			{ type: "button", class: "icon-btn devices-btn", "aria-label": "Your phones", title: "Your phones", onclick: this.openPhones },
			phoneIcon(),
		);
		const logout = h("button", { type: "button", class: "btn btn-quiet" }, "Log out");
		logout.addEventListener("click", () => void busy(logout, () => this.logout(), "Logging out…"));

		const actions: GroupActions = {
			api: this.api,
			me: () => this.me,
			select: id => void this.select(id),
			changed: group => this.groupUpdated(group),
			gone: id => this.groupGone(id),
		};
		this.groupList = new GroupList(actions);
		this.invitations = new InvitationList({ api: this.api, accepted: group => this.joined(group), counted: count => this.showInvitationCount(count) });
		this.members = new MemberList({
			locate: id => {
				this.showTab("map");
				this.map.focus(id);
			},
			ask: (id, button) => void this.askWhere(id, button),
		});
		this.chat = new ChatView({ api: this.api, live: () => this.live, meId: () => this.me.id, memberName: id => this.memberName(id) });

		this.title = h("h1", { id: "group-title" }, "");
		this.subtitle = h("p", { class: "muted group-sub" });
		this.manageButton = h("button", { type: "button", class: "btn btn-small", onclick: () => this.openManage() }, "Manage group");
		this.places = new PlacesPanel({
			api: this.api,
			groupId: () => this.groupId,
			drawn: places => (this.map.setPlaces(places), this.members.setPlaces(places)),
			draft: draft => this.map.setDraft(draft),
			here: () => {
				const mine = this.groupId ? this.mine.get(this.groupId)?.position : null;
				return mine ? { latitude: mine.latitude, longitude: mine.longitude } : null;
			},
		});
		const placesButton = h(
			"button",
			{ type: "button", class: "btn btn-small", "data-action": "places", onclick: () => (this.showTab("map"), this.places.toggle()) },
			"Places",
		);
		this.inviteButton = h("button", { type: "button", class: "btn btn-small", "aria-label": "Invite people", onclick: () => this.openInvite() }, "Invite");

		// Location controls
		this.shareButton = h(
			"button",
			{ type: "button", class: "btn btn-primary", "aria-pressed": "false", onclick: () => void this.toggleSharing() },
			"Share my location",
		);
		this.sourceSelect = h(
			"select",
			{ id: "location-source", name: "source" },
			h("option", { value: "device" }, "This device (GPS)"),
			this.config.demo ? h("option", { value: "simulate" }, "Simulated walk") : null,
		);
		this.sourceSelect.value = this.tracker.kind;
		this.sourceSelect.addEventListener("change", () => {
			const kind = this.sourceSelect.value as SourceKind;
			localStorage.setItem(STORAGE.source, kind);
			this.tracker.use(kind);
			this.renderControls();
		});
		this.speedSelect = h(
			"select",
			{ id: "sim-speed", name: "speed" },
			[1, 10, 50].map(s => h("option", { value: s }, s === 1 ? "Real speed" : `${s}× faster`)),
		);
		this.speedSelect.value = String(this.tracker.speed);
		this.speedSelect.addEventListener("change", () => {
			this.tracker.speed = Number(this.speedSelect.value);
			localStorage.setItem(STORAGE.speed, this.speedSelect.value);
		});
		this.speedField = h("div", { class: "field field-inline" }, h("label", { for: "sim-speed" }, "Speed"), this.speedSelect);
		this.journeyButton = h("button", { type: "button", class: "btn", onclick: () => void this.journeyAction() }, "Start journey…");
		this.sosButton = h("button", { type: "button", class: "btn btn-sos", onclick: () => void this.sosAction() }, "SOS");
		this.linkButton = h("button", { type: "button", class: "btn", "data-action": "share-link", onclick: () => this.openShareLink() }, "Share a link…");
		this.precisionSelect = h(
			"select",
			{ id: "precision", name: "precision" },
			h("option", { value: "exact" }, "My exact position"),
			h("option", { value: "approximate" }, "An approximate one (~1 km)"),
		);
		this.precisionSelect.addEventListener("change", () => void this.changePrecision(this.precisionSelect.value as Precision));
		this.myStatus = h("p", { class: "my-status", role: "status" });

		const mapEl = h("div", { class: "map", id: "map", role: "region", "aria-label": "Map of the group" });
		const fit = h("button", { type: "button", class: "btn btn-small map-fit", onclick: () => this.map.fit() }, "Show everyone");

		this.groupView = h(
			"div",
			{ class: "group-view" },
			h(
				"header",
				{ class: "group-head" },
				h("div", { class: "group-head-text" }, this.title, this.subtitle),
				h("div", { class: "group-head-actions" }, placesButton, this.inviteButton, this.manageButton),
			),
			h(
				"section",
				{ class: "controls", "aria-label": "Your location" },
				h(
					"div",
					{ class: "control-group" },
					this.shareButton,
					h("div", { class: "field field-inline", hidden: !this.config.demo }, h("label", { for: "location-source" }, "Source"), this.sourceSelect),
					this.speedField,
					h("div", { class: "field field-inline precision-field" }, h("label", { for: "precision" }, "The group sees"), this.precisionSelect),
				),
				h("div", { class: "control-group" }, this.journeyButton, this.linkButton, this.sosButton),
				this.myStatus,
			),
			h("div", { class: "map-wrap" }, mapEl, fit, this.places.el),
		);
		this.noGroup = h(
			"div",
			{ class: "no-group", hidden: true },
			h("h1", {}, "Welcome to PositionPal"),
			h("p", {}, "Create a group with the people you trust (or ask them to invite you), then share your location, announce journeys and chat."),
			h(
				"p",
				{ class: "no-group-actions" },
				h("button", { type: "button", class: "btn btn-primary", "data-action": "create-group", onclick: () => this.startNewGroup() }, "Create a group"),
			),
			// Others invite by email: show which one this account is.
			h("p", { class: "hint no-group-email" }, "Others invite you with your email: ", h("strong", {}, this.me.email)),
			(this.invitationsHint = h(
				"p",
				{ class: "invitations-hint", hidden: true },
				h("button", { type: "button", class: "btn btn-primary", onclick: () => this.revealInvitations() }, "See your invitations"),
			)),
		);

		const tabs: [Tab, string][] = [
			["map", "Map"],
			["members", "Members"],
			["chat", "Chat"],
			["groups", "Groups"],
		];
		const tabbar = h(
			"nav",
			{ class: "tabbar", "aria-label": "Sections" },
			tabs.map(([tab, label]) => h("button", { type: "button", "data-tab": tab, onclick: () => this.showTab(tab) }, label)),
		);
		this.groupsTab = tabbar.querySelector<HTMLButtonElement>('[data-tab="groups"]')!;
		this.groupsTab.append(h("span", { class: "count", hidden: true, "aria-hidden": "true" }));
		this.chatBadge = new TabBadge(tabbar.querySelector<HTMLButtonElement>('[data-tab="chat"]')!, "messages");
		this.sos = new SosBanners({
			showOnMap: userId => void this.showOnMap(userId),
			phoneOf: userId => this.groups.flatMap(g => g.members as { id: string; phone?: string }[]).find(m => m.id === userId && m.phone)?.phone,
		});

		this.layout = h(
			"div",
			{ class: "layout", "data-tab": "map" },
			h("div", { class: "col-groups" }, this.invitations.el, this.groupList.el),
			h("main", { id: "main", class: "col-main", tabindex: -1 }, this.groupView, this.noGroup),
			(this.side = h(
				"div",
				{ class: "col-side" },
				h("section", { class: "panel members", "aria-labelledby": "members-title" }, h("h2", { id: "members-title" }, "Members"), this.members.el),
				this.chat.el,
			)),
		);

		this.root = h(
			"div",
			{ class: "app" },
			h(
				"header",
				{ class: "topbar" },
				h("div", { class: "brand" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), h("span", { class: "brand-text" }, "PositionPal")),
				this.conn,
				h("div", { class: "topbar-actions" }, this.inbox.button, phones, this.profileButton, logout),
			),
			this.sos.el,
			this.banner,
			this.layout,
			tabbar,
		);
		host.replaceChildren(this.root);
		host.removeAttribute("aria-busy");
		this.map = new MapView(mapEl, this.config, {
			pick: (latitude, longitude) => this.openJourney({ latitude, longitude }),
			canPick: () => this.canStartJourney(),
			ask: (id, button) => void this.askWhere(id, button),
			placePick: (latitude, longitude) => this.places.pick(latitude, longitude),
		});
		this.showTab("map");
		this.renderControls();
	}

	/** "Create a group" from the empty state: the new-group form (behind the Groups tab on a phone), ready to type. */
	private startNewGroup() {
		this.showTab("groups");
		const name = this.groupList.el.querySelector<HTMLInputElement>('input[name="name"]');
		name?.scrollIntoView({ block: "center" });
		name?.focus();
	}

	private showTab(tab: Tab) {
		this.layout.dataset.tab = tab;
		// On a phone, toasts keep clear of the SOS button on the map tab, and of the chat box elsewhere (styles.css).
		document.body.dataset.tab = tab;
		if (tab === "groups") this.invitations.dismissToasts();
		if (tab === "chat") this.chatBadge.clear();
		for (const b of this.root.querySelectorAll<HTMLButtonElement>(".tabbar button")) b.setAttribute("aria-current", b.dataset.tab === tab ? "page" : "false");
		if (tab === "map") requestAnimationFrame(() => this.map.resized());
	}

	private showConnection(state: ConnectionState, detail?: string) {
		const labels: Record<ConnectionState, string> = { online: "Live", connecting: "Connecting…", offline: "Offline" };
		const wasOffline = !this.banner.hidden;
		this.conn.className = `conn conn-${state}`;
		this.conn.firstElementChild!.textContent = labels[state];
		this.conn.title = detail ? `${labels[state]} (${detail})` : labels[state];
		if (state === "online") {
			this.banner.hidden = true;
			if (wasOffline) toast({ title: "Back online", body: "Live updates are flowing again.", kind: "success", key: "connection" });
		} else if (state === "offline" || wasOffline) {
			this.banner.hidden = false;
			this.banner.textContent = navigator.onLine
				? "Connection to PositionPal lost. Reconnecting… (live updates are paused)"
				: "You are offline. PositionPal reconnects as soon as the network is back.";
		}
	}

	private refreshTimes() {
		this.map.refreshTimes();
		this.members.refreshTimes();
		this.renderControls();
	}

	// ---------------------------------------------------------------- groups

	private async loadGroups() {
		this.groups = await this.api.groups();
		this.groupList.render(this.groups, this.groupId);
	}

	private group(): Group | undefined {
		return this.groups.find(g => g.id === this.groupId);
	}

	private memberName(userId: string): string {
		const member = this.group()?.members.find(m => m.id === userId);
		return member ? fullName(member) : "Former member";
	}

	async select(groupId: string): Promise<void> {
		if (!this.groups.some(g => g.id === groupId)) return;
		this.groupId = groupId;
		localStorage.setItem(STORAGE.group, groupId);
		if (hashGroup() !== groupId) history.replaceState(null, "", `#group=${encodeURIComponent(groupId)}`);
		this.groupList.render(this.groups, groupId);
		this.groupView.hidden = false;
		this.noGroup.hidden = true;
		this.side.hidden = false;
		const group = this.group()!;
		this.renderGroupHead(group);
		this.map.reset(group.members, this.me.id);
		this.members.reset(group.members, this.me.id);
		this.sessions.clear();
		this.online.clear();
		this.renderControls();
		this.map.setPlaces([]);
		await Promise.all([this.loadGroupState(groupId, true), this.chat.open(groupId), this.places.load(groupId)]);
	}

	private showNoGroup() {
		this.groupId = null;
		this.groupView.hidden = true;
		this.noGroup.hidden = false;
		this.groupList.render(this.groups, null);
		this.side.hidden = true;
		history.replaceState(null, "", "#");
	}

	private renderGroupHead(group: Group) {
		this.title.textContent = group.name;
		const online = group.members.filter(m => this.online.get(m.id)).length;
		const invited = group.pendingInvitations ? ` · ${group.pendingInvitations} invited` : "";
		this.subtitle.textContent = `${plural(group.members.length, "member")} · ${online} online${invited}`;
		this.chat.setOnline(online, group.members.length);
	}

	/** Sessions (with routes) and presence of the selected group. */
	private async loadGroupState(groupId: string, fit = false) {
		try {
			const [sessions, presence] = await Promise.all([this.api.sessions(groupId), this.api.presence(groupId)]);
			if (groupId !== this.groupId) return;
			for (const p of presence) {
				this.online.set(p.userId, p.online);
				this.members.setPresence(p);
			}
			for (const s of sessions) this.showSession(s, true);
			// On opening a group: everyone with a known position in view (not just whoever was read first).
			if (fit) this.map.fit();
			const group = this.group();
			if (group) this.renderGroupHead(group);
		} catch (err) {
			if (groupId === this.groupId) toastError("Could not load the group's positions", err);
		}
	}

	/** A group's new version (from a REST answer or a re-read): list, header, members. */
	private groupUpdated(group: Group) {
		const known = this.groups.findIndex(g => g.id === group.id);
		if (known >= 0) this.groups[known] = group;
		else this.groups.push(group);
		this.groupList.render(this.groups, this.groupId);
		if (group.id !== this.groupId) return;
		this.renderGroupHead(group);
		this.map.setMembers(group.members);
		this.members.setMembers(group.members);
		this.chat.refreshNames();
		// New members' sessions and presence: read them now (the live updates only carry changes, and
		// someone online already who joins, by accepting an invitation, does not come online again).
		const newcomers = group.members.filter(m => !this.sessions.has(m.id));
		for (const m of newcomers)
			void this.api.session(group.id, m.id).then(
				s => this.showSession(s, true),
				() => undefined,
			);
		if (newcomers.length) void this.loadPresence(group.id);
	}

	private async loadPresence(groupId: string) {
		try {
			const presence = await this.api.presence(groupId);
			if (groupId !== this.groupId) return;
			for (const p of presence) {
				this.online.set(p.userId, p.online);
				this.members.setPresence(p);
			}
			const group = this.group();
			if (group) this.renderGroupHead(group);
		} catch {
			// Presence is a nice-to-have: the next chat:presence event corrects it.
		}
	}

	private groupGone(groupId: string) {
		this.groups = this.groups.filter(g => g.id !== groupId);
		this.mine.delete(groupId);
		this.updateTracker();
		if (this.groupId === groupId) {
			const next = this.groups[0];
			if (next) void this.select(next.id);
			else this.showNoGroup();
		} else this.groupList.render(this.groups, this.groupId);
	}

	private async onGroupChanged({ groupId, change, userId }: GroupChanged) {
		const name = this.groups.find(g => g.id === groupId)?.name;
		if (change === "deleted" || (change === "memberRemoved" && userId === this.me.id)) {
			if (!this.groups.some(g => g.id === groupId)) return;
			this.groupGone(groupId);
			toast({ title: change === "deleted" ? `“${name}” was deleted` : `You are no longer in “${name}”`, kind: "warning" });
			return;
		}
		try {
			const group = await this.api.group(groupId);
			const isNew = !this.groups.some(g => g.id === groupId);
			this.groupUpdated(group);
			if (isNew && change === "memberAdded" && userId === this.me.id) {
				// Membership starts only when I accept (here or on another device): one toast, whichever says it first.
				toast({
					title: `You joined “${group.name}”`,
					kind: "info",
					key: `joined-${group.id}`,
					action: { label: "Open", run: () => void this.select(group.id) },
				});
				void this.api.session(groupId, this.me.id).then(
					s => this.setMine(s),
					() => undefined,
				);
			}
			if (!this.groupId) void this.select(group.id);
		} catch (err) {
			// Not (or no longer) allowed to read it: it is gone for us.
			if (err instanceof ApiError && (err.code === 403 || err.code === 404)) this.groupGone(groupId);
		}
	}

	private groupActions(): GroupActions {
		return { api: this.api, me: () => this.me, select: id => void this.select(id), changed: g => this.groupUpdated(g), gone: id => this.groupGone(id) };
	}

	private openManage() {
		const group = this.group();
		if (group) manageGroup(this.groupActions(), group);
	}

	private openInvite() {
		const group = this.group();
		if (group) invitePeople(this.groupActions(), group);
	}

	// ---------------------------------------------------------------- invitations

	/** I accepted an invitation: the group is mine now; open it. */
	private joined(group: Group) {
		this.groupUpdated(group);
		void this.select(group.id);
		this.showTab("map");
		void this.api.session(group.id, this.me.id).then(
			s => this.setMine(s),
			() => undefined,
		);
	}

	private onInvitation(invitation: Invitation) {
		if (!this.invitations.add(invitation)) return;
		this.inviteToast(
			invitation.groupId,
			`${fullName(invitation.invitedBy)} invited you to “${invitation.groupName}”`,
			"Accept it to see the group and share with it.",
		);
	}

	/** The `invitation` event may have come first, or not at all (a missed event): re-read the invitations. */
	private async onInvitedNotification(notification: Notification) {
		await this.invitations.load().catch(() => undefined);
		const invitation = this.invitations.find(notification.groupId);
		// Already answered (the notification can trail the answer): it stays in the inbox, without a toast.
		if (invitation)
			this.inviteToast(
				invitation.groupId,
				`${fullName(invitation.invitedBy)} invited you to “${invitation.groupName}”`,
				"Accept it to see the group and share with it.",
			);
	}

	/** One toast per invitation, whether the socket event or the INVITED notification comes first. */
	private inviteToast(groupId: string, title: string, body: string) {
		const key = invitationToastKey(groupId);
		if (hasToast(key)) return;
		toast({ title, body, kind: "info", key, timeoutMs: 15_000, action: { label: "Show", run: () => this.revealInvitations() } });
	}

	private revealInvitations() {
		this.showTab("groups");
		requestAnimationFrame(() => this.invitations.reveal());
	}

	private showInvitationCount(count: number) {
		const badge = this.groupsTab.querySelector<HTMLElement>(".count")!;
		badge.textContent = String(count);
		badge.hidden = count === 0;
		this.groupsTab.setAttribute("aria-label", count ? `Groups, ${plural(count, "invitation")}` : "Groups");
		this.invitationsHint.hidden = count === 0;
		this.invitationsHint.firstElementChild!.textContent = count === 1 ? "See your invitation" : `See your ${count} invitations`;
	}

	/** My phones (OwnTracks, Traccar Client, OsmAnd): from the top bar and from the profile dialog. */
	private openPhones = () => openDevices(this.api);

	private openProfile() {
		editProfile(
			this.me,
			this.openPhones,
			() => openHistory(this.api, this.config),
			async changes => {
				// A new password revokes every token, this one too: the socket is closed by the server
				// while we log in again with it, which must not count as "signed out".
				this.relogging = changes.password !== undefined;
				try {
					const user = await this.api.updateMe(changes);
					this.me = user;
					if (changes.password !== undefined) {
						const login = await this.api.login(user.email, changes.password);
						this.token = login.token;
						this.api.token = login.token;
						this.me = login.user;
						this.hooks.relogged(login);
						this.connect();
					}
				} finally {
					this.relogging = false;
				}
				this.profileButton.firstElementChild!.textContent = fullName(this.me);
				const group = this.group();
				if (group) {
					const fresh = await this.api.group(group.id).catch(() => null);
					if (fresh) this.groupUpdated(fresh);
				}
			},
		);
	}

	// ---------------------------------------------------------------- live events

	private onLocation(session: Session) {
		if (session.userId === this.me.id) this.setMine(session);
		if (session.groupId === this.groupId) this.showSession(session, false);
	}

	/** Shows a session of the selected group on the map and in the list, with its route. */
	private showSession(session: Session, fromRead: boolean) {
		if (session.groupId !== this.groupId) return;
		const previous = this.sessions.get(session.userId);
		// Updates can cross: never replace a newer view with an older one.
		if (previous && Date.parse(previous.updatedAt) > Date.parse(session.updatedAt)) return;
		this.sessions.set(session.userId, session);
		if (session.userId === this.me.id) this.setMine(session);
		else this.matchSosBanner(session);
		this.map.update(session);
		this.members.setSession(session);

		if (!ROUTED.has(session.state)) {
			this.map.clearRoute(session.userId);
			return;
		}
		const sameTrip =
			previous &&
			ROUTED.has(previous.state) &&
			(previous.state === "SOS") === (session.state === "SOS") &&
			previous.journey?.startedAt === session.journey?.startedAt;
		// A journey or SOS just began: show the whole picture (the member and where they are heading).
		if (!fromRead && !sameTrip) this.map.fit();
		if (fromRead || !sameTrip || !this.map.hasRoute(session.userId)) void this.loadRoute(session);
		else if (session.position) this.map.appendRoute(session.userId, session.position, session.state);
	}

	/** An SOS the page opened during: its banner, as if the notification had just arrived. */
	private raiseOpenSosCalls() {
		for (const n of openSosCalls(this.inbox.loaded, this.me.id)) this.sos.ensure(n);
	}

	/**
	 * The session is the truth about an SOS: a member in SOS has a banner even when its notification
	 * is older than the inbox's first page, and a banner goes when the SOS is seen over (its SOS_ENDED
	 * may have been missed while offline).
	 */
	private matchSosBanner(session: Session) {
		const inSos = session.state === "SOS";
		if (inSos) {
			const who = this.memberName(session.userId);
			this.sos.ensure(
				{
					id: `sos-${session.userId}`,
					kind: "SOS",
					title: `${who} raised an SOS`,
					body: `${who} needs help now.`,
					groupId: session.groupId,
					subjectUserId: session.userId,
					createdAt: session.updatedAt,
					read: true,
				},
				true,
			);
		} else this.sos.end(session.userId);
	}

	private async loadRoute(session: Session) {
		try {
			const { points } = await this.api.route(session.groupId, session.userId);
			if (session.groupId !== this.groupId) return;
			const current = this.sessions.get(session.userId);
			if (!current || !ROUTED.has(current.state)) return;
			const all: Point[] = [...points];
			// Samples that arrived while the route was on its way.
			if (current.position && !all.some(p => p.timestamp === current.position!.timestamp)) all.push(current.position);
			this.map.setRoute(session.userId, all, current.state);
		} catch {
			// The route is a nice-to-have; the marker and state are already shown.
		}
	}

	private onChat(message: Message) {
		this.chat.receive(message);
		if (message.kind === "user" && message.userId !== this.me.id && this.layout.dataset.tab !== "chat") this.chatBadge.add();
	}

	/** "Show on map" of an SOS: the person's group, the map, the person. */
	private async showOnMap(userId: string) {
		const has = (g: Group) => g.members.some(m => m.id === userId);
		const group = this.groups.find(g => g.id === this.groupId && has(g)) ?? this.groups.find(has);
		if (group && group.id !== this.groupId) await this.select(group.id);
		this.showTab("map");
		this.map.focus(userId);
	}

	private onPresence({ groupId, userId, online }: ChatPresence) {
		if (groupId !== this.groupId) return;
		this.online.set(userId, online);
		this.members.setPresence({ userId, online, lastSeenAt: online ? null : new Date().toISOString() });
		const group = this.group();
		if (group) this.renderGroupHead(group);
	}

	private onNotification(notification: Notification) {
		if (notification.kind === "INVITED") {
			this.inbox.receive(notification, false);
			void this.onInvitedNotification(notification);
			return;
		}
		// A live page hears "where are you?" as location:request and answers it with its own note.
		if (notification.kind === "LOCATE_REQUESTED" && this.live?.connected) {
			this.inbox.receive(notification, false);
			return;
		}
		// Someone else's SOS: its own banner, sound and flashing title (alerts.ts), not a toast.
		if (notification.kind === "SOS" && notification.subjectUserId && notification.subjectUserId !== this.me.id) {
			this.inbox.receive(notification, false);
			this.sos.raise(notification);
			return;
		}
		if (notification.kind === "SOS_ENDED" && notification.subjectUserId) this.sos.end(notification.subjectUserId);
		// About something I did myself (my journey, my SOS): into the inbox, without a toast.
		this.inbox.receive(notification, notification.subjectUserId !== this.me.id);
	}

	// ---------------------------------------------------------------- my location

	private myState(): Session["state"] {
		return (this.groupId && this.mine.get(this.groupId)?.state) || "INACTIVE";
	}

	private inSos(): boolean {
		return [...this.mine.values()].some(s => s.state === "SOS");
	}

	private canStartJourney(): boolean {
		const state = this.myState();
		return Boolean(this.groupId) && (state === "ACTIVE" || state === "INACTIVE");
	}

	/** My sessions in every group (where sharing is on decides whether the tracker runs). */
	private async loadMine() {
		const results = await Promise.allSettled(this.groups.map(g => this.api.session(g.id, this.me.id)));
		for (const r of results)
			if (r.status === "fulfilled") {
				// A read of my session says my precision there: marked when approximate, absent when exact.
				this.precision.set(r.value.groupId, (r.value as Session & { precision?: Precision }).precision === "approximate" ? "approximate" : "exact");
				this.setMine(r.value);
			}
		this.updateTracker();
	}

	private setMine(session: Session) {
		const previous = this.mine.get(session.groupId);
		if (previous && Date.parse(previous.updatedAt) > Date.parse(session.updatedAt)) return;
		this.mine.set(session.groupId, session);
		// Reads and live updates mark an approximate choice; other answers (a sample's) say nothing either way.
		if ((session as Session & { precision?: Precision }).precision === "approximate") this.precision.set(session.groupId, "approximate");
		this.updateTracker();
		this.renderControls();
	}

	/**
	 * Positions are sent while any of my sessions shares them (or an SOS is on), also one gone
	 * silent (its next position brings it back); not while the browser refuses the location.
	 */
	private updateTracker() {
		if (this.stopped) return;
		const needed = [...this.mine.values()].some(s => sharesIn(s));
		if (needed && !this.tracker.running && !this.locationBlocked) this.tracker.start();
		else if (!needed && this.tracker.running) this.tracker.stop();
	}

	/** Sends a fix as a location sample (over the socket when it is up); false when it was not sent. */
	private async sendSample(fix: Fix): Promise<boolean> {
		const { latitude, longitude, accuracy, altitude, speed, heading, battery, charging, timestamp } = fix;
		const body: SampleBody = { latitude, longitude, accuracy, altitude, speed, heading, battery, charging, timestamp };
		try {
			const live = this.live;
			const { sessions } = live?.connected ? await live.command<{ sessions: Session[] }>("location:sample", body) : await this.api.sample(body);
			for (const s of sessions) {
				this.setMine(s);
				if (s.groupId === this.groupId) this.showSession(s, false);
			}
			if (sessions.length === 0 && Date.now() - this.lastSessionsRefresh > 10_000) {
				// Nothing took the sample: sharing was stopped elsewhere (another device). Re-read.
				this.lastSessionsRefresh = Date.now();
				await this.loadMine();
			}
			return true;
		} catch (err) {
			toast({ title: "Your position was not sent", body: errorText(err), kind: "error", key: "sample-error" });
			return false;
		}
	}

	// ---------------------------------------------------------------- where are you now? (API.md §6.3)

	/** Asks a member's phones and open pages for a fresh position; a minute apart at most (429). */
	private async askWhere(userId: string, button: HTMLButtonElement) {
		const groupId = this.groupId;
		if (!groupId) return;
		const member = this.group()?.members.find(m => m.id === userId);
		const name = member?.name || "this member";
		try {
			await busy(button, () => this.api.locate(groupId, userId), "Asking…");
			toast({
				title: `Asked ${name} for their position`,
				body: "Their phones and open PositionPal pages were asked to report now.",
				kind: "success",
				key: `ask-${userId}`,
			});
		} catch (err) {
			if (err instanceof ApiError && err.code === 429) {
				const retryAfter = (err.data as { retryAfter?: unknown } | undefined)?.retryAfter;
				const wait = typeof retryAfter === "number" && retryAfter > 0 ? ` You can ask again in ${retryAfter} s.` : "";
				toast({ title: `Could not ask ${name} again yet`, body: `${err.message.replace(/[^.!?]$/, "$&.")}${wait}`, kind: "warning", key: `ask-${userId}` });
			} else toastError(`Could not ask ${name}`, err);
		}
	}

	/** A member asks where I am: while I share with their group, a fresh sample goes at once; else an offer to share. */
	private async onLocationRequest({ groupId, byUserId }: LocationRequest) {
		const group = this.groups.find(g => g.id === groupId);
		if (!group) return;
		const who = byUserId === this.me.id ? "You" : group.members.find(m => m.id === byUserId)?.name || "A member";
		const key = `locate-request-${groupId}`;
		const state = this.mine.get(groupId)?.state ?? "INACTIVE";
		if (state === "INACTIVE") {
			toast({
				title: `${who} asked where you are`,
				body: `You are not sharing your location with “${group.name}”, so nothing was sent.`,
				kind: "info",
				key,
				timeoutMs: 20_000,
				action: { label: "Share now", run: () => void this.shareWith(groupId) },
			});
			return;
		}
		try {
			const sent = await this.sendSample(await this.tracker.fixNow());
			if (sent)
				toast({ title: `${who} asked where you are — sent`, body: `Your current position went to “${group.name}”.`, kind: "success", key, timeoutMs: 10_000 });
		} catch (err) {
			toastError(`${who} asked where you are — not sent`, err);
		}
	}

	/** Starts sharing with one group (from the offer above). */
	private async shareWith(groupId: string) {
		try {
			const session = await this.api.startSharing(groupId);
			this.setMine(session);
			this.showSession(session, false);
			toast({ title: "You are sharing your location", body: this.groups.find(g => g.id === groupId)?.name, kind: "success", key: "sharing" });
		} catch (err) {
			toastError("Could not start sharing", err);
		}
	}

	private simulationTarget(): Target | null {
		const journeys = [...this.mine.values()].filter(s => s.journey && (s.state === "ROUTING" || s.state === "WARNING"));
		const session = journeys.find(s => s.groupId === this.groupId) ?? journeys[0];
		if (!session?.journey) return null;
		const { latitude, longitude } = session.journey.destination;
		return { latitude, longitude, mode: session.journey.mode };
	}

	/** A simulated walk starts where I was last seen, or else at the centre of the map. */
	private simulationStart() {
		const known = [...this.mine.values()].map(s => s.position).filter((p): p is Point => p !== null);
		known.sort((a, b) => Date.parse(b.timestamp) - Date.parse(a.timestamp));
		if (known[0]) return { latitude: known[0].latitude, longitude: known[0].longitude };
		const c = this.map.map.getCenter();
		return { latitude: c.lat, longitude: c.lng };
	}

	private renderControls() {
		if (!this.shareButton) return;
		const state = this.myState();
		const sos = this.inSos();
		const mine = this.groupId ? this.mine.get(this.groupId) : undefined;
		const sharing = state !== "INACTIVE" || Boolean(mine && sharesIn(mine));
		this.shareButton.textContent = sharing ? "Stop sharing" : "Share my location";
		this.shareButton.setAttribute("aria-pressed", String(sharing));
		this.shareButton.classList.toggle("btn-primary", !sharing);
		this.shareButton.disabled = !this.groupId || state === "SOS";
		this.shareButton.title = state === "SOS" ? "Sharing cannot be stopped during an SOS" : "";
		this.speedField.hidden = this.tracker.kind !== "simulate";
		const travelling = state === "ROUTING" || state === "WARNING";
		this.journeyButton.textContent = travelling ? "Stop journey" : "Start journey…";
		this.journeyButton.disabled = !this.groupId || state === "SOS";
		this.sosButton.textContent = sos ? "Stop SOS" : "SOS";
		this.sosButton.classList.toggle("sos-on", sos);
		this.sosButton.setAttribute("aria-label", sos ? "Stop the SOS" : "Send an SOS to all your groups");
		// Never "Sharing" while the browser refuses the location; a silent or stopped session says what to do.
		const status = this.locationBlocked && state !== "SOS" ? blockedStatus(true) : sharingStatus(mine as SharedSession | undefined, true);
		const seen = mine?.position && (status.tone === "live" || travelling) ? `, last sent ${ago(mine.position.timestamp)}` : "";
		this.myStatus.replaceChildren(
			h("span", { class: "my-status-label" }, `You: ${status.label}${seen}${travelling && mine?.journey ? ` — to ${mine.journey.destination.name}` : ""}`),
			...(status.detail ? [h("span", { class: "my-status-detail" }, status.detail)] : []),
		);
		this.myStatus.dataset.state = state;
		this.myStatus.dataset.status = status.tone;
		this.linkButton.disabled = !this.groupId || !sharing;
		this.linkButton.title = sharing ? "A link for someone without an account" : "Share your location first";
		this.precisionSelect.disabled = !this.groupId;
		this.precisionSelect.value = (this.groupId && this.precision.get(this.groupId)) || "exact";
	}

	private openShareLink() {
		const group = this.group();
		if (!group) return;
		const state = this.myState();
		openShareLinks(this.api, group, () => this.groups, state === "ROUTING" || state === "WARNING");
	}

	private async changePrecision(precision: Precision) {
		const groupId = this.groupId;
		if (!groupId) return;
		this.precisionSelect.disabled = true;
		try {
			const answer = await this.api.setPrecision(groupId, precision);
			this.precision.set(groupId, answer.precision);
			toast({
				title: answer.precision === "approximate" ? "The group sees an approximate position" : "The group sees your exact position",
				body: answer.precision === "approximate" ? "Within about 1 km, without your route. An SOS is always exact." : undefined,
				kind: "success",
				key: "precision",
			});
		} catch (err) {
			toastError("Could not change what the group sees", err);
		}
		this.renderControls();
	}

	private async toggleSharing() {
		const groupId = this.groupId;
		if (!groupId) return;
		const mine = this.mine.get(groupId);
		const sharing = this.myState() !== "INACTIVE" || Boolean(mine && sharesIn(mine));
		// A browser that refuses the location cannot share it: say how to fix it instead of "You are sharing".
		if (!sharing && this.tracker.kind === "device" && (await locationDenied())) {
			this.onLocationError("Location is blocked for this site. Allow it in the browser's site settings (the icon left of the address), then reload.", true);
			return;
		}
		try {
			const session = await busy(
				this.shareButton,
				() => (sharing ? this.api.stopSharing(groupId) : this.api.startSharing(groupId)),
				sharing ? "Stopping…" : "Starting…",
			);
			this.setMine(session);
			this.showSession(session, false);
			toast({
				title: sharing ? "You stopped sharing your location" : "You are sharing your location",
				body: this.group()?.name,
				kind: "success",
				key: "sharing",
			});
		} catch (err) {
			toastError(sharing ? "Could not stop sharing" : "Could not start sharing", err);
		}
		this.renderControls();
	}

	private async journeyAction() {
		const groupId = this.groupId;
		if (!groupId) return;
		const state = this.myState();
		if (state === "ROUTING" || state === "WARNING") {
			try {
				const session = await busy(this.journeyButton, () => this.api.stopJourney(groupId), "Stopping…");
				this.setMine(session);
				this.showSession(session, false);
				toast({ title: "Journey stopped", kind: "success" });
			} catch (err) {
				toastError("Could not stop the journey", err);
			}
			return;
		}
		const c = this.map.map.getCenter();
		this.openJourney({ latitude: c.lat, longitude: c.lng });
	}

	private openJourney(at: { latitude: number; longitude: number }) {
		const groupId = this.groupId;
		if (!groupId) return;
		planJourney(
			at,
			async (request: JourneyRequest) => {
				const session = await this.api.startJourney(groupId, request);
				this.setMine(session);
				this.showSession(session, false);
				toast({ title: `Journey to ${request.destination.name} started`, body: "Your group can follow you until you arrive.", kind: "success" });
			},
			this.map.geocoder,
		);
	}

	private async sosAction() {
		if (this.inSos()) {
			if (!(await confirmAction({ title: "Stop the SOS?", message: "Your groups will be told that you are safe.", confirm: "Stop SOS" }))) return;
			try {
				const { sessions } = await busy(this.sosButton, () => this.api.stopSos(), "Stopping…");
				for (const s of sessions) this.onLocation(s);
				toast({ title: "SOS stopped", body: "Your groups are told that you are safe.", kind: "success", key: "sos" });
			} catch (err) {
				toastError("Could not stop the SOS", err);
			}
			return;
		}
		if (
			!(await confirmAction({
				title: "Send an SOS?",
				message: "Every member of all your groups is alerted at once and sees where you are until you stop it.",
				confirm: "Send SOS",
				danger: true,
			}))
		)
			return;
		try {
			const { sessions } = await busy(
				this.sosButton,
				async () => {
					const fix = await this.tracker.current();
					return this.api.startSos(fix.latitude, fix.longitude);
				},
				"Sending…",
			);
			for (const s of sessions) this.onLocation(s);
			toast({ title: "SOS sent", body: "Your groups are alerted and can see where you are.", kind: "danger", key: "sos" });
		} catch (err) {
			toastError("The SOS was not sent", err);
		}
	}
}

function hashGroup(): string | null {
	const match = /group=([^&]+)/.exec(location.hash);
	return match ? decodeURIComponent(match[1]!) : null;
}
