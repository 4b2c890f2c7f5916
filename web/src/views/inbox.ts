import { errorText, type Api } from "../api";
import { busy, h } from "../dom";
import { ago, dateTime } from "../format";
import { currentSubscription, disablePush, enablePush, pushKey } from "../push";
import type { Notification } from "../types";
import { localizeTimes } from "../texts";
import { dismissToast, modal, toast, toastError, type ToastKind } from "../ui";

/**
 * Notifications: a toast for each live one, the inbox (newest first, paged) with the unread
 * count on the header button, mark-read, and the Web Push opt-in when the server offers it.
 */

const PAGE = 20;
const URGENT = new Set(["SOS", "LATE", "STUCK", "OFFLINE"]);

/** An inline icon: no icon font or emoji font is needed (and none is fetched). */
function bellIcon(): SVGSVGElement {
	const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
	svg.setAttribute("viewBox", "0 0 24 24");
	svg.setAttribute("aria-hidden", "true");
	svg.setAttribute("fill", "currentColor");
	const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
	path.setAttribute(
		"d",
		"M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z",
	);
	svg.append(path);
	return svg;
}

/**
 * One toast per happening: an SOS replaces the same person's earlier one, and a member who joined
 * is announced once although the inviter gets both MEMBER_ADDED and INVITATION_ACCEPTED for it.
 */
function toastKey(n: Notification, sosKey: string | undefined): string {
	if (n.kind === "SOS" && sosKey) return sosKey;
	if ((n.kind === "MEMBER_ADDED" || n.kind === "INVITATION_ACCEPTED") && n.groupId && n.subjectUserId) return `member-joined-${n.groupId}-${n.subjectUserId}`;
	return `notification-${n.id}`;
}

export const toastKind = (n: Notification): ToastKind =>
	n.kind === "SOS" ? "danger" : URGENT.has(n.kind) ? "warning" : n.kind === "ARRIVED" || n.kind === "SOS_ENDED" ? "success" : "info";

export class Inbox {
	readonly button: HTMLButtonElement;
	private badge: HTMLElement;
	private unread = 0;
	private items: Notification[] = [];
	private complete = false;
	private publicKey: string | null = null;
	private list: HTMLUListElement | null = null;
	private more: HTMLButtonElement | null = null;

	constructor(
		private readonly api: Api,
		private readonly onOpenGroup: (groupId: string) => void,
	) {
		this.badge = h("span", { class: "count", hidden: true, "aria-hidden": "true" });
		this.button = h("button", { type: "button", class: "icon-btn inbox-btn", onclick: () => this.open() }, bellIcon(), this.badge);
		this.setUnread(0);
	}

	/** First page and unread count (at login and after a reconnection). */
	async load(): Promise<void> {
		const page = await this.api.notifications({ limit: PAGE });
		this.items = page.notifications;
		this.complete = page.notifications.length < PAGE;
		this.setUnread(page.unread);
		this.renderList();
		// Whether to offer push: asked once; a failure here only hides the offer.
		this.publicKey = await pushKey(this.api).catch(() => null);
	}

	/** The notifications loaded so far, newest first. */
	get loaded(): readonly Notification[] {
		return this.items;
	}

	/** A live notification: counted, listed and (unless `quiet`) shown as a toast. */
	receive(n: Notification, showToast = true): void {
		if (this.items.some(i => i.id === n.id)) return;
		this.items.unshift(n);
		if (!n.read) this.setUnread(this.unread + 1);
		this.renderList();
		// An SOS alert stays on screen until it is dismissed or the SOS is over.
		const sosKey = n.subjectUserId ? `sos-${n.subjectUserId}` : undefined;
		if (n.kind === "SOS_ENDED" && sosKey) dismissToast(sosKey);
		if (!showToast) return;
		toast({
			title: localizeTimes(n.title, n.data),
			body: localizeTimes(n.body, n.data),
			kind: toastKind(n),
			key: toastKey(n, sosKey),
			timeoutMs: n.kind === "SOS" ? 0 : 10_000,
			action: n.groupId ? { label: "Show", run: () => this.onOpenGroup(n.groupId!) } : undefined,
		});
	}

	/** Marked read on another device (or this one): the same count everywhere. */
	syncRead({ unread, ids }: { unread: number; ids?: string[] }): void {
		for (const i of this.items) if (!ids || ids.includes(i.id)) i.read = true;
		this.setUnread(unread);
		this.renderList();
	}

