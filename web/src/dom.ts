/** A tiny DOM builder: the client is plain TypeScript, no UI framework. */

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

/** Creates an element: `on*` attributes become listeners, `false`/`null` attributes are left out. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
	const el = document.createElement(tag);
	for (const [name, value] of Object.entries(attrs)) {
		if (value === null || value === undefined || value === false) continue;
		if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
		else if (name === "class") el.className = String(value);
		else if (value === true) el.setAttribute(name, "");
		else el.setAttribute(name, String(value));
	}
	append(el, children);
	return el;
}

export function append(el: Element, children: (Child | Child[])[]): void {
	for (const child of children.flat()) {
		if (child === null || child === undefined || child === false) continue;
		el.append(typeof child === "number" ? String(child) : child);
	}
}

/** Replaces an element's children. */
export function replace(el: Element, ...children: (Child | Child[])[]): void {
	el.replaceChildren();
	append(el, children);
}

export function $<T extends Element = HTMLElement>(selector: string, root: ParentNode = document): T {
	const el = root.querySelector<T>(selector);
	if (!el) throw new Error(`missing element ${selector}`);
	return el;
}

/** A form's fields as strings (trimmed), by name. */
export function formValues(form: HTMLFormElement): Record<string, string> {
	const values: Record<string, string> = {};
	for (const [name, value] of new FormData(form)) if (typeof value === "string") values[name] = value.trim();
	return values;
}

/**
 * Runs `work` while `button` shows that it is busy (disabled, aria-busy, a "…" label), so a
 * slow request is visible and cannot be sent twice.
 */
export async function busy<T>(button: HTMLButtonElement | null, work: () => Promise<T>, label?: string): Promise<T> {
	if (!button) return work();
	const text = button.textContent;
	button.disabled = true;
	button.setAttribute("aria-busy", "true");
	if (label) button.textContent = label;
	try {
		return await work();
	} finally {
		button.disabled = false;
		button.removeAttribute("aria-busy");
		if (label) button.textContent = text;
	}
}

let ids = 0;
/** A unique element id, for label/aria wiring. */
export const uid = (prefix = "id") => `${prefix}-${++ids}`;
