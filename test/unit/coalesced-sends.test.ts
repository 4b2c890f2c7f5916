import { test } from "node:test";
import assert from "node:assert/strict";
import { ServiceBroker } from "moleculer";
import { coalesceSends, CoalescedSends } from "../../lib/coalesced-sends.js";

const turnEnd = () => new Promise(resolve => setImmediate(resolve));

test("the packets of one turn reach the transporter together at the end of the turn, in order", async () => {
	const handed: string[] = [];
	const send = coalesceSends(
		async topic => void handed.push(topic),
		() => false,
	);
	const sends = [send("MOL.REQ.a", Buffer.from("1"), {}), send("MOL.RES.b", Buffer.from("2"), {}), send("MOL.EVENT.c", Buffer.from("3"), {})];
	assert.deepEqual(handed, [], "nothing is handed over during the turn");
	await Promise.all(sends);
	assert.deepEqual(handed, ["MOL.REQ.a", "MOL.RES.b", "MOL.EVENT.c"]);
	// The next turn is a batch of its own.
	const later = send("MOL.REQ.d", Buffer.from("4"), {});
	assert.equal(handed.length, 3);
	await later;
	assert.deepEqual(handed.at(-1), "MOL.REQ.d");
});

test("a packet the transporter refuses fails its own send only", async () => {
	const send = coalesceSends(
		topic => {
			if (topic === "bad-sync") throw new Error("connection closed");
			if (topic === "bad-async") return Promise.reject(new Error("refused"));
			return Promise.resolve();
		},
		() => false,
	);
	const results = await Promise.allSettled([
		send("ok-1", Buffer.alloc(0), {}),
		send("bad-sync", Buffer.alloc(0), {}),
		send("bad-async", Buffer.alloc(0), {}),
		send("ok-2", Buffer.alloc(0), {}),
	]);
	assert.deepEqual(
		results.map(r => (r.status === "fulfilled" ? "sent" : (r.reason as Error).message)),
		["sent", "connection closed", "refused", "sent"],
	);
});

test("while the broker stops, a packet goes at once, after the ones still waiting", async () => {
	const handed: string[] = [];
	let stopping = false;
	const send = coalesceSends(
		async topic => void handed.push(topic),
		() => stopping,
	);
	void send("response", Buffer.alloc(0), {});
	stopping = true;
	await send("DISCONNECT", Buffer.alloc(0), {});
	assert.deepEqual(handed, ["response", "DISCONNECT"], "handed over before the turn ended, in order");
	await turnEnd();
	assert.deepEqual(handed, ["response", "DISCONNECT"], "nothing is sent twice");
});

test("two brokers on a real (in-process) transporter still talk through the middleware, and stop cleanly", async () => {
	const brokers = ["a", "b"].map(nodeID => new ServiceBroker({ nodeID, transporter: "Fake", logger: false, middlewares: [CoalescedSends()] }));
	brokers[1]!.createService({ name: "echo", actions: { say: (ctx: { params: { word: string } }) => ctx.params.word.toUpperCase() } });
	await Promise.all(brokers.map(b => b.start()));
	try {
		await brokers[0]!.waitForServices("echo", 5_000);
		const answers = await Promise.all(["ha", "he", "hi"].map(word => brokers[0]!.call("echo.say", { word })));
		assert.deepEqual(answers, ["HA", "HE", "HI"]);
	} finally {
		await Promise.all(brokers.map(b => b.stop()));
	}
});
