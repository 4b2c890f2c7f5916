import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Point } from "../../events/types.js";
import { journalByNode, listsOrphans, replayable } from "../../services/location/hand-over-replay.js";
import { SampleJournal, type JournalDoc } from "../../services/location/sample-journal.js";

// The journal that makes an acknowledged sample durable (issue 18.4), with the database faked.

const T0 = Date.parse("2025-06-01T12:00:00.000Z");
const at = (latitude: number, ms: number): Point => ({ latitude, longitude: 9, timestamp: new Date(ms).toISOString() });

function setup() {
	const clock = { now: T0 };
	const inserts: JournalDoc[][] = [];
	const trims: number[] = [];
	const db = { refuse: false };
	const journal = new SampleJournal({
		node: "n1",
		insert: async docs => {
			await new Promise(resolve => setTimeout(resolve, 5));
			if (db.refuse) throw new Error("database down");
			inserts.push(docs);
		},
		trim: async (_node, before) => void trims.push(before.getTime()),
		now: () => clock.now,
		logger: { warn: () => undefined },
	});
	return { journal, clock, inserts, trims, db };
}

describe("sample journal", () => {
	test("samples appended in one turn are stored in ONE insert, and each acknowledgement waits for it", async () => {
		const { journal, inserts } = setup();
		let acknowledged = 0;
		const acks = [];
		for (let i = 0; i < 50; i++) {
			journal.append("g1", `u${i}`, at(45, T0));
			acks.push(journal.durable("g1", `u${i}`).then(() => acknowledged++));
		}
		assert.equal(acknowledged, 0, "not acknowledged before it is stored");
		await Promise.all(acks);
		assert.equal(acknowledged, 50);
		assert.equal(inserts.length, 1, "one group commit");
		assert.equal(inserts[0]!.length, 50);
		await journal.durable("g1", "u1"); // nothing pending: at once
	});

	test("a refused append answers 503 (the client sends again) and is stored by the next round", async () => {
		const { journal, inserts, db } = setup();
		db.refuse = true;
		journal.append("g1", "ada", at(45, T0));
		await assert.rejects(journal.durable("g1", "ada"), (err: { code?: number; type?: string }) => err.code === 503 && err.type === "SERVICE_UNAVAILABLE");
		db.refuse = false;
		const again = journal.durable("g1", "ada");
		await journal.tick();
		await again;
		assert.equal(inserts.flat().length, 1);
	});

	test("beyond its bound (the database refusing for long) the oldest samples go, and their acknowledgement is refused, never given", async () => {
		const journal = new SampleJournal({
			node: "n1",
			insert: async () => {
				throw new Error("database down");
			},
			trim: async () => undefined,
			now: () => T0,
			logger: { warn: () => undefined },
			maxQueued: 2,
		});
		journal.append("g1", "ada", at(45, T0));
		const ada = journal.durable("g1", "ada");
		journal.append("g1", "bob", at(45, T0));
		journal.append("g1", "cat", at(45, T0));
		await assert.rejects(ada, (err: { code?: number }) => err.code === 503);
		assert.equal(journal.dropped, 1);
	});

	test("what the write behind stored is trimmed: everything appended before the oldest sample still unwritten", async () => {
		const { journal, clock, trims } = setup();
		journal.append("g1", "ada", at(45, T0));
		clock.now += 1_000;
		journal.append("g1", "bob", at(45, clock.now));
		clock.now += 1_000;
		journal.append("g1", "ada", at(45.1, clock.now));
		assert.equal(journal.watermark(), T0, "ada's first sample is unwritten");
		journal.written("g1", "ada", 1);
		assert.equal(journal.watermark(), T0 + 1_000, "now bob's");
		clock.now += 1_000;
		await journal.tick();
		assert.deepEqual(trims, [T0 + 1_000]);
		journal.written("g1", "bob", 1);
		journal.forget("g1", "ada");
		clock.now += 1_000;
		await journal.tick();
		assert.deepEqual(trims, [T0 + 1_000, clock.now], "nothing held: everything appended so far goes");
	});
});

describe("hand-over replay", () => {
	test("only the samples after the stored position, when the crashed owner had written part of them", () => {
		const journaled = [at(45.1, T0), at(45.2, T0 + 1_000), at(45.3, T0 + 2_000)];
		assert.deepEqual(replayable(journaled, null), journaled);
		assert.deepEqual(replayable(journaled, at(45.2, T0 + 1_000)), [at(45.3, T0 + 2_000)]);
		assert.deepEqual(replayable(journaled, at(45.3, T0 + 2_000)), []);
		assert.deepEqual(replayable(journaled, at(45, T0 - 5_000)), journaled, "none written: all of them");
		// Two samples in the same millisecond: the one after the stored one only.
		const sameMs = [at(45.1, T0), at(45.2, T0)];
		assert.deepEqual(replayable(sameMs, at(45.2, T0)), []);
		assert.deepEqual(replayable(sameMs, at(45.1, T0)), [at(45.2, T0)]);
	});

	test("one survivor lists the orphans: the first live node by id", () => {
		assert.equal(listsOrphans("b", ["c", "b"]), true);
		assert.equal(listsOrphans("c", ["c", "b"]), false);
	});
});

describe("the operators' view of the journal", () => {
	test("running instances are listed even when empty; a gone one appears with what it left, first", () => {
		const docs = [
			{ node: "loc-b", at: new Date(T0 + 2_000) },
			{ node: "gone", at: new Date(T0 + 1_000) },
			{ node: "gone", at: new Date(T0) },
		];
		assert.deepEqual(journalByNode(docs, ["loc-b", "loc-a"]), [
			{ node: "gone", alive: false, samples: 2, oldestAt: new Date(T0).toISOString() },
			{ node: "loc-a", alive: true, samples: 0, oldestAt: null },
			{ node: "loc-b", alive: true, samples: 1, oldestAt: new Date(T0 + 2_000).toISOString() },
		]);
	});
});
