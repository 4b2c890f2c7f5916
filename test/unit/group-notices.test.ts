import { test } from "node:test";
import assert from "node:assert/strict";
import { invitedNotice, memberAddedNotice, memberRemovedNotice } from "../../services/users/group-notices.js";
import { outcomeEvents } from "../../services/users/group-events.js";
import type { GroupState } from "../../services/users/groups.js";
import type { NamedSnapshot } from "../../services/users/members.js";

const ann = { id: "ann", name: "Ann", surname: "Lee" };
const bob = { id: "bob", name: "Bob", surname: "Stone" };
const family = { id: "g1", name: "Family", version: 4 };

test("a member added by another member is announced to the group and to them, naming both, but not to the member who added them", () => {
	assert.deepEqual(memberAddedNotice(family, bob, ann), {
		target: { groupId: "g1" },
		kind: "MEMBER_ADDED",
		title: "Bob Stone joined Family",
		body: 'Ann Lee added Bob Stone to the group "Family".',
		groupId: "g1",
		subjectUserId: "bob",
		alsoUserIds: ["bob"],
		groupVersion: 4,
		exceptUserIds: ["ann"],
	});
});

test("a member who leaves is told apart from one removed by another member, whose remover is not alerted", () => {
	const left = memberRemovedNotice(family, bob, bob);
	assert.equal(left.kind, "MEMBER_REMOVED");
	assert.equal(left.title, "Bob Stone left Family");
	assert.equal(left.body, 'Bob Stone left the group "Family".');
	const removed = memberRemovedNotice(family, bob, ann);
	assert.equal(removed.title, "Bob Stone left Family");
	assert.equal(removed.body, 'Ann Lee removed Bob Stone from the group "Family".');
	assert.deepEqual(
		{
			target: removed.target,
			groupId: removed.groupId,
			subjectUserId: removed.subjectUserId,
			alsoUserIds: removed.alsoUserIds,
			groupVersion: removed.groupVersion,
			exceptUserIds: removed.exceptUserIds,
		},
		// Ann removed him: her own action, she is not alerted.
		{ target: { groupId: "g1" }, groupId: "g1", subjectUserId: "bob", alsoUserIds: ["bob"], groupVersion: 4, exceptUserIds: ["ann"] },
	);
	assert.equal(left.exceptUserIds, undefined, "a member who leaves is told, and the group is");
});

test("a name with no surname has no trailing space", () => {
	assert.equal(memberAddedNotice(family, { id: "cy", name: "Cy", surname: "" }, ann).title, "Cy joined Family");
});

const state = (overrides: Partial<GroupState> = {}): GroupState => ({
	id: "g1",
	name: "Family",
	createdBy: "ann",
	createdAt: new Date("2026-01-01T00:00:00Z"),
	memberIds: ["ann"],
	version: 4,
	deleted: false,
	...overrides,
});
const snapshotOf = (group: GroupState, known = [ann, bob]): NamedSnapshot => ({
	version: group.version,
	name: group.name,
	members: known.filter(ref => group.memberIds.includes(ref.id)),
	refs: new Map(known.map(ref => [ref.id, ref])),
});

test("a removal announces the member with the group after the change, then the notice", () => {
	const after = state();
	const events = outcomeEvents(after, [{ change: "memberRemoved", userId: "bob" }], "ann", snapshotOf(after));
	assert.deepEqual(
		events.map(e => e.type),
		["groups.memberRemoved", "notifications.send"],
	);
	assert.deepEqual(events[0]!.payload, { groupId: "g1", member: bob, by: "ann", version: 4, name: "Family", members: [ann] });
	assert.equal((events[1]!.payload as { body: string }).body, 'Ann Lee removed Bob Stone from the group "Family".');
	assert.notEqual(events[0]!.id, events[1]!.id, "each event has its own id");
});

test("the last member leaving announces the removal and the deletion, with no members left", () => {
	const after = state({ memberIds: [], deleted: true });
	const snapshot = { ...snapshotOf(after), deleted: true };
	const events = outcomeEvents(after, [{ change: "memberRemoved", userId: "ann" }, { change: "deleted" }], "ann", snapshot);
	assert.deepEqual(
		events.map(e => e.type),
		["groups.memberRemoved", "notifications.send", "groups.deleted"],
	);
	assert.equal((events[1]!.payload as { body: string }).body, 'Ann Lee left the group "Family".');
	assert.deepEqual(events[2]!.payload, { groupId: "g1", version: 4, name: "Family", members: [], deleted: true });
});

test("a member no longer readable is still announced by id, as Someone", () => {
	const after = state({ memberIds: ["ann", "zed"] });
	const events = outcomeEvents(after, [{ change: "memberAdded", userId: "zed" }], "ann", snapshotOf(after));
	assert.deepEqual((events[0]!.payload as { member: unknown }).member, { id: "zed", name: "Someone", surname: "" });
	assert.equal((events[1]!.payload as { title: string }).title, "Someone joined Family");
});

test("a creation names its creator", () => {
	const created = state({ memberIds: ["ann", "bob"], version: 1 });
	const events = outcomeEvents(
		created,
		[
			{ change: "created", userId: "ann" },
			{ change: "memberAdded", userId: "bob" },
		],
		"ann",
		snapshotOf(created),
	);
	assert.deepEqual(
		events.map(e => e.type),
		["groups.created", "groups.memberAdded", "notifications.send"],
	);
	assert.deepEqual((events[0]!.payload as { createdBy: unknown }).createdBy, ann);
});

test("a member who accepted an invitation is announced as added by the inviter, and the inviter is told it was accepted", () => {
	const after = state({ memberIds: ["ann", "bob"] });
	const events = outcomeEvents(after, [{ change: "memberAdded", userId: "bob", by: "ann", via: "invitation" }], "bob", snapshotOf(after));
	assert.deepEqual(
		events.map(e => e.type),
		["groups.memberAdded", "notifications.send", "notifications.send"],
	);
	assert.equal((events[0]!.payload as { by: string }).by, "ann", "added by the inviter, not by themself");
	assert.equal((events[1]!.payload as { body: string }).body, 'Ann Lee added Bob Stone to the group "Family".', "the group hears it as before");
	assert.deepEqual(events[2]!.payload, {
		target: { userIds: ["ann"] },
		kind: "INVITATION_ACCEPTED",
		title: "Bob Stone accepted your invitation",
		body: 'Bob Stone is now a member of "Family".',
		groupId: "g1",
		subjectUserId: "bob",
	});
});

test("a member who came by an invite link is announced as such, with no acceptance notice", () => {
	const after = state({ memberIds: ["ann", "bob"] });
	const events = outcomeEvents(after, [{ change: "memberAdded", userId: "bob", by: "ann", via: "link" }], "bob", snapshotOf(after));
	assert.deepEqual(
		events.map(e => e.type),
		["groups.memberAdded", "notifications.send"],
	);
	const notice = events[1]!.payload as { title: string; body: string; alsoUserIds: string[] };
	assert.equal(notice.title, "Bob Stone joined Family");
	assert.equal(notice.body, 'Bob Stone joined the group "Family" with an invite link from Ann Lee.');
	assert.deepEqual(notice.alsoUserIds, ["bob"]);
});

test("an invitation is told to the invitee alone, naming the inviter, without a group they cannot open yet", () => {
	assert.deepEqual(invitedNotice({ name: "Family" }, ann, "bob"), {
		target: { userIds: ["bob"] },
		kind: "INVITED",
		title: "Ann Lee invited you to Family",
		body: 'Accept to join the group "Family", or decline. Nobody in it sees your location unless you accept.',
		subjectUserId: "ann",
	});
});
