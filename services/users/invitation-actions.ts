/**
 * The users service's consent actions (API.md §6.1): invitations by email and invite links, from sending
 * to answering. The rules are users/invitations.ts, the storage users/invitation-store.ts.
 */
import type { Context } from "moleculer";
import { callerOf, rules, strict } from "../../lib/params.js";
import type { Group, GroupInvitation, Invitation, Meta } from "../../events/types.js";
import type { CreatedInviteLink, InviteLinkPreview, InviteLinkView } from "./invitation-store.js";
import { INVITE_LINK_DEFAULTS } from "./invitations.js";
import type { UsersActions } from "./service-types.js";
import { groupParams, type GroupParams } from "./group-actions.js";
import { repeatable } from "../../lib/repeatable.js";

const inviteParams = { ...strict, groupId: rules.id, email: rules.email };
interface InviteParams {
	groupId: string;
	email: string;
}

const groupInvitationParams = () => ({
	...strict,
	groupId: rules.id,
	invitationId: rules.id,
});
interface GroupInvitationParams {
	groupId: string;
	invitationId: string;
}

const invitationParams = () => ({ ...strict, invitationId: rules.id });
interface InvitationParams {
	invitationId: string;
}

const declineParams = {
	...strict,
	invitationId: rules.id,
	block: { type: "boolean", optional: true },
};
interface DeclineParams {
	invitationId: string;
	block?: boolean;
}

const createLinkParams = {
	...strict,
	groupId: rules.id,
	expiresIn: {
		type: "number",
		integer: true,
		min: 60,
		max: INVITE_LINK_DEFAULTS.maxExpiresInS,
		optional: true,
	},
	maxUses: {
		type: "number",
		integer: true,
		min: 1,
		max: INVITE_LINK_DEFAULTS.maxMaxUses,
		optional: true,
	},
};
interface CreateLinkParams {
	groupId: string;
	expiresIn?: number;
	maxUses?: number;
}

const groupLinkParams = { ...strict, groupId: rules.id, linkId: rules.id };
interface GroupLinkParams {
	groupId: string;
	linkId: string;
}

/** Invite codes are 22 characters; anything else is answered 404 (looksLikeInviteCode) without a read. */
const codeParams = () => ({
	...strict,
	code: { type: "string", min: 1, max: 64 },
});
interface CodeParams {
	code: string;
}

const inspectInvitationsParams = {
	...strict,
	target: { type: "string", min: 1, max: 254, trim: true },
};
interface InspectInvitationsParams {
	target: string;
}

export const invitationActions: UsersActions = {
	/**
	 * Invites an email to a group (any member): 202 with the invitation, the same answer whether
	 * or not an account holds the email. The account, if any, is told after this answer.
	 */
	invite: {
		params: inviteParams,
		async handler(ctx: Context<InviteParams, Meta>): Promise<{ invitation: GroupInvitation }> {
			const invitation = await this.invitations.invite(callerOf(ctx).id, ctx.params.groupId, ctx.params.email);
			this.deliverSoon([invitation.id]);
			ctx.meta.$statusCode = 202;
			return { invitation };
		},
	},

	/** A group's pending invitations (any member). */
	groupInvitations: {
		...repeatable(),
		params: groupParams(),
		async handler(ctx: Context<GroupParams, Meta>): Promise<GroupInvitation[]> {
			return this.invitations.listForGroup(callerOf(ctx).id, ctx.params.groupId);
		},
	},

	/** Withdraws a pending invitation (any member). */
	revokeInvitation: {
		params: groupInvitationParams(),
		async handler(ctx: Context<GroupInvitationParams, Meta>) {
			await this.invitations.revoke(callerOf(ctx).id, ctx.params.groupId, ctx.params.invitationId);
			ctx.meta.$statusCode = 204;
			return null;
		},
	},

	/** The invitations addressed to the caller that they may still answer. */
	myInvitations: {
		...repeatable(),
		params: { ...strict },
		async handler(ctx: Context<unknown, Meta>): Promise<Invitation[]> {
			return this.invitations.listForUser(await this.accounts.active(callerOf(ctx).id));
		},
	},

	/** The caller accepts an invitation addressed to them: they become a member. */
	acceptInvitation: {
		params: invitationParams(),
		async handler(ctx: Context<InvitationParams, Meta>): Promise<Group> {
			const user = await this.accounts.active(callerOf(ctx).id);
			return this.joined(ctx, await this.invitations.accept(user, ctx.params.invitationId));
		},
	},

	/** The caller declines an invitation; `block` keeps that inviter's later invitations away for good. */
	declineInvitation: {
		params: declineParams,
		async handler(ctx: Context<DeclineParams, Meta>) {
			const user = await this.accounts.active(callerOf(ctx).id);
			await this.invitations.decline(user, ctx.params.invitationId, ctx.params.block === true);
			ctx.meta.$statusCode = 204;
			return null;
		},
	},

	/** A new invite link to a group (any member); the answer is the only place its code appears. */
	createInviteLink: {
		params: createLinkParams,
		async handler(ctx: Context<CreateLinkParams, Meta>): Promise<CreatedInviteLink> {
			const { groupId, expiresIn, maxUses } = ctx.params;
			const link = await this.invitations.createLink(callerOf(ctx).id, groupId, { expiresIn, maxUses });
			ctx.meta.$statusCode = 201;
			return link;
		},
	},

	/** A group's invite links that still work (any member). */
	inviteLinks: {
		...repeatable(),
		params: groupParams(),
		async handler(ctx: Context<GroupParams, Meta>): Promise<InviteLinkView[]> {
			return this.invitations.listLinks(callerOf(ctx).id, ctx.params.groupId);
		},
	},

	/** Revokes an invite link (any member). */
	revokeInviteLink: {
		params: groupLinkParams,
		async handler(ctx: Context<GroupLinkParams, Meta>) {
			await this.invitations.revokeLink(callerOf(ctx).id, ctx.params.groupId, ctx.params.linkId);
			ctx.meta.$statusCode = 204;
			return null;
		},
	},

	/** What an invite link leads to, for the join page of a visitor who is not logged in (no token needed). */
	previewInviteLink: {
		...repeatable(),
		params: codeParams(),
		async handler(ctx: Context<CodeParams>): Promise<InviteLinkPreview> {
			return this.invitations.preview(ctx.params.code);
		},
	},

	/** The caller joins the group of an invite link. */
	joinByInviteLink: {
		params: codeParams(),
		async handler(ctx: Context<CodeParams, Meta>): Promise<Group> {
			const user = await this.accounts.active(callerOf(ctx).id);
			return this.joined(ctx, await this.invitations.joinByLink(user, ctx.params.code));
		},
	},

	/** Invitations to an email, or of a group with its invite links, delivered or not (operators). */
	inspectInvitations: {
		...repeatable(),
		visibility: "public",
		params: inspectInvitationsParams,
		async handler(ctx: Context<InspectInvitationsParams>) {
			return this.invitations.inspect(ctx.params.target);
		},
	},
};
