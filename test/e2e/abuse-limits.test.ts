import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServiceBroker } from "moleculer";
import { brokerOptions } from "../../moleculer.config.js";
import { issueToken } from "../../services/users/tokens.js";
import type { Session } from "../../events/types.js";
import { ApiClient, connectSocket, type ApiResponse, type LiveSocket } from "../support/client.js";
import { startSystem, TEST_JWT_SECRET, type System } from "../support/system.js";
import { waitFor } from "../support/wait.js";

/**
 * The holes a security review found (issue 14: 1, 2, 3, 5's sockets, 8's API part), each tried as
 * an attacker would, through the public contract: a socket outliving its token, guessing the
 * password with a stolen token, locking an owner out from anywhere, a burst of parallel guesses,
 * unlimited sockets per user, and API answers a cache may keep.
 */

const LOCK_AFTER = 10; // LOGIN_LOCK_AFTER's default
const MAX_SOCKETS = 4;
const WINDOW_S = 15 * 60;

let system: System;
let probe: ServiceBroker;
let webRoot: string;
const sockets: LiveSocket[] = [];
const from = (address: string) => ({ headers: { "x-forwarded-for": address } });
const connect = async (token: string) => {
	const socket = await connectSocket(system.url, token);
	sockets.push(socket);
	return socket;
};
const signUp = async (name: string, password: string) => {
	const api = new ApiClient(system.url);
	await api.signUp(name, "Tester", password);
	return api;
};
const retryAfterOf = (res: ApiResponse) => Number(res.headers.get("retry-after"));

before(async () => {
	// A stand-in for the built web client, with a source map left over from an old build.
	webRoot = mkdtempSync(join(tmpdir(), "positionpal-web-"));
	mkdirSync(join(webRoot, "assets"));
	writeFileSync(join(webRoot, "index.html"), "<!doctype html><title>PositionPal</title>");
	writeFileSync(join(webRoot, "sw.js"), "self.addEventListener('push', () => {});");
	writeFileSync(join(webRoot, "sw.js.map"), "{}");
	writeFileSync(join(webRoot, "assets", "app-3f2a9c.js"), "console.log('app');");
	system = await startSystem({
		services: ["users", "location", "gateway"],
		env: { TRUST_PROXY: "1", MAX_SOCKETS_PER_USER: String(MAX_SOCKETS), WEB_ROOT: webRoot, OFFLINE_AFTER: "3600", STUCK_AFTER: "3600" },
	});
	probe = new ServiceBroker(brokerOptions({ namespace: system.env.NAMESPACE, nodeID: `probe-${randomBytes(3).toString("hex")}`, logger: false }));
	await probe.start();
	await probe.waitForServices(["users"]);
});

after(async () => {
	for (const socket of sockets) socket.close();
	await probe?.stop();
	await system?.stopAll();
	rmSync(webRoot, { recursive: true, force: true });
});

test("hole 1: a socket is disconnected when its token expires, and gets no location:update after it", async () => {
	const ada = await signUp("Ada", "ada's long password");
	// Alone in a group: her own sessions' updates reach her own sockets.
	const solo = await ada.createGroup("Solo");
	assert.equal((await ada.post(`/api/groups/${solo.id}/sharing`)).status, 200);
	const control = await connect(ada.token!);
	// A token of 3-4 s, signed as the users service signs them (expiry in whole seconds).
	const shortLived = issueToken(ada.user!.id, TEST_JWT_SECRET, 4_000);
	const expiring = await connect(shortLived.token);
	let disconnected: { at: number; reason: string } | undefined;
	expiring.socket.once("disconnect", reason => (disconnected = { at: Date.now(), reason }));

	const sample = async (latitude: number) => assert.equal((await ada.post("/api/location/samples", { latitude, longitude: 9.19 })).status, 202);
	const updateAt = (latitude: number) => (s: Session) => s.groupId === solo.id && s.position?.latitude === latitude;
	await sample(45.1);
	await expiring.waitFor("location:update", updateAt(45.1));

	await waitFor(() => disconnected, { timeoutMs: shortLived.expiresAt - Date.now() + 5_000, what: "the socket to be disconnected at its token's expiry" });
	assert.equal(disconnected!.reason, "io server disconnect");
	assert.ok(disconnected!.at >= shortLived.expiresAt, `not before the expiry (${disconnected!.at - shortLived.expiresAt} ms)`);
	assert.ok(disconnected!.at - shortLived.expiresAt < 3_000, `at the expiry, not ${disconnected!.at - shortLived.expiresAt} ms later`);
	const seen = expiring.of("location:update").length;

	await sample(45.2);
	await control.waitFor("location:update", updateAt(45.2));
	assert.equal(expiring.of("location:update").length, seen, "no update after the expiry");
	await assert.rejects(connectSocket(system.url, shortLived.token), { message: "UNAUTHORIZED" });
});

