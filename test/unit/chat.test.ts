import { test } from "node:test";
import assert from "node:assert/strict";
import {
	clientMessageIdOf,
	MessageClock,
	normalizeText,
	sortKeyOf,
	systemLineDoc,
	systemMessageId,
	systemText,
	toMessage,
	userMessageDoc,
} from "../../services/chat/messages.js";
import { flipNotices, judgeGateway, newcomerPresence, presenceList } from "../../services/chat/presence.js";

test("message text is trimmed and must keep 1..2000 characters", () => {
	assert.equal(normalizeText("  hello \n"), "hello");
	assert.equal(normalizeText("x".repeat(2000)), "x".repeat(2000));
	for (const bad of ["", "   \n\t ", "x".repeat(2001)]) {
		assert.throws(
			() => normalizeText(bad),
			(err: { type?: string; code?: number; data?: { field: string }[] }) =>
				err.type === "VALIDATION_ERROR" && err.code === 422 && err.data?.[0]?.field === "text",
		);
	}
});

test("an emoji counts as one character of the 2000", () => {
	const text = "🙂".repeat(2000); // 4000 UTF-16 units
	assert.equal(normalizeText(text), text);
	assert.throws(() => normalizeText(text + "🙂"));
});

test("a resend with the same client id maps to the same message id, other senders or groups do not", () => {
	const id = clientMessageIdOf("g1", "u1", "c-1");
	assert.equal(id, clientMessageIdOf("g1", "u1", "c-1"));
	assert.notEqual(id, clientMessageIdOf("g1", "u2", "c-1"));
	assert.notEqual(id, clientMessageIdOf("g2", "u1", "c-1"));
	assert.notEqual(id, clientMessageIdOf("g1", "u1", "c-2"));
	assert.match(id, /^[0-9a-f]{32}$/);
});

test("system lines have one id per event, member and kind of line", () => {
	assert.equal(systemMessageId("e1", "u1", "joined"), systemMessageId("e1", "u1", "joined"));
	assert.notEqual(systemMessageId("e1", "u1", "joined"), systemMessageId("e2", "u1", "joined"));
	assert.notEqual(systemMessageId("e1", "u1", "joined"), systemMessageId("e1", "u1", "left"));
	const ada = { name: "Ada", surname: "Lovelace" };
	assert.equal(systemText("joined", ada), "Ada Lovelace joined the group");
	assert.equal(systemText("left", ada), "Ada Lovelace left the group");
	assert.equal(systemText("created", ada), "Ada Lovelace created the group");
	assert.equal(systemText("removed", ada), "Ada Lovelace was removed from the group");
});

test("messages of the same millisecond keep their send order, and the clock never steps back", () => {
	const clock = new MessageClock();
	const a = clock.next(1_000);
	const b = clock.next(1_000);
	const c = clock.next(999); // wall clock stepped back
	const d = clock.next(1_001);
	assert.deepEqual([a.seq, b.seq, c.seq, d.seq], [0, 1, 2, 0]);
	assert.equal(c.at.getTime(), 1_000);
	// Ids that sort the other way do not change the order.
	const keys = [sortKeyOf(a.at, a.seq, "zzz"), sortKeyOf(b.at, b.seq, "mmm"), sortKeyOf(c.at, c.seq, "aaa"), sortKeyOf(d.at, d.seq, "000")];
	assert.deepEqual([...keys].sort(), keys);
});

test("a message's API shape carries clientMessageId only when given", () => {
	const base = { _id: "m1", groupId: "g1", userId: "u1", text: "hi", kind: "user" as const, createdAt: new Date("2025-01-01T00:00:00Z") };
	assert.deepEqual(toMessage(base), { id: "m1", groupId: "g1", userId: "u1", text: "hi", kind: "user", createdAt: "2025-01-01T00:00:00.000Z" });
	assert.equal(toMessage({ ...base, clientMessageId: "c1" }).clientMessageId, "c1");
});

