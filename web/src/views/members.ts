import { h } from "../dom";
import { ago, ALERT_LABELS, fullName, journeySummary } from "../format";
import type { Place, Presence, Session, UserRef } from "../types";
import { placeText, sharingStatus, type SharedSession } from "../whereabouts";
import { positionSummary } from "./position";

/**
 * The member list beside the map: presence dot, state, last-seen time and position, the phone's
 * battery and app, journey and alerts; "Show on map" and, for the others, "Where are you now?".
 * Rows are updated in place (not rebuilt) so keyboard focus survives live updates.
 */

interface Row {
	li: HTMLLIElement;
	dot: HTMLElement;
	name: HTMLElement;
	badge: HTMLElement;
	seen: HTMLElement;
	status: HTMLElement;
	place: HTMLElement;
	details: HTMLElement;
	journey: HTMLElement;
	locate: HTMLButtonElement;
	ask: HTMLButtonElement | null;
}

export interface MemberActions {
	/** Show the member on the map. */
	locate(userId: string): void;
	/** Ask the member's phones and open pages for a fresh position (the button shows it is busy meanwhile). */
	ask(userId: string, button: HTMLButtonElement): void;
}

export class MemberList {
	readonly el: HTMLUListElement;
	private rows = new Map<string, Row>();
	private members: UserRef[] = [];
	private sessions = new Map<string, Session>();
	private presence = new Map<string, Presence>();
	/** The group's places, to say where members are in words. */
	private places: Place[] = [];
	private meId = "";

	constructor(private readonly actions: MemberActions) {
		this.el = h("ul", { class: "member-list", "aria-label": "Members" });
	}

	reset(members: UserRef[], meId: string): void {
		this.meId = meId;
		this.sessions.clear();
		this.presence.clear();
		this.setMembers(members);
	}

	setMembers(members: UserRef[]): void {
		// Me first, then by name.
		this.members = [...members].sort((a, b) => (a.id === this.meId ? -1 : b.id === this.meId ? 1 : fullName(a).localeCompare(fullName(b))));
		const keep = new Set(members.map(m => m.id));
		for (const [id, row] of this.rows)
			if (!keep.has(id)) {
				row.li.remove();
				this.rows.delete(id);
			}
		for (const member of this.members) {
			const row = this.rows.get(member.id) ?? this.createRow(member);
			this.el.append(row.li); // re-appending keeps the order
			this.render(member.id);
		}
	}

	setSession(session: Session): void {
		this.sessions.set(session.userId, session);
		this.render(session.userId);
	}

	setPresence(presence: Presence): void {
		this.presence.set(presence.userId, presence);
		this.render(presence.userId);
	}

	setPlaces(places: Place[]): void {
		this.places = places;
		for (const id of this.rows.keys()) this.render(id);
	}

	refreshTimes(): void {
		for (const id of this.rows.keys()) this.render(id);
	}

	private createRow(member: UserRef): Row {
		const dot = h("span", { class: "presence-dot", role: "img" });
		const name = h("span", { class: "member-name" });
		const badge = h("span", { class: "badge" });
		const seen = h("div", { class: "member-seen" });
		const status = h("div", { class: "member-status", hidden: true });
		const place = h("div", { class: "member-place", hidden: true });
		const details = h("div", { class: "member-details" });
		const journey = h("div", { class: "member-journey" });
		const locate = h("button", { type: "button", class: "btn btn-small", onclick: () => this.actions.locate(member.id) }, "Show on map");
		// Asking oneself makes no sense here: one's own position is sent from this page already.
		const ask: HTMLButtonElement | null =
			member.id === this.meId
				? null
				: h(
						"button",
						{ type: "button", class: "btn btn-small", "data-action": "ask-where", onclick: () => this.actions.ask(member.id, ask!) },
						"Where are you now?",
					);
		const li = h(
			"li",
			{ class: "member", "data-user-id": member.id },
			h("div", { class: "member-head" }, dot, name, badge),
			place,
			seen,
			details,
			journey,
			h("div", { class: "member-actions" }, locate, ask),
			// Below the buttons, across the card: keeps the card short enough for the panel.
			status,
		);
		const row = { li, dot, name, badge, seen, status, place, details, journey, locate, ask };
		this.rows.set(member.id, row);
		return row;
	}

	private render(userId: string) {
		const row = this.rows.get(userId);
		const member = this.members.find(m => m.id === userId);
		if (!row || !member) return;
		const session = this.sessions.get(userId);
		const presence = this.presence.get(userId);
		const state = session?.state ?? "INACTIVE";
		const online = presence?.online ?? false;

		row.li.dataset.state = state;
		row.dot.className = `presence-dot ${online ? "online" : "offline"}`;
		row.dot.setAttribute("aria-label", online ? "online" : "offline");
		row.dot.title = online ? "Online" : presence?.lastSeenAt ? `Offline, last online ${ago(presence.lastSeenAt)}` : "Offline";
		row.name.textContent = userId === this.meId ? `${fullName(member)} (you)` : fullName(member);
		// A deliberate stop, a silent phone and a blocked location each look and read differently.
		const status = sharingStatus(session as SharedSession | undefined, userId === this.meId);
		row.li.dataset.status = status.tone;
		row.badge.className = `badge state-${state} status-${status.tone}`;
		row.badge.textContent = status.label;
		row.status.textContent = status.detail ?? "";
		row.status.hidden = !status.detail;

		const position = session?.position;
		// In words from the group's places ("350 m from School"); inside one, its name has its own line.
		const words = position && !session?.place ? ` · ${placeText(position, this.places)}` : "";
		row.seen.textContent = position ? `Seen ${ago(position.timestamp)}${words}` : "No position shared yet";
		row.locate.hidden = !position;
		row.locate.setAttribute("aria-label", `Show ${fullName(member)} on the map`);
		row.ask?.setAttribute("aria-label", `Where are you now? Ask ${fullName(member)}`);
		// Which of the group's places they are in (API.md §6.4); the name is a member's text.
		const at = session?.place;
		row.place.textContent = at && position ? `at ${at.name}` : "";
		row.place.hidden = !(at && position);
		const summary = positionSummary(position);
		row.details.replaceChildren(...(summary ? [summary] : []));
		row.details.hidden = !summary;

		const journey = session?.journey;
		row.journey.replaceChildren();
		if (journey) {
			row.journey.append(journeySummary(journey));
			for (const alert of journey.alerts) row.journey.append(" ", h("span", { class: "chip chip-warning" }, ALERT_LABELS[alert] ?? alert));
		}
		row.journey.hidden = !journey;
	}
}
