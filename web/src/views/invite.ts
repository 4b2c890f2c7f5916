import { ApiError, errorText } from "../api";
import { busy, formValues, h } from "../dom";
import { dateTime, fullName, plural, until } from "../format";
import type { Group, GroupInvitation, InviteLink } from "../types";
import { copyText, field, formError, modal, showFormError, toast } from "../ui";
import type { GroupActions } from "./groups";

/**
 * "Invite people" for a group (API.md §6.1): invite by email, the group's pending invitations
 * (withdraw one), and invite links (create, copy, revoke). Nobody joins without accepting, and
 * the answer to an email invitation never says whether the email has an account, so neither
 * does this dialog: "Invitation sent", whoever it is.
 */

const EXPIRY_CHOICES: [seconds: number, label: string][] = [
	[86_400, "1 day"],
	[604_800, "7 days"],
	[2_592_000, "30 days"],
];
const USE_CHOICES = [1, 5, 10, 25, 50, 100];

/** Plain words for the failures of an email invitation. */
export function inviteErrorText(err: unknown, email: string): string {
	if (!(err instanceof ApiError)) return errorText(err);
	const data = (err.data ?? {}) as { retryAfter?: unknown; limit?: unknown };
	if (err.code === 429) {
		const minutes = typeof data.retryAfter === "number" ? Math.max(1, Math.ceil(data.retryAfter / 60)) : null;
		return `You have sent the most invitations allowed in an hour. ${minutes ? `Try again in ${minutes} min.` : "Please try again later."}`;
	}
	if (err.code === 422) return `“${email}” does not look like an email address. Check it and try again.`;
	// 409 is also a size limit (the group's, or the groups one may be in): the server's message says which.
	if (err.code === 409)
		return data.limit !== undefined || /at most|limit|full/i.test(err.message)
			? err.message
			: `${email} is already in this group or already has a pending invitation.`;
	return err.detail;
}

/** An invite link's address, absolute (the server may give a path). */
export const linkUrl = (link: InviteLink): string | null => {
	const url = link.url ?? (link.code ? `/join/${encodeURIComponent(link.code)}` : null);
	return url ? new URL(url, location.origin).href : null;
};