	private setUnread(count: number) {
		this.unread = Math.max(0, count);
		this.badge.textContent = this.unread > 99 ? "99+" : String(this.unread);
		this.badge.hidden = this.unread === 0;
		this.button.setAttribute("aria-label", this.unread ? `Notifications, ${this.unread} unread` : "Notifications");
		this.button.dataset.unread = String(this.unread);
	}

	open(): void {
		this.list = h("ul", { class: "inbox-list", "aria-label": "Notifications" });
		this.more = h("button", { type: "button", class: "btn btn-small", onclick: () => void this.loadMore() }, "Load more");
		const markAll = h("button", { type: "button", class: "btn btn-small" }, "Mark all as read");
		markAll.addEventListener("click", async () => {
			try {
				const { unread } = await busy(markAll, () => this.api.markRead({ all: true }), "Marking…");
				for (const i of this.items) i.read = true;
				this.setUnread(unread);
				this.renderList();
			} catch (err) {
				toastError("Could not mark notifications as read", err);
			}
		});
		modal("Notifications", () => [this.pushSection(), h("div", { class: "inbox-tools" }, markAll), this.list!, h("div", { class: "inbox-more" }, this.more!)], {
			className: "modal-inbox",
			onClose: () => ((this.list = null), (this.more = null)),
		});
		this.renderList();
	}

	private async loadMore() {
		const last = this.items.at(-1);
		if (!last || !this.more) return;
		try {
			const page = await busy(this.more, () => this.api.notifications({ limit: PAGE, before: last.id }), "Loading…");
			const known = new Set(this.items.map(i => i.id));
			this.items.push(...page.notifications.filter(n => !known.has(n.id)));
			this.complete = page.notifications.length < PAGE;
			this.setUnread(page.unread);
			this.renderList();
		} catch (err) {
			toastError("Could not load more notifications", err);
		}
	}

	private async markRead(n: Notification, button: HTMLButtonElement) {
		try {
			const { unread } = await busy(button, () => this.api.markRead({ ids: [n.id] }), "…");
			n.read = true;
			this.setUnread(unread);
			this.renderList();
		} catch (err) {
			toastError("Could not mark the notification as read", err);
		}
	}

	private renderList() {
		if (!this.list) return;
		this.list.replaceChildren(
			...this.items.map(n => {
				const mark = h("button", { type: "button", class: "btn btn-small" }, "Mark read");
				mark.addEventListener("click", () => void this.markRead(n, mark));
				return h(
					"li",
					{ class: `inbox-item kind-${n.kind}${n.read ? "" : " unread"}`, "data-notification-id": n.id },
					h(
						"div",
						{ class: "inbox-text" },
						h("strong", {}, localizeTimes(n.title, n.data)),
						h("p", {}, localizeTimes(n.body, n.data)),
						h("time", { datetime: n.createdAt, title: dateTime(n.createdAt) }, ago(n.createdAt)),
					),
					n.read ? h("span", { class: "visually-hidden" }, "read") : mark,
				);
			}),
		);
		if (this.items.length === 0)
			this.list.append(h("li", { class: "empty" }, "Nothing yet. Journeys, arrivals, alerts and SOS calls of your groups show up here."));
		if (this.more) this.more.hidden = this.complete;
	}

	private pushSection(): HTMLElement {
		const section = h("div", { class: "push-section" });
		// Offered only when the server has VAPID keys and this browser can subscribe (see push.ts).
		if (!this.publicKey) {
			section.hidden = true;
			return section;
		}
		const status = h("span", { role: "status" });
		const toggle = h("button", { type: "button", class: "btn btn-small" });
		const render = async () => {
			const on = Boolean(await currentSubscription().catch(() => null));
			toggle.textContent = on ? "Turn off push notifications" : "Turn on push notifications";
			toggle.setAttribute("aria-pressed", String(on));
			status.textContent = on ? "Push notifications are on for this browser." : "Get notified even when PositionPal is closed.";
		};
		toggle.addEventListener("click", async () => {
			const on = toggle.getAttribute("aria-pressed") === "true";
			try {
				await busy(toggle, () => (on ? disablePush(this.api) : enablePush(this.api, this.publicKey!)), on ? "Turning off…" : "Turning on…");
				toast({ title: on ? "Push notifications are off" : "Push notifications are on", kind: "success" });
			} catch (err) {
				status.textContent = errorText(err);
			}
			await render();
		});
		void render();
		section.append(status, " ", toggle);
		return section;
	}
}
