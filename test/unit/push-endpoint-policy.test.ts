import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { endpointHostProblem, isPublicAddress } from "../../services/notification/endpoint-policy.js";

describe("push endpoint policy (no server-side requests to private addresses)", () => {
	test("loopback, private, link-local, metadata and mapped private addresses are not public", () => {
		for (const address of [
			"127.0.0.1",
			"10.1.2.3",
			"172.20.0.1",
			"192.168.1.1",
			"169.254.169.254",
			"100.64.0.1",
			"0.0.0.0",
			"::1",
			"::",
			"fe80::1",
			"fd00::1",
			"::ffff:127.0.0.1",
			"::ffff:10.0.0.1",
			"64:ff9b::a00:1",
			"not-an-ip",
		])
			assert.equal(isPublicAddress(address), false, address);
		for (const address of ["142.250.74.78", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]) assert.equal(isPublicAddress(address), true, address);
	});

	test("an endpoint is accepted only over https with every resolved address public", async () => {
		const dns = (table: Record<string, string[]>) => async (host: string) => {
			if (!(host in table)) throw new Error("ENOTFOUND");
			return table[host]!.map(address => ({ address }));
		};
		const resolve = dns({ "fcm.googleapis.com": ["142.250.74.78"], "evil.example": ["8.8.8.8", "127.0.0.1"], "internal.example": ["10.0.0.5"] });
		assert.equal(await endpointHostProblem("https://fcm.googleapis.com/fcm/send/abc", resolve), null);
		assert.match((await endpointHostProblem("http://fcm.googleapis.com/fcm/send/abc", resolve))!, /https/);
		assert.match((await endpointHostProblem("https://127.0.0.1/push", resolve))!, /public/);
		assert.match((await endpointHostProblem("https://[::1]/push", resolve))!, /public/);
		assert.match((await endpointHostProblem("https://internal.example/push", resolve))!, /public/);
		assert.match((await endpointHostProblem("https://evil.example/push", resolve))!, /public/);
		assert.match((await endpointHostProblem("https://nowhere.example/push", resolve))!, /resolves/);
		assert.match((await endpointHostProblem("not a url", resolve))!, /https/);
	});
});