export function invitePeople(actions: GroupActions, group: Group): void {
	const api = actions.api;
	let current = group;
	const nameOf = (userId: string) => {
		const member = current.members.find(m => m.id === userId);
		return member ? (member.id === actions.me().id ? "you" : fullName(member)) : "a former member";
	};
	/** Re-reads the group so its pending count is right everywhere. */
	const refreshGroup = async () => {
		const fresh = await api.group(current.id).catch(() => null);
		if (fresh) {
			current = fresh;
			actions.changed(fresh);
		}
	};

	// ---- invite by email
	const emailError = formError();
	const sent = h("p", { class: "form-ok", role: "status", hidden: true });
	const emailForm = h(
		"form",
		{ class: "inline-form", "aria-label": "Invite someone by email", novalidate: true },
		field("Invite by email", h("input", { name: "email", type: "email", required: true, autocomplete: "off", placeholder: "name@example.com" })),
		h("button", { type: "submit", class: "btn btn-primary" }, "Invite"),
	);
	emailForm.addEventListener("submit", async event => {
		event.preventDefault();
		const email = formValues(emailForm).email ?? "";
		showFormError(emailError, null);
		sent.hidden = true;
		if (!email) return showFormError(emailError, new Error("Enter the email address of the person to invite."));
		try {
			const { invitation } = await busy(emailForm.querySelector("button"), () => api.addMember(current.id, email), "Sending…");
			emailForm.reset();
			sent.textContent = `Invitation sent to ${invitation?.email ?? email}. They join the group when they accept it.`;
			sent.hidden = false;
			if (invitation) invitations = [...invitations.filter(i => i.id !== invitation.id), invitation];
			renderInvitations();
			void loadInvitations();
			void refreshGroup();
		} catch (err) {
			showFormError(emailError, new Error(inviteErrorText(err, email)));
		}
	});

	// ---- pending invitations
	let invitations: GroupInvitation[] = [];
	const invitationList = h("ul", { class: "pending-list", "aria-label": "Pending invitations" });
	const invitationError = formError();
	const renderInvitations = () => {
		invitationList.replaceChildren(
			...invitations.map(inv => {
				const revoke = h(
					"button",
					{ type: "button", class: "btn btn-small btn-danger-quiet", "aria-label": `Withdraw the invitation to ${inv.email}` },
					"Withdraw",
				);
				revoke.addEventListener("click", async () => {
					showFormError(invitationError, null);
					try {
						await busy(revoke, () => api.revokeInvitation(current.id, inv.id), "Withdrawing…");
						invitations = invitations.filter(i => i.id !== inv.id);
						renderInvitations();
						toast({ title: `Invitation to ${inv.email} withdrawn`, kind: "success" });
						void refreshGroup();
					} catch (err) {
						showFormError(invitationError, err);
					}
				});
				return h(
					"li",
					{ "data-invitation-id": inv.id },
					h(
						"div",
						{ class: "pending-text" },
						h("span", { class: "pending-email" }, inv.email),
						h(
							"span",
							{ class: "muted" },
							`Invited by ${nameOf(inv.invitedBy)} · expires `,
							h("time", { datetime: inv.expiresAt, title: dateTime(inv.expiresAt) }, until(inv.expiresAt)),
						),
					),
					revoke,
				);
			}),
		);
		if (invitations.length === 0) invitationList.append(h("li", { class: "empty" }, "No pending invitations."));
	};
	const loadInvitations = async () => {
		try {
			invitations = await api.groupInvitations(current.id);
			renderInvitations();
		} catch (err) {
			showFormError(invitationError, err);
		}
	};

	// ---- invite links
	let links: InviteLink[] = [];
	const linkList = h("ul", { class: "pending-list", "aria-label": "Invite links" });
	const linkError = formError();
	const fresh = h("div", { class: "new-link", hidden: true });
	const expiry = h(
		"select",
		{ name: "expiresIn" },
		EXPIRY_CHOICES.map(([s, label]) => h("option", { value: s, selected: s === 604_800 }, label)),
	);
	const uses = h(
		"select",
		{ name: "maxUses" },
		USE_CHOICES.map(n => h("option", { value: n, selected: n === 10 }, n === 1 ? "1 person" : `${n} people`)),
	);
	const linkForm = h(
		"form",
		{ class: "inline-form link-form", "aria-label": "Create an invite link" },
		field("Valid for", expiry),
		field("Up to", uses),
		h("button", { type: "submit", class: "btn" }, "Create link"),
	);
	linkForm.addEventListener("submit", async event => {
		event.preventDefault();
		showFormError(linkError, null);
		const v = formValues(linkForm);
		try {
			const link = await busy(
				linkForm.querySelector("button"),
				() => api.createInviteLink(current.id, { expiresIn: Number(v.expiresIn), maxUses: Number(v.maxUses) }),
				"Creating…",
			);
			links = [link, ...links.filter(l => l.id !== link.id)];
			showNewLink(link);
			renderLinks();
		} catch (err) {
			showFormError(linkError, err);
		}
	});

	/** The link just made: its address is shown once (the server keeps only a hash of the code). */
	const showNewLink = (link: InviteLink) => {
		const url = linkUrl(link);
		if (!url) return;
		const input = h("input", { type: "text", readonly: true, value: url, class: "mono link-url", "aria-label": "Invite link", onfocus: () => input.select() });
		const status = h("span", { class: "copy-status", role: "status" });
		const copy = h("button", { type: "button", class: "btn btn-primary" }, "Copy");
		copy.addEventListener("click", async () => {
			const ok = await copyText(url, input);
			status.textContent = ok ? "Copied" : "Select the link and copy it.";
			if (ok) copy.textContent = "Copied";
			window.setTimeout(() => (copy.textContent = "Copy"), 2_000);
		});
		fresh.replaceChildren(
			h(
				"p",
				{ class: "hint" },
				`Send this link to the people you want in the group. Up to ${plural(link.maxUses, "person", "people")} can join with it; it expires ${until(link.expiresAt)}. Copy it now: it is not shown again.`,
			),
			h("div", { class: "copy-row" }, input, copy),
			status,
		);
		fresh.hidden = false;
		fresh.dataset.linkId = link.id;
	};

	const renderLinks = () => {
		linkList.replaceChildren(
			...links.map(link => {
				const revoke = h("button", { type: "button", class: "btn btn-small btn-danger-quiet", "aria-label": "Revoke this invite link" }, "Revoke");
				revoke.addEventListener("click", async () => {
					showFormError(linkError, null);
					try {
						await busy(revoke, () => api.revokeInviteLink(current.id, link.id), "Revoking…");
						links = links.filter(l => l.id !== link.id);
						if (fresh.dataset.linkId === link.id) fresh.hidden = true;
						renderLinks();
						toast({ title: "Invite link revoked", body: "Nobody can join with it any more.", kind: "success" });
					} catch (err) {
						showFormError(linkError, err);
					}
				});
				return h(
					"li",
					{ "data-link-id": link.id },
					h(
						"div",
						{ class: "pending-text" },
						h(
							"span",
							{},
							`Used by ${link.uses} of ${plural(link.maxUses, "person", "people")}`,
							fresh.dataset.linkId === link.id && !fresh.hidden ? h("span", { class: "chip" }, "new") : null,
						),
						h(
							"span",
							{ class: "muted" },
							link.createdBy ? `Made by ${nameOf(link.createdBy)} · expires ` : "Expires ",
							h("time", { datetime: link.expiresAt, title: dateTime(link.expiresAt) }, until(link.expiresAt)),
						),
					),
					revoke,
				);
			}),
		);
		if (links.length === 0) linkList.append(h("li", { class: "empty" }, "No active invite links."));
	};
	const loadLinks = async () => {
		try {
			// Newest first, as a link just made is added.
			links = (await api.inviteLinks(current.id)).sort((a, b) => (b.createdAt ?? "").localeCompare(a.createdAt ?? ""));
			renderLinks();
		} catch (err) {
			showFormError(linkError, err);
		}
	};

	modal(
		`Invite people to “${group.name}”`,
		() => [
			h(
				"p",
				{ class: "muted" },
				"People join only after they accept. Everyone in the group sees the members' shared locations and SOS alerts, so invite only people you trust.",
			),
			emailForm,
			emailError,
			sent,
			h("h3", {}, "Pending invitations"),
			invitationList,
			invitationError,
			h("h3", {}, "Invite links"),
			h("p", { class: "hint" }, "Anyone holding a link can join until it expires, is used up or is revoked."),
			linkForm,
			fresh,
			linkList,
			linkError,
		],
		{ className: "modal-invite" },
	);
	renderInvitations();
	renderLinks();
	void loadInvitations();
	void loadLinks();
}
