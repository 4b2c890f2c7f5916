import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import webpush from "web-push";
import { readSetting } from "../../lib/config.js";
import { NOT_PUBLIC, publicOnlyLookup, type Resolve } from "../../services/notification/endpoint-policy.js";
import { attemptPush, sendPushRequest, subscriptionProblems, type EndpointPolicy } from "../../services/notification/push.js";
import { clientKeys, PushEndpoint } from "../support/push-endpoint.js";

/**
 * Issue 14, hole 4: the push endpoint policy as the notification service applies it — when a
 * subscription is registered and again at every send, where DNS may have changed in between.
 */

const { publicKey, privateKey } = webpush.generateVAPIDKeys();
const vapid = { publicKey, privateKey, subject: "mailto:ops@positionpal.test" };
const { keys } = clientKeys();

/** A resolver whose answers the test changes, counting its lookups. */
function dns(table: Record<string, string[]>) {
	const calls: string[] = [];
	const resolve: Resolve = async host => {
		calls.push(host);
		const answers = table[host];
		if (!answers) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
		return answers.map(address => ({ address }));
	};
	return { table, calls, resolve };
}

describe("PUSH_ALLOW_PRIVATE_ENDPOINTS", () => {
	test("off in production unless set, on elsewhere unless set", () => {
		assert.equal(readSetting("pushAllowPrivateEndpoints", { NODE_ENV: "production" }).value, false);
		assert.equal(readSetting("pushAllowPrivateEndpoints", { NODE_ENV: "production", PUSH_ALLOW_PRIVATE_ENDPOINTS: "1" }).value, true);
		assert.equal(readSetting("pushAllowPrivateEndpoints", {}).value, true);
		assert.equal(readSetting("pushAllowPrivateEndpoints", { NODE_ENV: "test", PUSH_ALLOW_PRIVATE_ENDPOINTS: "0" }).value, false);
		assert.deepEqual(readSetting("pushAllowPrivateEndpoints", { PUSH_ALLOW_PRIVATE_ENDPOINTS: "maybe" }).problems.length, 1);
	});
});

describe("registering a subscription", () => {
	test("without the policy any http(s) URL is taken (a local push service); with it, only https URLs of public hosts", async () => {
		const { resolve } = dns({ "fcm.googleapis.com": ["142.250.74.78"], localhost: ["127.0.0.1", "::1"], "intranet.example": ["10.0.0.5"] });
		const policy: EndpointPolicy = { resolve };
		assert.deepEqual(await subscriptionProblems({ endpoint: "http://127.0.0.1:9999/push/1", keys }, null), []);
		assert.deepEqual(await subscriptionProblems({ endpoint: "https://fcm.googleapis.com/fcm/send/abc", keys }, policy), []);
		assert.deepEqual(await subscriptionProblems({ endpoint: "https://142.250.74.78/push/abc", keys }, policy), []);
		for (const endpoint of [
			"http://fcm.googleapis.com/fcm/send/abc",
			"http://127.0.0.1:9999/push/1",
			"https://127.0.0.1/push",
			"https://localhost/push",
			"https://intranet.example/push",
			"https://169.254.169.254/latest/meta-data",
			"https://[fd00::1]/push",
			"https://unknown.example/push",
		]) {
			const problems = await subscriptionProblems({ endpoint, keys }, policy);
			assert.deepEqual(
				problems.map(p => p.field),
				["endpoint"],
				endpoint,
			);
		}
		// The shape is checked first: a broken key is reported without a DNS lookup.
		assert.deepEqual(
			(await subscriptionProblems({ endpoint: "https://fcm.googleapis.com/x", keys: { p256dh: "x", auth: "y" } }, policy)).map(p => p.field),
			["keys.p256dh", "keys.auth"],
		);
	});
});

describe("sending", () => {
	test("an endpoint re-pointed at a private address after it was registered is not sent to", async () => {
		const { table, resolve } = dns({ "push.example.org": ["93.184.216.34"] });
		const policy: EndpointPolicy = { resolve };
		const endpoint = "https://push.example.org/send/abc";
		assert.deepEqual(await subscriptionProblems({ endpoint, keys }, policy), [], "public when registered");
		table["push.example.org"] = ["93.184.216.34", "10.1.2.3"];
		const sent: string[] = [];
		const send: typeof sendPushRequest = async request => {
			sent.push(request.endpoint);
			return 201;
		};
		const attempt = await attemptPush({ endpoint, keys }, "{}", vapid, policy, send);
		assert.equal(attempt.outcome, "refused");
		assert.match((attempt as { reason: string }).reason, /public/);
		assert.deepEqual(sent, [], "no request made");
		// Back on public addresses: sent again (the subscription was kept).
		table["push.example.org"] = ["93.184.216.34"];
		assert.equal((await attemptPush({ endpoint, keys }, "{}", vapid, policy, send)).outcome, "sent");
		assert.deepEqual(sent, [endpoint]);
		// A name that does not resolve now is a network failure: retried later, not dropped.
		delete table["push.example.org"];
		assert.equal((await attemptPush({ endpoint, keys }, "{}", vapid, policy, send)).outcome, "retry");
	});

	describe("the connection itself", () => {
		let listener: Server;
		let port = 0;
		let connections = 0;
		before(async () => {
			listener = createServer(socket => {
				connections++;
				socket.destroy();
			});
			await new Promise<void>(resolve => listener.listen(0, "127.0.0.1", resolve));
			port = (listener.address() as { port: number }).port;
		});
		after(() => new Promise<void>(resolve => listener.close(() => resolve())));

		test("a name that passes the check and resolves to loopback when connecting (DNS rebinding) gets no connection", async () => {
			let lookups = 0;
			const rebinding: Resolve = async () => (lookups++ === 0 ? [{ address: "93.184.216.34" }] : [{ address: "127.0.0.1" }]);
			const endpoint = `https://rebind.example:${port}/push/abc`;
			const attempt = await attemptPush({ endpoint, keys }, "{}", vapid, { resolve: rebinding });
			assert.equal(attempt.outcome, "refused");
			assert.equal(lookups, 2, "checked, then resolved again by the connection");
			assert.equal(connections, 0);

			// The same request through a lookup that lets loopback through does connect: the listener would have seen it.
			const permissive: Resolve = async () => [{ address: "127.0.0.1" }];
			const request = { endpoint, headers: {}, body: Buffer.from("x") };
			await assert.rejects(sendPushRequest(request, { lookup: publicOnlyLookup(permissive) }), { code: NOT_PUBLIC });
			await assert.rejects(
				sendPushRequest(request, {
					lookup: (_host, options, callback) => (options.all ? callback(null, [{ address: "127.0.0.1", family: 4 }]) : callback(null, "127.0.0.1", 4)),
				}),
			);
			assert.equal(connections, 1);
		});
	});

	test("a local push service over http: sent without the policy, refused under it", async () => {
		const service = await new PushEndpoint().start();
		try {
			const subscription = service.subscribe();
			const payload = JSON.stringify({ title: "hello" });
			assert.equal((await attemptPush(subscription, payload, vapid, null)).outcome, "sent");
			assert.equal((await service.waitForMessage(subscription.endpoint)).title, "hello");
			const policy: EndpointPolicy = { resolve: dns({}).resolve };
			assert.equal((await attemptPush(subscription, payload, vapid, policy)).outcome, "refused");
			assert.equal(service.messagesFor(subscription.endpoint).length, 1, "nothing more reached it");
		} finally {
			await service.stop();
		}
	});
});