test("hole 2: currentPassword guesses are refused after LOGIN_LOCK_AFTER per user, from any address, the right one too until the window ends", async () => {
	const victim = await signUp("Victim", "the right password");
	const statuses: number[] = [];
	let last: ApiResponse | undefined;
	for (let i = 0; i < 20; i++) {
		// The thief holds the token; each guess comes from another address.
		last = await victim.patch("/api/users/me", { password: "taken over!", currentPassword: `guess ${i}` }, from(`203.0.113.${i}`));
		statuses.push(last.status);
	}
	assert.deepEqual(statuses, [...Array(LOCK_AFTER).fill(401), ...Array(20 - LOCK_AFTER).fill(429)]);
	assert.equal(last!.body.type, "RATE_LIMITED");
	assert.ok(retryAfterOf(last!) > WINDOW_S - 30 && retryAfterOf(last!) <= WINDOW_S, `Retry-After ${retryAfterOf(last!)}`);
	assert.equal(last!.headers.get("cache-control"), "no-store");

	const right = await victim.patch("/api/users/me", { password: "taken over!", currentPassword: "the right password" }, from("198.51.100.1"));
	assert.equal(right.status, 429, "the right password is refused too until the window ends");
	const remove = await victim.delete("/api/users/me", { currentPassword: "the right password" }, from("198.51.100.2"));
	assert.equal(remove.status, 429, "deleting the account is the same guess");
	// Nothing changed: the old password still logs in, the account is there.
	await new ApiClient(system.url).logIn(victim.user!.email, "the right password");
	assert.equal((await victim.get("/api/users/me")).status, 200);
});

test("hole 3: wrong logins from one address lock that address with the true Retry-After; the owner at another address logs in", async () => {
	const owner = await signUp("Owner", "the right password");
	const email = owner.user!.email;
	const firstGuessAt = Date.now();
	for (let i = 0; i < LOCK_AFTER; i++) assert.equal((await owner.post("/api/auth/login", { email, password: `guess ${i}` }, from("203.0.113.50"))).status, 401);

	const locked = await owner.post("/api/auth/login", { email, password: "the right password" }, from("203.0.113.50"));
	assert.equal(locked.status, 429);
	assert.equal(locked.body.type, "RATE_LIMITED");
	const expected = WINDOW_S - (Date.now() - firstGuessAt) / 1000;
	assert.ok(Math.abs(retryAfterOf(locked) - expected) <= 2, `Retry-After ${retryAfterOf(locked)} s, ${expected.toFixed(1)} s left in the window`);

	const elsewhere = await owner.post("/api/auth/login", { email, password: "the right password" }, from("198.51.100.50"));
	assert.equal(elsewhere.status, 200, JSON.stringify(elsewhere.body));
	assert.equal(
		(await owner.post("/api/auth/login", { email, password: "the right password" }, from("203.0.113.50"))).status,
		429,
		"the guessing address stays locked",
	);
	// The same address may still try other accounts (a shared NAT is not locked out of everything).
	const other = await signUp("Neighbour", "another password");
	assert.equal((await other.post("/api/auth/login", { email: other.user!.email, password: "another password" }, from("203.0.113.50"))).status, 200);
});

