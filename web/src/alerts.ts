import { h } from "./dom";
import { localizeTimes } from "./texts";
import type { Notification } from "./types";

/**
 * An SOS must not look like any other alert: a full-width banner per person in danger that stays
 * until their SOS is over (or it is dismissed), with "Show on map" and a call link when they gave a
 * phone number; an alarm sound (Web Audio, which browsers allow only after a user gesture); and the
 * tab title flashing, for a page in a background tab.
 */

export interface SosHooks {
	/** Shows the person on the map (their group selected). */
	showOnMap(userId: string): void;
	/** The person's phone number, if they gave one (E.164). */
	phoneOf(userId: string): string | undefined;
}

const BASE_TITLE = "PositionPal";
const FLASH_MS = 1_000;

interface Activation {
	hasBeenActive: boolean;
}

let audio: AudioContext | undefined;

/** Three loud beeps; false when the browser does not allow sound yet (no user gesture so far). */
function alarm(): boolean {
	const activation = (navigator as Navigator & { userActivation?: Activation }).userActivation;
	if (activation && !activation.hasBeenActive) return false;
	try {
		audio ??= new AudioContext();
		void audio.resume();
		const start = audio.currentTime + 0.05;
		for (let i = 0; i < 3; i++) {
			const osc = audio.createOscillator();
			const gain = audio.createGain();
			osc.type = "square";
			osc.frequency.value = i % 2 ? 660 : 880;
			gain.gain.value = 0.15;
			osc.connect(gain).connect(audio.destination);
			osc.start(start + i * 0.35);
			osc.stop(start + i * 0.35 + 0.25);
		}
		return true;
	} catch {
		return false;
	}
}

export class SosBanners {
	readonly el: HTMLElement;
	private readonly banners = new Map<string, HTMLElement>();
	private readonly dismissed = new Set<string>();
	private flash: number | undefined;
	private waitingForGesture = false;

	constructor(private readonly hooks: SosHooks) {
		this.el = h("div", { class: "sos-banners", role: "region", "aria-label": "SOS alerts" });
	}

	/** Someone raised an SOS: their banner (replacing an earlier one), the alarm and the flashing title. */
	raise(n: Notification): void {
		if (n.subjectUserId) this.dismissed.delete(n.subjectUserId);
		this.show(n, false);
	}

	/**
	 * An SOS the page learns of from what it reads (the inbox, a session in SOS) rather than from a
	 * new notification: shown unless its banner is up or was dismissed; `fromSession` banners carry
	 * only the session's words, so a notification read later replaces their text.
	 */
	ensure(n: Notification, fromSession = false): void {
		const userId = n.subjectUserId;
		if (!userId || this.dismissed.has(userId)) return;
		const up = this.banners.get(userId);
		if (up && (fromSession || up.dataset.from !== "session")) return;
		this.show(n, fromSession);
	}

	private show(n: Notification, fromSession: boolean): void {
		const userId = n.subjectUserId;
		if (!userId) return;
		// A second word of the same SOS (the session, then its notification) replaces the text, not the alarm.
		const earlier = this.banners.get(userId);
		earlier?.remove();
		const phone = this.hooks.phoneOf(userId);
		const banner = h(
			"div",
			{ class: "sos-banner", role: "alert", "data-user-id": userId },
			h("div", { class: "sos-banner-text" }, h("strong", {}, n.title), h("span", { class: "sos-banner-body" }, localizeTimes(n.body, n.data))),
			h(
				"div",
				{ class: "sos-banner-actions" },
				h("button", { type: "button", class: "btn btn-small", onclick: () => this.hooks.showOnMap(userId) }, "Show on map"),
				phone ? h("a", { class: "btn btn-small btn-call", href: `tel:${phone}` }, `Call ${phone}`) : null,
				h("button", { type: "button", class: "toast-close", "aria-label": `Dismiss: ${n.title}`, onclick: () => this.dismiss(userId) }, "×"),
			),
		);
		this.banners.set(userId, banner);
		if (fromSession) banner.dataset.from = "session";
		this.el.prepend(banner);
		if (earlier?.dataset.sound) banner.dataset.sound = earlier.dataset.sound;
		else this.sound(banner);
		this.startFlash(n.title);
	}

	/** Whether their banner is up (a page that learns of an SOS twice keeps one banner and one alarm). */
	has(userId: string): boolean {
		return this.banners.has(userId);
	}

	/** The viewer closed the banner: it stays closed until this SOS ends or a new one is raised. */
	private dismiss(userId: string): void {
		this.end(userId);
		this.dismissed.add(userId);
	}

	/** Their SOS is over. */
	end(userId: string): void {
		this.dismissed.delete(userId);
		const banner = this.banners.get(userId);
		// Called for every position of someone not in SOS: nothing to do unless their banner is up.
		if (!banner) return;
		banner.remove();
		this.banners.delete(userId);
		if (!this.banners.size) this.stopFlash();
	}

	/** Everything goes (logout). */
	clear(): void {
		for (const userId of [...this.banners.keys()]) this.end(userId);
	}

	private sound(banner: HTMLElement) {
		if (alarm()) {
			banner.dataset.sound = "played";
			return;
		}
		banner.dataset.sound = "waiting";
		if (this.waitingForGesture) return;
		// Sound needs a user gesture: the first one sounds the alarm of any banner still up.
		this.waitingForGesture = true;
		const onGesture = () => {
			this.waitingForGesture = false;
			const waiting = [...this.banners.values()].filter(b => b.dataset.sound === "waiting");
			if (waiting.length && alarm()) for (const b of waiting) b.dataset.sound = "played";
		};
		window.addEventListener("pointerdown", onGesture, { once: true, capture: true });
	}

	private startFlash(title: string) {
		window.clearInterval(this.flash);
		let on = false;
		this.flash = window.setInterval(() => {
			on = !on;
			document.title = on ? `🆘 SOS: ${title}` : BASE_TITLE;
		}, FLASH_MS);
		document.title = `🆘 SOS: ${title}`;
	}

	private stopFlash() {
		window.clearInterval(this.flash);
		this.flash = undefined;
		document.title = BASE_TITLE;
	}
}

/** A count on a tab (the phone's Chat tab): what arrived while the tab was not shown. */
export class TabBadge {
	private readonly count: HTMLElement;
	private n = 0;

	constructor(
		tab: HTMLElement,
		private readonly what: string,
	) {
		this.count = h("span", { class: "count", hidden: true });
		tab.append(this.count);
	}

	add(): void {
		this.n++;
		this.render();
	}

	clear(): void {
		this.n = 0;
		this.render();
	}

	private render() {
		this.count.textContent = this.n > 99 ? "99+" : String(this.n);
		this.count.hidden = this.n === 0;
		this.count.setAttribute("aria-label", `${this.n} new ${this.what}`);
	}
}
