import { ApiError, type Api } from "../api";
import { busy, h } from "../dom";
import { dateTime, fullName, plural, until } from "../format";
import type { Group, Invitation } from "../types";
import { confirmAction, dismissToast, toast, toastError } from "../ui";

/**
 * My pending invitations (API.md §6.1): nobody joins a group without accepting. Accept (the
 * group appears and opens), decline, or decline and block the inviter (their later invitations
 * are dropped, and they are not told). Kept current by the `invitation` socket event and the
 * INVITED notification; hidden while there is nothing to answer.
 */

/** The toast announcing an invitation to a group (one per group, whichever event brings it). */
export const invitationToastKey = (groupId: string) => `invitation-${groupId}`;

export interface InvitationHooks {
	api: Api;
	/** Accepted: the answer is the group, now with me in it. */
	accepted(group: Group): void;
	/** The number of pending invitations changed (for the badges elsewhere). */
	counted(count: number): void;
}

export class InvitationList {
	readonly el: HTMLElement;
	private list: HTMLUListElement;
	private items: Invitation[] = [];

	constructor(private readonly hooks: InvitationHooks) {
		this.list = h("ul", { class: "invitation-list" });
		this.el = h(
			"section",
			{ class: "panel invitations", id: "invitations", "aria-labelledby": "invitations-title", tabindex: -1, hidden: true },
			h("h2", { id: "invitations-title" }, "Invitations"),
			this.list,
		);
	}

	get count(): number {
		return this.items.length;
	}

	/** Everything pending (at start, after a reconnection, on an INVITED notification). */
	async load(): Promise<void> {
		this.items = await this.hooks.api.invitations();
		this.render();
	}

	/** A live invitation; false when it was already listed. */
	add(invitation: Invitation): boolean {
		const known = this.items.findIndex(i => i.id === invitation.id);
		if (known >= 0) {
			this.items[known] = invitation;
			this.render();
			return false;
		}
		this.items.unshift(invitation);
		this.render();
		return true;
	}

	/** The pending invitation to a group, if any. */
	find(groupId: string | undefined): Invitation | undefined {
		return this.items.find(i => i.groupId === groupId);
	}

	/** The list is in view: the toasts announcing its invitations have done their job. */
	dismissToasts(): void {
		for (const i of this.items) dismissToast(invitationToastKey(i.groupId));
	}

	/** Brings the list into view and moves the keyboard focus to it. */
	reveal(): void {
		if (this.el.hidden) return;
		this.el.scrollIntoView({ block: "nearest" });
		this.el.focus({ preventScroll: true });
	}

	/** Answered (or gone): out of the list, and its toast off the screen. */
	private remove(id: string) {
		const gone = this.items.find(i => i.id === id);
		if (gone) dismissToast(invitationToastKey(gone.groupId));
		this.items = this.items.filter(i => i.id !== id);
		this.render();
	}

	private render() {
		this.el.hidden = this.items.length === 0;
		this.list.replaceChildren(...this.items.map(i => this.row(i)));
		this.hooks.counted(this.items.length);
	}

	private row(invitation: Invitation): HTMLLIElement {
		const inviter = fullName(invitation.invitedBy);
		const accept = h(
			"button",
			{ type: "button", class: "btn btn-small btn-primary", "aria-label": `Accept the invitation to ${invitation.groupName}` },
			"Accept",
		);
		const decline = h("button", { type: "button", class: "btn btn-small", "aria-label": `Decline the invitation to ${invitation.groupName}` }, "Decline");
		const block = h("button", { type: "button", class: "btn btn-small btn-danger-quiet", "aria-label": `Decline and block ${inviter}` }, "Decline and block");
		const buttons = [accept, decline, block];
		const all = async (button: HTMLButtonElement, work: () => Promise<void>, label: string) => {
			for (const b of buttons) if (b !== button) b.disabled = true;
			try {
				await busy(button, work, label);
			} finally {
				for (const b of buttons) b.disabled = false;
			}
		};

		accept.addEventListener("click", () =>
			all(
				accept,
				async () => {
					try {
						const group = await this.hooks.api.acceptInvitation(invitation.id);
						this.remove(invitation.id);
						this.hooks.accepted(group);
						toast({
							title: `You joined “${group.name}”`,
							body: `You and ${plural(group.members.length - 1, "other member")} now see each other's shared locations.`,
							kind: "success",
							key: `joined-${group.id}`,
						});
					} catch (err) {
						this.failed("Could not accept the invitation", err, invitation);
					}
				},
				"Joining…",
			),
		);
		decline.addEventListener("click", () =>
			all(
				decline,
				async () => {
					try {
						await this.hooks.api.declineInvitation(invitation.id);
						this.remove(invitation.id);
						toast({ title: `Invitation to “${invitation.groupName}” declined`, kind: "success" });
					} catch (err) {
						this.failed("Could not decline the invitation", err, invitation);
					}
				},
				"Declining…",
			),
		);
		block.addEventListener("click", async () => {
			const sure = await confirmAction({
				title: "Decline and block",
				message: `Decline the invitation to “${invitation.groupName}” and block ${inviter}? You will not get invitations from ${inviter} again. They are not told.`,
				confirm: "Decline and block",
				danger: true,
			});
			if (!sure) return;
			await all(
				block,
				async () => {
					try {
						await this.hooks.api.declineInvitation(invitation.id, true);
						this.remove(invitation.id);
						toast({ title: `${inviter} is blocked`, body: `Invitation to “${invitation.groupName}” declined.`, kind: "success" });
					} catch (err) {
						this.failed("Could not decline the invitation", err, invitation);
					}
				},
				"Blocking…",
			);
		});

		return h(
			"li",
			{ class: "invitation", "data-invitation-id": invitation.id, "data-group-id": invitation.groupId },
			h(
				"div",
				{ class: "invitation-text" },
				h("strong", { class: "invitation-group" }, invitation.groupName),
				h("span", { class: "invitation-by" }, `${inviter} invited you`),
			),
			h(
				"time",
				{ class: "invitation-expiry", datetime: invitation.expiresAt, title: dateTime(invitation.expiresAt) },
				`Expires ${until(invitation.expiresAt)}`,
			),
			h("div", { class: "invitation-actions" }, buttons),
		);
	}

	/** A failure; an invitation that no longer exists (expired, withdrawn) leaves the list. */
	private failed(title: string, err: unknown, invitation: Invitation) {
		if (err instanceof ApiError && err.code === 404) {
			this.remove(invitation.id);
			toast({ title: `The invitation to “${invitation.groupName}” has expired or was withdrawn`, kind: "warning" });
			return;
		}
		toastError(title, err);
	}
}
