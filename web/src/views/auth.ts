import type { Api } from "../api";
import { busy, formValues, h } from "../dom";
import type { LoginResult } from "../types";
import { field, formError, showFormError } from "../ui";

/** Log in / create an account. Resolves the login once it succeeds. */
export function authView(api: Api, onLogin: (login: LoginResult) => void, notice?: string): HTMLElement {
	const loginError = formError();
	const registerError = formError();

	const loginForm = h(
		"form",
		{ class: "stack", "aria-label": "Log in", novalidate: true },
		field("Email", h("input", { name: "email", type: "email", autocomplete: "username", required: true })),
		field("Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
		loginError,
		h("button", { type: "submit", class: "btn btn-primary btn-block" }, "Log in"),
	);
	loginForm.addEventListener("submit", async event => {
		event.preventDefault();
		const { email = "", password = "" } = formValues(loginForm);
		showFormError(loginError, null);
		try {
			const login = await busy(loginForm.querySelector("button[type=submit]"), () => api.login(email, password), "Logging in…");
			onLogin(login);
		} catch (err) {
			showFormError(loginError, err);
		}
	});

	const registerForm = h(
		"form",
		{ class: "stack", "aria-label": "Create an account", novalidate: true },
		h(
			"div",
			{ class: "row" },
			field("First name", h("input", { name: "name", autocomplete: "given-name", required: true })),
			field("Last name", h("input", { name: "surname", autocomplete: "family-name", required: true })),
		),
		field("Email", h("input", { name: "email", type: "email", autocomplete: "email", required: true })),
		field("Password", h("input", { name: "password", type: "password", autocomplete: "new-password", required: true }), "At least 8 characters."),
		registerError,
		h("button", { type: "submit", class: "btn btn-primary btn-block" }, "Create account"),
	);
	registerForm.addEventListener("submit", async event => {
		event.preventDefault();
		const values = formValues(registerForm);
		const body = { name: values.name ?? "", surname: values.surname ?? "", email: values.email ?? "", password: values.password ?? "" };
		showFormError(registerError, null);
		try {
			const login = await busy(
				registerForm.querySelector("button[type=submit]"),
				async () => {
					await api.register(body);
					return api.login(body.email, body.password);
				},
				"Creating account…",
			);
			onLogin(login);
		} catch (err) {
			showFormError(registerError, err);
		}
	});

	// Two tabs: the forms share one card.
	const tabs = [
		{ id: "login", label: "Log in", panel: loginForm },
		{ id: "register", label: "Create account", panel: registerForm },
	];
	const tabButtons = tabs.map(tab =>
		h(
			"button",
			{ type: "button", role: "tab", id: `tab-${tab.id}`, "aria-controls": `panel-${tab.id}`, class: "tab", onclick: () => select(tab.id) },
			tab.label,
		),
	);
	const panels = tabs.map(tab => h("div", { role: "tabpanel", id: `panel-${tab.id}`, "aria-labelledby": `tab-${tab.id}` }, tab.panel));
	const select = (id: string) => {
		tabs.forEach((tab, i) => {
			const selected = tab.id === id;
			tabButtons[i]!.setAttribute("aria-selected", String(selected));
			tabButtons[i]!.tabIndex = selected ? 0 : -1;
			panels[i]!.hidden = !selected;
		});
		panels[tabs.findIndex(t => t.id === id)]?.querySelector("input")?.focus();
	};
	const tabList = h("div", { role: "tablist", class: "tabs", "aria-label": "Account" }, tabButtons);
	tabList.addEventListener("keydown", event => {
		if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
		const current = tabs.findIndex((_, i) => tabButtons[i]!.getAttribute("aria-selected") === "true");
		const next = tabs[(current + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length]!;
		select(next.id);
		document.getElementById(`tab-${next.id}`)?.focus();
	});

	const view = h(
		"main",
		{ id: "main", class: "auth" },
		h(
			"div",
			{ class: "auth-card" },
			h("div", { class: "brand brand-large" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), "PositionPal"),
			h("p", { class: "tagline" }, "“Text me when you get home”, for your trusted groups."),
			notice ? h("p", { class: "notice", role: "status" }, notice) : null,
			tabList,
			panels,
		),
	);
	select("login");
	return view;
}
