import { randomUUID } from "node:crypto";
import { newEnvelope } from "../../mixins/outbox-relay.mixin.js";
import { conflict, notFound, rateLimited } from "../../events/errors.js";
import { DomainEvents } from "../../events/domain.js";
import type { GroupInvitation, Invitation, UserRef } from "../../events/types.js";
import type { AttemptStore } from "../../lib/attempt-limits.js";
import { findActiveByEmail } from "./email-index.js";
import { groupsOfUser } from "./group-index.js";
import { invitedNotice } from "./group-notices.js";
import { invitesRevAsRead, toState, type GroupStore, type GroupWrite } from "./group-store.js";
import { assertCanSee, isMember } from "./groups.js";
import {
	answerableInvitation,
	assertMayJoinAnother,
	assertRoomFor,
	decideInvite,
	hasBlocked,
	inviteCodeHash,
	inviteLinkTerms,
	isPending,
	looksLikeInviteCode,
	newInviteCode,
	toGroupInvitation,
	toInvitation,
	usableInviteLink,
	type InvitationState,
	type InviteLimits,
	type InviteLinkState,
} from "./invitations.js";
import { toRef } from "./members.js";
import type { MemberFields } from "./member-cache.js";
import type { GroupDoc, InvitationDoc, InviteLinkDoc, UserDoc, UsersModels } from "./models.js";

/**
 * Consent, stored (API.md §6.1): invitations by email and invite links, written around the
 * rules of invitations.ts. Membership itself only ever starts through the group command path
 * (GroupStore `join`), so a member who accepts is announced exactly like any other.
 *
 * No account enumeration: sending an invitation never reads the account behind the email. The
 * inviter is answered first; the addressee is looked up afterwards (`deliver`), and told through
 * the invitation's outbox, so a crash in between only delays the notice (`deliverDue` finds it).
 * Invitations to one group are decided one at a time (a conditional write on the group's
 * `invitesRev`), so members plus pending invitations never pass the limit.
 */

export interface InvitationStoreDeps {
	models: Pick<UsersModels, "User" | "UserEmail" | "Group" | "Invitation" | "InviteLink">;
	groups: Pick<GroupStore, "apply">;
	/** Members as group answers show them (names and emails). */
	membersByIds(ids: readonly string[]): Promise<Map<string, MemberFields>>;
	/** Counts invitations per user per hour, before they are sent. */
	attempts: AttemptStore;
	limits: InviteLimits;
	/** Publishes the invitation's pending outbox events soon. */
	kickOutbox(modelName: "Invitation", docId: string): void;
	/** Tells the invitee's open sockets (a live broadcast; may be lost, the list has it). */
	announce(userId: string, invitation: Invitation): Promise<void>;
	warn(message: string, detail?: string): void;
	now?: () => number;
}

/** A new invite link: the only time its code is seen (only its hash is stored). */
export interface CreatedInviteLink {
	id: string;
	code: string;
	url: string;
	expiresAt: string;
	maxUses: number;
	uses: number;
}

/** An invite link as members list it (without its code, which is not stored). */
export interface InviteLinkView {
	id: string;
	groupId: string;
	createdBy: string;
	createdAt: string;
	expiresAt: string;
	maxUses: number;
	uses: number;
}

/** What a logged-out visitor of `/join/<code>` may see. */
export interface InviteLinkPreview {
	groupName: string;
	invitedBy: { name: string };
	memberCount: number;
	expiresAt: string;
}

/** An invitation as operators see it. */
export interface InvitationInspection extends GroupInvitation {
	pending: boolean;
	suppressed: boolean;
	delivery: string;
	outbox: number;
}

/** A group answer for a consent route: the group as written (and what happened, to announce). */
export interface ConsentOutcome extends Partial<GroupWrite> {
	doc: GroupDoc;
}

const HOUR_MS = 3_600_000;
/** Attempts at sending one invitation while other invitations or changes race for the group. */
const MAX_INVITE_RETRIES = 8;
/** Invitations whose delivery was interrupted, handled per sweep. */
const DELIVERY_SWEEP_BATCH = 100;

export const toInvitationState = (doc: InvitationDoc): InvitationState => ({
	id: doc._id,
	groupId: doc.groupId,
	email: doc.email,
	invitedBy: doc.invitedBy,
	createdAt: new Date(doc.createdAt),
	expiresAt: new Date(doc.expiresAt),
	suppressed: Boolean(doc.suppressed),
});

