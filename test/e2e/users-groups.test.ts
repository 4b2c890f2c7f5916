import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ApiClient, connectSocket, type LiveSocket } from "../support/client.js";
import { startSystem, type System } from "../support/system.js";

/** Users, groups, errors and live group events through the public HTTP and Socket.IO contract. */

let system: System;
const sockets: LiveSocket[] = [];
const client = () => new ApiClient(system.url);
const socketFor = async (api: ApiClient) => {
	const socket = await connectSocket(system.url, api.token!);
	sockets.push(socket);
	return socket;
};

before(async () => {
	system = await startSystem({ services: ["users", "gateway"], env: { LOGIN_LOCK_AFTER: "5" } });
});

after(async () => {
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

	test("an account refuses logins after repeated wrong passwords, even with the right one", async () => {
		const api = client();
		const user = await api.signUp("Guessed", "Often", "the right password");
		for (let i = 0; i < 5; i++) assert.equal((await api.post("/api/auth/login", { email: user.email, password: `guess ${i}` })).status, 401);
		const locked = await api.post("/api/auth/login", { email: user.email, password: "the right password" });
		assert.equal(locked.status, 429);
		assert.equal(locked.body.type, "RATE_LIMITED");
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
		assert.deepEqual(after.body.members.map((m: { id: string }) => m.id), [ada.user!.id]);
		// The email is free again.
		const again = await client().post("/api/auth/register", { name: "Bob", surname: "B", email: bobUser.email, password: "difference engine" });
		assert.equal(again.status, 201);
	});
});

describe("groups", () => {
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
		assert.deepEqual(group.members.map(m => m.id), [ada.user!.id, bobUser.id]);

		assert.deepEqual((await bob.get("/api/groups")).body.map((g: { id: string }) => g.id), [group.id]);
		assert.equal((await bob.get(`/api/groups/${group.id}`)).status, 200);
		const forbidden = await eve.get(`/api/groups/${group.id}`);
		assert.equal(forbidden.status, 403);
		assert.equal(forbidden.body.type, "FORBIDDEN");
		assert.equal((await eve.patch(`/api/groups/${group.id}`, { name: "Mine" })).status, 403);
		assert.equal((await eve.post(`/api/groups/${group.id}/members`, { email: eve.user!.email })).status, 403);
		assert.deepEqual((await eve.get("/api/groups")).body, []);
		assert.equal((await ada.get("/api/groups/does-not-exist")).status, 404);
	});

	test("unknown member emails are 404 and a duplicate member is 409", async () => {
		const ada = client();
		const bob = client();
		await ada.signUp();
		const bobUser = await bob.signUp("Bob");
		const res = await ada.post("/api/groups", { name: "X", memberEmails: ["ghost@example.com"] });
		assert.equal(res.status, 404);
		const group = await ada.createGroup("Pair", [bobUser.email]);
		const dup = await ada.post(`/api/groups/${group.id}/members`, { email: bobUser.email });
		assert.equal(dup.status, 409);
		assert.equal(dup.body.type, "CONFLICT");
		assert.equal((await ada.post(`/api/groups/${group.id}/members`, { email: "ghost@example.com" })).status, 404);
	});

	test("members rename, add, remove and leave; the last one out deletes the group", async () => {
		const [ada, bob, cy] = [client(), client(), client()];
		await ada.signUp("Ada");
		const bobUser = await bob.signUp("Bob");
		const cyUser = await cy.signUp("Cy");
		const group = await ada.createGroup("Trip");

		const renamed = await bob.patch(`/api/groups/${group.id}`, { name: "Nope" });
		assert.equal(renamed.status, 403, "not a member yet");
		const added = await ada.post(`/api/groups/${group.id}/members`, { email: bobUser.email });
		assert.equal(added.status, 200);
		assert.equal(added.body.members.length, 2);
		assert.equal((await bob.patch(`/api/groups/${group.id}`, { name: "Road trip" })).body.name, "Road trip");
		assert.equal((await bob.post(`/api/groups/${group.id}/members`, { email: cyUser.email })).status, 200);

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

		await ada.post(`/api/groups/${group.id}/members`, { email: bobUser.email });
		await bobSocket.waitFor("group:changed", p => p.groupId === group.id && p.change === "memberAdded" && p.userId === bobUser.id);

		// Bob's already-open socket now hears the group's events.
		await ada.patch(`/api/groups/${group.id}`, { name: "Live 2" });
		await bobSocket.waitFor("group:changed", p => p.groupId === group.id && p.change === "renamed");

		await ada.delete(`/api/groups/${group.id}/members/${bobUser.id}`);
		await bobSocket.waitFor("group:changed", p => p.groupId === group.id && p.change === "memberRemoved" && p.userId === bobUser.id);
		await adaSocket.waitFor("group:changed", p => p.groupId === group.id && p.change === "memberRemoved");

		const heardBefore = bobSocket.of("group:changed").length;
		await ada.patch(`/api/groups/${group.id}`, { name: "Live 3" });
		await adaSocket.waitFor("group:changed", p => p.groupId === group.id && p.change === "renamed" && adaSocket.of("group:changed").filter(e => e.change === "renamed").length === 2);
		assert.equal(bobSocket.of("group:changed").length, heardBefore, "a removed member hears nothing more");
	});
});

describe("protocol errors", () => {
	test("malformed JSON and wrong content types are 400, unknown routes 404, and no stack trace leaks", async () => {
		const api = client();
		const malformed = await api.request("POST", "/api/auth/login", undefined, { raw: "{not json", headers: { "content-type": "application/json" } });
		assert.equal(malformed.status, 400);
		assert.equal(malformed.body.type, "BAD_REQUEST");
		const wrongType = await api.request("POST", "/api/auth/login", undefined, { raw: "email=a", headers: { "content-type": "application/x-www-form-urlencoded" } });
		assert.equal(wrongType.status, 400);
		assert.equal(wrongType.body.type, "BAD_REQUEST");

		await api.signUp();
		const unknown = await api.get("/api/definitely/not/a/route");
		assert.equal(unknown.status, 404);
		assert.equal(unknown.body.type, "NOT_FOUND");
		for (const body of [malformed.body, wrongType.body, unknown.body]) {
			assert.deepEqual(Object.keys(body).filter(k => !["name", "message", "code", "type", "data"].includes(k)), []);
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