test("hole 3: 60 parallel wrong logins cost at most LOGIN_LOCK_AFTER password checks", async () => {
	const target = await signUp("Target", "the right password");
	const before = (await probe.call("users.authStats")) as { loginChecks: number };
	const answers = await Promise.all(
		Array.from({ length: 60 }, (_, i) => target.post("/api/auth/login", { email: target.user!.email, password: `parallel guess ${i}` }, from("203.0.113.60"))),
	);
	const after = (await probe.call("users.authStats")) as { loginChecks: number; loginsRefused: number };
	const checks = after.loginChecks - before.loginChecks;
	const statuses = answers.map(a => a.status);
	assert.ok(checks <= LOCK_AFTER, `${checks} password checks for 60 parallel guesses`);
	assert.ok(statuses.filter(s => s === 401).length <= LOCK_AFTER, `statuses: ${statuses.join(",")}`);
	assert.ok(
		statuses.every(s => s === 401 || s === 429),
		`statuses: ${statuses.join(",")}`,
	);
	assert.ok(after.loginsRefused >= 60 - LOCK_AFTER);
});

test("hole 5: one user opens at most MAX_SOCKETS_PER_USER sockets per gateway; one more fails with RATE_LIMITED, a closed one frees its place", async () => {
	const cap = await signUp("Cap", "cap's long password");
	// All at once: the handshakes are counted before they finish.
	const attempts = await Promise.allSettled(Array.from({ length: MAX_SOCKETS + 2 }, () => connect(cap.token!)));
	const opened = attempts.filter((a): a is PromiseFulfilledResult<LiveSocket> => a.status === "fulfilled").map(a => a.value);
	const refused = attempts.filter((a): a is PromiseRejectedResult => a.status === "rejected").map(a => (a.reason as Error).message);
	assert.equal(opened.length, MAX_SOCKETS);
	assert.deepEqual(refused, ["RATE_LIMITED", "RATE_LIMITED"]);
	assert.ok(
		opened.every(s => s.socket.connected),
		"the open sockets stay",
	);
	// Another user is not affected.
	const other = await signUp("Other", "other's long password");
	await connect(other.token!);
	// Closing one gives its place back.
	opened[0]!.close();
	await waitFor(() => connect(cap.token!), { what: "a socket in the freed place" });
	await assert.rejects(connect(cap.token!), { message: "RATE_LIMITED" });
});

test("hole 8: every API answer, errors included, carries Cache-Control: no-store; the web client's files keep their caching", async () => {
	const api = await signUp("Cache", "cache's long password");
	const noStore = async (what: string, res: Promise<ApiResponse> | ApiResponse, status: number) => {
		const answer = await res;
		assert.equal(answer.status, status, `${what}: ${JSON.stringify(answer.body)}`);
		assert.equal(answer.headers.get("cache-control"), "no-store", what);
	};
	await noStore("GET /api/users/me", api.get("/api/users/me"), 200);
	await noStore("POST /api/auth/login", api.post("/api/auth/login", { email: api.user!.email, password: "cache's long password" }), 200);
	await noStore("POST /api/groups", api.post("/api/groups", { name: "Cached" }), 201);
	await noStore("no token", api.get("/api/users/me", { token: null }), 401);
	await noStore("wrong password", api.post("/api/auth/login", { email: api.user!.email, password: "wrong one" }), 401);
	await noStore("malformed JSON", api.request("POST", "/api/groups", undefined, { raw: "{", headers: { "content-type": "application/json" } }), 400);
	await noStore("unknown route", api.get("/api/nowhere"), 404);
	await noStore("invalid body", api.patch("/api/users/me", { name: "" }), 422);
	await noStore("OpenAPI", api.get("/api/docs/openapi.json"), 200);
	await noStore("AsyncAPI", api.get("/api/docs/asyncapi.json"), 200);
	await noStore("API docs page", api.get("/api/docs"), 200);
	await noStore("health", api.get("/health"), 200);

	const page = await fetch(`${system.url}/`);
	assert.equal(page.status, 200);
	assert.equal(page.headers.get("cache-control"), "no-cache");
	const asset = await fetch(`${system.url}/assets/app-3f2a9c.js`);
	assert.equal(asset.status, 200);
	assert.equal(asset.headers.get("cache-control"), "public, max-age=31536000, immutable");
	// Source maps are not built any more, and one left in the folder is not served.
	assert.equal((await fetch(`${system.url}/sw.js.map`)).status, 404);
	assert.equal((await fetch(`${system.url}/sw.js`)).headers.get("cache-control"), "no-cache");
});
