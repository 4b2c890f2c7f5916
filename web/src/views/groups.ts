import type { Api } from "../api";
import { busy, formValues, h } from "../dom";
import { fullName } from "../format";
import type { Group, User } from "../types";
import { confirmAction, field, formError, modal, showFormError, toast } from "../ui";

/** The group list (sidebar) with "new group", and the "manage group" dialog. */

export interface GroupActions {
	api: Api;
	me(): User;
	select(groupId: string): void;
	/** A group changed (created, renamed, members): the app updates its copy and the views. */
	changed(group: Group): void;
	/** The user is no longer in the group (left, or deleted it). */
	gone(groupId: string): void;
}

export class GroupList {
	readonly el: HTMLElement;
	private list: HTMLUListElement;

	constructor(private readonly actions: GroupActions) {
		this.list = h("ul", { class: "group-list" });
		const error = formError();
		const form = h(
			"form",
			{ class: "stack new-group", "aria-labelledby": "new-group-title" },
			h("h3", { id: "new-group-title" }, "New group"),
			field("Name", h("input", { name: "name", required: true, maxlength: 100, placeholder: "Family" })),
			field("Invite (optional)", h("input", { name: "emails", type: "text", inputmode: "email", placeholder: "bob@example.com, …" }), "Emails separated by commas: each gets an invitation, and joins by accepting it."),
			error,
			h("button", { type: "submit", class: "btn btn-primary" }, "Create group"),
		);
		form.addEventListener("submit", async event => {
			event.preventDefault();
			const values = formValues(form);
			const emails = (values.emails ?? "").split(/[\s,;]+/).filter(Boolean);
			showFormError(error, null);
			try {
				const group = await busy(form.querySelector("button[type=submit]"), () => actions.api.createGroup(values.name ?? "", emails), "Creating…");
				form.reset();
				actions.changed(group);
				actions.select(group.id);
				toast({ title: `Group “${group.name}” created`, kind: "success" });
			} catch (err) {
				showFormError(error, err);
			}
		});
		this.el = h("nav", { class: "panel groups", "aria-labelledby": "groups-title" }, h("h2", { id: "groups-title" }, "Your groups"), this.list, form);
	}

	render(groups: Group[], selectedId: string | null): void {
		this.list.replaceChildren(
			...groups.map(g =>
				h(
					"li",
					{},
					h(
						"button",
						{ type: "button", class: "group-item", "data-group-id": g.id, "aria-current": g.id === selectedId ? "true" : null, onclick: () => this.actions.select(g.id) },
						h("span", { class: "group-name" }, g.name),
						h("span", { class: "group-count" }, `${g.members.length} ${g.members.length === 1 ? "member" : "members"}`),
					),
				),
			),
		);
		if (groups.length === 0) this.list.append(h("li", { class: "empty" }, "No groups yet. Create one below, or ask someone to invite you by email."));
	}
}

/** Rename, add and remove members, leave, delete. */
export function manageGroup(actions: GroupActions, group: Group): void {
	const me = actions.me();
	let current = group;
	const members = h("ul", { class: "manage-members", "aria-label": "Members" });

	const update = (g: Group) => {
		current = g;
		actions.changed(g);
		renderMembers();
		const title = dialog.dialog.querySelector("h2");
		if (title) title.textContent = `Manage “${g.name}”`;
	};

	const renderMembers = () => {
		members.replaceChildren(
			...current.members.map(m => {
				const isMe = m.id === me.id;
				const remove = h("button", { type: "button", class: "btn btn-small btn-danger-quiet", "aria-label": `Remove ${fullName(m)} from the group` }, "Remove");
				remove.addEventListener("click", async () => {
					if (!(await confirmAction({ title: "Remove member", message: `Remove ${fullName(m)} from “${current.name}”?`, confirm: "Remove", danger: true }))) return;
					try {
						update(await busy(remove, () => actions.api.removeMember(current.id, m.id), "Removing…"));
						toast({ title: `${fullName(m)} was removed`, kind: "success" });
					} catch (err) {
						showFormError(memberError, err);
					}
				});
				return h(
					"li",
					{},
					h("span", {}, isMe ? `${fullName(m)} (you)` : fullName(m), m.id === current.createdBy ? h("span", { class: "chip" }, "creator") : null),
					h("span", { class: "muted" }, m.email ?? ""),
					isMe ? null : remove,
				);
			}),
		);
	};

	const renameError = formError();
	const rename = h(
		"form",
		{ class: "inline-form", "aria-label": "Rename the group" },
		field("Group name", h("input", { name: "name", required: true, maxlength: 100, value: group.name })),
		h("button", { type: "submit", class: "btn" }, "Rename"),
	);
	rename.addEventListener("submit", async event => {
		event.preventDefault();
		showFormError(renameError, null);
		try {
			update(await busy(rename.querySelector("button"), () => actions.api.renameGroup(current.id, formValues(rename).name ?? ""), "Saving…"));
			toast({ title: "Group renamed", kind: "success" });
		} catch (err) {
			showFormError(renameError, err);
		}
	});

	const memberError = formError();
	const add = h(
		"form",
		{ class: "inline-form", "aria-label": "Invite someone" },
		field("Invite by email", h("input", { name: "email", type: "email", required: true, autocomplete: "off" })),
		h("button", { type: "submit", class: "btn" }, "Invite"),
	);
	add.addEventListener("submit", async event => {
		event.preventDefault();
		showFormError(memberError, null);
		const email = formValues(add).email ?? "";
		try {
			// An invitation, not a membership: they join when they accept it.
			await busy(add.querySelector("button"), () => actions.api.invite(current.id, email), "Inviting…");
			add.reset();
			update(await actions.api.group(current.id));
			toast({ title: `Invitation sent to ${email}`, body: "They join the group when they accept it.", kind: "success" });
		} catch (err) {
			showFormError(memberError, err);
		}
	});

	const leaveError = formError();
	const leave = h("button", { type: "button", class: "btn btn-danger-quiet" }, "Leave group");
	const remove = h("button", { type: "button", class: "btn btn-danger", hidden: group.createdBy !== me.id }, "Delete group");

	const dialog = modal(`Manage “${group.name}”`, () => [
		rename,
		renameError,
		h("h3", {}, "Members"),
		members,
		add,
		memberError,
		h("div", { class: "actions actions-split" }, leave, remove),
		leaveError,
	]);
	renderMembers();

	leave.addEventListener("click", async () => {
		if (!(await confirmAction({ title: "Leave group", message: `Leave “${current.name}”? You will stop seeing its members and chat.`, confirm: "Leave", danger: true }))) return;
		try {
			await busy(leave, () => actions.api.leaveGroup(current.id), "Leaving…");
			dialog.close();
			actions.gone(current.id);
			toast({ title: `You left “${current.name}”`, kind: "success" });
		} catch (err) {
			showFormError(leaveError, err);
		}
	});
	remove.addEventListener("click", async () => {
		if (!(await confirmAction({ title: "Delete group", message: `Delete “${current.name}” for everyone? This cannot be undone.`, confirm: "Delete", danger: true }))) return;
		try {
			await busy(remove, () => actions.api.deleteGroup(current.id), "Deleting…");
			dialog.close();
			actions.gone(current.id);
			toast({ title: `“${current.name}” was deleted`, kind: "success" });
		} catch (err) {
			showFormError(leaveError, err);
		}
	});
}