const toLinkState = (doc: InviteLinkDoc): InviteLinkState => ({
	id: doc.linkId,
	groupId: doc.groupId,
	createdBy: doc.createdBy,
	createdAt: new Date(doc.createdAt),
	expiresAt: new Date(doc.expiresAt),
	maxUses: doc.maxUses,
	uses: doc.uses,
	revoked: false,
});

const toLinkView = (link: InviteLinkState): InviteLinkView => ({
	id: link.id,
	groupId: link.groupId,
	createdBy: link.createdBy,
	createdAt: link.createdAt.toISOString(),
	expiresAt: link.expiresAt.toISOString(),
	maxUses: link.maxUses,
	uses: link.uses,
});

export class InvitationStore {
	private readonly now: () => number;

	constructor(private readonly deps: InvitationStoreDeps) {
		this.now = deps.now ?? Date.now;
	}

	// ---- sending

	/**
	 * Invites `email` to a group on behalf of member `actorId`. The answer (and its timing) is the
	 * same whether or not an account holds the email: call `deliver` with the id after answering.
	 */
	async invite(actorId: string, groupId: string, email: string): Promise<GroupInvitation> {
		const { models } = this.deps;
		let reserved = false;
		for (let attempt = 0; attempt < MAX_INVITE_RETRIES; attempt++) {
			const now = this.now();
			const group = await models.Group.findById(groupId).lean();
			const state = group ? toState(group) : null;
			assertCanSee(state, actorId);
			const [members, open] = await Promise.all([this.deps.membersByIds(state.memberIds), this.openInvitationsOf(groupId, now)]);
			const memberEmails = new Set([...members.values()].map(member => member.email));
			const request = {
				group: state,
				actorId,
				email,
				memberEmails,
				openInvitations: open,
				sentLastHour: 0,
				blockedByInvitee: false,
				id: randomUUID(),
				now,
				limits: this.deps.limits,
			};
			// Refusals that depend on the group (403, 409) come first and cost nothing; then the hourly budget.
			const invitation = decideInvite(request);
			if (!reserved) {
				await this.reserveInvites(actorId, 1);
				reserved = true;
			}
			// Stored first, then confirmed by a write that succeeds only if no other invitation (or change)
			// came in between; so whoever decides next already counts this one. Withdrawn when it lost.
			await models.Invitation.create(this.newDoc(invitation));
			const claimed = await models.Group.updateOne(
				{ _id: groupId, version: group!.version, invitesRev: invitesRevAsRead(group!) },
				{ $set: { invitesRev: (group!.invitesRev ?? 0) + 1 } },
			);
			if (claimed.matchedCount === 1) return toGroupInvitation(invitation);
			await models.Invitation.deleteOne({ _id: invitation.id });
		}
		throw conflict("The group is changing too fast, try again");
	}

	/**
	 * The invitations of a group being created (no one else knows it yet, so none can race):
	 * the limits are checked first, then `create` makes the group and they are stored.
	 */
	async inviteToNewGroup(
		creator: UserDoc,
		emails: readonly string[],
		create: () => Promise<GroupWrite>,
	): Promise<{ write: GroupWrite; invitations: GroupInvitation[] }> {
		const { models, limits } = this.deps;
		assertMayJoinAnother((await groupsOfUser(models, creator)).length, limits);
		assertRoomFor(1, emails.length, limits);
		if (emails.length) await this.reserveInvites(creator._id, emails.length);
		const write = await create();
		const now = this.now();
		const invitations = emails.map(email => ({
			id: randomUUID(),
			groupId: write.doc._id,
			email,
			invitedBy: creator._id,
			createdAt: new Date(now),
			expiresAt: new Date(now + limits.invitationTtlMs),
			suppressed: false,
		}));
		if (invitations.length) await models.Invitation.insertMany(invitations.map(invitation => this.newDoc(invitation)));
		return { write, invitations: invitations.map(toGroupInvitation) };
	}

