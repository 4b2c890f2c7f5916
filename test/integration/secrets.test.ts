import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import { ApiClient, connectSocket, type ApiResponse, type Json, type LiveSocket } from "../support/client.js";
import { startSystem, TEST_JWT_SECRET, type ServiceName, type System } from "../support/system.js";
import { waitFor } from "../support/wait.js";
import { rawRequest } from "../support/fuzz.js";

/**
 * No secret, password hash or stack trace ever appears in a response or a log line (issue 6):
 * a workload that exercises every service — successes, refusals, validation errors on password
 * fields, forged and expired tokens, malformed bodies, sockets, and a service that is down —
 * then every response body and every line of every service's log is scanned for the JWT secret,
 * scrypt hashes, the passwords used, access tokens (logs) and stack traces.
 */

const SERVICES: ServiceName[] = ["users", "location", "chat", "notification", "gateway"];
/** Distinctive, so a hit is never a coincidence. */
const password = (label: string) => `pw-${label}-${randomBytes(6).toString("hex")}`;

let system: System;
const responses: { what: string; text: string }[] = [];
const passwords = new Set<string>();
const tokens = new Set<string>();

/** Records every response body (and remembers issued tokens). */
function record(what: string, res: ApiResponse | { status: number; text: string }) {
	const text = "text" in res ? res.text : typeof res.body === "string" ? res.body : JSON.stringify(res.body ?? "");
	responses.push({ what: `${what} → ${res.status}`, text });
	const token = (res as ApiResponse).body?.token;
	if (typeof token === "string") tokens.add(token);
	return res;
}

class RecordingClient extends ApiClient {
	override async request<T = Json>(method: string, path: string, body?: unknown, opts?: Parameters<ApiClient["request"]>[3]): Promise<ApiResponse<T>> {
		for (const key of ["password", "currentPassword"]) {
			const value = (body as Record<string, unknown> | undefined)?.[key];
			if (typeof value === "string") passwords.add(value);
		}
		const res = await super.request<T>(method, path, body, opts);
		record(`${method} ${path}`, res);
		return res;
	}
}

function recordSocket(socket: LiveSocket, label: string) {
	socket.socket.onAny((event: string, payload: unknown) => responses.push({ what: `${label} received ${event}`, text: JSON.stringify(payload) }));
}

async function emit(socket: LiveSocket, event: string, payload: unknown) {
	const ack = await socket.emit(event, payload);
	responses.push({ what: `ack of ${event}`, text: JSON.stringify(ack) });
	return ack;
}

before(async () => {
	// Debug level: the most a deployment can log, so a leak at any level shows.
	system = await startSystem({ services: SERVICES, env: { AUTH_RATE_LIMIT: "0", LOG_LEVEL: "debug", LOGIN_LOCK_AFTER: "3" } });
});

after(async () => {
	await system?.stopAll();
});

