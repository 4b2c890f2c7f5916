import { test } from "node:test";
import assert from "node:assert/strict";
import { DurableEvents } from "../../mixins/durable-events.mixin.js";
import { MembershipConsumers } from "../../mixins/membership.mixin.js";
import type { Envelope } from "../../events/domain.js";

/**
 * The idempotent consumer's steps and their order, with a stand-in for the record of handled
 * events (the real JetStream and database path: test/integration/durable-events*.test.ts).
 */

function consumer() {
	const handled = new Map<string, { duplicates: number }>();
	const steps: string[] = [];
	const ProcessedEvent = {
		exists: async (filter: { _id: string }) => {
			steps.push("check");
			return handled.has(filter._id) ? { _id: filter._id } : null;
		},
		create: async (doc: { _id: string }) => {
			if (handled.has(doc._id)) throw Object.assign(new Error("E11000 duplicate key"), { code: 11000 });
			steps.push("record");
			handled.set(doc._id, { duplicates: 0 });
		},
		updateOne: async (filter: { _id: string }) => {
			handled.get(filter._id)!.duplicates++;
			return {};
		},
	};
	const methods = DurableEvents({}).methods as Record<string, (...args: unknown[]) => unknown>;
	const service: Record<string, unknown> = { connection: { models: { ProcessedEvent } }, logger: { warn: () => undefined } };
	for (const [name, fn] of Object.entries(methods)) service[name] = fn.bind(service);
	const consumeOnce = service.consumeOnce as (envelope: Envelope, handle: () => Promise<void>, everyDelivery?: () => Promise<void>) => Promise<void>;
	return { handled, steps, consumeOnce };
}

const envelope: Envelope = { id: "ev-1", type: "groups.memberAdded", occurredAt: "2026-01-01T00:00:00.000Z", payload: {} };

test("an event is handled once and recorded after its handler; a redelivery is counted, not handled", async () => {
	const c = consumer();
	let handledTimes = 0;
	const handle = async () => {
		handledTimes++;
		c.steps.push("handle");
	};
	await c.consumeOnce(envelope, handle);
	await c.consumeOnce(envelope, handle);
	assert.equal(handledTimes, 1);
	assert.deepEqual(c.steps, ["check", "handle", "record", "check"]);
	assert.equal(c.handled.get("ev-1")!.duplicates, 1);
});

test("the every-delivery step runs for duplicates too, and always before the handler", async () => {
	const c = consumer();
	const every = async () => void c.steps.push("snapshot");
	const handle = async () => void c.steps.push("handle");
	await c.consumeOnce(envelope, handle, every);
	await c.consumeOnce(envelope, handle, every);
	assert.deepEqual(
		c.steps.filter(s => s !== "check"),
		["snapshot", "handle", "record", "snapshot"],
	);
});

test("a failing handler leaves the event unrecorded, so the redelivery handles it", async () => {
	const c = consumer();
	await assert.rejects(
		c.consumeOnce(envelope, async () => {
			throw new Error("database down");
		}),
	);
	assert.equal(c.handled.has("ev-1"), false);
	let handled = false;
	await c.consumeOnce(envelope, async () => void (handled = true));
	assert.equal(handled, true);
	assert.equal(c.handled.has("ev-1"), true);
});

test("a record written meanwhile by another instance handling the same delivery is not an error", async () => {
	const c = consumer();
	await c.consumeOnce(envelope, async () => void c.handled.set("ev-1", { duplicates: 0 }));
	assert.equal(c.handled.has("ev-1"), true);
});

test("group events store their snapshot on every delivery; user deletions do not carry one", () => {
	for (const type of ["groups.created", "groups.renamed", "groups.deleted", "groups.memberAdded", "groups.memberRemoved"] as const) {
		assert.deepEqual(MembershipConsumers[type], { handler: "applyGroupEvent", everyDelivery: "storeEventSnapshot" });
	}
	assert.equal(MembershipConsumers["users.deleted"], "applyUserDeleted");
});
