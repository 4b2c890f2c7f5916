import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { GroupState } from "../../services/users/groups.js";
import {
	answerableInvitation,
	assertMayJoinAnother,
	decideInvite,
	inviteCodeHash,
	looksLikeInviteCode,
	newInviteCode,
	usableInviteLink,
	type InvitationState,
	type InviteRequest,
} from "../../services/users/invitations.js";

const NOW = Date.parse("2026-12-03T10:00:00Z");
const limits = { maxGroupMembers: 4, invitesPerHour: 3, maxGroupsPerUser: 2, invitationTtlMs: 7 * 86_400_000 };
const group: GroupState = { id: "g1", name: "Family", createdBy: "ada", createdAt: new Date(NOW), memberIds: ["ada", "bob"], version: 3, deleted: false };
const invitation = (email: string, over: Partial<InvitationState> = {}): InvitationState => ({
	id: `i-${email}`,
	groupId: "g1",
	email,
	invitedBy: "ada",
	createdAt: new Date(NOW - 1000),
	expiresAt: new Date(NOW + 1000),
	suppressed: false,
	...over,
});
const request = (over: Partial<InviteRequest> = {}): InviteRequest => ({
	group,
	actorId: "ada",
	email: "cy@example.org",
	memberEmails: new Set(["ada@example.org", "bob@example.org"]),
	openInvitations: [],
	sentLastHour: 0,
	blockedByInvitee: false,
	id: "inv-1",
	now: NOW,
	limits,
	...over,
});
const typeOf = (fn: () => unknown) => {
	try {
		fn();
	} catch (err) {
		return `${(err as { code: number }).code} ${(err as { type: string }).type}`;
	}
	return "ok";
};

describe("inviting by email", () => {
	test("a member's invite becomes a pending invitation that expires after the ttl, not a membership", () => {
		const made = decideInvite(request());
		assert.deepEqual(made, {
			id: "inv-1",
			groupId: "g1",
			email: "cy@example.org",
			invitedBy: "ada",
			createdAt: new Date(NOW),
			expiresAt: new Date(NOW + limits.invitationTtlMs),
			suppressed: false,
		});
	});

	test("a non-member cannot invite (403) and a deleted group is not found (404)", () => {
		assert.equal(
			typeOf(() => decideInvite(request({ actorId: "eve" }))),
			"403 FORBIDDEN",
		);
		assert.equal(
			typeOf(() => decideInvite(request({ group: { ...group, deleted: true } }))),
			"404 NOT_FOUND",
		);
	});

	test("409 only for a current member's email or one with a pending invitation; an expired one may be invited again", () => {
		assert.equal(
			typeOf(() => decideInvite(request({ email: "bob@example.org" }))),
			"409 CONFLICT",
		);
		assert.equal(
			typeOf(() => decideInvite(request({ openInvitations: [invitation("cy@example.org")] }))),
			"409 CONFLICT",
		);
		assert.equal(
			typeOf(() => decideInvite(request({ openInvitations: [invitation("cy@example.org", { expiresAt: new Date(NOW) })] }))),
			"ok",
		);
	});

	test("members plus pending invitations stay within the group limit", () => {
		assert.equal(
			typeOf(() => decideInvite(request({ openInvitations: [invitation("x@example.org")] }))),
			"ok",
		);
		assert.equal(
			typeOf(() => decideInvite(request({ openInvitations: [invitation("x@example.org"), invitation("y@example.org")] }))),
			"409 CONFLICT",
		);
	});

	test("the hourly invitation budget answers 429", () => {
		assert.equal(
			typeOf(() => decideInvite(request({ sentLastHour: 2 }))),
			"ok",
		);
		assert.equal(
			typeOf(() => decideInvite(request({ sentLastHour: 3 }))),
			"429 RATE_LIMITED",
		);
	});

	test("an invitee who blocked the inviter gets nothing, and the inviter sees the same answer", () => {
		const blocked = decideInvite(request({ blockedByInvitee: true }));
		const normal = decideInvite(request());
		assert.equal(blocked.suppressed, true);
		assert.deepEqual({ ...blocked, suppressed: false }, normal);
	});
});

describe("answering an invitation", () => {
	test("only the addressee may answer a live, unsuppressed invitation; everything else is 404", () => {
		assert.equal(answerableInvitation(invitation("cy@example.org"), "cy@example.org", NOW).id, "i-cy@example.org");
		assert.equal(
			typeOf(() => answerableInvitation(invitation("cy@example.org"), "eve@example.org", NOW)),
			"404 NOT_FOUND",
		);
		assert.equal(
			typeOf(() => answerableInvitation(invitation("cy@example.org", { expiresAt: new Date(NOW) }), "cy@example.org", NOW)),
			"404 NOT_FOUND",
		);
		assert.equal(
			typeOf(() => answerableInvitation(invitation("cy@example.org", { suppressed: true }), "cy@example.org", NOW)),
			"404 NOT_FOUND",
		);
		assert.equal(
			typeOf(() => answerableInvitation(null, "cy@example.org", NOW)),
			"404 NOT_FOUND",
		);
	});

	test("a user already in the most groups allowed cannot join another", () => {
		assert.equal(
			typeOf(() => assertMayJoinAnother(1, limits)),
			"ok",
		);
		assert.equal(
			typeOf(() => assertMayJoinAnother(2, limits)),
			"409 CONFLICT",
		);
	});
});

describe("invite links", () => {
	test("codes carry 128 random bits in 22 URL-safe characters, and are stored only as a hash", () => {
		const codes = new Set(Array.from({ length: 200 }, newInviteCode));
		assert.equal(codes.size, 200);
		for (const code of codes) assert.ok(looksLikeInviteCode(code), code);
		const [code] = codes;
		assert.notEqual(inviteCodeHash(code!), code);
		assert.equal(inviteCodeHash(code!), inviteCodeHash(code!));
		assert.equal(looksLikeInviteCode("../../etc/passwd"), false);
	});

	test("expired, used-up and revoked links are not found", () => {
		const link = { id: "l1", groupId: "g1", createdBy: "ada", createdAt: new Date(NOW), expiresAt: new Date(NOW + 1000), maxUses: 2, uses: 1, revoked: false };
		assert.equal(usableInviteLink(link, NOW).id, "l1");
		assert.equal(
			typeOf(() => usableInviteLink({ ...link, uses: 2 }, NOW)),
			"404 NOT_FOUND",
		);
		assert.equal(
			typeOf(() => usableInviteLink({ ...link, revoked: true }, NOW)),
			"404 NOT_FOUND",
		);
		assert.equal(
			typeOf(() => usableInviteLink(link, NOW + 1000)),
			"404 NOT_FOUND",
		);
	});
});
