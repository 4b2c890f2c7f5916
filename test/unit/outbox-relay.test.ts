import { test } from "node:test";
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { OutboxPublisher, type OutboxModel } from "../../mixins/outbox-relay.mixin.js";
import type { Envelope } from "../../events/domain.js";

/**
 * The outbox relay's ordering rules, with the interleavings forced: a stand-in collection and
 * channel whose publish waits until the test lets it finish. (The real JetStream and FerretDB
 * path is covered by test/integration/durable-events-relay.test.ts.) A relay takes kicks only once
 * started, as the mixin starts it with the service.
 */

type Doc = { _id: string; outbox: Envelope[] };

function harness() {
	const docs = new Map<string, Doc>();
	const published: string[] = [];
	const gates: (() => void)[] = [];
	let hold = false;
	let failOn: string | undefined;
	const copy = <T>(value: T): T => structuredClone(value);
	const pending = () => [...docs.values()].filter(doc => doc.outbox.length);
	const Thing: OutboxModel = {
		findById: (id: string) => ({ lean: async () => (docs.has(id) ? copy(docs.get(id)!) : null) }),
		find: (() => ({
			limit: () => ({ lean: async () => pending().map(doc => ({ _id: doc._id })) }),
			lean: async () => pending().map(doc => ({ outbox: copy(doc.outbox) })),
		})) as unknown as OutboxModel["find"],
		async updateOne(filter: { _id: string }, update: { $pullAll: { outbox: Envelope[] } }) {
			const doc = docs.get(filter._id);
			if (doc) doc.outbox = doc.outbox.filter(event => !update.$pullAll.outbox.some(gone => isDeepStrictEqual(gone, event)));
		},
	};
	const relay = new OutboxPublisher({
		model: name => (name === "Thing" ? Thing : undefined),
		names: ["Thing"],
		async publish(envelope) {
			if (hold) await new Promise<void>(resolve => gates.push(resolve));
			if (envelope.id === failOn) throw new Error("JetStream unavailable");
			published.push(envelope.id);
		},
		warn: () => undefined,
	});
	const event = (id: string): Envelope => ({
		id,
		type: "groups.renamed",
		occurredAt: "2026-01-01T00:00:00.000Z",
		payload: { groupId: "g", name: id, version: 1, members: [] },
	});
	return {
		docs,
		published,
		relay,
		push: (docId: string, id: string) => {
			const doc = docs.get(docId) ?? { _id: docId, outbox: [] };
			doc.outbox.push(event(id));
			docs.set(docId, doc);
		},
		hold: () => (hold = true),
		failOn: (id: string | undefined) => (failOn = id),
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
	h.relay.start(); // takes kicks (and scans once)
	h.push("a", "a1");
	h.hold();
	const first = h.relay.relayDocument("Thing", "a");
	await h.publishing(); // the relay read [a1] and is publishing it
	h.push("a", "a2"); // written while a1 is being published
	const scan = h.relay.flush();
	const second = h.relay.relayDocument("Thing", "a");
	h.relay.kick("Thing", "a");
	await h.release();
	await Promise.all([first, scan, second]);
	await h.relay.relayDocument("Thing", "a"); // lets any straggling kick finish
	assert.deepEqual(h.published, ["a1", "a2"]);
	assert.deepEqual(h.docs.get("a")!.outbox, []);
});

test("an event written during a relay is published by the kick that follows its write, not lost", async () => {
	const h = harness();
	h.push("b", "b1");
	h.hold();
	const relay = h.relay.relayDocument("Thing", "b");
	await h.publishing();
	h.push("b", "b2");
	const kicked = h.relay.relayDocument("Thing", "b"); // what kickOutbox("Thing", "b") starts
	await h.release();
	await Promise.all([relay, kicked]);
	assert.deepEqual(h.published, ["b1", "b2"]);
	assert.deepEqual(h.docs.get("b")!.outbox, []);
});

test("relays of different documents do not wait for each other", async () => {
	const h = harness();
	h.push("c", "c1");
	h.hold();
	const slow = h.relay.relayDocument("Thing", "c");
	await h.publishing();
	h.push("d", "d1");
	await h.release(); // only c1 was held; d goes straight through once hold is off
	await Promise.all([slow, h.relay.relayDocument("Thing", "d")]);
	assert.deepEqual(new Set(h.published), new Set(["c1", "d1"]));
	assert.equal(h.published.length, 2);
});

test("a failed publish leaves the events in the outbox for the next relay", async () => {
	const h = harness();
	h.push("e", "e1");
	h.push("e", "e2");
	h.failOn("e2");
	await assert.rejects(h.relay.relayDocument("Thing", "e"), /JetStream unavailable/);
	assert.equal(h.docs.get("e")!.outbox.length, 2, "nothing removed before every event was acknowledged");
	h.failOn(undefined);
	await h.relay.flush();
	// e1 goes out twice (at-least-once, absorbed by consumers), e2 once, and the outbox is empty.
	assert.deepEqual(h.published, ["e1", "e1", "e2"]);
	assert.deepEqual(h.docs.get("e")!.outbox, []);
});

test("pending events are counted across documents, and published ones are counted once out", async () => {
	const h = harness();
	h.push("f", "f1");
	h.push("f", "f2");
	h.push("g", "g1");
	assert.equal(await h.relay.pendingCount(), 3);
	await h.relay.flush();
	assert.equal(await h.relay.pendingCount(), 0);
	assert.equal(h.relay.published, 3);
});

test("a closed relay waits for the publish in progress, then ignores kicks", async () => {
	const h = harness();
	h.relay.start();
	h.push("h", "h1");
	h.hold();
	const relay = h.relay.relayDocument("Thing", "h");
	await h.publishing();
	let closed = false;
	const closing = h.relay.close(5_000).then(() => (closed = true));
	await new Promise(resolve => setImmediate(resolve));
	assert.equal(closed, false, "close waits for the relay in progress");
	await h.release();
	await Promise.all([relay, closing]);
	assert.deepEqual(h.published, ["h1"]);
	h.push("h", "h2");
	h.relay.kick("Thing", "h");
	h.relay.kick();
	await new Promise(resolve => setImmediate(resolve));
	await new Promise(resolve => setImmediate(resolve));
	assert.deepEqual(h.published, ["h1"], "nothing is published after close");
});
