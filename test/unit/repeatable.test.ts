import { test } from "node:test";
import assert from "node:assert/strict";
import { Errors, ServiceBroker, type ServiceSchema } from "moleculer";
import { repeatable, retryPolicy } from "../../lib/repeatable.js";
import { waitFor } from "../support/wait.js";

// A call in flight to an instance that dies is sent again to a survivor only when its action is
// safe to run twice (lib/repeatable.ts), with the brokers' own retry middleware and registry.

type NodeId = "node-a" | "node-b";

/** A caller and node-a (which holds every call until released); node-b joins later as the survivor. */
function cluster(namespace: string) {
	const ran: Record<NodeId, string[]> = { "node-a": [], "node-b": [] };
	let releaseA: () => void = () => undefined;
	const aHolds = new Promise<void>(resolve => (releaseA = resolve));
	const ledger = (nodeID: NodeId): ServiceSchema => ({
		name: "ledger",
		actions: {
			/** A read: the same answer however often it runs. */
			balance: {
				...repeatable(),
				async handler() {
					ran[nodeID].push("balance");
					if (nodeID === "node-a") await aHolds;
					return { from: nodeID };
				},
			},
			/** A write: running it twice would book it twice. */
			book: {
				async handler() {
					ran[nodeID].push("book");
					if (nodeID === "node-a") await aHolds;
					return { from: nodeID };
				},
			},
		},
	});
	const brokers: ServiceBroker[] = [];
	const broker = (nodeID: string) => {
		const b = new ServiceBroker({ nodeID, namespace: `${namespace}-${process.pid}`, transporter: "Fake", logger: false, retryPolicy });
		brokers.push(b);
		return b;
	};
	const caller = broker("caller");

	return {
		ran,
		async stop() {
			releaseA();
			await Promise.all(brokers.map(b => b.stop()));
		},
		/** Starts a call, waits until node-a runs it, then gives node-a up as Moleculer does when it dies. */
		async callWhileNodeADies(action: string) {
			const a = broker("node-a");
			a.createService(ledger("node-a"));
			await Promise.all([caller.start(), a.start()]);
			await caller.waitForServices("ledger", 5_000);
			const answer = caller.call(`ledger.${action}`).then(
				result => ({ result, error: undefined }),
				(error: unknown) => ({ result: undefined, error }),
			);
			await waitFor(() => ran["node-a"].includes(action), { what: `node-a to run ${action}` });
			const b = broker("node-b");
			b.createService(ledger("node-b"));
			await b.start();
			await waitFor(() => !!caller.registry.getActionEndpoints(`ledger.${action}`)?.endpoints.some(e => e.node.id === "node-b"), {
				what: "the caller to know node-b",
			});
			caller.registry.nodes.disconnected("node-a", true);
			return answer;
		},
	};
}

test("a read in flight to a dying instance is answered by a survivor", async t => {
	const c = cluster("repeatable-read");
	t.after(() => c.stop());
	const { result, error } = await c.callWhileNodeADies("balance");
	assert.equal(error, undefined);
	assert.deepEqual(result, { from: "node-b" });
});

test("a write in flight to a dying instance is not run again elsewhere: the caller gets the 503 and decides", async t => {
	const c = cluster("repeatable-write");
	t.after(() => c.stop());
	const { error } = await c.callWhileNodeADies("book");
	assert.ok(error instanceof Errors.RequestRejectedError, String(error));
	assert.equal((error as Errors.MoleculerError).code, 503);
	assert.deepEqual(
		c.ran["node-b"].filter(a => a === "book"),
		[],
		"node-a may have booked it already",
	);
});
