import { errorText, type Api } from "../api";
import { busy, h } from "../dom";
import { clockTime, dateTime } from "../format";
import type { Live } from "../live";
import type { Message } from "../types";
import { toastError } from "../ui";

/**
 * The group chat: history paged backwards ("Load earlier messages"), live messages, and a send
 * box. A message is sent with a client id, so a retry after a lost acknowledgement cannot post
 * it twice, and it shows as "sending…" until the server has it.
 */

const PAGE = 30;

export interface ChatContext {
	api: Api;
	live(): Live | null;
	meId(): string;
	memberName(userId: string): string;
}

export function newClientId(): string {
	const bytes = crypto.getRandomValues(new Uint8Array(12));
	return `c-${[...bytes].map(b => b.toString(16).padStart(2, "0")).join("")}`;
}

export class ChatView {
	readonly el: HTMLElement;
	private list: HTMLOListElement;
	private older: HTMLButtonElement;
	private input: HTMLTextAreaElement;
	private status: HTMLElement;
	private onlineCount: HTMLElement;
	private groupId: string | null = null;
	private ids = new Set<string>();
	private oldestId: string | null = null;
	/** Bumped on every group switch, so late answers for the previous group are dropped. */
	private generation = 0;

	constructor(private readonly ctx: ChatContext) {
		this.list = h("ol", { class: "messages", role: "log", "aria-live": "polite", "aria-relevant": "additions", "aria-label": "Messages" });
		this.older = h("button", { type: "button", class: "btn btn-small btn-quiet", hidden: true, onclick: () => void this.loadOlder() }, "Load earlier messages");
		this.status = h("p", { class: "chat-status", role: "status" });
		this.onlineCount = h("span", { class: "chat-online" });
		this.input = h("textarea", {
			id: "chat-input",
			name: "text",
			rows: 2,
			maxlength: 2000,
			required: true,
			placeholder: "Write a message…",
			autocomplete: "off",
		});
		const form = h(
			"form",
			{ class: "chat-form", "aria-label": "Send a message" },
			h("label", { for: "chat-input", class: "visually-hidden" }, "Message"),
			this.input,
			h("button", { type: "submit", class: "btn btn-primary" }, "Send"),
		);
		form.addEventListener("submit", event => {
			event.preventDefault();
			void this.send();
		});
		// Enter sends, Shift+Enter starts a new line.
		this.input.addEventListener("keydown", event => {
			if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
				event.preventDefault();
				void this.send();
			}
		});
		this.el = h(
			"section",
			{ class: "panel chat", "aria-labelledby": "chat-title" },
			h("header", { class: "panel-head" }, h("h2", { id: "chat-title" }, "Chat"), this.onlineCount),
			h("div", { class: "messages-scroll" }, this.older, this.status, this.list),
			form,
		);
	}

	/** Shows another group's chat: its latest page of history. */
	async open(groupId: string): Promise<void> {
		this.groupId = groupId;
		const generation = ++this.generation;
		this.ids.clear();
		this.oldestId = null;
		this.list.replaceChildren();
		this.older.hidden = true;
		this.setStatus("Loading messages…");
		try {
			const { messages } = await this.ctx.api.messages(groupId, { limit: PAGE });
			if (generation !== this.generation) return;
			this.setStatus(messages.length ? "" : "No messages yet. Say hello!");
			for (const m of messages) this.add(m, "end");
			this.oldestId = messages[0]?.id ?? null;
			this.older.hidden = messages.length < PAGE;
			this.scrollToEnd();
		} catch (err) {
			if (generation === this.generation) this.setStatus(`Could not load messages: ${errorText(err)}`);
		}
	}

	/** After a reconnection: fetches what arrived meanwhile (the latest page), keeping what is shown. */
	async catchUp(): Promise<void> {
		if (!this.groupId) return;
		const generation = this.generation;
		try {
			const { messages } = await this.ctx.api.messages(this.groupId, { limit: PAGE });
			if (generation !== this.generation) return;
			for (const m of messages) this.receive(m);
		} catch {
			// The next reconnection tries again; the chat stays usable.
		}
	}

	setOnline(count: number, total: number): void {
		this.onlineCount.textContent = `${count} of ${total} online`;
	}

	/** A live message (or one from a catch-up): shown once, in time order. */
	receive(message: Message): void {
		if (message.groupId !== this.groupId) return;
		if (this.ids.has(message.id)) return;
		// My own message may already be on screen as "sending…": replace it.
		const pending = message.clientMessageId ? this.list.querySelector<HTMLElement>(`[data-client-id="${CSS.escape(message.clientMessageId)}"]`) : null;
		const nearEnd = this.isNearEnd();
		if (pending) pending.replaceWith(this.item(message));
		else this.add(message, "sorted");
		this.ids.add(message.id);
		this.setStatus("");
		if (nearEnd || message.userId === this.ctx.meId()) this.scrollToEnd();
	}

	/** Names may change (a profile edit, a new member): redraw the authors. */
	refreshNames(): void {
		for (const li of this.list.querySelectorAll<HTMLElement>("li[data-user-id]")) {
			const author = li.querySelector(".author");
			if (author) author.textContent = this.author(li.dataset.userId!);
		}
	}

	private async loadOlder() {
		if (!this.groupId || !this.oldestId) return;
		const generation = this.generation;
		const scroller = this.list.parentElement!;
		const before = scroller.scrollHeight - scroller.scrollTop;
		try {
			const { messages } = await busy(this.older, () => this.ctx.api.messages(this.groupId!, { limit: PAGE, before: this.oldestId! }), "Loading…");
			if (generation !== this.generation) return;
			for (const m of [...messages].reverse()) this.add(m, "start");
			this.oldestId = messages[0]?.id ?? this.oldestId;
			this.older.hidden = messages.length < PAGE;
			scroller.scrollTop = scroller.scrollHeight - before;
		} catch (err) {
			toastError("Could not load earlier messages", err);
		}
	}

	private async send(text = this.input.value.trim(), clientMessageId = newClientId(), pending?: HTMLElement) {
		const groupId = this.groupId;
		if (!groupId) return;
		if (!text) {
			this.input.focus();
			return;
		}
		if (!pending) {
			this.input.value = "";
			pending = this.pendingItem(text, clientMessageId);
			this.list.append(pending);
			this.setStatus("");
			this.scrollToEnd();
		} else {
			pending.classList.remove("failed");
			pending.querySelector(".meta")!.textContent = "sending…";
			pending.querySelector(".retry")?.remove();
		}
		try {
			const live = this.ctx.live();
			const message = live?.connected
				? (await live.command<{ message: Message }>("chat:send", { groupId, text, clientMessageId })).message
				: await this.ctx.api.sendMessage(groupId, text, clientMessageId);
			if (groupId === this.groupId) this.receive(message);
		} catch (err) {
			pending.classList.add("failed");
			pending.querySelector(".meta")!.textContent = `Not sent: ${errorText(err)}`;
			pending.append(h("button", { type: "button", class: "btn btn-small retry", onclick: () => void this.send(text, clientMessageId, pending) }, "Retry"));
		}
	}

	private add(message: Message, where: "start" | "end" | "sorted") {
		if (this.ids.has(message.id)) return;
		this.ids.add(message.id);
		const li = this.item(message);
		if (where === "start") return void this.list.prepend(li);
		if (where === "end") return void this.list.append(li);
		// Live messages normally come last; one from a catch-up may belong earlier.
		const dated = [...this.list.querySelectorAll<HTMLElement>("li[data-created-at]")];
		// Lines of the same instant (a group created with members) are ordered by the server alone.
		if (dated.some(el => el.dataset.createdAt === message.createdAt)) this.reorderSoon();
		const later = dated.find(el => el.dataset.createdAt! > message.createdAt);
		if (later) later.before(li);
		else {
			const firstPending = this.list.querySelector("li.pending");
			if (firstPending) firstPending.before(li);
			else this.list.append(li);
		}
	}

	private reorderTimer = 0;

	/** Puts the latest page in the server's order (debounced: a burst of lines costs one read). */
	private reorderSoon() {
		window.clearTimeout(this.reorderTimer);
		const generation = this.generation;
		this.reorderTimer = window.setTimeout(async () => {
			if (!this.groupId || generation !== this.generation) return;
			try {
				const { messages } = await this.ctx.api.messages(this.groupId, { limit: PAGE });
				if (generation !== this.generation) return;
				const items = messages.map(m => this.list.querySelector(`li[data-message-id="${CSS.escape(m.id)}"]`)).filter((li): li is HTMLLIElement => li !== null);
				const firstPending = this.list.querySelector("li.pending");
				for (const li of items) this.list.insertBefore(li, firstPending);
			} catch {
				// Only the order of simultaneous lines is at stake.
			}
		}, 300);
	}

	private author(userId: string) {
		return userId === this.ctx.meId() ? "You" : this.ctx.memberName(userId);
	}

	private item(m: Message): HTMLLIElement {
		if (m.kind === "system") {
			return h(
				"li",
				{ class: "message system", "data-message-id": m.id, "data-created-at": m.createdAt },
				h("span", {}, m.text),
				" ",
				h("time", { datetime: m.createdAt, title: dateTime(m.createdAt) }, clockTime(m.createdAt)),
			);
		}
		const mine = m.userId === this.ctx.meId();
		return h(
			"li",
			{ class: `message${mine ? " mine" : ""}`, "data-message-id": m.id, "data-user-id": m.userId, "data-created-at": m.createdAt },
			h(
				"div",
				{ class: "meta" },
				h("span", { class: "author" }, this.author(m.userId)),
				" · ",
				h("time", { datetime: m.createdAt, title: dateTime(m.createdAt) }, clockTime(m.createdAt)),
			),
			h("p", { class: "text" }, m.text),
		);
	}

	private pendingItem(text: string, clientMessageId: string): HTMLLIElement {
		return h(
			"li",
			{ class: "message mine pending", "data-client-id": clientMessageId },
			h("div", { class: "meta" }, "sending…"),
			h("p", { class: "text" }, text),
		);
	}

	private setStatus(text: string) {
		this.status.textContent = text;
		this.status.hidden = !text;
	}

	private isNearEnd() {
		const s = this.list.parentElement!;
		return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
	}

	private scrollToEnd() {
		const s = this.list.parentElement!;
		s.scrollTop = s.scrollHeight;
	}
}
