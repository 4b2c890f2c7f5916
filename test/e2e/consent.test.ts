// @test-solo: compares answer latencies (no account enumeration by timing); run alone (scripts/lib/run-tests.mjs).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import mongoose, { type Connection } from "mongoose";
import { ApiClient, connectSocket, type LiveSocket } from "../support/client.js";
import { startSystem, type System } from "../support/system.js";
import { waitFor } from "../support/wait.js";
import type { Group, GroupInvitation, Invitation, Message, Notification, Session } from "../../events/types.js";

/**
 * Consent (issue 14, API.md §6.1, SPEC §4) through the public contract: nobody becomes a member
 * without accepting, whoever knows their email; the add answer says nothing about accounts;
 * invite links; the limits. The system runs with small limits so they can be reached.
 */

const LIMITS = { MAX_GROUPS_PER_USER: 5, MAX_GROUP_MEMBERS: 5, INVITE_RATE_LIMIT: 20 };

let system: System;
let usersDb: Connection | undefined;
const sockets: LiveSocket[] = [];

before(async () => {
	system = await startSystem({
		services: ["users", "location", "chat", "notification", "gateway"],
		env: { ...Object.fromEntries(Object.entries(LIMITS).map(([k, v]) => [k, String(v)])), OFFLINE_AFTER: "3600", STUCK_AFTER: "3600" },
	});
});

after(async () => {
	for (const socket of sockets) socket.close();
	await usersDb?.close();
	await system?.stopAll();
});

const client = () => new ApiClient(system.url);
const person = async (name: string, surname = "Test") => {
	const api = client();
	await api.signUp(name, surname);
	return api;
};
const socketOf = async (api: ApiClient) => {
	const socket = await connectSocket(system.url, api.token);
	sockets.push(socket);
	return socket;
};
const freshEmail = (who = "nobody") => `${who}.${randomBytes(5).toString("hex")}@example.com`;
const inbox = async (api: ApiClient): Promise<Notification[]> => {
	const res = await api.get("/api/notifications?limit=200");
	assert.equal(res.status, 200, JSON.stringify(res.body));
	return res.body.notifications;
};
const invitationsOf = async (api: ApiClient): Promise<Invitation[]> => {
	const res = await api.get("/api/invitations");
	assert.equal(res.status, 200, JSON.stringify(res.body));
	return res.body;
};
const raw = async () => {
	usersDb ??= await mongoose
		.createConnection(process.env.MONGO_URL ?? "mongodb://127.0.0.1:27017", { dbName: `${system.env.MONGO_DB_PREFIX}_users` })
		.asPromise();
	return usersDb.db!;
};
/** The keys of a JSON value, recursively: two answers of one shape have the same. */
const shapeOf = (value: unknown): unknown =>
	Array.isArray(value)
		? value.map(shapeOf)
		: value !== null && typeof value === "object"
			? Object.fromEntries(
					Object.entries(value)
						.map(([k, v]) => [k, shapeOf(v)])
						.sort(),
				)
			: typeof value;
const median = (values: number[]) => {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.floor(sorted.length / 2)]!;
};

