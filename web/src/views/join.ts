import { busy, h } from "../dom";
import { dateTime, fullName, plural, until } from "../format";
import type { InviteLinkPreview, User } from "../types";
import { formError, showFormError } from "../ui";

/**
 * The pages of an invite link, `/join/<code>` (API.md §6.1): what the link is for (readable
 * without an account), the "join" question for a signed-in visitor, and the page for a link
 * that no longer works. A signed-out visitor gets the login/register card with `joinIntro` on
 * top (main.ts), and joins right after.
 */

/** "Ada invited you to join “Family”", with the member count and the link's expiry. */
export function joinIntro(preview: InviteLinkPreview): HTMLElement {
	return h(
		"section",
		{ class: "join-intro", "aria-labelledby": "join-title" },
		h(
			"h1",
			{ id: "join-title" },
			h("span", { class: "join-by" }, `${preview.invitedBy.name} invited you to join`),
			" ",
			h("span", { class: "join-group" }, preview.groupName),
		),
		h(
			"p",
			{ class: "muted join-facts" },
			`${plural(preview.memberCount, "member")} · this link expires `,
			h("time", { datetime: preview.expiresAt, title: dateTime(preview.expiresAt) }, until(preview.expiresAt)),
		),
		h("p", { class: "join-note" }, "Members of a group see each other's shared locations, journeys and SOS alerts, and chat together."),
	);
}

/** The card every join page sits in (the login card's look). */
function card(...children: (Node | null)[]): HTMLElement {
	return h(
		"main",
		{ id: "main", class: "auth join" },
		h(
			"div",
			{ class: "auth-card" },
			h("div", { class: "brand brand-large" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), "PositionPal"),
			...children,
		),
	);
}

/** Signed in already: join, or go to the app without joining. */
export function joinView(preview: InviteLinkPreview, me: User, actions: { join(): Promise<void>; skip(): void }): HTMLElement {
	const error = formError();
	const join = h("button", { type: "button", class: "btn btn-primary btn-block" }, `Join ${preview.groupName}`);
	join.addEventListener("click", async () => {
		showFormError(error, null);
		try {
			await busy(join, actions.join, "Joining…");
		} catch (err) {
			showFormError(error, err);
		}
	});
	return card(
		joinIntro(preview),
		h("p", { class: "muted" }, `You are logged in as ${fullName(me)}.`),
		error,
		h("div", { class: "stack" }, join, h("button", { type: "button", class: "btn btn-block", onclick: () => actions.skip() }, "Not now")),
	);
}

/** The link is unknown, expired, used up or revoked (the server does not say which). */
export function expiredView(signedIn: boolean, onContinue: () => void): HTMLElement {
	return card(
		h("h1", { class: "join-expired" }, "This invite link has expired or was revoked"),
		h("p", {}, "Invite links work for a limited time and a limited number of people. Ask the person who sent it for a new one."),
		h(
			"div",
			{ class: "actions" },
			h("button", { type: "button", class: "btn btn-primary", onclick: onContinue }, signedIn ? "Continue to PositionPal" : "Go to PositionPal"),
		),
	);
}

/** Something else went wrong (the network, a limit): say it, and offer a way on. */
export function joinProblemView(message: string, actions: { retry(): void; skip(): void }): HTMLElement {
	return card(
		h("h1", {}, "Could not join the group"),
		h("p", { role: "alert" }, message),
		h(
			"div",
			{ class: "actions" },
			h("button", { type: "button", class: "btn", onclick: () => actions.skip() }, "Go to PositionPal"),
			h("button", { type: "button", class: "btn btn-primary", onclick: () => actions.retry() }, "Try again"),
		),
	);
}
