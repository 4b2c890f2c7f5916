import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { conflict, unauthorized } from "../../events/errors.js";
import type { Meta } from "../../events/types.js";
import { LiveSockets } from "../../services/gateway/sockets.js";
import { SocketCommands } from "../../services/gateway/socket-events.js";
import { TokenCache } from "../../services/gateway/token-cache.js";
import { issueToken } from "../../services/users/tokens.js";
import type { SocketChange } from "../../services/gateway/presence-reports.js";
import { connectSocket, type LiveSocket } from "../support/client.js";
import { waitFor } from "../support/wait.js";

/**
 * The gateway's Socket.IO module on a real HTTP server and real clients, with the broker replaced
 * by a stub that answers as the users service and the commands' actions would.
 */

const ann = { id: "ann", name: "Ann", surname: "Lee", email: "ann@example.com" };
/** Two logins of Ann: real tokens, since the handshake reads their (unverified) subject. */
const [annOne, annTwo] = [issueToken("ann", "secret", 3_600_000), issueToken("ann", "secret", 3_600_000)];
const T1 = annOne.token;
const T2 = annTwo.token;
/** Tokens the stub users service knows, and the groups of each user. */
const tokens = new Map([annOne, annTwo].map(({ token, jti, issuedAt, expiresAt }) => [token, { user: ann, token: { jti, issuedAt, expiresAt } }]));
const groupsOf = new Map([["ann", ["g1"]]]);

const calls: { action: string; params: Record<string, unknown>; meta?: Meta }[] = [];
const changes: SocketChange[] = [];
async function call(action: string, params: object, opts?: { meta: Meta }): Promise<unknown> {
	const p = params as Record<string, unknown>;
	calls.push({ action, params: p, meta: opts?.meta });
	switch (action) {
		case "users.resolveToken": {
			const known = tokens.get(p.token as string);
			if (!known) throw unauthorized("Invalid or expired token");
			return p.withGroupIds ? { ...known, groupIds: groupsOf.get(known.user.id) } : known;
		}
		case "users.groupIdsOf":
			return groupsOf.get(p.userId as string) ?? [];
		case "chat.send":
			if (p.text === "twice") throw conflict("Already sent");
			return { id: "m1", groupId: p.groupId, text: p.text };
		default:
			throw Object.assign(new Error(`no ${action}`), { name: "ServiceNotFoundError", code: 404 });
	}
}

let server: Server;
let sockets: LiveSockets;
let url: string;
const opened: LiveSocket[] = [];
const connect = async (token: string | undefined) => {
	const socket = await connectSocket(url, token);
	opened.push(socket);
	return socket;
};

before(async () => {
	server = createServer();
	sockets = new LiveSockets({ call, tokenCache: new TokenCache(), corsOrigin: "*", socketChanged: change => changes.push(change) });
	sockets.attach(server);
	await new Promise<void>(resolve => server.listen(0, "127.0.0.1", resolve));
	url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
	for (const socket of opened) socket.close();
	sockets.close();
	await new Promise(resolve => server.close(resolve));
});

test("a bad or missing token never connects", async () => {
	await assert.rejects(connectSocket(url, "forged"), { message: "UNAUTHORIZED" });
	await assert.rejects(connectSocket(url, undefined), { message: "UNAUTHORIZED" });
	await assert.rejects(connectSocket(url, "x".repeat(5_000)), { message: "UNAUTHORIZED" });
});

test("a second socket of a user with a cached token costs no call, and joins the same rooms", async () => {
	calls.length = 0;
	const first = await connect(T1);
	assert.deepEqual(
		calls.map(c => `${c.action}${c.params.withGroupIds ? "+groups" : ""}`),
		["users.resolveToken+groups"],
	);
	const second = await connect(T1);
	assert.equal(calls.length, 1, "token cached, groups copied from the first socket");
	const third = await connect(T2);
	assert.deepEqual(
		calls.map(c => `${c.action}${c.params.withGroupIds ? "+groups" : ""}`),
		["users.resolveToken+groups", "users.resolveToken"],
		"a new token is resolved, but its groups come from the sibling",
	);
	sockets.chat({ groupId: "g1", message: { id: "m0", groupId: "g1", userId: "bob", text: "hi", kind: "user", createdAt: "2026-01-01T00:00:00Z" } });
	for (const socket of [first, second, third]) await socket.waitFor("chat:message", m => m.id === "m0");
	assert.equal(sockets.count, 3);
	assert.deepEqual(
		sockets
			.openSockets()!
			.map(s => s.userId)
			.sort(),
		["ann", "ann", "ann"],
	);
	await waitFor(() => changes.filter(c => c.open).length >= 3, { what: "three opens reported" });
});

test("a group change moves the user's sockets before announcing it", async () => {
	const socket = await connect(T1);
	sockets.group({ groupId: "g2", change: "memberAdded", userId: "ann" });
	await socket.waitFor("group:changed", p => p.groupId === "g2" && p.change === "memberAdded" && p.userId === "ann");
	sockets.location({ groupId: "g2", session: { groupId: "g2", userId: "bob" } as never });
	await socket.waitFor("location:update", s => s.groupId === "g2");
	sockets.group({ groupId: "g2", change: "memberRemoved", userId: "ann" });
	await socket.waitFor("group:changed", p => p.groupId === "g2" && p.change === "memberRemoved");
	sockets.location({
		updates: [
			{ groupId: "g2", session: { groupId: "g2", userId: "late" } as never },
			{ groupId: "g1", session: { groupId: "g1", userId: "next" } as never },
		],
	});
	await socket.waitFor("location:update", s => s.userId === "next");
	assert.equal(socket.of("location:update").filter(s => s.userId === "late").length, 0, "no update of a group the user left");
});