describe("nobody becomes a member without accepting", () => {
	test("the original attack: a stranger who knows your email gets no membership, no SOS, no position, no route", async () => {
		const [victim, fay, mallory] = [await person("Vic", "Tim"), await person("Fay", "Friend"), await person("Mal", "Lory")];
		const family = await victim.createGroup("Family", [fay.user!.email]);
		// Mallory "adds" the victim twice: at creation and later.
		const created = await mallory.post("/api/groups", { name: "Totally legit", memberEmails: [victim.user!.email] });
		assert.equal(created.status, 201);
		assert.deepEqual(
			created.body.members.map((m: { id: string }) => m.id),
			[mallory.user!.id],
			"only Mallory is a member",
		);
		assert.equal(created.body.pendingInvitations, 1);
		const trap: Group = created.body;
		const again = await mallory.post(`/api/groups/${trap.id}/members`, { email: victim.user!.email });
		assert.equal(again.status, 409, "already invited");

		const [malloryLive, fayLive] = [await socketOf(mallory), await socketOf(fay)];
		assert.equal((await victim.post(`/api/groups/${family.id}/sharing`)).status, 200);
		assert.equal((await victim.post("/api/location/samples", { latitude: 45.07, longitude: 7.68 })).status, 202);
		const sos = await victim.post("/api/sos", { latitude: 45.071, longitude: 7.681 });
		assert.equal(sos.status, 201);
		assert.deepEqual(
			sos.body.sessions.map((s: Session) => s.groupId),
			[family.id],
			"the SOS is raised in the victim's own group only",
		);

		// Fay, a real member, gets it all: the position live and the SOS in her inbox.
		await fayLive.waitFor("location:update", (s: Session) => s.userId === victim.user!.id && s.state === "SOS");
		await waitFor(async () => (await inbox(fay)).some(n => n.kind === "SOS"), { timeoutMs: 20_000, what: "the SOS in Fay's inbox" });
		// Mallory gets nothing, through any door.
		assert.deepEqual(await mallory.get(`/api/groups/${trap.id}`).then(r => r.body.members.map((m: { id: string }) => m.id)), [mallory.user!.id]);
		const sessions = await mallory.get(`/api/groups/${trap.id}/sessions`);
		assert.equal(sessions.status, 200);
		assert.deepEqual(
			sessions.body.map((s: Session) => s.userId),
			[mallory.user!.id],
		);
		for (const path of [
			`/api/groups/${trap.id}/sessions/${victim.user!.id}`,
			`/api/groups/${trap.id}/sessions/${victim.user!.id}/route`,
			`/api/groups/${family.id}/sessions`,
		]) {
			const res = await mallory.get(path);
			assert.ok([403, 404].includes(res.status), `${path}: ${res.status} ${JSON.stringify(res.body)}`);
		}
		assert.equal((await inbox(mallory)).filter(n => n.kind === "SOS" || n.subjectUserId === victim.user!.id).length, 0, "no SOS, nothing about the victim");
		assert.equal(malloryLive.of("location:update").filter((s: Session) => s.userId === victim.user!.id).length, 0, "no position");
		assert.deepEqual(
			(await victim.get("/api/groups")).body.map((g: Group) => g.id),
			[family.id],
			"the victim is in their own group only",
		);
		// The victim sees the invitation, and can refuse it for good.
		const [pending] = await invitationsOf(victim);
		assert.equal(pending!.groupId, trap.id);
		assert.equal((await victim.post(`/api/invitations/${pending!.id}/decline`, { block: true })).status, 204);
		assert.equal((await victim.delete("/api/sos")).status, 200);
	});

	test("accepting makes a member: memberAdded, the group's notices and chat line as before, INVITATION_ACCEPTED to the inviter, the invitation event first", async () => {
		const [ada, bob] = [await person("Ada", "Lovelace"), await person("Bob", "Babbage")];
		const [adaLive, bobLive] = [await socketOf(ada), await socketOf(bob)];
		const group = await ada.createGroup("Engines");
		const sent = await ada.post(`/api/groups/${group.id}/members`, { email: bob.user!.email });
		assert.equal(sent.status, 202);
		const invitation: GroupInvitation = sent.body.invitation;
		assert.deepEqual(Object.keys(sent.body), ["invitation"]);
		assert.deepEqual(
			{ ...invitation, id: typeof invitation.id, createdAt: typeof invitation.createdAt, expiresAt: typeof invitation.expiresAt },
			{ id: "string", groupId: group.id, email: bob.user!.email, invitedBy: ada.user!.id, createdAt: "string", expiresAt: "string" },
		);
		assert.ok(Date.parse(invitation.expiresAt) > Date.parse(invitation.createdAt));
		assert.deepEqual((await ada.get(`/api/groups/${group.id}/invitations`)).body, [invitation]);
		assert.equal((await ada.get(`/api/groups/${group.id}`)).body.pendingInvitations, 1);
		assert.equal((await bob.get(`/api/groups/${group.id}`)).status, 403, "invited is not a member");

		// Bob is told live (the invitation and the INVITED notification), and lists it.
		const live: Invitation = await bobLive.waitFor("invitation", (i: Invitation) => i.id === invitation.id);
		assert.deepEqual(live, {
			id: invitation.id,
			groupId: group.id,
			groupName: "Engines",
			invitedBy: { id: ada.user!.id, name: "Ada", surname: "Lovelace" },
			createdAt: invitation.createdAt,
			expiresAt: invitation.expiresAt,
		});
		assert.deepEqual(await invitationsOf(bob), [live]);
		const invited = await bobLive.waitFor("notification", (n: Notification) => n.kind === "INVITED");
		assert.equal(invited.title, "Ada Lovelace invited you to Engines");
		assert.equal(invited.subjectUserId, ada.user!.id);

		const accepted = await bob.post(`/api/invitations/${invitation.id}/accept`);
		assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
		assert.deepEqual(
			accepted.body.members.map((m: { id: string }) => m.id),
			[ada.user!.id, bob.user!.id],
		);
		assert.equal(accepted.body.pendingInvitations, 0);
		await adaLive.waitFor("group:changed", p => p.groupId === group.id && p.change === "memberAdded" && p.userId === bob.user!.id);
		await bobLive.waitFor("group:changed", p => p.groupId === group.id && p.change === "memberAdded" && p.userId === bob.user!.id);
		const added = (n: Notification) => n.kind === "MEMBER_ADDED" && n.subjectUserId === bob.user!.id && n.groupId === group.id;
		const acceptedNotice = await adaLive.waitFor("notification", (n: Notification) => n.kind === "INVITATION_ACCEPTED");
		assert.equal(acceptedNotice.title, "Bob Babbage accepted your invitation");
		assert.equal(acceptedNotice.subjectUserId, bob.user!.id);
		const joined = await bobLive.waitFor("notification", added);
		assert.match(joined.body, /Ada Lovelace added Bob Babbage/);
		// Ada invited him: she hears "accepted your invitation", not an alert about her own action.
		assert.equal(adaLive.of("notification").filter(added).length, 0);
		// Bob's inbox, newest first: he was invited before he was added.
		await waitFor(async () => (await inbox(bob)).length === 2, { what: "Bob's two notifications" });
		assert.deepEqual(
			(await inbox(bob)).map(n => n.kind),
			["MEMBER_ADDED", "INVITED"],
		);
		const line = await waitFor(
			async () => ((await ada.get(`/api/groups/${group.id}/messages`)).body.messages as Message[]).find(m => m.kind === "system" && m.userId === bob.user!.id),
			{ what: "the chat's join line" },
		);
		assert.equal(line.text, "Bob Babbage joined the group");
		const session = await waitFor(async () => {
			const res = await ada.get(`/api/groups/${group.id}/sessions/${bob.user!.id}`);
			return res.status === 200 ? (res.body as Session) : undefined;
		});
		assert.equal(session.state, "INACTIVE");

		// Answered: gone from both lists; answering again is 404.
		assert.deepEqual(await invitationsOf(bob), []);
		assert.deepEqual((await ada.get(`/api/groups/${group.id}/invitations`)).body, []);
		assert.equal((await bob.post(`/api/invitations/${invitation.id}/accept`)).status, 404);
	});

	test("decline: nothing changes; decline with block: that inviter's later invitations are answered 202 and pending, never delivered", async () => {
		const [ada, eve, bob] = [await person("Ada"), await person("Eve", "Pest"), await person("Bob")];
		const bobLive = await socketOf(bob);
		const polite = await ada.createGroup("Polite");
		const pushy = await eve.createGroup("Pushy");
		assert.equal((await ada.post(`/api/groups/${polite.id}/members`, { email: bob.user!.email })).status, 202);
		assert.equal((await eve.post(`/api/groups/${pushy.id}/members`, { email: bob.user!.email })).status, 202);
		const mine = await invitationsOf(bob);
		assert.deepEqual(mine.map(i => i.groupName).sort(), ["Polite", "Pushy"]);

		const fromAda = mine.find(i => i.groupId === polite.id)!;
		assert.equal((await bob.post(`/api/invitations/${fromAda.id}/decline`, {})).status, 204);
		assert.equal((await bob.post(`/api/invitations/${fromAda.id}/accept`)).status, 404, "declined is gone");
		assert.deepEqual((await ada.get(`/api/groups/${polite.id}/invitations`)).body, []);
		assert.deepEqual(
			(await ada.get(`/api/groups/${polite.id}`)).body.members.map((m: { id: string }) => m.id),
			[ada.user!.id],
		);
		// A plain decline blocks nothing: Ada may ask again.
		assert.equal((await ada.post(`/api/groups/${polite.id}/members`, { email: bob.user!.email })).status, 202);

		const fromEve = mine.find(i => i.groupId === pushy.id)!;
		assert.equal((await bob.post(`/api/invitations/${fromEve.id}/decline`, { block: true })).status, 204);
		const later = await eve.createGroup("Pushier");
		const blocked = await eve.post(`/api/groups/${later.id}/members`, { email: bob.user!.email });
		const unblocked = await eve.post(`/api/groups/${later.id}/members`, { email: freshEmail() });
		assert.equal(blocked.status, 202, "the same answer as for anyone");
		assert.deepEqual(shapeOf(blocked.body), shapeOf(unblocked.body));
		assert.deepEqual(
			(await eve.get(`/api/groups/${later.id}/invitations`)).body.map((i: GroupInvitation) => i.email).sort(),
			[bob.user!.email, unblocked.body.invitation.email].sort(),
		);
		assert.equal((await eve.get(`/api/groups/${later.id}`)).body.pendingInvitations, 2, "pending until it expires");
		// Ada's second invitation is delivered (the marker); Eve's is not, before or after it.
		await bobLive.waitFor("invitation", (i: Invitation) => i.groupId === polite.id && i.id !== fromAda.id);
		await waitFor(async () => (await inbox(bob)).filter(n => n.kind === "INVITED").length === 3, {
			what: "Bob's INVITED notices (Ada twice, Eve before the block)",
		});
		assert.deepEqual(
			(await invitationsOf(bob)).map(i => i.groupId),
			[polite.id],
		);
		assert.equal(bobLive.of("invitation").filter((i: Invitation) => i.groupId === later.id).length, 0);
		assert.equal((await inbox(bob)).filter(n => n.title.includes("Pushier")).length, 0);
		assert.equal((await bob.post(`/api/invitations/${blocked.body.invitation.id}/accept`)).status, 404);
	});

	test("an invitation to an email without an account appears once that email registers, or an account changes to it", async () => {
		const ada = await person("Ada");
		const group = await ada.createGroup("Waiting");
		const newcomer = freshEmail("newcomer");
		const mover = freshEmail("mover");
		for (const email of [newcomer, mover]) assert.equal((await ada.post(`/api/groups/${group.id}/members`, { email })).status, 202);

		const fresh = client();
		assert.equal((await fresh.post("/api/auth/register", { name: "New", surname: "Comer", email: newcomer, password: "correct horse battery" })).status, 201);
		await fresh.logIn(newcomer, "correct horse battery");
		assert.deepEqual(
			(await invitationsOf(fresh)).map(i => i.groupId),
			[group.id],
		);
		await waitFor(async () => (await inbox(fresh)).some(n => n.kind === "INVITED"), { timeoutMs: 20_000, what: "the newcomer's INVITED" });

		const dan = client();
		await dan.signUp("Dan", "Mover", "dan's password");
		assert.deepEqual(await invitationsOf(dan), []);
		assert.equal((await dan.patch("/api/users/me", { email: mover, currentPassword: "dan's password" })).status, 200);
		assert.deepEqual(
			(await invitationsOf(dan)).map(i => i.groupId),
			[group.id],
		);
		assert.equal((await dan.acceptInvitationTo(group.id)).members.length, 2);
	});
});

