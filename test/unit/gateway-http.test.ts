import { test } from "node:test";
import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { clientAddress, requestOrigin } from "../../services/gateway/origin.js";
import { readiness, unhealthyReason } from "../../services/gateway/health.js";
import { accessLogLine, type GatewayRequest } from "../../services/gateway/rest-hooks.js";
import { liveRelays } from "../../services/gateway/live-relays.js";
import { TokenCache } from "../../services/gateway/token-cache.js";
import { LiveEvents } from "../../events/live.js";
import type { LiveSockets } from "../../services/gateway/sockets.js";

const request = (headers: Record<string, string | string[]>, socket: { remoteAddress?: string; encrypted?: boolean } = { remoteAddress: "10.0.0.9" }) =>
	({ headers, socket }) as unknown as IncomingMessage;

function withTrustProxy(value: string | undefined, run: () => void) {
	const before = process.env.TRUST_PROXY;
	if (value === undefined) delete process.env.TRUST_PROXY;
	else process.env.TRUST_PROXY = value;
	try {
		run();
	} finally {
		if (before === undefined) delete process.env.TRUST_PROXY;
		else process.env.TRUST_PROXY = before;
	}
}

test("the client's address is the socket's peer, or behind a trusted proxy the last X-Forwarded-For entry", () => {
	const forwarded = request({ "x-forwarded-for": "6.6.6.6, 1.2.3.4" });
	withTrustProxy(undefined, () => assert.equal(clientAddress(forwarded), "10.0.0.9"));
	withTrustProxy("1", () => {
		assert.equal(clientAddress(forwarded), "1.2.3.4");
		assert.equal(clientAddress(request({ "x-forwarded-for": ["6.6.6.6", "5.5.5.5"] })), "5.5.5.5");
		assert.equal(clientAddress(request({})), "10.0.0.9");
		assert.equal(clientAddress(request({}, {})), "unknown");
	});
});

test("the request's origin echoes only a plain host and an http(s) scheme, and the proxy's headers only when trusted", () => {
	withTrustProxy(undefined, () => {
		assert.equal(requestOrigin(request({ host: "example.org:8080", "x-forwarded-host": "evil.test" })), "http://example.org:8080");
		assert.equal(requestOrigin(request({ host: "[::1]:3000" }, { encrypted: true })), "https://[::1]:3000");
		assert.equal(requestOrigin(request({ host: "evil.test/path" })), undefined);
		assert.equal(requestOrigin(request({})), undefined);
	});
	withTrustProxy("1", () => {
		assert.equal(
			requestOrigin(request({ host: "internal:3000", "x-forwarded-proto": "http, https", "x-forwarded-host": "a.test, pal.example.org" })),
			"https://pal.example.org",
		);
		assert.equal(requestOrigin(request({ host: "internal:3000", "x-forwarded-proto": "ftp" })), undefined);
	});
});

test("readiness names each failing part with why, and is ok when every part answers", async () => {
	const errorNamed = (name: string) => Object.assign(new Error(name), { name });
	const answers: Record<string, () => Promise<unknown>> = {
		users: async () => ({ status: "ok" }),
		location: async () => ({ status: "discovering" }),
		chat: () => Promise.reject(errorNamed("ServiceNotFoundError")),
		devices: () => Promise.reject(errorNamed("RequestTimeoutError")),
		notification: () => Promise.reject(errorNamed("MoleculerServerError")),
	};
	assert.deepEqual(await readiness(false, Object.keys(answers), name => answers[name]!()), {
		status: "unavailable",
		failing: {
			nats: "disconnected",
			location: "discovering this gateway",
			chat: "not running",
			devices: "no answer within 2 s",
			notification: "database unavailable",
		},
	});
	assert.deepEqual(await readiness(true, ["users"], name => answers[name]!()), { status: "ok" });
	assert.deepEqual(await readiness(true, [], () => Promise.reject(new Error("never asked"))), { status: "ok" });
	assert.equal(unhealthyReason(errorNamed("ServiceNotAvailableError")), "not running");
});

test("an access-log line has the method, URL, status, time taken and request id", () => {
	const req = { method: "GET", url: "/api/groups?x=1", originalUrl: "/api/groups", $startTime: [1, 0] } as unknown as GatewayRequest;
	const res = { statusCode: 200, getHeader: (name: string) => (name === "X-Request-ID" ? "r-1" : undefined) } as unknown as ServerResponse;
	assert.equal(
		accessLogLine(req, res, () => [0, 12_345_678]),
		"GET /api/groups 200 12.3ms requestID=r-1",
	);
	assert.equal(
		accessLogLine({ method: "POST", url: "/x" } as GatewayRequest, { statusCode: 500, getHeader: () => undefined } as unknown as ServerResponse),
		"POST /x 500 0.0ms requestID=-",
	);
});

test("each live broadcast but live.revoked reaches the sockets' fan-out of the same kind, with its payload", () => {
	const told: [string, unknown][] = [];
	const sockets = new Proxy({}, { get: (_, method: string) => (payload: unknown) => told.push([method, payload]) }) as LiveSockets;
	const relays = liveRelays();
	assert.ok(!(LiveEvents.revoked in relays));
	relays[LiveEvents.locate].call({ sockets }, { params: { groupId: "g" } } as never);
	relays[LiveEvents.chat].call({ sockets }, { params: { groupId: "g2" } } as never);
	assert.deepEqual(told, [
		["locateRequest", { groupId: "g" }],
		["chat", { groupId: "g2" }],
	]);
	assert.equal(Object.keys(relays).length, Object.keys(LiveEvents).length - 1);
});

test("a token is resolved through the cache: asked once, and asked again when its user was revoked while the answer was on its way", async () => {
	const cache = new TokenCache(30_000, 10, () => 1_000);
	const user = { id: "alice", name: "A", surname: "B", email: "a@b.c" };
	let asked = 0;
	const ask = async () => {
		asked += 1;
		return { user, token: { jti: `j${asked}`, issuedAt: 500, expiresAt: 100_000 } };
	};
	assert.equal((await cache.resolve("t1", ask)).token.jti, "j1");
	assert.equal((await cache.resolve("t1", ask)).token.jti, "j1");
	assert.equal(asked, 1);
	const revokedMeanwhile = async () => {
		cache.revoke("alice", "other");
		return ask();
	};
	await cache.resolve("t2", revokedMeanwhile);
	await cache.resolve("t2", ask);
	assert.equal(asked, 3, "an answer that may predate a revocation is not cached");
	await assert.rejects(
		cache.resolve("t3", () => Promise.reject(new Error("users down"))),
		/users down/,
	);
	assert.equal(cache.get("t3"), undefined);
});
