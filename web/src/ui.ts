import { errorText } from "./api";
import { $, h, uid } from "./dom";

/** Shared widgets: toasts, modal dialogs, confirmations, labelled form fields. */

export type ToastKind = "info" | "success" | "warning" | "error" | "danger";

export interface ToastOptions {
	title: string;
	body?: string;
	kind?: ToastKind;
	/** 0 keeps it until dismissed. */
	timeoutMs?: number;
	/** A stable id: a newer toast with the same key replaces the older one. */
	key?: string;
	action?: { label: string; run(): void };
}

/** Toasts on screen at once: more would cover the page's controls on a phone. */
export const MAX_TOASTS = 2;

export function toast(opts: ToastOptions): HTMLElement {
	const host = $("#toasts");
	const kind = opts.kind ?? "info";
	const urgent = kind === "error" || kind === "danger";
	if (opts.key) host.querySelector(`[data-key="${CSS.escape(opts.key)}"]`)?.remove();
	const close = () => el.remove();
	const el = h(
		"div",
		{ class: `toast toast-${kind}`, role: urgent ? "alert" : "status", "data-key": opts.key ?? null },
		h("div", { class: "toast-text" }, h("strong", { class: "toast-title" }, opts.title), opts.body ? h("p", { class: "toast-body" }, opts.body) : null),
		opts.action ? h("button", { type: "button", class: "btn btn-small", onclick: () => (opts.action!.run(), close()) }, opts.action.label) : null,
		h("button", { type: "button", class: "toast-close", "aria-label": `Dismiss: ${opts.title}`, onclick: close }, "×"),
	);
	host.prepend(el);
	// At most two: older toasts give way (their notifications stay in the inbox; an SOS has its banner).
	for (const extra of [...host.children].slice(MAX_TOASTS)) extra.remove();
	const timeout = opts.timeoutMs ?? (urgent ? 12_000 : kind === "success" ? 4_000 : 8_000);
	if (timeout > 0) window.setTimeout(close, timeout);
	return el;
}

/** Every toast goes (logout: nothing private stays on screen). */
export function clearToasts(): void {
	document.querySelector("#toasts")?.replaceChildren();
}

export function dismissToast(key: string): void {
	document.querySelector(`#toasts [data-key="${CSS.escape(key)}"]`)?.remove();
}

/** Shows any failure with the server's own message. */
export function toastError(title: string, err: unknown): void {
	toast({ title, body: errorText(err), kind: "error" });
}

export interface Modal {
	dialog: HTMLDialogElement;
	body: HTMLElement;
	close(): void;
}

/** A modal dialog (native <dialog>: focus is trapped inside and Escape closes it). */
export function modal(title: string, build: (m: Modal) => Node | Node[], opts: { className?: string; onClose?: () => void } = {}): Modal {
	const titleId = uid("dialog-title");
	const body = h("div", { class: "modal-body" });
	const dialog = h(
		"dialog",
		{ class: `modal ${opts.className ?? ""}`, "aria-labelledby": titleId },
		h(
			"header",
			{ class: "modal-head" },
			h("h2", { id: titleId }, title),
			h("button", { type: "button", class: "icon-btn", "aria-label": "Close", onclick: () => dialog.close() }, "×"),
		),
		body,
	);
	const m: Modal = { dialog, body, close: () => dialog.close() };
	const content = build(m);
	body.append(...(Array.isArray(content) ? content : [content]));
	dialog.addEventListener("close", () => {
		dialog.remove();
		opts.onClose?.();
	});
	document.body.append(dialog);
	dialog.showModal();
	return m;
}

/** Asks before something that cannot be undone; resolves true when confirmed. */
export function confirmAction(opts: { title: string; message: string; confirm: string; danger?: boolean }): Promise<boolean> {
	return new Promise(resolve => {
		let answer = false;
		modal(
			opts.title,
			m => [
				h("p", {}, opts.message),
				h(
					"div",
					{ class: "actions" },
					h("button", { type: "button", class: "btn", onclick: () => m.close() }, "Cancel"),
					h(
						"button",
						{ type: "button", class: `btn ${opts.danger ? "btn-danger" : "btn-primary"}`, "data-confirm": "", onclick: () => ((answer = true), m.close()) },
						opts.confirm,
					),
				),
			],
			{ className: "modal-small", onClose: () => resolve(answer) },
		);
	});
}

/** A label + input pair (the label is wired to the input). */
export function field(label: string, input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLElement {
	input.id ||= uid("field");
	const hintId = hint ? uid("hint") : null;
	if (hintId) input.setAttribute("aria-describedby", hintId);
	return h("div", { class: "field" }, h("label", { for: input.id }, label), input, hint ? h("small", { id: hintId, class: "hint" }, hint) : null);
}

/** The place in a form where its error is announced. */
export function formError(): HTMLElement {
	return h("p", { class: "form-error", role: "alert", hidden: true });
}

export function showFormError(el: HTMLElement, err: unknown | null): void {
	if (err === null) {
		el.hidden = true;
		el.textContent = "";
		return;
	}
	el.textContent = errorText(err);
	el.hidden = false;
}

/**
 * Copies text to the clipboard: the async Clipboard API where the page may use it, else the old
 * select-and-copy on `input` (which also leaves the text selected, ready for a manual copy).
 * Resolves false when neither worked.
 */
export async function copyText(text: string, input?: HTMLInputElement | null): Promise<boolean> {
	try {
		if (navigator.clipboard && window.isSecureContext) {
			await navigator.clipboard.writeText(text);
			return true;
		}
	} catch {
		// Refused (no permission, the page not focused): try the fallback.
	}
	if (!input) return false;
	input.focus();
	input.select();
	try {
		return document.execCommand("copy");
	} catch {
		return false;
	}
}

/** Whether a toast with this key is on screen. */
export function hasToast(key: string): boolean {
	return document.querySelector(`#toasts [data-key="${CSS.escape(key)}"]`) !== null;
}