describe("no account enumeration", () => {
	test("the add answer is the same for registered and unregistered emails: status, shape and timing", async () => {
		const tim = await person("Tim", "Timer");
		const registered: ApiClient[] = [];
		for (let i = 0; i < 8; i++) registered.push(await person(`Reg${i}`));
		// Room for 4 invitations per group (MAX_GROUP_MEMBERS 5): 4 groups, 16 invitations (the hourly budget is 20).
		const groups = await Promise.all([0, 1, 2, 3].map(i => tim.createGroup(`Timing ${i}`)));
		const timings: Record<"registered" | "unregistered", number[]> = { registered: [], unregistered: [] };
		const answers: Record<"registered" | "unregistered", unknown[]> = { registered: [], unregistered: [] };
		for (let i = 0; i < 16; i++) {
			const kind = i % 2 === 0 ? "registered" : "unregistered";
			const email = kind === "registered" ? registered[i / 2]!.user!.email : freshEmail();
			const t0 = performance.now();
			const res = await tim.post(`/api/groups/${groups[i % 4]!.id}/members`, { email });
			timings[kind].push(performance.now() - t0);
			assert.equal(res.status, 202, `${kind}: ${JSON.stringify(res.body)}`);
			answers[kind].push(shapeOf({ ...res.body, invitation: { ...res.body.invitation, email: "x", id: "x" } }));
		}
		assert.deepEqual(answers.registered, answers.unregistered, "one shape");
		const [reg, unreg] = [median(timings.registered), median(timings.unregistered)];
		console.log(`add-by-email median latency: registered ${reg.toFixed(1)} ms, unregistered ${unreg.toFixed(1)} ms (8 each)`);
		// Generous (the machine is shared and small): this catches work done for accounts before answering that
		// costs as much as the answer itself (a synchronous notice adds ~10% here: that is proven absent by the
		// unit test "an invitation is answered without reading any account", which counts the lookups).
		assert.ok(Math.max(reg, unreg) <= 2 * Math.min(reg, unreg) + 10, `medians ${reg.toFixed(1)} vs ${unreg.toFixed(1)} ms`);

		// Creating a group with emails: the same too.
		const sam = await person("Sam");
		const withAccount = await sam.post("/api/groups", { name: "A", memberEmails: [registered[0]!.user!.email] });
		const withoutAccount = await sam.post("/api/groups", { name: "B", memberEmails: [freshEmail()] });
		assert.equal(withAccount.status, 201);
		assert.equal(withoutAccount.status, 201);
		const comparable = (g: Group) => shapeOf({ ...g, name: "x" });
		assert.deepEqual(comparable(withAccount.body), comparable(withoutAccount.body));
		assert.equal(withAccount.body.pendingInvitations, 1);
		assert.equal(withoutAccount.body.pendingInvitations, 1);
	});
});