test("a workload across every service leaves no secret, hash, password, token or stack trace in responses or logs", async () => {
	const client = () => new RecordingClient(system.url);
	const ada = client();
	const bob = client();
	const adaPw = password("ada");
	const bobPw = password("bob");
	passwords.add(adaPw);
	passwords.add(bobPw);
	await ada.signUp("Ada", "Lovelace", adaPw);
	await bob.signUp("Bob", "Babbage", bobPw);
	tokens.add(ada.token!);
	tokens.add(bob.token!);

	// Accounts: bad registrations and logins, including password fields that fail validation.
	await client().post("/api/auth/register", { name: "Short", surname: "Pw", email: "short@example.com", password: password("x").slice(0, 7) });
	await client().post("/api/auth/register", { name: "Long", surname: "Pw", email: "long@example.com", password: password("long").repeat(80) });
	await client().post("/api/auth/register", { name: "Dup", surname: "Licate", email: ada.user!.email, password: password("dup") });
	await client().post("/api/auth/register", { name: "Obj", surname: "Pw", email: "obj@example.com", password: { value: password("obj") } });
	await client().post("/api/auth/login", { email: ada.user!.email, password: password("wrong") });
	await client().post("/api/auth/login", { email: "nobody@example.com", password: password("nobody") });
	await client().post("/api/auth/login", { email: ada.user!.email, password: 12345678 });
	const victim = client();
	const victimPw = password("victim");
	await victim.signUp("Vic", "Locked", victimPw);
	for (let i = 0; i < 4; i++) await client().post("/api/auth/login", { email: victim.user!.email, password: password(`guess${i}`) }); // locks the account
	await ada.patch("/api/users/me", { password: password("new-too-short").slice(0, 5), currentPassword: adaPw });
	await ada.patch("/api/users/me", { password: password("new"), currentPassword: password("not-current") });
	const renamed = await ada.patch("/api/users/me", { email: `ada.${randomUUID().slice(0, 8)}@example.com`, currentPassword: adaPw });
	assert.equal(renamed.status, 200);
	ada.user = renamed.body;
	const adaPw2 = password("ada2");
	assert.equal((await ada.patch("/api/users/me", { password: adaPw2, currentPassword: adaPw })).status, 200);
	const oldAdaToken = ada.token!;
	await ada.get("/api/users/me"); // the old token, revoked
	await ada.logIn(ada.user!.email, adaPw2);
	tokens.add(ada.token!);

	// Forged, expired and malformed tokens.
	const forgedWrong = jwt.sign({ sub: ada.user!.id, jti: randomUUID() }, "not-the-secret", { algorithm: "HS256" });
	const expired = jwt.sign({ sub: ada.user!.id, jti: randomUUID(), iat: 1, exp: 2 }, TEST_JWT_SECRET, { algorithm: "HS256" });
	for (const token of [forgedWrong, expired, oldAdaToken, "garbage", "a.b.c"]) {
		tokens.add(token);
		await client().get("/api/users/me", { token });
	}

	// Groups, chat, location, notifications.
	const group = await ada.createGroup("Secrets", [bob.user!.email]);
	await ada.post("/api/groups", { name: "" });
	await bob.get(`/api/groups/${randomUUID()}`);
	await ada.post(`/api/groups/${group.id}/messages`, { text: "hi Bob" });
	await ada.post(`/api/groups/${group.id}/messages`, { text: "x".repeat(2001) });
	await bob.get(`/api/groups/${group.id}/messages?limit=abc`);
	await ada.post(`/api/groups/${group.id}/sharing`);
	await ada.post("/api/location/samples", { latitude: 45.07, longitude: 7.68 });
	await ada.post("/api/location/samples", { latitude: 91, longitude: 7.68 });
	await ada.post(`/api/groups/${group.id}/journey`, {
		destination: { name: "Home", latitude: 45.08, longitude: 7.69 },
		eta: new Date(Date.now() + 3_600_000).toISOString(),
		mode: "walking",
	});
	await ada.post(`/api/groups/${group.id}/journey`, { destination: { name: "Home", latitude: 45.08, longitude: 7.69 }, eta: "yesterday", mode: "walking" });
	await ada.delete(`/api/groups/${group.id}/journey`);
	await ada.post("/api/sos", { latitude: 45.07, longitude: 7.68 });
	await ada.delete("/api/sos");
	await ada.delete("/api/sos");
	await waitFor(async () => ((await bob.get("/api/notifications")).body?.notifications?.length ?? 0) >= 3, { what: "Bob's notifications" });
	await bob.post("/api/notifications/read", { all: true });
	await bob.get("/api/notifications/push-key");
	await bob.post("/api/notifications/subscriptions", { endpoint: "https://push.example/x", keys: { p256dh: "bad", auth: "bad" } });

	// Malformed requests straight at the gateway.
	for (const [body, type] of [
		['{"email":', "application/json"],
		['{"password":"' + adaPw2 + '"', "application/json"],
		["email=a&password=b", "application/x-www-form-urlencoded"],
		[`{"x":${"[".repeat(5000)}${"]".repeat(5000)}}`, "application/json"],
	]) {
		record("raw login", await rawRequest(system.url, { method: "POST", path: "/api/auth/login", headers: { "content-type": type! }, body: body! }));
	}
	record(
		"raw gzip",
		await rawRequest(system.url, {
			method: "POST",
			path: "/api/groups",
			headers: { "content-type": "application/json", "content-encoding": "gzip", authorization: `Bearer ${ada.token}` },
			body: "not gzip",
		}),
	);
	record("unknown route", await rawRequest(system.url, { method: "GET", path: "/api/nope", headers: {} }));

	// Sockets: live events, acks, refused connections.
	const adaSocket = await connectSocket(system.url, ada.token);
	const bobSocket = await connectSocket(system.url, bob.token);
	recordSocket(adaSocket, "ada");
	recordSocket(bobSocket, "bob");
	await emit(adaSocket, "chat:send", { groupId: group.id, text: "over the socket" });
	await emit(adaSocket, "chat:send", { groupId: group.id, text: "" });
	await emit(adaSocket, "location:sample", { latitude: "north", longitude: 1 });
	await emit(bobSocket, "sos:stop", {});
	for (const token of [expired, forgedWrong, "garbage"])
		await connectSocket(system.url, token).then(
			s => s.close(),
			(err: Error) => responses.push({ what: "connect_error", text: err.message }),
		);

	// A service that is down: 503s on REST and socket, then back.
	await system.stop("chat");
	await ada.get(`/api/groups/${group.id}/messages`);
	await emit(adaSocket, "chat:send", { groupId: group.id, text: "anyone?" });
	await system.start("chat");
	await waitFor(async () => (await ada.get(`/api/groups/${group.id}/messages`)).status === 200, { timeoutMs: 30_000, what: "chat to be back" });

	// Logout and account deletion (wrong password first).
	await bob.delete("/api/users/me", { currentPassword: password("wrong-current") });
	assert.equal((await bob.delete("/api/users/me", { currentPassword: bobPw })).status, 204);
	await ada.post("/api/auth/logout");
	adaSocket.close();
	bobSocket.close();

	// ---- the scan
	const stackLine = /^\s+at \S.*(:\d+:\d+\)?|\(native\)|\(<anonymous>\))\s*$/m;
	const jwtPattern = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;
	const hits: string[] = [];
	const scan = (where: string, text: string, opts: { stacks: boolean }) => {
		const found: string[] = [];
		if (text.includes(TEST_JWT_SECRET)) found.push("the JWT secret");
		if (text.includes("scrypt$") || text.includes("$argon2id$")) found.push("a password hash");
		for (const pw of passwords) if (pw.length >= 5 && text.includes(pw)) found.push(`the password ${pw.slice(0, 12)}…`);
		if (jwtPattern.test(text)) found.push("a JWT");
		for (const token of tokens) if (token.length > 20 && text.includes(token)) found.push("an access token");
		if (opts.stacks && stackLine.test(text)) found.push("a stack trace");
		for (const f of found) hits.push(`${where}: ${f} in ${JSON.stringify(text.slice(0, 300))}`);
	};
	for (const { what, text } of responses) {
		// A login response carries the caller's own token, by design: everything else in it is scanned.
		scan(`response ${what}`, text.replace(/"token":"[^"]+"/g, '"token":"…"'), { stacks: true });
	}
	// One log entry per "[time] LEVEL ..." line, with its continuation lines (where stacks go).
	// Secrets must not appear at any level. Stack traces must not appear at INFO and above, the
	// levels a deployment runs at; at DEBUG, Moleculer itself logs every rejected request with
	// its stack (a developer setting), so only secrets are checked there.
	let entries = 0;
	for (const name of SERVICES) {
		const log = system.log(name);
		const parts = log.split(/\n(?=\[\d{2}:\d{2}:\d{2}\.\d{3}Z\] )/);
		entries += parts.length;
		for (const entry of parts) {
			const level = /^\[[^\]]+\] (\w+)/.exec(entry)?.[1] ?? "INFO";
			scan(`${name}.log ${entry.slice(0, 40)}`, entry, { stacks: !["DEBUG", "TRACE"].includes(level) });
		}
	}
	const kinds = new Map<string, number>();
	for (const hit of hits) {
		const kind = /: (the JWT secret|a password hash|the password|a JWT|an access token|a stack trace)/.exec(hit)?.[1] ?? "?";
		kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
	}
	console.log(
		`scanned ${responses.length} responses and ${entries} log entries (LOG_LEVEL=debug) for the JWT secret, scrypt hashes, ${passwords.size} passwords, ${tokens.size} tokens and stack traces: ${hits.length} hits ${JSON.stringify(Object.fromEntries(kinds))}`,
	);
	assert.deepEqual(hits.slice(0, 30), []);
});
