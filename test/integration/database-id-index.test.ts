import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import mongoose from "mongoose";

/**
 * Every service reads and writes its documents by `_id`, on the assumption that the database
 * answers that from an index. FerretDB 1.24's SQLite back end did not (its query spelled the `_id`
 * expression differently from its index, so SQLite scanned and JSON-parsed the whole table);
 * scripts/patches/ferretdb-v1.24.2-id-index.patch fixes that. This checks the plan the Mongo-wire server itself reports.
 */
test("a lookup by _id is answered from an index, not by scanning the collection", async () => {
	const conn = await mongoose
		.createConnection(process.env.MONGO_URL ?? "mongodb://127.0.0.1:27017", { dbName: `idindex_${randomBytes(4).toString("hex")}` })
		.asPromise();
	try {
		const things = conn.db!.collection<{ _id: string; n: number }>("things");
		await things.insertMany(Array.from({ length: 50 }, (_, n) => ({ _id: `thing-${n}`, n })));
		// `_id` alone, and `_id` with another field (a conditional write's filter).
		for (const filter of [{ _id: "thing-7" }, { _id: "thing-7", n: 7 }]) {
			const explained = await conn.db!.command({ explain: { find: "things", filter } });
			const plan = JSON.stringify(explained.queryPlanner);
			// FerretDB/SQLite reports "SEARCH <table> USING INDEX …" or "SCAN <table>"; MongoDB IDHACK/IXSCAN or COLLSCAN.
			assert.doesNotMatch(plan, /COLLSCAN|\bSCAN \S+(?! USING)/, `${JSON.stringify(filter)}: ${plan}`);
			assert.match(plan, /USING INDEX|IDHACK|IXSCAN|EXPRESS/, `${JSON.stringify(filter)}: ${plan}`);
		}
		// Narrowing by _id first must not loosen the rest of the filter.
		assert.equal((await things.updateOne({ _id: "thing-7", n: 8 }, { $set: { n: 80 } })).matchedCount, 0);
		assert.equal(await things.countDocuments({ _id: "thing-7", n: { $gt: 100 } }), 0);
		assert.deepEqual(await things.findOne({ _id: "thing-7" }), { _id: "thing-7", n: 7 });
		await things.updateOne({ _id: "thing-7" }, { $set: { n: 70 } });
		assert.equal((await things.findOne({ _id: "thing-7" }))?.n, 70);
		await things.deleteOne({ _id: "thing-7" });
		assert.equal(await things.countDocuments(), 49);
	} finally {
		await conn.db!.dropDatabase();
		await conn.close();
	}
});