describe("invite links", () => {
	test("a visitor previews a link without logging in and joins after; uses, revocation, expiry and bad codes are 404; the code is 128 random bits stored only as a hash", async () => {
		const ada = await person("Ada", "Linker");
		const adaLive = await socketOf(ada);
		const group = await ada.createGroup("Book club");
		const made = await ada.post(`/api/groups/${group.id}/invite-links`, { maxUses: 2 });
		assert.equal(made.status, 201, JSON.stringify(made.body));
		const link = made.body as { id: string; code: string; url: string; expiresAt: string; maxUses: number; uses: number };
		assert.deepEqual(Object.keys(link).sort(), ["code", "expiresAt", "id", "maxUses", "url", "uses"]);
		assert.ok(Buffer.from(link.code, "base64url").length * 8 >= 128, "at least 128 bits");
		assert.equal(link.url, `/join/${link.code}`);
		assert.equal(link.maxUses, 2);
		assert.equal(link.uses, 0);
		const week = Date.parse(link.expiresAt) - Date.now();
		assert.ok(week > 604_000_000 && week <= 604_800_000, "a week by default");

		// The logged-out join page.
		const preview = await client().get(`/api/invite-links/${link.code}`, { token: null });
		assert.equal(preview.status, 200);
		assert.deepEqual(preview.body, { groupName: "Book club", invitedBy: { name: "Ada" }, memberCount: 1, expiresAt: link.expiresAt });
		assert.equal((await client().post(`/api/invite-links/${link.code}/join`, undefined, { token: null })).status, 401, "joining needs an account");

		const [ben, cat, dot] = [await person("Ben"), await person("Cat"), await person("Dot")];
		const joined = await ben.post(`/api/invite-links/${link.code}/join`);
		assert.equal(joined.status, 200, JSON.stringify(joined.body));
		assert.deepEqual(
			joined.body.members.map((m: { id: string }) => m.id),
			[ada.user!.id, ben.user!.id],
		);
		await adaLive.waitFor("group:changed", p => p.groupId === group.id && p.change === "memberAdded" && p.userId === ben.user!.id);
		const notice = await adaLive.waitFor("notification", (n: Notification) => n.kind === "MEMBER_ADDED" && n.subjectUserId === ben.user!.id);
		assert.match(notice.body, /with an invite link from Ada Linker/);
		assert.equal((await ben.post(`/api/invite-links/${link.code}/join`)).status, 200, "a member following it again");
		assert.deepEqual(
			(await ada.get(`/api/groups/${group.id}/invite-links`)).body.map((l: { id: string; uses: number }) => [l.id, l.uses]),
			[[link.id, 1]],
			"that took no use",
		);
		assert.equal((await cat.post(`/api/invite-links/${link.code}/join`)).status, 200);
		assert.equal((await dot.post(`/api/invite-links/${link.code}/join`)).status, 404, "used up");
		assert.equal((await client().get(`/api/invite-links/${link.code}`, { token: null })).status, 404);
		assert.deepEqual((await ada.get(`/api/groups/${group.id}/invite-links`)).body, []);

		// Revoked: at once.
		const second = (await ada.post(`/api/groups/${group.id}/invite-links`, { expiresIn: 3600, maxUses: 5 })).body;
		assert.equal((await client().get(`/api/invite-links/${second.code}`, { token: null })).status, 200);
		assert.equal((await ben.delete(`/api/groups/${group.id}/invite-links/${second.id}`)).status, 204, "any member revokes");
		assert.equal((await client().get(`/api/invite-links/${second.code}`, { token: null })).status, 404);
		assert.equal((await dot.post(`/api/invite-links/${second.code}/join`)).status, 404);
		assert.equal((await ada.delete(`/api/groups/${group.id}/invite-links/${second.id}`)).status, 404);

		// Expired (moved into the past in the database: the shortest lifetime is a minute).
		const third = (await ada.post(`/api/groups/${group.id}/invite-links`, { expiresIn: 60 })).body;
		const db = await raw();
		const hash = createHash("sha256").update(third.code).digest("base64url");
		assert.equal(
			(await db.collection("invitelinks").updateOne({ _id: hash as never }, { $set: { expiresAt: new Date(Date.now() - 1000) } })).matchedCount,
			1,
			"stored under the code's hash",
		);
		assert.equal((await client().get(`/api/invite-links/${third.code}`, { token: null })).status, 404);
		assert.equal((await dot.post(`/api/invite-links/${third.code}/join`)).status, 404);

		// Never stored in clear; unknown and malformed codes are 404 too.
		const stored = JSON.stringify(await db.collection("invitelinks").find({}).toArray());
		for (const code of [link.code, second.code, third.code]) assert.ok(!stored.includes(code), "no code in the database");
		for (const code of [randomBytes(16).toString("base64url"), "short", "x".repeat(64), "%2e%2e"]) {
			assert.equal((await client().get(`/api/invite-links/${code}`, { token: null })).status, 404, code);
			assert.equal((await dot.post(`/api/invite-links/${code}/join`)).status, 404, code);
		}
		assert.equal((await ada.post(`/api/groups/${group.id}/invite-links`, { expiresIn: 2_592_001 })).status, 422);
		assert.equal((await ada.post(`/api/groups/${group.id}/invite-links`, { maxUses: 101 })).status, 422);
	});
});

