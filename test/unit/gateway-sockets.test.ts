import { test } from "node:test";
import assert from "node:assert/strict";
import { groupIdsOfRooms, HandshakeLog, replayGroups, revokedDuring, unverifiedSubject } from "../../services/gateway/handshakes.js";
import { PresenceReports, type SocketChange } from "../../services/gateway/presence-reports.js";
import { PresenceOrder } from "../../services/gateway/presence-order.js";
import { issueToken } from "../../services/users/tokens.js";
import { waitFor } from "../support/wait.js";

test("a handshake replays the membership changes broadcast while it was pending, and only those", () => {
	const log = new HandshakeLog();
	log.record({ kind: "group", groupId: "g0", change: "memberAdded", userId: "u" }); // nothing pending: not kept
	const first = log.begin();
	log.record({ kind: "group", groupId: "g1", change: "memberAdded", userId: "u" });
	const second = log.begin();
	log.record({ kind: "group", groupId: "g2", change: "memberRemoved", userId: "u" });
	assert.deepEqual(
		log.end(first).map(n => n.kind === "group" && n.groupId),
		["g1", "g2"],
	);
	assert.deepEqual(log.end(first), [], "ended once");
	// The first handshake's notes are dropped as soon as no pending handshake needs them.
	assert.equal(log.noticeCount, 1);
	assert.deepEqual(
		log.end(second).map(n => n.kind === "group" && n.groupId),
		["g2"],
	);
	assert.equal(log.noticeCount, 0);
	assert.equal(log.pendingCount, 0);
});

test("replaying on a snapshot gives the same groups whether the snapshot was read before or after a change", () => {
	const notices = [
		{ kind: "group" as const, groupId: "g1", change: "memberAdded" as const, userId: "u" },
		{ kind: "group" as const, groupId: "g2", change: "memberRemoved" as const, userId: "u" },
		{ kind: "group" as const, groupId: "g3", change: "memberAdded" as const, userId: "other" },
		{ kind: "group" as const, groupId: "g4", change: "deleted" as const },
		{ kind: "group" as const, groupId: "g5", change: "memberAdded" as const, userId: "u" },
		{ kind: "group" as const, groupId: "g5", change: "memberRemoved" as const, userId: "u" },
	];
	const readBefore = ["g2", "g4", "g9"];
	const readAfter = ["g1", "g9"];
	assert.deepEqual(replayGroups(readBefore, "u", notices).sort(), ["g1", "g9"]);
	assert.deepEqual(replayGroups(readAfter, "u", notices).sort(), ["g1", "g9"]);
});

test("a revocation noted during a handshake applies to the token it names", () => {
	const token = { jti: "j1", issuedAt: 1_000, expiresAt: 99_000 };
	assert.equal(revokedDuring("u", token, [{ kind: "revoked", userId: "u", jti: "j1" }]), true);
	assert.equal(revokedDuring("u", token, [{ kind: "revoked", userId: "u", before: 2_000 }]), true);
	assert.equal(revokedDuring("u", token, [{ kind: "revoked", userId: "u", jti: "j2" }]), false);
	assert.equal(revokedDuring("u", token, [{ kind: "revoked", userId: "v", jti: "j1" }]), false);
});

test("group ids are read back from a socket's rooms; a token's subject is only read as a hint", () => {
	assert.deepEqual(groupIdsOfRooms(new Set(["sid", "user:u", "group:a", "group:b"])), ["a", "b"]);
	assert.equal(unverifiedSubject(issueToken("user-1", "secret", 60_000).token), "user-1");
	for (const junk of ["", "forged.token.value", "a.%%%.c", "only-one-part"]) assert.equal(unverifiedSubject(junk), undefined);
});

test("socket reports are sent in batches, one batch in flight at a time", async () => {
	const sent: SocketChange[][] = [];
	let release: () => void = () => undefined;
	const reports = new PresenceReports(
		async changes => {
			sent.push(changes);
			await new Promise<void>(resolve => (release = resolve));
		},
		5,
		3,
	);
	for (let i = 0; i < 4; i++) reports.report({ socketId: `s${i}`, userId: "u", open: true });
	await waitFor(() => sent.length === 1, { what: "the first batch" });
	assert.equal(sent[0]!.length, 3, "capped at maxBatch");
	reports.report({ socketId: "s0", userId: "u", open: false });
	assert.equal(sent.length, 1, "the next batch waits for the one in flight");
	release();
	await waitFor(() => sent.length === 2, { what: "the second batch" });
	assert.deepEqual(
		sent[1]!.map(c => `${c.socketId}:${c.open}`),
		["s3:true", "s0:false"],
	);
	release();
	reports.report({ socketId: "s9", userId: "u", open: true });
	const flushed = reports.flush();
	await waitFor(() => sent.length === 3, { what: "the flushed batch" });
	release();
	await flushed;
	assert.equal(reports.queued, 0);
	reports.stop();
});

test("a failed batch does not stop later ones", async () => {
	const sent: SocketChange[][] = [];
	const reports = new PresenceReports(async changes => {
		sent.push(changes);
		if (sent.length === 1) throw new Error("chat down");
	}, 1);
	reports.report({ socketId: "a", userId: "u", open: true });
	await waitFor(() => sent.length === 1, { what: "the first batch" });
	reports.report({ socketId: "b", userId: "u", open: true });
	await waitFor(() => sent.length === 2, { what: "the second batch" });
	reports.stop();
});

test("a user's presence flips are forwarded only in increasing order, and old counts are forgotten", () => {
	const order = new PresenceOrder(1_000);
	assert.equal(order.isNewest("u", 2, 0), true);
	assert.equal(order.isNewest("u", 1, 10), false, "older than the last forwarded");
	assert.equal(order.isNewest("u", 2, 20), false, "the same flip twice");
	assert.equal(order.isNewest("v", 1, 30), true, "each user has their own count");
	assert.equal(order.isNewest("u", 3, 40), true);
	assert.equal(order.isNewest("w", undefined, 50), true, "an announcement without a count goes through");
	assert.equal(order.isNewest("w", 1, 60), true, "and holds nothing back");
	// A second after their last flip users are forgotten: v (at 30) by 1,035, u (at 40) not yet.
	assert.equal(order.isNewest("v", 1, 1_035), true, "v's count was forgotten");
	assert.equal(order.isNewest("u", 3, 1_035), false, "u's count is still held");
	assert.equal(order.isNewest("u", 1, 1_045), true, "and forgotten ten milliseconds later");
});
