import { createHash, randomBytes } from "node:crypto";
import { conflict, notFound, rateLimited } from "../../events/errors.js";
import type { GroupInvitation, Invitation, UserRef } from "../../events/types.js";
import { assertCanSee, type GroupState } from "./groups.js";

/**
 * Consent (API.md §6.1, SPEC §4): nobody becomes a member without accepting. Adding someone by
 * email only creates an invitation; the rules here decide what an invite, an accept, a decline
 * and an invite-link join may do. Pure: the service reads the state, asks, then writes.
 *
 * What the inviter is told never depends on whether the email has an account or has blocked
 * them: a blocked invitation is stored like any other (members see it pending until it expires)
 * but is never delivered to the invitee.
 */

export interface InvitationState {
	id: string;
	groupId: string;
	/** Normalised (trimmed, lower case). */
	email: string;
	invitedBy: string;
	createdAt: Date;
	expiresAt: Date;
	/** The invitee blocked the inviter: kept out of the invitee's list, invisible to the inviter. */
	suppressed: boolean;
}

export interface InviteLimits {
	/** Members plus pending invitations of one group. */
	maxGroupMembers: number;
	/** Invitations one user may send per rolling hour (0: no limit). */
	invitesPerHour: number;
	/** Groups one user may belong to. */
	maxGroupsPerUser: number;
	/** How long an invitation waits for an answer. */
	invitationTtlMs: number;
}

export const isPending = (invitation: Pick<InvitationState, "expiresAt">, now: number) => invitation.expiresAt.getTime() > now;

/** How long an invitation waits for an answer (API.md §6.1 leaves it open). */
export const INVITATION_TTL_MS = 7 * 86_400_000;

/** The invitee declined an earlier invitation from `inviterId` with `block: true`. */
export const hasBlocked = (invitee: { blockedInviters?: readonly string[] | null }, inviterId: string) => (invitee.blockedInviters ?? []).includes(inviterId);

/** An invitation as the group's members see it. */
export const toGroupInvitation = (invitation: Omit<InvitationState, "suppressed">): GroupInvitation => ({
	id: invitation.id,
	groupId: invitation.groupId,
	email: invitation.email,
	invitedBy: invitation.invitedBy,
	createdAt: invitation.createdAt.toISOString(),
	expiresAt: invitation.expiresAt.toISOString(),
});

/** An invitation as its addressee sees it: the group by name, the inviter by name (never their email). */
export const toInvitation = (invitation: Omit<InvitationState, "suppressed" | "email">, groupName: string, inviter: UserRef): Invitation => ({
	id: invitation.id,
	groupId: invitation.groupId,
	groupName,
	invitedBy: { id: inviter.id, name: inviter.name, surname: inviter.surname },
	createdAt: invitation.createdAt.toISOString(),
	expiresAt: invitation.expiresAt.toISOString(),
});

export interface InviteRequest {
	group: GroupState | null | undefined;
	actorId: string;
	email: string;
	/** Normalised emails of the group's current members. */
	memberEmails: ReadonlySet<string>;
	/** The group's invitations not yet answered (expired ones are ignored here). */
	openInvitations: readonly InvitationState[];
	/** Invitations `actorId` sent in the last hour. */
	sentLastHour: number;
	/** The account holding `email` (if any) has blocked `actorId`. */
	blockedByInvitee: boolean;
	id: string;
	now: number;
	limits: InviteLimits;
}

/** The invitation to store for "add this email"; throws the client error when it may not be sent. */
export function decideInvite(request: InviteRequest): InvitationState {
	const { group, actorId, email, now, limits } = request;
	assertCanSee(group, actorId);
	if (request.memberEmails.has(email)) throw conflict("That person is already a member of this group");
	const open = request.openInvitations.filter(invitation => isPending(invitation, now));
	if (open.some(invitation => invitation.email === email)) throw conflict("That email already has a pending invitation to this group");
	if (limits.invitesPerHour > 0 && request.sentLastHour >= limits.invitesPerHour)
		throw rateLimited(`You can send at most ${limits.invitesPerHour} invitations an hour; try again later`);
	assertRoomFor(group.memberIds.length + open.length, 1, limits);
	return {
		id: request.id,
		groupId: group.id,
		email,
		invitedBy: actorId,
		createdAt: new Date(now),
		expiresAt: new Date(now + limits.invitationTtlMs),
		suppressed: request.blockedByInvitee,
	};
}

/** Members plus pending invitations stay within MAX_GROUP_MEMBERS. */
export function assertRoomFor(taken: number, adding: number, limits: Pick<InviteLimits, "maxGroupMembers">): void {
	if (taken + adding > limits.maxGroupMembers)
		throw conflict(`A group has at most ${limits.maxGroupMembers} members and pending invitations`, { limit: limits.maxGroupMembers });
}

/** A user joins at most MAX_GROUPS_PER_USER groups (creating one counts). */
export function assertMayJoinAnother(groupsOfUser: number, limits: Pick<InviteLimits, "maxGroupsPerUser">): void {
	if (groupsOfUser >= limits.maxGroupsPerUser)
		throw conflict(`You can be in at most ${limits.maxGroupsPerUser} groups; leave one first`, { limit: limits.maxGroupsPerUser });
}

/**
 * The invitation `userEmail` may answer: it must be addressed to them, not expired, not
 * suppressed. Anything else is "not found" — an invitee learns nothing about others' invitations.
 */
export function answerableInvitation(invitation: InvitationState | null | undefined, userEmail: string, now: number): InvitationState {
	if (!invitation || invitation.email !== userEmail || invitation.suppressed || !isPending(invitation, now)) throw notFound("Invitation");
	return invitation;
}

// ---- invite links

export interface InviteLinkState {
	id: string;
	groupId: string;
	createdBy: string;
	createdAt: Date;
	expiresAt: Date;
	maxUses: number;
	uses: number;
	revoked: boolean;
}

export const INVITE_LINK_DEFAULTS = { expiresInS: 604_800, maxExpiresInS: 2_592_000, maxUses: 10, maxMaxUses: 100 } as const;

/** 128 random bits, URL-safe: what the link carries. Only its hash is stored. */
export const newInviteCode = (): string => randomBytes(16).toString("base64url");

/** The stored key of a code: a leaked database does not hand out working links. */
export const inviteCodeHash = (code: string): string => createHash("sha256").update(code).digest("base64url");

/** A code that is not 22 base64url characters cannot be one of ours: answered 404 without a read. */
export const looksLikeInviteCode = (code: string): boolean => /^[A-Za-z0-9_-]{22}$/.test(code);

/** A new link's lifetime and use limit: the defaults of API.md §6.1 (the maxima are the params' bounds). */
export function inviteLinkTerms(request: { expiresIn?: number; maxUses?: number }, now: number): { expiresAt: Date; maxUses: number } {
	const expiresInS = request.expiresIn ?? INVITE_LINK_DEFAULTS.expiresInS;
	return { expiresAt: new Date(now + expiresInS * 1000), maxUses: request.maxUses ?? INVITE_LINK_DEFAULTS.maxUses };
}

/** Expired, used up or revoked links do not exist for visitors (404). */
export function usableInviteLink(link: InviteLinkState | null | undefined, now: number): InviteLinkState {
	if (!link || link.revoked || link.expiresAt.getTime() <= now || link.uses >= link.maxUses) throw notFound("Invite link");
	return link;
}
