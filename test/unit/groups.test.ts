import { test } from "node:test";
import assert from "node:assert/strict";
import { decideGroupCommand, normalizeEmail, type GroupState } from "../../services/users/groups.js";

const group = (overrides: Partial<GroupState> = {}): GroupState => ({
	id: "g1",
	name: "Family",
	createdBy: "ada",
	createdAt: new Date("2026-01-01T00:00:00Z"),
	memberIds: ["ada", "bob"],
	version: 3,
	deleted: false,
	...overrides,
});

const errorOf = (fn: () => unknown) => {
	try {
		fn();
	} catch (err) {
		return err as { code: number; type: string };
	}
	assert.fail("expected an error");
};

test("any member renames the group and the version grows", () => {
	const { next, outcomes } = decideGroupCommand(group(), "bob", { kind: "rename", name: "Home" });
	assert.equal(next.name, "Home");
	assert.equal(next.version, 4);
	assert.deepEqual(outcomes, [{ change: "renamed" }]);
});

test("a non-member cannot see or change a group (403), an unknown or deleted group is 404", () => {
	assert.deepEqual(pick(errorOf(() => decideGroupCommand(group(), "eve", { kind: "rename", name: "x" }))), { code: 403, type: "FORBIDDEN" });
	assert.deepEqual(pick(errorOf(() => decideGroupCommand(null, "ada", { kind: "leave" }))), { code: 404, type: "NOT_FOUND" });
	assert.deepEqual(pick(errorOf(() => decideGroupCommand(group({ deleted: true }), "ada", { kind: "leave" }))), { code: 404, type: "NOT_FOUND" });
});

test("someone joins by consent as added by their inviter; joining twice is a conflict, a deleted group 404", () => {
	const { next, outcomes } = decideGroupCommand(group(), "cy", { kind: "join", invitedBy: "bob", via: "invitation" });
	assert.deepEqual(next.memberIds, ["ada", "bob", "cy"]);
	assert.equal(next.version, 4);
	assert.deepEqual(outcomes, [{ change: "memberAdded", userId: "cy", by: "bob", via: "invitation" }]);
	assert.deepEqual(pick(errorOf(() => decideGroupCommand(group(), "bob", { kind: "join", invitedBy: "ada", via: "link" }))), { code: 409, type: "CONFLICT" });
	assert.deepEqual(pick(errorOf(() => decideGroupCommand(group({ deleted: true }), "cy", { kind: "join", invitedBy: "ada", via: "link" }))), {
		code: 404,
		type: "NOT_FOUND",
	});
	assert.deepEqual(pick(errorOf(() => decideGroupCommand(null, "cy", { kind: "join", invitedBy: "ada", via: "link" }))), { code: 404, type: "NOT_FOUND" });
});

test("any member removes another; removing a non-member is 404", () => {
	const { next, outcomes } = decideGroupCommand(group(), "bob", { kind: "removeMember", userId: "ada" });
	assert.deepEqual(next.memberIds, ["bob"]);
	assert.deepEqual(outcomes, [{ change: "memberRemoved", userId: "ada" }]);
	assert.equal(errorOf(() => decideGroupCommand(group(), "bob", { kind: "removeMember", userId: "zed" })).code, 404);
});

test("the last member to leave deletes the group", () => {
	const first = decideGroupCommand(group(), "ada", { kind: "leave" });
	assert.equal(first.next.deleted, false);
	const last = decideGroupCommand(first.next, "bob", { kind: "leave" });
	assert.equal(last.next.deleted, true);
	assert.deepEqual(last.outcomes, [{ change: "memberRemoved", userId: "bob" }, { change: "deleted" }]);
});

test("only the creator deletes the group, removing everyone", () => {
	assert.deepEqual(pick(errorOf(() => decideGroupCommand(group(), "bob", { kind: "delete" }))), { code: 403, type: "FORBIDDEN" });
	const { next, outcomes } = decideGroupCommand(group(), "ada", { kind: "delete" });
	assert.equal(next.deleted, true);
	assert.deepEqual(next.memberIds, []);
	assert.deepEqual(outcomes, [{ change: "deleted" }]);
});

test("emails are compared trimmed and case-insensitively", () => {
	assert.equal(normalizeEmail("  Ada@Example.COM "), "ada@example.com");
});

function pick(err: { code: number; type: string }) {
	return { code: err.code, type: err.type };
}