	/**
	 * After the inviter has their answer: finds the account holding the invitation's email, if
	 * any, and tells it (INVITED, through the invitation's outbox, and a live event). An invitee
	 * who blocked the inviter is not told, and never sees it. Done once per invitation whatever
	 * the number of callers (a conditional write); an email without an account waits for one.
	 */
	async deliver(invitationId: string): Promise<void> {
		const { models } = this.deps;
		const doc = await models.Invitation.findOne({ _id: invitationId, deliveryDue: true }).lean();
		if (!doc) return;
		const invitee = isPending(doc, this.now()) ? await findActiveByEmail(models, doc.email) : null;
		if (!invitee) {
			await models.Invitation.updateOne({ _id: doc._id, deliveryDue: true }, { $set: { deliveryDue: false } });
			return;
		}
		if (hasBlocked(invitee, doc.invitedBy)) {
			await models.Invitation.updateOne({ _id: doc._id, deliveryDue: true }, { $set: { deliveryDue: false, suppressed: true, inviteeId: invitee._id } });
			return;
		}
		const [group, inviter] = await Promise.all([models.Group.findById(doc.groupId).lean(), models.User.findById(doc.invitedBy).lean()]);
		if (!group || group.deleted) {
			await models.Invitation.updateOne({ _id: doc._id, deliveryDue: true }, { $set: { deliveryDue: false } });
			return;
		}
		const inviterRef: UserRef = inviter && !inviter.deletedAt ? toRef(inviter) : { id: doc.invitedBy, name: "Someone", surname: "" };
		const notice = newEnvelope(DomainEvents.notificationSend, invitedNotice(group, inviterRef, invitee._id));
		const told = await models.Invitation.updateOne(
			{ _id: doc._id, deliveryDue: true },
			{ $set: { deliveryDue: false, inviteeId: invitee._id }, $push: { outbox: notice } },
		);
		if (told.matchedCount !== 1) return;
		this.deps.kickOutbox("Invitation", doc._id);
		await this.deps
			.announce(invitee._id, toInvitation(toInvitationState(doc), group.name, inviterRef))
			.catch((err: Error) => this.deps.warn("Live invitation failed:", err.message));
	}

	/** Delivers invitations whose delivery a crash (or an outage) interrupted; returns how many were looked at. */
	async deliverDue(): Promise<number> {
		const due = await this.deps.models.Invitation.find({ deliveryDue: true }, { _id: 1 }).limit(DELIVERY_SWEEP_BATCH).lean();
		for (const { _id } of due) await this.deliver(_id);
		return due.length;
	}

	/**
	 * An account now holds `email` (registered, or changed to it): the invitations waiting for
	 * that email are delivered to it. Returns their ids (to deliver after answering).
	 */
	async addressedTo(email: string, userId: string): Promise<string[]> {
		const { models } = this.deps;
		const filter = { email, expiresAt: { $gt: new Date(this.now()) }, suppressed: false, inviteeId: { $ne: userId } };
		const waiting = await models.Invitation.find(filter, { _id: 1 }).lean();
		if (!waiting.length) return [];
		await models.Invitation.updateMany({ _id: { $in: waiting.map(w => w._id) } }, { $set: { deliveryDue: true } });
		return waiting.map(w => w._id);
	}

	// ---- members' view

