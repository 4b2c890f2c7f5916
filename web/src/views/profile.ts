import type { Api } from "../api";
import { busy, formValues, h } from "../dom";
import type { User } from "../types";
import { field, formError, modal, showFormError, toast } from "../ui";

/**
 * Edit the profile. Email and password changes need the current password; a new password
 * revokes every token (API: tokens issued before it stop working), so the app logs in again
 * with it at once.
 */
export function editProfile(me: User, openPhones: () => void, openHistory: () => void, save: (changes: Parameters<Api["updateMe"]>[0]) => Promise<void>): void {
	const error = formError();
	const form = h(
		"form",
		{ class: "stack", novalidate: true },
		h(
			"div",
			{ class: "row" },
			field("First name", h("input", { name: "name", required: true, maxlength: 100, autocomplete: "given-name", value: me.name })),
			field("Last name", h("input", { name: "surname", required: true, maxlength: 100, autocomplete: "family-name", value: me.surname })),
		),
		field("Email", h("input", { name: "email", type: "email", required: true, autocomplete: "email", value: me.email })),
		field(
			"Phone (optional)",
			h("input", { name: "phone", type: "tel", autocomplete: "tel", maxlength: 40, placeholder: "+39 333 123 4567", value: me.phone ?? "" }),
			"With the country code. Your groups see it, so they can call you during an SOS. Leave empty to hide it.",
		),
		field(
			"New password",
			h("input", { name: "password", type: "password", autocomplete: "new-password" }),
			"Leave empty to keep the current one. At least 8 characters.",
		),
		field(
			"Current password",
			h("input", { name: "currentPassword", type: "password", autocomplete: "current-password" }),
			"Needed to change the email or the password.",
		),
		error,
		h("div", { class: "actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Save")),
	);
	const phones = h(
		"section",
		{ class: "profile-phones", "aria-labelledby": "profile-phones-title" },
		h("h3", { id: "profile-phones-title" }, "Your phones"),
		h("p", { class: "hint" }, "Share from your pocket with OwnTracks, Traccar Client or OsmAnd: they keep reporting when this page cannot."),
		h("button", { type: "button", class: "btn", onclick: () => (dialog.close(), openPhones()) }, "Manage your phones"),
	);
	const history = h(
		"section",
		{ class: "profile-history", "aria-labelledby": "profile-history-title" },
		h("h3", { id: "profile-history-title" }, "Your history"),
		h("p", { class: "hint" }, "Where you have been, day by day: only you can see it. Download it or delete it."),
		h("button", { type: "button", class: "btn", "data-action": "open-history", onclick: () => (dialog.close(), openHistory()) }, "Show your history"),
	);
	const dialog = modal("Your profile", () => [form, phones, history]);
	form.addEventListener("submit", async event => {
		event.preventDefault();
		const v = formValues(form);
		const changes: Parameters<Api["updateMe"]>[0] = {};
		if (v.name !== me.name) changes.name = v.name;
		if (v.surname !== me.surname) changes.surname = v.surname;
		if (v.email !== me.email) changes.email = v.email;
		if ((v.phone ?? "").trim() !== (me.phone ?? "")) changes.phone = (v.phone ?? "").trim();
		if (v.password) changes.password = v.password;
		if (v.currentPassword && (changes.email !== undefined || changes.password !== undefined)) changes.currentPassword = v.currentPassword;
		showFormError(error, null);
		if (Object.keys(changes).length === 0) return dialog.close();
		try {
			await busy(form.querySelector("button[type=submit]"), () => save(changes), "Saving…");
			dialog.close();
			toast({ title: "Profile saved", kind: "success" });
		} catch (err) {
			showFormError(error, err);
		}
	});
}