test("presence lists every member: online ones seen now, others when last seen or never", () => {
	const now = new Date("2025-01-01T12:00:00Z");
	const seen = new Date("2025-01-01T11:00:00Z");
	const list = presenceList(
		["a", "b", "c"],
		new Set(["a"]),
		new Map([
			["b", seen],
			["a", seen],
		]),
		now,
	);
	assert.deepEqual(list, [
		{ userId: "a", online: true, lastSeenAt: now.toISOString() },
		{ userId: "b", online: false, lastSeenAt: seen.toISOString() },
		{ userId: "c", online: false, lastSeenAt: null },
	]);
});

test("a gateway unknown or gone closes its sockets, but not before the broker had time to discover nodes", () => {
	assert.deepEqual(judgeGateway(undefined, 1_000, 15_000), { action: "keep" });
	assert.deepEqual(judgeGateway(undefined, 20_000, 15_000), { action: "dropAll" });
	assert.deepEqual(judgeGateway({ available: false, instanceID: "i1" }, 20_000, 15_000), { action: "dropAll" });
	assert.deepEqual(judgeGateway({ available: true, instanceID: "i2" }, 20_000, 15_000), { action: "dropOtherInstances", instanceID: "i2" });
	assert.deepEqual(judgeGateway({ available: true, instanceID: null }, 20_000, 15_000), { action: "keep" });
});

test("a system line about a member without a name says Someone", () => {
	assert.equal(systemText("joined", { name: "", surname: "" }), "Someone joined the group");
	assert.equal(systemText("left", { name: "Ada", surname: "" }), "Ada left the group");
});

test("a connected newcomer is announced online to the group and told who of the others is online; an offline one brings nothing", () => {
	assert.deepEqual(newcomerPresence("g", "dan", true, ["ada", "dan", "ada"]), [
		{ groupIds: ["g"], userId: "dan", online: true },
		{ groupIds: ["g"], userId: "ada", online: true, to: "dan" },
	]);
	assert.deepEqual(newcomerPresence("g", "dan", false, ["ada"]), []);
});

test("a system line is dated when its event happened, sorts the creation line first, and is dated now when that time is unreadable", () => {
	const ada = { id: "u1", name: "Ada", surname: "Lovelace" };
	const event = { eventId: "e1", groupId: "g1", occurredAt: "2026-01-02T03:04:05.000Z" };
	const created = systemLineDoc(event, ada, "created");
	const joined = systemLineDoc(event, ada, "joined");
	assert.deepEqual(created, {
		_id: systemMessageId("e1", "u1", "created"),
		groupId: "g1",
		userId: "u1",
		text: "Ada Lovelace created the group",
		kind: "system",
		createdAt: new Date(event.occurredAt),
		sortKey: sortKeyOf(new Date(event.occurredAt), 0, created._id),
	});
	assert.ok(created.sortKey < joined.sortKey);
	const before = Date.now();
	const undated = systemLineDoc({ ...event, occurredAt: "not a date" }, ada, "left");
	assert.ok(undated.createdAt.getTime() >= before && undated.createdAt.getTime() <= Date.now());
});

test("a presence flip is told to every group of its user that is not deleted, and to nobody when there is none", () => {
	const groups = [
		{ _id: "g1", memberIds: ["u1", "u2"] },
		{ _id: "g2", memberIds: ["u1"] },
		{ _id: "g3", memberIds: ["u1"], deleted: true },
	];
	assert.deepEqual(
		flipNotices(
			[
				{ userId: "u1", online: true, version: 3 },
				{ userId: "u2", online: false, version: 1 },
				{ userId: "u9", online: true },
			],
			groups,
		),
		[
			{ groupIds: ["g1", "g2"], userId: "u1", online: true, version: 3 },
			{ groupIds: ["g1"], userId: "u2", online: false, version: 1 },
		],
	);
});

test("a member's message is stored with its clock's time and sequence, and its client id only when given", () => {
	const at = new Date("2026-01-02T03:04:05.000Z");
	assert.deepEqual(userMessageDoc("m1", "g1", "u1", "hi", { at, seq: 2 }, "c-1"), {
		_id: "m1",
		groupId: "g1",
		userId: "u1",
		text: "hi",
		kind: "user",
		createdAt: at,
		sortKey: sortKeyOf(at, 2, "m1"),
		clientMessageId: "c-1",
	});
	assert.ok(!("clientMessageId" in userMessageDoc("m2", "g1", "u1", "hi", { at, seq: 0 })));
});