test("a command is called as the socket's user and acknowledged with its result or the error shape", async () => {
	const socket = await connect(T1);
	calls.length = 0;
	const ack = await socket.emit("chat:send", { groupId: "g1", text: "hello" });
	assert.deepEqual(ack, { ok: true, message: { id: "m1", groupId: "g1", text: "hello" } });
	assert.equal(calls[0]?.meta?.user?.id, "ann");
	assert.equal(calls[0]?.meta?.token?.jti, annOne.jti);
	const refused = await socket.emit("chat:send", { groupId: "g1", text: "twice" });
	assert.deepEqual(refused, { ok: false, error: { type: "CONFLICT", message: "Already sent", code: 409 } });
	const noPayload = await socket.socket.timeout(5_000).emitWithAck("sos:stop");
	assert.equal(noPayload.ok, false, "a command without a payload is still answered");
});

test("a revocation disconnects only the sockets of the revoked token", async () => {
	const one = await connect(T1);
	const two = await connect(T2);
	sockets.revoked({ userId: "ann", jti: annTwo.jti });
	await waitFor(() => !two.socket.connected, { what: "the revoked token's socket to close" });
	assert.equal(one.socket.connected, true);
});

/** Another LiveSockets on its own server, for a cap or a clock of its own; closed by the caller. */
async function separateSockets(opts: { maxSocketsPerUser?: number; now?: () => number }) {
	const ownServer = createServer();
	const own = new LiveSockets({ call, tokenCache: new TokenCache(), corsOrigin: "*", socketChanged: () => undefined, ...opts });
	own.attach(ownServer);
	await new Promise<void>(resolve => ownServer.listen(0, "127.0.0.1", resolve));
	return {
		url: `http://127.0.0.1:${(ownServer.address() as AddressInfo).port}`,
		sockets: own,
		close: async () => {
			own.close();
			await new Promise(resolve => ownServer.close(resolve));
		},
	};
}

/** A token of Ann's the stub users service knows, expiring `ttlMs` after `now`. */
function annToken(ttlMs: number, now = Date.now()) {
	const issued = issueToken("ann", "secret", ttlMs, now);
	tokens.set(issued.token, { user: ann, token: { jti: issued.jti, issuedAt: issued.issuedAt, expiresAt: issued.expiresAt } });
	return issued;
}

const openTimers = () => process.getActiveResourcesInfo().filter(kind => kind === "Timeout").length;

test("a socket is disconnected when its token expires, and its expiry timer goes with a socket closed earlier", async () => {
	const baseline = openTimers();
	const longLived = await Promise.all(Array.from({ length: 10 }, () => connect(annToken(3_600_000).token)));
	const shortLived = annToken(1_000);
	const expiring = await connect(shortLived.token);
	const reason = new Promise(resolve => expiring.socket.once("disconnect", resolve));
	await waitFor(() => !expiring.socket.connected, { timeoutMs: shortLived.expiresAt - Date.now() + 3_000, what: "the socket to close at its token's expiry" });
	assert.equal(await reason, "io server disconnect");
	assert.ok(Date.now() >= shortLived.expiresAt);
	for (const socket of longLived) socket.close();
	// Every timer of those sockets (theirs, Socket.IO's, the clients') is gone once they are closed.
	await waitFor(() => openTimers() <= baseline, { timeoutMs: 5_000, what: `the timers to go back to ${baseline} (now ${openTimers()})` });
});

test("a command that arrives after its token expired, before the socket is closed, is refused with 401", async () => {
	let now = Date.now();
	const own = await separateSockets({ now: () => now });
	try {
		const token = annToken(3_600_000, now).token;
		for (const event of Object.keys(SocketCommands)) {
			const socket = await connectSocket(own.url, token);
			now += 3_600_000; // the gateway's clock passes the expiry; the hour-long timer has not fired
			calls.length = 0;
			const ack = await socket.emit(event, { groupId: "g1", latitude: 1, longitude: 1, text: "late" });
			assert.deepEqual(ack, { ok: false, error: { type: "UNAUTHORIZED", message: "Token expired", code: 401 } }, event);
			assert.deepEqual(calls, [], `${event} reached no action`);
			await waitFor(() => !socket.socket.connected, { what: `the socket of ${event} to be closed` });
			now -= 3_600_000;
		}
	} finally {
		await own.close();
	}
});

test("a user's sockets beyond the cap fail their handshake with RATE_LIMITED, counted from the handshake; a closed one frees its place", async () => {
	const own = await separateSockets({ maxSocketsPerUser: 3 });
	const mine: LiveSocket[] = [];
	try {
		const token = annToken(3_600_000).token;
		const attempts = await Promise.allSettled(Array.from({ length: 6 }, () => connectSocket(own.url, token)));
		for (const attempt of attempts) if (attempt.status === "fulfilled") mine.push(attempt.value);
		assert.equal(mine.length, 3);
		assert.deepEqual(
			attempts.filter(a => a.status === "rejected").map(a => ((a as PromiseRejectedResult).reason as Error).message),
			["RATE_LIMITED", "RATE_LIMITED", "RATE_LIMITED"],
		);
		assert.ok(
			mine.every(socket => socket.socket.connected),
			"the sockets already open stay open",
		);
		// A bad token takes no place; a closed socket gives its place back.
		await assert.rejects(connectSocket(own.url, "forged"), { message: "UNAUTHORIZED" });
		mine.shift()!.close();
		mine.push(await waitFor(() => connectSocket(own.url, token), { what: "a socket in the freed place" }));
		await assert.rejects(connectSocket(own.url, token), { message: "RATE_LIMITED" });
	} finally {
		for (const socket of mine) socket.close();
		await own.close();
	}
});