describe("limits", () => {
	test("groups per user: creating, accepting and joining all count", async () => {
		const [ivy, host] = [await person("Ivy"), await person("Host")];
		for (let i = 0; i < LIMITS.MAX_GROUPS_PER_USER; i++) await ivy.createGroup(`Mine ${i}`);
		const sixth = await ivy.post("/api/groups", { name: "One too many" });
		assert.equal(sixth.status, 409);
		assert.equal(sixth.body.type, "CONFLICT");
		assert.match(sixth.body.message, /at most 5 groups/);
		const hosted = await host.createGroup("Hosted");
		assert.equal((await host.post(`/api/groups/${hosted.id}/members`, { email: ivy.user!.email })).status, 202, "inviting her is fine");
		const invitation = (await invitationsOf(ivy))[0]!;
		assert.equal((await ivy.post(`/api/invitations/${invitation.id}/accept`)).status, 409);
		const link = (await host.post(`/api/groups/${hosted.id}/invite-links`, {})).body;
		assert.equal((await ivy.post(`/api/invite-links/${link.code}/join`)).status, 409);
		assert.deepEqual(
			(await host.get(`/api/groups/${hosted.id}/invite-links`)).body.map((l: { uses: number }) => l.uses),
			[0],
			"a refused join takes no use",
		);
		// Leaving one makes room.
		const mine = (await ivy.get("/api/groups")).body as Group[];
		assert.equal((await ivy.post(`/api/groups/${mine[0]!.id}/leave`)).status, 204);
		assert.equal((await ivy.post(`/api/invitations/${invitation.id}/accept`)).status, 200);
	});

	test("members plus pending invitations per group", async () => {
		const owner = await person("Owen");
		const tooMany = await owner.post("/api/groups", { name: "Crowd", memberEmails: Array.from({ length: LIMITS.MAX_GROUP_MEMBERS }, () => freshEmail()) });
		assert.equal(tooMany.status, 409, "1 + 5 > 5: refused whole");
		assert.match(tooMany.body.message, /at most 5 members and pending invitations/);
		assert.deepEqual((await owner.get("/api/groups")).body, [], "no group was made");

		const guest = await person("Gail");
		const group = await owner.createGroup("Full", [guest.user!.email]);
		assert.equal(group.members.length, 2);
		for (let i = 0; i < 3; i++) assert.equal((await owner.post(`/api/groups/${group.id}/members`, { email: freshEmail() })).status, 202);
		assert.equal((await owner.get(`/api/groups/${group.id}`)).body.pendingInvitations, 3);
		const over = await owner.post(`/api/groups/${group.id}/members`, { email: freshEmail() });
		assert.equal(over.status, 409);
		assert.equal(over.body.type, "CONFLICT");
		const link = (await owner.post(`/api/groups/${group.id}/invite-links`, {})).body;
		const linker = await person("Lin");
		assert.equal((await linker.post(`/api/invite-links/${link.code}/join`)).status, 409, "no room for a link either");
		// Withdrawing an invitation makes room.
		const [first] = (await owner.get(`/api/groups/${group.id}/invitations`)).body as GroupInvitation[];
		assert.equal((await guest.delete(`/api/groups/${group.id}/invitations/${first!.id}`)).status, 204, "any member withdraws");
		assert.equal((await owner.get(`/api/groups/${group.id}`)).body.pendingInvitations, 2);
		assert.equal((await linker.post(`/api/invite-links/${link.code}/join`)).status, 200);
		assert.equal((await owner.get(`/api/groups/${group.id}`)).body.members.length, 3);
		assert.equal((await owner.post(`/api/groups/${group.id}/members`, { email: freshEmail() })).status, 409, "full again");
	});

	test("invitations per user per hour: 429 RATE_LIMITED with Retry-After", async () => {
		const rex = await person("Rex");
		const groups = await Promise.all(Array.from({ length: 5 }, (_, i) => rex.createGroup(`Rate ${i}`)));
		let sent = 0;
		for (const group of groups)
			for (let i = 0; i < 4; i++, sent++)
				assert.equal((await rex.post(`/api/groups/${group.id}/members`, { email: freshEmail() })).status, 202, `invitation ${sent + 1}`);
		assert.equal(sent, LIMITS.INVITE_RATE_LIMIT);
		const [withdrawn] = (await rex.get(`/api/groups/${groups[0]!.id}/invitations`)).body as GroupInvitation[];
		assert.equal((await rex.delete(`/api/groups/${groups[0]!.id}/invitations/${withdrawn!.id}`)).status, 204);
		const limited = await rex.post(`/api/groups/${groups[0]!.id}/members`, { email: freshEmail() });
		assert.equal(limited.status, 429);
		assert.equal(limited.body.type, "RATE_LIMITED");
		assert.match(limited.body.message, /at most 20 invitations an hour/);
		const retryAfter = Number(limited.headers.get("retry-after"));
		assert.ok(retryAfter > 3000 && retryAfter <= 3600, `Retry-After ${retryAfter}`);
		// Per user: another member of the same group still may (Pal comes by a link: links are not invitations).
		const [another] = (await rex.get(`/api/groups/${groups[0]!.id}/invitations`)).body as GroupInvitation[];
		assert.equal((await rex.delete(`/api/groups/${groups[0]!.id}/invitations/${another!.id}`)).status, 204);
		const link = await rex.post(`/api/groups/${groups[0]!.id}/invite-links`, {});
		assert.equal(link.status, 201);
		const pal = await person("Pal");
		assert.equal((await pal.post(`/api/invite-links/${link.body.code}/join`)).status, 200);
		assert.equal((await pal.post(`/api/groups/${groups[0]!.id}/members`, { email: freshEmail() })).status, 202);
	});
});
