import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomUUID, scryptSync } from "node:crypto";
import mongoose, { type Connection } from "mongoose";
import { ApiClient, connectSocket, type LiveSocket } from "../support/client.js";
import { startSystem, type System } from "../support/system.js";

/** Users, groups, errors and live group events through the public HTTP and Socket.IO contract. */

let system: System;
let usersDb: Connection | undefined;
const sockets: LiveSocket[] = [];
const client = () => new ApiClient(system.url);
const socketFor = async (api: ApiClient) => {
	const socket = await connectSocket(system.url, api.token!);
	sockets.push(socket);
	return socket;
};

before(async () => {
	// TRUST_PROXY: the tests speak for clients at different addresses through X-Forwarded-For.
	system = await startSystem({ services: ["users", "gateway"], env: { LOGIN_LOCK_AFTER: "5", TRUST_PROXY: "1" } });
});

after(async () => {
	await usersDb?.close();
	for (const socket of sockets) socket.close();
	await system?.stopAll();
});

describe("accounts", () => {
	test("register normalises the email, refuses duplicates and never returns the password", async () => {
		const api = client();
		const email = `Grace.${Date.now()}@Example.com`;
		const res = await api.post("/api/auth/register", { name: "Grace", surname: "Hopper", email: `  ${email} `, password: "long enough pw" });
		assert.equal(res.status, 201);
		assert.equal(res.body.email, email.toLowerCase());
		assert.deepEqual(Object.keys(res.body).sort(), ["email", "id", "name", "surname"]);

		const again = await api.post("/api/auth/register", { name: "G", surname: "H", email: email.toUpperCase(), password: "long enough pw" });
		assert.equal(again.status, 409);
		assert.equal(again.body.type, "CONFLICT");
	});

	test("bad registrations get 422 with the failing fields", async () => {
		const res = await client().post("/api/auth/register", { name: "", email: "not-an-email", password: "short" });
		assert.equal(res.status, 422);
		assert.equal(res.body.type, "VALIDATION_ERROR");
		const fields = (res.body.data as { field: string }[]).map(d => d.field).sort();
		assert.deepEqual([...new Set(fields)], ["email", "name", "password", "surname"]);
	});

	test("login returns a token with its expiry; wrong credentials are 401 INVALID_CREDENTIALS", async () => {
		const api = client();
		const user = await api.signUp("Alan", "Turing", "enigma machine");
		const res = await api.post("/api/auth/login", { email: user.email, password: "enigma machine" });
		assert.equal(res.status, 200);
		assert.equal(typeof res.body.token, "string");
		const ttl = Date.parse(res.body.expiresAt) - Date.now();
		assert.ok(ttl > 3500_000 && ttl <= 3600_000, `expiresAt about an hour away, got ${ttl} ms`);
		assert.equal(res.body.user.id, user.id);

		const wrong = await api.post("/api/auth/login", { email: user.email, password: "wrong password" });
		assert.equal(wrong.status, 401);
		assert.equal(wrong.body.type, "INVALID_CREDENTIALS");
		const unknown = await api.post("/api/auth/login", { email: "nobody@example.com", password: "whatever pw" });
		assert.equal(unknown.status, 401);
		assert.equal(unknown.body.type, "INVALID_CREDENTIALS");
	});

	test("after repeated wrong passwords from one address, that address is refused even with the right one; the owner elsewhere logs in", async () => {
		const api = client();
		const user = await api.signUp("Guessed", "Often", "the right password");
		const from = (address: string) => ({ headers: { "x-forwarded-for": address } });
		for (let i = 0; i < 5; i++)
			assert.equal((await api.post("/api/auth/login", { email: user.email, password: `guess ${i}` }, from("203.0.113.7"))).status, 401);
		const locked = await api.post("/api/auth/login", { email: user.email, password: "the right password" }, from("203.0.113.7"));
		assert.equal(locked.status, 429);
		assert.equal(locked.body.type, "RATE_LIMITED");
		const retryAfter = Number(locked.headers.get("retry-after"));
		assert.ok(retryAfter > 15 * 60 - 30 && retryAfter <= 15 * 60, `Retry-After is what is left of the 15-minute window, got ${retryAfter}`);
		// The owner, at another address, logs in; the guessing address stays refused.
		assert.equal((await api.post("/api/auth/login", { email: user.email, password: "the right password" }, from("198.51.100.9"))).status, 200);
		assert.equal((await api.post("/api/auth/login", { email: user.email, password: "the right password" }, from("203.0.113.7"))).status, 429);
		// Its existing token keeps working; only password guessing is stopped.
		assert.equal((await api.get("/api/users/me")).status, 200);
	});

	test("every protected route needs a valid token", async () => {
		const api = client();
		for (const token of [null, "garbage", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."]) {
			const res = await api.get("/api/users/me", { token });
			assert.equal(res.status, 401, `token ${token}`);
			assert.equal(res.body.type, "UNAUTHORIZED");
		}
	});

	test("profile updates; email and password changes need the current password", async () => {
		const api = client();
		const user = await api.signUp("Katherine", "Johnson", "orbital mechanics");
		const renamed = await api.patch("/api/users/me", { name: "Kathy" });
		assert.equal(renamed.status, 200);
		assert.equal(renamed.body.name, "Kathy");
		assert.equal((await api.get("/api/users/me")).body.name, "Kathy");

		const noCurrent = await api.patch("/api/users/me", { email: "new@example.com" });
		assert.equal(noCurrent.status, 422);
		const wrongCurrent = await api.patch("/api/users/me", { password: "new password 1", currentPassword: "nope nope" });
		assert.equal(wrongCurrent.status, 401);

		const newEmail = `kj.${Date.now()}@example.com`;
		const moved = await api.patch("/api/users/me", { email: newEmail, currentPassword: "orbital mechanics" });
		assert.equal(moved.status, 200);
		assert.equal(moved.body.email, newEmail);
		assert.equal(user.id, moved.body.id);
	});

	test("changing the password revokes every earlier token, on REST and on sockets", async () => {
		const api = client();
		const user = await api.signUp("Margaret", "Hamilton", "apollo guidance");
		const oldToken = api.token!;
		const socket = await socketFor(api);
		const disconnected = new Promise(resolve => socket.socket.once("disconnect", resolve));

		const res = await api.patch("/api/users/me", { password: "apollo guidance 2", currentPassword: "apollo guidance" });
		assert.equal(res.status, 200);
		assert.equal((await api.get("/api/users/me", { token: oldToken })).status, 401);
		await disconnected;

		await api.logIn(user.email, "apollo guidance 2");
		assert.equal((await api.get("/api/users/me")).status, 200);
	});

	test("logout revokes the token at once: REST refuses it and its socket is disconnected", async () => {
		const api = client();
		await api.signUp("Barbara", "Liskov", "substitution principle");
		const socket = await socketFor(api);
		const disconnected = new Promise(resolve => socket.socket.once("disconnect", resolve));
		assert.equal((await api.get("/api/users/me")).status, 200, "token cached by the gateway");

		const out = await api.post("/api/auth/logout");
		assert.equal(out.status, 204);
		const after = await api.get("/api/users/me");
		assert.equal(after.status, 401);
		assert.equal(after.body.type, "UNAUTHORIZED");
		await disconnected;
		await assert.rejects(connectSocket(system.url, api.token!), /UNAUTHORIZED/);
	});

	test("a socket with a bad token fails with connect_error UNAUTHORIZED", async () => {
		await assert.rejects(connectSocket(system.url, "forged.token.value"), (err: Error) => err.message === "UNAUTHORIZED");
		await assert.rejects(connectSocket(system.url, undefined), (err: Error) => err.message === "UNAUTHORIZED");
	});

	test("deleting the account needs the password, leaves every group and revokes tokens", async () => {
		const ada = client();
		const bob = client();
		await ada.signUp("Ada", "Lovelace", "analytical engine");
		const bobUser = await bob.signUp("Bob", "Babbage", "difference engine");
		const group = await ada.createGroup("Engines", [bobUser.email]);

		assert.equal((await bob.delete("/api/users/me", { currentPassword: "wrong one" })).status, 401);
		assert.equal((await bob.delete("/api/users/me", { currentPassword: "difference engine" })).status, 204);
		assert.equal((await bob.get("/api/users/me")).status, 401);
		const after = await ada.get(`/api/groups/${group.id}`);
		assert.deepEqual(
			after.body.members.map((m: { id: string }) => m.id),
			[ada.user!.id],
		);
		// The email is free again.
		const again = await client().post("/api/auth/register", { name: "Bob", surname: "B", email: bobUser.email, password: "difference engine" });
		assert.equal(again.status, 201);
	});
});

describe("groups", () => {
	test("a co-member's new name or deleted account shows in the group at once", async () => {
		const ann = client();
		const bob = client();
		await ann.signUp("Ann", "Rivers", "long enough pw");
		const bobUser = await bob.signUp("Bob", "Stone", "long enough pw");
		const group = await ann.createGroup("Hikers", [bobUser.email]);
		const memberNames = async () => ((await ann.get(`/api/groups/${group.id}`)).body.members as { name: string }[]).map(m => m.name);
		assert.deepEqual(await memberNames(), ["Ann", "Bob"]); // Bob's name is now remembered by the users service
		assert.equal((await bob.patch("/api/users/me", { name: "Robert" })).status, 200);
		assert.deepEqual(await memberNames(), ["Ann", "Robert"]);
		const listed = (await ann.get("/api/groups")).body as { id: string; members: { name: string }[] }[];
		assert.deepEqual(
			listed.find(g => g.id === group.id)!.members.map(m => m.name),
			["Ann", "Robert"],
		);
		assert.equal((await bob.delete("/api/users/me", { currentPassword: "long enough pw" })).status, 204);
		assert.deepEqual(await memberNames(), ["Ann"]);
	});

	test("a phone number given in the profile is stored in international form and shown to fellow members; a wrong one is 422", async () => {
		const ann = client();
		const bob = client();
		await ann.signUp("Ann", "Caller", "long enough pw");
		const bobUser = await bob.signUp("Bob", "Caller", "long enough pw");
		const group = await ann.createGroup("Callers", [bobUser.email]);
		const bobAsMember = async () =>
			((await ann.get(`/api/groups/${group.id}`)).body.members as { id: string; phone?: string }[]).find(m => m.id === bobUser.id);
		assert.equal((await bobAsMember())?.phone, undefined);
		const set = await bob.patch("/api/users/me", { phone: "+39 333 123-4567" });
		assert.equal(set.status, 200, JSON.stringify(set.body));
		assert.equal(set.body.phone, "+393331234567");
		assert.equal((await bob.get("/api/users/me")).body.phone, "+393331234567");
		assert.equal((await bobAsMember())?.phone, "+393331234567");
		for (const phone of ["333 1234567", "+39 abc", "+0123456789", "+1234", 42]) {
			const bad = await bob.patch("/api/users/me", { phone });
			assert.equal(bad.status, 422, `${phone}: ${JSON.stringify(bad.body)}`);
			assert.equal(bad.body.data?.[0]?.field, "phone");
		}
		assert.equal((await bob.patch("/api/users/me", { phone: "" })).body.phone, undefined, "removed");
		assert.equal((await bobAsMember())?.phone, undefined);
	});

	test("a creator makes a group with members by email; only members see it", async () => {
		const ada = client();
		const bob = client();
		const eve = client();
		await ada.signUp("Ada", "L", "pass word 1");
		const bobUser = await bob.signUp("Bob", "B", "pass word 2");
		await eve.signUp("Eve", "E", "pass word 3");

		const group = await ada.createGroup("Family", [bobUser.email.toUpperCase()]);
		assert.equal(group.name, "Family");
		assert.equal(group.createdBy, ada.user!.id);
		assert.ok(!Number.isNaN(Date.parse(group.createdAt)));
		assert.deepEqual(
			group.members.map(m => m.id),
			[ada.user!.id, bobUser.id],
		);

		assert.deepEqual(
			(await bob.get("/api/groups")).body.map((g: { id: string }) => g.id),
			[group.id],
		);
		assert.equal((await bob.get(`/api/groups/${group.id}`)).status, 200);
		const forbidden = await eve.get(`/api/groups/${group.id}`);
		assert.equal(forbidden.status, 403);
		assert.equal(forbidden.body.type, "FORBIDDEN");
		assert.equal((await eve.patch(`/api/groups/${group.id}`, { name: "Mine" })).status, 403);
		assert.equal((await eve.post(`/api/groups/${group.id}/members`, { email: eve.user!.email })).status, 403);
		assert.deepEqual((await eve.get("/api/groups")).body, []);
		assert.equal((await ada.get("/api/groups/does-not-exist")).status, 404);
	});

	test("an email without an account is invited like any other (API.md §6.1); a member's or a pending email is 409", async () => {
		const ada = client();
		const bob = client();
		await ada.signUp();
		const bobUser = await bob.signUp("Bob");
		const ghost = `ghost.${randomBytes(4).toString("hex")}@example.com`;
		const res = await ada.post("/api/groups", { name: "X", memberEmails: [ghost] });
		assert.equal(res.status, 201);
		assert.deepEqual(
			res.body.members.map((m: { id: string }) => m.id),
			[ada.user!.id],
		);
		assert.equal(res.body.pendingInvitations, 1);
		const group = await ada.createGroup("Pair", [bobUser.email]);
		const dup = await ada.post(`/api/groups/${group.id}/members`, { email: bobUser.email });
		assert.equal(dup.status, 409);
		assert.equal(dup.body.type, "CONFLICT");
		assert.equal((await ada.post(`/api/groups/${group.id}/members`, { email: ghost })).status, 202);
		const again = await ada.post(`/api/groups/${group.id}/members`, { email: ghost.toUpperCase() });
		assert.equal(again.status, 409, "a pending invitation");
		assert.equal(again.body.type, "CONFLICT");
	});

	test("members rename, add, remove and leave; the last one out deletes the group", async () => {
		const [ada, bob, cy] = [client(), client(), client()];
		await ada.signUp("Ada");
		const bobUser = await bob.signUp("Bob");
		const cyUser = await cy.signUp("Cy");
		const group = await ada.createGroup("Trip");

		const renamed = await bob.patch(`/api/groups/${group.id}`, { name: "Nope" });
		assert.equal(renamed.status, 403, "not a member yet");
		const invited = await ada.post(`/api/groups/${group.id}/members`, { email: bobUser.email });
		assert.equal(invited.status, 202);
		assert.equal((await bob.patch(`/api/groups/${group.id}`, { name: "Nope" })).status, 403, "invited is not a member");
		const added = await bob.acceptInvitationTo(group.id);
		assert.equal(added.members.length, 2);
		assert.equal((await bob.patch(`/api/groups/${group.id}`, { name: "Road trip" })).body.name, "Road trip");
		assert.equal((await bob.addMember(group.id, cyUser.email)).members.length, 3);

		const removed = await cy.delete(`/api/groups/${group.id}/members/${ada.user!.id}`);
		assert.equal(removed.status, 200);
		assert.deepEqual(removed.body.members.map((m: { id: string }) => m.id).sort(), [bobUser.id, cyUser.id].sort());
		assert.equal((await ada.get(`/api/groups/${group.id}`)).status, 403);

		assert.equal((await bob.post(`/api/groups/${group.id}/leave`)).status, 204);
		assert.equal((await cy.post(`/api/groups/${group.id}/leave`)).status, 204);
		assert.equal((await cy.get(`/api/groups/${group.id}`)).status, 404, "the last leaver deleted the group");
	});

	test("only the creator deletes a group", async () => {
		const [ada, bob] = [client(), client()];
		await ada.signUp("Ada");
		const bobUser = await bob.signUp("Bob");
		const group = await ada.createGroup("Club", [bobUser.email]);
		const denied = await bob.delete(`/api/groups/${group.id}`);
		assert.equal(denied.status, 403);
		assert.equal((await ada.delete(`/api/groups/${group.id}`)).status, 204);
		assert.equal((await bob.get(`/api/groups/${group.id}`)).status, 404);
		assert.deepEqual((await bob.get("/api/groups")).body, []);
	});

	test("group:changed reaches members live; an added user joins the room at once and a removed one stops hearing it", async () => {
		const [ada, bob] = [client(), client()];
		await ada.signUp("Ada");
		const bobUser = await bob.signUp("Bob");
		const adaSocket = await socketFor(ada);
		const bobSocket = await socketFor(bob);

		const group = await ada.createGroup("Live");
		await adaSocket.waitFor("group:changed", p => p.groupId === group.id && p.change === "created");

		await ada.addMember(group.id, bobUser.email);
		await bobSocket.waitFor("group:changed", p => p.groupId === group.id && p.change === "memberAdded" && p.userId === bobUser.id);

		// Bob's already-open socket now hears the group's events.
		await ada.patch(`/api/groups/${group.id}`, { name: "Live 2" });
		await bobSocket.waitFor("group:changed", p => p.groupId === group.id && p.change === "renamed");

		await ada.delete(`/api/groups/${group.id}/members/${bobUser.id}`);
		await bobSocket.waitFor("group:changed", p => p.groupId === group.id && p.change === "memberRemoved" && p.userId === bobUser.id);
		await adaSocket.waitFor("group:changed", p => p.groupId === group.id && p.change === "memberRemoved");

		const heardBefore = bobSocket.of("group:changed").length;
		await ada.patch(`/api/groups/${group.id}`, { name: "Live 3" });
		await adaSocket.waitFor(
			"group:changed",
			p => p.groupId === group.id && p.change === "renamed" && adaSocket.of("group:changed").filter(e => e.change === "renamed").length === 2,
		);
		assert.equal(bobSocket.of("group:changed").length, heardBefore, "a removed member hears nothing more");
	});
});

describe("protocol errors", () => {
	test("malformed JSON and wrong content types are 400, unknown routes 404, and no stack trace leaks", async () => {
		const api = client();
		const malformed = await api.request("POST", "/api/auth/login", undefined, { raw: "{not json", headers: { "content-type": "application/json" } });
		assert.equal(malformed.status, 400);
		assert.equal(malformed.body.type, "BAD_REQUEST");
		const wrongType = await api.request("POST", "/api/auth/login", undefined, {
			raw: "email=a",
			headers: { "content-type": "application/x-www-form-urlencoded" },
		});
		assert.equal(wrongType.status, 400);
		assert.equal(wrongType.body.type, "BAD_REQUEST");

		await api.signUp();
		const unknown = await api.get("/api/definitely/not/a/route");
		assert.equal(unknown.status, 404);
		assert.equal(unknown.body.type, "NOT_FOUND");
		for (const body of [malformed.body, wrongType.body, unknown.body]) {
			assert.deepEqual(
				Object.keys(body).filter(k => !["name", "message", "code", "type", "data"].includes(k)),
				[],
			);
			assert.ok(!JSON.stringify(body).includes("at "), "no stack trace");
		}
	});

	test("oversized bodies are refused with a 4xx, not a 500", async () => {
		const res = await client().post("/api/auth/register", { name: "x".repeat(200_000), surname: "y", email: "big@example.com", password: "password1" });
		assert.equal(res.status, 400);
		assert.equal(res.body.type, "BAD_REQUEST");
	});

	test("the API documentation is served at /api/docs with the live parameter schemas", async () => {
		const page = await fetch(`${system.url}/api/docs`);
		assert.equal(page.status, 200);
		assert.match(page.headers.get("content-type") ?? "", /text\/html/);
		assert.match(await page.text(), /\/api\/groups\/\{groupId\}\/members/);
		const openApi = await client().get("/api/docs/openapi.json");
		assert.equal(openApi.status, 200);
		const register = openApi.body.paths["/api/auth/register"].post;
		assert.deepEqual(register.requestBody.content["application/json"].schema.required.sort(), ["email", "name", "password", "surname"]);
		const asyncApi = await client().get("/api/docs/asyncapi.json");
		assert.ok(asyncApi.body.channels["location:update"]);
	});

	test("GET /health is 200 with every service up", async () => {
		const res = await client().get("/health");
		assert.equal(res.status, 200);
		assert.equal(res.body.status, "ok");
	});

	test("unknown fields are dropped, never stored", async () => {
		const api = client();
		const email = `strict.${Date.now()}@example.com`;
		const res = await api.post("/api/auth/register", { name: "S", surname: "T", email, password: "password1", isAdmin: true, id: "chosen-id" });
		assert.equal(res.status, 201);
		assert.notEqual(res.body.id, "chosen-id");
		assert.equal(res.body.isAdmin, undefined);
	});
});

/**
 * The users service finds accounts by email and a user's groups through documents read by `_id`
 * (email claims, per-user group lists) kept without transactions. These are the states a crash
 * or a race leaves behind, written straight into the users database.
 */
describe("lookups that survive crashes and races", () => {
	const raw = async () => {
		usersDb ??= await mongoose.createConnection(process.env.MONGO_URL ?? "mongodb://127.0.0.1:27017", { dbName: `${system.env.NAMESPACE}_users` }).asPromise();
		return usersDb.db!;
	};
	const groupIdsOf = async (api: ApiClient) => ((await api.get("/api/groups")).body as { id: string }[]).map(g => g.id);
	const freshEmail = (who: string) => `${who}.${randomBytes(4).toString("hex")}@example.com`;
	const register = (email: string, password: string) => client().post("/api/auth/register", { name: "Reg", surname: "Racer", email, password });

	test("a group id left in a member's list never shows a group they left, were removed from, or that was deleted", async () => {
		const [ada, bob] = [client(), client()];
		await ada.signUp("Ada");
		const bobUser = await bob.signUp("Bob");
		const left = await ada.createGroup("Left", [bobUser.email]);
		const removed = await ada.createGroup("Removed", [bobUser.email]);
		const deleted = await ada.createGroup("Deleted", [bobUser.email]);
		const kept = await ada.createGroup("Kept", [bobUser.email]);
		assert.deepEqual(await groupIdsOf(bob), [left.id, removed.id, deleted.id, kept.id], "oldest first");
		assert.equal((await bob.post(`/api/groups/${left.id}/leave`)).status, 204);
		assert.equal((await ada.delete(`/api/groups/${removed.id}/members/${bobUser.id}`)).status, 200);
		assert.equal((await ada.delete(`/api/groups/${deleted.id}`)).status, 204);
		// As if each unlisting had been lost to a crash right after the group write.
		const db = await raw();
		await db
			.collection("users")
			.updateOne({ _id: bobUser.id as never }, { $addToSet: { groupIds: { $each: [left.id, removed.id, deleted.id, randomUUID()] } } });

		assert.deepEqual(await groupIdsOf(bob), [kept.id]);
		assert.equal((await bob.get(`/api/groups/${left.id}`)).status, 403);
		assert.equal((await bob.get(`/api/groups/${removed.id}`)).status, 403);
		assert.equal((await bob.get(`/api/groups/${deleted.id}`)).status, 404);
		assert.deepEqual(await groupIdsOf(ada), [left.id, removed.id, kept.id]);

		// Nor does a socket joining at the handshake hear the groups it is no longer in.
		const bobSocket = await socketFor(bob);
		await ada.patch(`/api/groups/${left.id}`, { name: "Left 2" });
		await ada.patch(`/api/groups/${removed.id}`, { name: "Removed 2" });
		await ada.patch(`/api/groups/${kept.id}`, { name: "Kept 2" });
		await bobSocket.waitFor("group:changed", p => p.groupId === kept.id && p.change === "renamed");
		assert.deepEqual(
			bobSocket.of("group:changed").filter(p => p.groupId !== kept.id),
			[],
			"only the group Bob is still in",
		);
	});

	test("an email claim orphaned by a crash does not block registering that email", async () => {
		const db = await raw();
		const ada = client();
		const adaUser = await ada.signUp("Ada");
		const nobody = freshEmail("nobody");
		const moved = freshEmail("moved");
		await db.collection("useremails").insertMany([
			{ _id: nobody as never, userId: randomUUID() }, // the account was never written
			{ _id: moved as never, userId: adaUser.id }, // the account holds another email
		]);
		for (const email of [nobody, moved]) {
			assert.equal((await client().post("/api/auth/login", { email, password: "correct horse battery" })).status, 401);
			const res = await register(email, "a new password");
			assert.equal(res.status, 201, `register ${email}`);
			const fresh = client();
			await fresh.logIn(email, "a new password");
			assert.equal(fresh.user!.id, res.body.id);
		}
		await client().logIn(adaUser.email, "correct horse battery");
	});

	test("concurrent registers of one email: exactly one 201, the others 409 CONFLICT, and the winner logs in", async () => {
		const email = freshEmail("race");
		const answers = await Promise.all([0, 1, 2].map(i => register(email, `password number ${i}`)));
		const statuses = answers.map(a => a.status).sort();
		assert.deepEqual(statuses, [201, 409, 409]);
		for (const answer of answers.filter(a => a.status === 409)) assert.equal(answer.body.type, "CONFLICT");
		const winner = answers.findIndex(a => a.status === 201);
		const api = client();
		await api.logIn(email, `password number ${winner}`);
		assert.equal(api.user!.id, answers[winner]!.body.id);
	});

	test("changing the email frees the old one for another account; the new one logs in and is found by email", async () => {
		const [ada, cy] = [client(), client()];
		const adaUser = await ada.signUp("Ada", "L", "ada password");
		await cy.signUp("Cy");
		const newEmail = freshEmail("ada.new");
		assert.equal((await ada.patch("/api/users/me", { email: newEmail, currentPassword: "ada password" })).status, 200);
		assert.equal((await client().post("/api/auth/login", { email: adaUser.email, password: "ada password" })).status, 401);
		await client().logIn(newEmail, "ada password");

		const bobRegistered = await register(adaUser.email, "bob password");
		assert.equal(bobRegistered.status, 201);
		await client().logIn(adaUser.email, "bob password");
		const group = await cy.createGroup("Who is who", [adaUser.email, newEmail]);
		assert.deepEqual(
			group.members.map(m => m.id),
			[cy.user!.id, bobRegistered.body.id, adaUser.id],
		);

		// Two accounts moving to one email at once: one gets it, the other a 409, and it logs in.
		const contested = freshEmail("contested");
		const moves = await Promise.all([
			ada.patch("/api/users/me", { email: contested, currentPassword: "ada password" }),
			cy.patch("/api/users/me", { email: contested, currentPassword: "correct horse battery" }),
		]);
		assert.deepEqual(moves.map(m => m.status).sort(), [200, 409]);
		const holder = moves.find(m => m.status === 200)!.body.id;
		const login = await client().post("/api/auth/login", { email: contested, password: holder === adaUser.id ? "ada password" : "correct horse battery" });
		assert.equal(login.status, 200);
		assert.equal(login.body.user.id, holder);
	});

	test("accounts written before the claims and group lists log in and see their groups", async () => {
		const db = await raw();
		// A real password hash, taken from an account registered now.
		const donor = client();
		const donorUser = await donor.signUp("Donor", "D", "old timer password");
		const hash = ((await db.collection("users").findOne({ _id: donorUser.id as never })) as { passwordHash: string } | null)!.passwordHash;
		const legacy = (name: string) => {
			const id = randomUUID();
			return {
				_id: id as never,
				name,
				surname: "Old",
				email: freshEmail(name.toLowerCase()),
				passwordHash: hash,
				tokensValidAfter: 0,
				createdAt: new Date(),
				deletedAt: null,
				outbox: [],
			};
		};
		const [olga, oleg] = [legacy("Olga"), legacy("Oleg")];
		// Olga's account is older still: hashed with scrypt, as before Argon2id.
		const salt = randomBytes(16);
		const scryptKey = scryptSync("old timer password", salt, 64, { N: 2 ** 14, r: 8, p: 1 });
		olga.passwordHash = ["scrypt", 2 ** 14, 8, 1, salt.toString("base64"), scryptKey.toString("base64")].join("$");
		await db.collection("users").insertMany([olga, oleg]);
		const oldGroup = {
			_id: randomUUID() as never,
			name: "Old friends",
			createdBy: olga._id,
			createdAt: new Date(Date.now() - 86_400_000),
			memberIds: [olga._id, oleg._id],
			version: 1,
			deleted: false,
			outbox: [],
		};
		const goneGroup = { ...oldGroup, _id: randomUUID() as never, name: "Gone", memberIds: [], deleted: true, version: 2 };
		await db.collection("groups").insertMany([oldGroup, goneGroup]);
		// The new version starts on the existing database.
		await system.restart("users");
		await system.waitHealthy();

		const [olgaApi, olegApi] = [client(), client()];
		await olgaApi.logIn(olga.email, "old timer password");
		assert.equal(olgaApi.user!.id, olga._id);
		const upgraded = ((await db.collection("users").findOne({ _id: olga._id })) as { passwordHash: string } | null)!.passwordHash;
		assert.match(upgraded, /^\$argon2id\$/, "a scrypt hash is upgraded at the first login");
		assert.equal((await client().post("/api/auth/login", { email: olga.email, password: "old timer password" })).status, 200);
		assert.equal((await client().post("/api/auth/login", { email: olga.email, password: "not her password" })).status, 401);
		// Oleg joins a new group by email (he accepts the invitation) before he ever asks for his groups.
		await olegApi.logIn(oleg.email, "old timer password");
		const fresh = await olgaApi.createGroup("New friends", [oleg.email]);
		assert.deepEqual(await groupIdsOf(olegApi), [oldGroup._id, fresh.id]);
		assert.deepEqual(await groupIdsOf(olgaApi), [oldGroup._id, fresh.id]);
		const seen = (await olgaApi.get(`/api/groups/${oldGroup._id}`)).body as { members: { id: string; email?: string }[] };
		assert.deepEqual(
			seen.members.map(m => m.id),
			[olga._id, oleg._id],
		);
		assert.equal(seen.members[0]!.email, olga.email, "the caller's own email only");
		assert.equal(seen.members[1]!.email, undefined);

		assert.equal((await olegApi.post(`/api/groups/${oldGroup._id}/leave`)).status, 204);
		assert.deepEqual(await groupIdsOf(olegApi), [fresh.id]);
		// A socket of a legacy account joins its groups' rooms at the handshake.
		const olgaSocket = await socketFor(olgaApi);
		await olegApi.patch(`/api/groups/${fresh.id}`, { name: "Newer friends" });
		await olgaSocket.waitFor("group:changed", p => p.groupId === fresh.id && p.change === "renamed");
	});
});