	/** A group's pending invitations (members only), oldest first. Blocked ones look like the others. */
	async listForGroup(actorId: string, groupId: string): Promise<GroupInvitation[]> {
		await this.assertMember(actorId, groupId);
		const open = await this.openInvitationsOf(groupId, this.now());
		return open.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime()).map(toGroupInvitation);
	}

	/** Withdraws a pending invitation (any member). */
	async revoke(actorId: string, groupId: string, invitationId: string): Promise<void> {
		await this.assertMember(actorId, groupId);
		if (!(await this.retire({ _id: invitationId, groupId }))) throw notFound("Invitation");
	}

	/** Invitations sent and not yet answered or expired, as `Group.pendingInvitations` shows them. */
	async pendingCount(groupId: string): Promise<number> {
		return this.deps.models.Invitation.countDocuments({ groupId, expiresAt: { $gt: new Date(this.now()) } });
	}

	// ---- the addressee's view

	/** The invitations `user` may answer now: to their current email, not blocked, to groups that still exist and they are not in. */
	async listForUser(user: UserDoc): Promise<Invitation[]> {
		const { models } = this.deps;
		const docs = await models.Invitation.find({ email: user.email, expiresAt: { $gt: new Date(this.now()) } }).lean();
		const visible = docs
			.filter(doc => !doc.suppressed && !hasBlocked(user, doc.invitedBy))
			.sort((a, b) => new Date(a.createdAt).getTime() - new Date(b.createdAt).getTime());
		if (!visible.length) return [];
		const groupIds = [...new Set(visible.map(doc => doc.groupId))];
		const read: (GroupDoc | null)[] = await Promise.all(groupIds.map(id => models.Group.findById(id).lean<GroupDoc>()));
		const groups = new Map(read.filter((g): g is GroupDoc => Boolean(g)).map(g => [g._id, g]));
		const inviters = await this.deps.membersByIds([...new Set(visible.map(doc => doc.invitedBy))]);
		const answer: Invitation[] = [];
		for (const doc of visible) {
			const group = groups.get(doc.groupId);
			if (!group || !isOpenTo(group, user._id)) continue;
			const inviter = inviters.get(doc.invitedBy);
			answer.push(toInvitation(toInvitationState(doc), group.name, inviter ? toRef(inviter) : { id: doc.invitedBy, name: "Someone", surname: "" }));
		}
		return answer;
	}

	/**
	 * `user` accepts: they join through the group command path (the same events and notices as
	 * any new member, plus INVITATION_ACCEPTED to the inviter), then the invitation is gone. Run
	 * again after a crash in between, it finds them a member and finishes.
	 */
	async accept(user: UserDoc, invitationId: string): Promise<ConsentOutcome> {
		const { models, groups, limits } = this.deps;
		const invitation = await this.answerable(user, invitationId);
		const group = await models.Group.findById(invitation.groupId).lean();
		if (!group || group.deleted) {
			await this.retire({ _id: invitation.id });
			throw notFound("Invitation");
		}
		if (!isMember(toState(group), user._id)) {
			assertMayJoinAnother((await groupsOfUser(models, user)).length, limits);
			try {
				const write = await groups.apply(user._id, invitation.groupId, { kind: "join", invitedBy: invitation.invitedBy, via: "invitation" });
				await this.retire({ _id: invitation.id });
				return write;
			} catch (err) {
				// A concurrent accept of the same invitation won: the caller is a member all the same.
				if ((err as { type?: string }).type !== "CONFLICT" || !(await this.isMemberNow(invitation.groupId, user._id))) throw err;
			}
		}
		await this.retire({ _id: invitation.id });
		return { doc: (await models.Group.findById(invitation.groupId).lean())! };
	}

	/** `user` declines; with `block`, every later invitation from that inviter stays out of their sight. */
	async decline(user: UserDoc, invitationId: string, block: boolean): Promise<void> {
		const { models } = this.deps;
		const invitation = await this.answerable(user, invitationId);
		if (block) await models.User.updateOne({ _id: user._id }, { $addToSet: { blockedInviters: invitation.invitedBy } });
		await this.retire({ _id: invitation.id });
	}

	// ---- invite links

	/** A new link to the group (members only); its code is in this answer and nowhere else. */
	async createLink(actorId: string, groupId: string, request: { expiresIn?: number; maxUses?: number }): Promise<CreatedInviteLink> {
		await this.assertMember(actorId, groupId);
		const now = this.now();
		const code = newInviteCode();
		const { expiresAt, maxUses } = inviteLinkTerms(request, now);
		const doc: InviteLinkDoc = {
			_id: inviteCodeHash(code),
			linkId: randomUUID(),
			groupId,
			createdBy: actorId,
			createdAt: new Date(now),
			expiresAt,
			maxUses,
			uses: 0,
			usesLeft: maxUses,
		};
		await this.deps.models.InviteLink.create(doc);
		return { id: doc.linkId, code, url: joinPath(code), expiresAt: expiresAt.toISOString(), maxUses, uses: 0 };
	}

	/** The group's links that still work (members only), oldest first. */
	async listLinks(actorId: string, groupId: string): Promise<InviteLinkView[]> {
		await this.assertMember(actorId, groupId);
		const now = this.now();
		const docs = await this.deps.models.InviteLink.find({ groupId }).lean();
		return docs
			.map(toLinkState)
			.filter(link => link.expiresAt.getTime() > now && link.uses < link.maxUses)
			.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
			.map(toLinkView);
	}

	/** Revokes a link (any member): its code stops working at once. */
	async revokeLink(actorId: string, groupId: string, linkId: string): Promise<void> {
		await this.assertMember(actorId, groupId);
		const removed = await this.deps.models.InviteLink.deleteOne({ linkId, groupId });
		if (!removed.deletedCount) throw notFound("Invite link");
	}

	/** What the join page shows before anyone logs in; an unusable code is 404, like an unknown one. */
	async preview(code: string): Promise<InviteLinkPreview> {
		const { link, group } = await this.usableLink(code);
		const creator = (await this.deps.membersByIds([link.createdBy])).get(link.createdBy);
		return {
			groupName: group.name,
			invitedBy: { name: creator?.name ?? "Someone" },
			memberCount: group.memberIds.length,
			expiresAt: link.expiresAt.toISOString(),
		};
	}

	/**
	 * `user` joins with a link: one use is taken with one conditional update (so `maxUses` holds
	 * however many join at once), then the membership starts through the group command path. A
	 * member who follows the link again is answered with the group, and takes no use.
	 */
	async joinByLink(user: UserDoc, code: string): Promise<ConsentOutcome> {
		const { models, groups, limits } = this.deps;
		const { link, group } = await this.usableLink(code);
		if (isMember(toState(group), user._id)) return { doc: group };
		assertMayJoinAnother((await groupsOfUser(models, user)).length, limits);
		const hash = inviteCodeHash(code);
		const taken = await models.InviteLink.updateOne(
			{ _id: hash, expiresAt: { $gt: new Date(this.now()) }, usesLeft: { $gt: 0 } },
			{ $inc: { usesLeft: -1, uses: 1 } },
		);
		if (taken.matchedCount !== 1) throw notFound("Invite link");
		try {
			// Room for one more, decided on the same read of the group as the join itself.
			return await groups.apply(user._id, link.groupId, { kind: "join", invitedBy: link.createdBy, via: "link" }, async doc => {
				assertRoomFor(doc.memberIds.length + (await this.pendingCount(doc._id)), 1, limits);
			});
		} catch (err) {
			// Not joined: the use goes back (best effort; a crash here loses one use of the link).
			await models.InviteLink.updateOne({ _id: hash }, { $inc: { usesLeft: 1, uses: -1 } }).catch(() => undefined);
			if ((err as { type?: string }).type === "CONFLICT" && (await this.isMemberNow(link.groupId, user._id)))
				return { doc: (await models.Group.findById(link.groupId).lean())! };
			throw err;
		}
	}

	// ---- operators

	/**
	 * Every stored invitation to an email (`target` with an @), or of a group with its links,
	 * expired and blocked ones included, with where its delivery stands (the REPL's `invitations`).
	 */
	async inspect(target: string): Promise<{ invitations: InvitationInspection[]; inviteLinks?: InviteLinkView[] }> {
		const { models } = this.deps;
		const now = this.now();
		const byEmail = target.includes("@");
		const docs = await models.Invitation.find(byEmail ? { email: target.trim().toLowerCase() } : { groupId: target }).lean();
		const invitations = docs
			.sort((a, b) => new Date(a.createdAt).getTime() - new Date(b.createdAt).getTime())
			.map(doc => ({
				...toGroupInvitation(toInvitationState(doc)),
				pending: isPending(doc, now),
				suppressed: Boolean(doc.suppressed),
				delivery: doc.deliveryDue ? "due" : doc.inviteeId ? `delivered to ${doc.inviteeId}` : "no account yet",
				outbox: doc.outbox?.length ?? 0,
			}));
		if (byEmail) return { invitations };
		const links = await models.InviteLink.find({ groupId: target }).lean();
		return {
			invitations,
			inviteLinks: links.map(toLinkState).map(toLinkView),
		};
	}

	// ---- housekeeping

	/** A deleted group's invitations and links go with it (best effort: both check the group anyway). */
	async forgetGroup(groupId: string): Promise<void> {
		const { models } = this.deps;
		await Promise.all([models.Invitation.deleteMany({ groupId, "outbox.0": { $exists: false } }), models.InviteLink.deleteMany({ groupId })]);
	}

	/** Removes expired invitations and links (FerretDB has no TTL indexes); returns how many. */
	async purgeExpired(): Promise<number> {
		const { models } = this.deps;
		const now = new Date(this.now());
		const [invitations, links] = await Promise.all([
			models.Invitation.deleteMany({ expiresAt: { $lte: now }, "outbox.0": { $exists: false } }),
			models.InviteLink.deleteMany({ expiresAt: { $lte: now } }),
		]);
		return (invitations.deletedCount ?? 0) + (links.deletedCount ?? 0);
	}

	// ---- helpers

	private newDoc(invitation: InvitationState): InvitationDoc {
		return {
			_id: invitation.id,
			groupId: invitation.groupId,
			email: invitation.email,
			invitedBy: invitation.invitedBy,
			createdAt: invitation.createdAt,
			expiresAt: invitation.expiresAt,
			suppressed: invitation.suppressed,
			deliveryDue: true,
			inviteeId: null,
			outbox: [],
		};
	}

	/** Counts `count` invitations against the sender's hourly budget, refusing (429) once it is spent. */
	private async reserveInvites(actorId: string, count: number): Promise<void> {
		const limit = this.deps.limits.invitesPerHour;
		if (limit <= 0) return;
		for (let i = 0; i < count; i++) {
			const verdict = await this.deps.attempts.reserve(`invite:${actorId}`, limit, HOUR_MS, this.now());
			if (!verdict.allowed)
				throw rateLimited(`You can send at most ${limit} invitations an hour; try again later`, {
					retryAfter: Math.max(1, Math.ceil(verdict.retryAfterMs / 1000)),
				});
		}
	}

	/**
	 * Ends a pending invitation (answered or withdrawn): deleted, or, while its INVITED notice still
	 * waits in its outbox, expired now and left for the purge (deleting it would lose the notice).
	 * False when no pending invitation matched.
	 */
	private async retire(filter: { _id: string; groupId?: string }): Promise<boolean> {
		const { models } = this.deps;
		const now = new Date(this.now());
		const removed = await models.Invitation.deleteOne({ ...filter, expiresAt: { $gt: now }, "outbox.0": { $exists: false } });
		if (removed.deletedCount) return true;
		const ended = await models.Invitation.updateOne({ ...filter, expiresAt: { $gt: now } }, { $set: { expiresAt: now } });
		return ended.matchedCount === 1;
	}

	private async openInvitationsOf(groupId: string, now: number): Promise<InvitationState[]> {
		const docs = await this.deps.models.Invitation.find({ groupId }).lean();
		return docs.map(toInvitationState).filter(invitation => isPending(invitation, now));
	}

	private async assertMember(actorId: string, groupId: string): Promise<GroupDoc> {
		const group = await this.deps.models.Group.findById(groupId).lean();
		assertCanSee(group ? toState(group) : null, actorId);
		return group!;
	}

	private async isMemberNow(groupId: string, userId: string): Promise<boolean> {
		const group = await this.deps.models.Group.findById(groupId).lean();
		return Boolean(group && isMember(toState(group), userId));
	}

	/**
	 * The invitation `user` may answer; anything else (someone else's, expired, blocked) is 404.
	 * One answered before its delivery ran (seen in the list first) is delivered now, so the
	 * INVITED notice always comes before what the answer causes, never after it or not at all.
	 */
	private async answerable(user: UserDoc, invitationId: string): Promise<InvitationState> {
		const doc = await this.deps.models.Invitation.findById(invitationId).lean();
		const invitation = answerableInvitation(doc ? toInvitationState(doc) : null, user.email, this.now());
		if (hasBlocked(user, invitation.invitedBy)) throw notFound("Invitation");
		if (doc!.deliveryDue) await this.deliver(invitation.id);
		return invitation;
	}

	private async usableLink(code: string): Promise<{ link: InviteLinkState; group: GroupDoc }> {
		if (!looksLikeInviteCode(code)) throw notFound("Invite link");
		const doc = await this.deps.models.InviteLink.findById(inviteCodeHash(code)).lean();
		const link = usableInviteLink(doc ? toLinkState(doc) : null, this.now());
		const group = await this.deps.models.Group.findById(link.groupId).lean();
		if (!group || group.deleted) throw notFound("Invite link");
		return { link, group };
	}
}

/** A group an invitation to `userId` may still be answered for: it exists, and they are not in it yet. */
const isOpenTo = (group: GroupDoc, userId: string) => !group.deleted && !group.memberIds.includes(userId);

/** Where the web client's join page is for a code (relative: the gateway serves the client on its own origin). */
export const joinPath = (code: string) => `/join/${code}`;
