import { test } from "node:test";
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { DurableEvents } from "../../mixins/durable-events.mixin.js";
import type { Envelope } from "../../events/domain.js";

/**
 * The outbox relay's ordering rules, with the interleavings forced: a stand-in collection and
 * channel whose publish waits until the test lets it finish. (The real JetStream and FerretDB
 * path is covered by test/integration/durable-events-relay.test.ts.)
 */

type Doc = { _id: string; outbox: Envelope[] };

function harness() {
	const docs = new Map<string, Doc>();
	const published: string[] = [];
	const gates: (() => void)[] = [];
	let hold = false;
	const copy = <T>(value: T): T => structuredClone(value);
	const Thing = {
		findById: (id: string) => ({ lean: async () => (docs.has(id) ? copy(docs.get(id)!) : null) }),
		find: () => ({ limit: () => ({ lean: async () => [...docs.values()].filter(doc => doc.outbox.length).map(doc => ({ _id: doc._id })) }) }),
		async updateOne(filter: { _id: string }, update: { $pullAll: { outbox: Envelope[] } }) {
			const doc = docs.get(filter._id);
			if (doc) doc.outbox = doc.outbox.filter(event => !update.$pullAll.outbox.some(gone => isDeepStrictEqual(gone, event)));
		},
	};
	const methods = DurableEvents({ outboxModels: ["Thing"] }).methods as Record<string, (...args: unknown[]) => unknown>;
	const service: Record<string, unknown> = {
		models: { Thing },
		logger: { warn: () => undefined, debug: () => undefined },
		broker: {
			async sendToChannel(_type: string, envelope: Envelope) {
				if (hold) await new Promise<void>(resolve => gates.push(resolve));
				published.push(envelope.id);
			},
		},
	};
	for (const [name, fn] of Object.entries(methods)) service[name] = fn.bind(service);
	const event = (id: string): Envelope => ({
		id,
		type: "groups.renamed",
		occurredAt: "2026-01-01T00:00:00.000Z",
		payload: { groupId: "g", name: id, version: 1, members: [] },
	});
	return {
		docs,
		published,
		service: service as {
			kickOutbox(model?: string, id?: string): void;
			relayDocument(model: string, id: string): Promise<void>;
			flushOutbox(): Promise<void>;
		},
		push: (docId: string, id: string) => {
			const doc = docs.get(docId) ?? { _id: docId, outbox: [] };
			doc.outbox.push(event(id));
			docs.set(docId, doc);
		},
		hold: () => (hold = true),
		/** Lets held publishes finish, until nothing is held any more. */
		async release() {
			hold = false;
			while (gates.length) {
				gates.shift()!();
				await new Promise(resolve => setImmediate(resolve));
			}
		},
		/** Waits until a publish is held (the relay read the document and is publishing). */
		async publishing() {
			while (!gates.length) await new Promise(resolve => setImmediate(resolve));
		},
	};
}

test("a scan and kicks racing a targeted relay publish each event once, in order", async () => {
	const h = harness();
	h.push("a", "a1");
	h.hold();
	const first = h.service.relayDocument("Thing", "a");
	await h.publishing(); // the relay read [a1] and is publishing it
	h.push("a", "a2"); // written while a1 is being published
	const scan = h.service.flushOutbox();
	const second = h.service.relayDocument("Thing", "a");
	h.service.kickOutbox("Thing", "a");
	await h.release();
	await Promise.all([first, scan, second]);
	await h.service.relayDocument("Thing", "a"); // lets any straggling kick finish
	assert.deepEqual(h.published, ["a1", "a2"]);
	assert.deepEqual(h.docs.get("a")!.outbox, []);
});

test("an event written during a relay is published by the kick that follows its write, not lost", async () => {
	const h = harness();
	h.push("b", "b1");
	h.hold();
	const relay = h.service.relayDocument("Thing", "b");
	await h.publishing();
	h.push("b", "b2");
	const kicked = h.service.relayDocument("Thing", "b"); // what kickOutbox("Thing", "b") starts
	await h.release();
	await Promise.all([relay, kicked]);
	assert.deepEqual(h.published, ["b1", "b2"]);
	assert.deepEqual(h.docs.get("b")!.outbox, []);
});

test("relays of different documents do not wait for each other", async () => {
	const h = harness();
	h.push("c", "c1");
	h.hold();
	const slow = h.service.relayDocument("Thing", "c");
	await h.publishing();
	h.push("d", "d1");
	await h.release(); // only c1 was held; d goes straight through once hold is off
	await Promise.all([slow, h.service.relayDocument("Thing", "d")]);
	assert.deepEqual(new Set(h.published), new Set(["c1", "d1"]));
	assert.equal(h.published.length, 2);
});

test("a failed publish leaves the events in the outbox for the next relay", async () => {
	const h = harness();
	h.push("e", "e1");
	h.push("e", "e2");
	const service = h.service as unknown as { broker: { sendToChannel(type: string, envelope: Envelope): Promise<void> } };
	const real = service.broker.sendToChannel;
	service.broker.sendToChannel = async (type, envelope) => {
		if (envelope.id === "e2") throw new Error("JetStream unavailable");
		return real(type, envelope);
	};
	await assert.rejects(h.service.relayDocument("Thing", "e"), /JetStream unavailable/);
	assert.equal(h.docs.get("e")!.outbox.length, 2, "nothing removed before every event was acknowledged");
	service.broker.sendToChannel = real;
	await h.service.flushOutbox();
	// e1 goes out twice (at-least-once, absorbed by consumers), e2 once, and the outbox is empty.
	assert.deepEqual(h.published, ["e1", "e1", "e2"]);
	assert.deepEqual(h.docs.get("e")!.outbox, []);
});
