import { test } from "node:test";
import assert from "node:assert/strict";
import { MemberCache } from "../../services/users/member-cache.js";

const ann = { _id: "ann", name: "Ann", surname: "Lee", email: "ann@example.com" };

test("members are kept for the TTL and evicted at once on a change", () => {
	let now = 0;
	const cache = new MemberCache(10_000, 100, () => now);
	cache.set(ann, cache.mark());
	assert.deepEqual(cache.get("ann"), ann);
	cache.evict("ann");
	assert.equal(cache.get("ann"), undefined);
	cache.set(ann, cache.mark());
	now += 10_000;
	assert.equal(cache.get("ann"), undefined, "TTL elapsed");
});

test("a read that started before a change is not cached after it", () => {
	const cache = new MemberCache();
	const readSince = cache.mark();
	cache.evict("ann"); // Ann renamed herself while the read was in flight
	cache.set(ann, readSince);
	assert.equal(cache.get("ann"), undefined);
	const cleared = cache.mark();
	cache.clear();
	cache.set(ann, cleared);
	assert.equal(cache.get("ann"), undefined);
});

test("only what a group answer shows is kept, never the password hash", () => {
	const cache = new MemberCache();
	cache.set({ ...ann, passwordHash: "$argon2id$secret" } as typeof ann, cache.mark());
	assert.deepEqual(Object.keys(cache.get("ann")!).sort(), ["_id", "email", "name", "surname"]);
});

test("the oldest entry makes room when full", () => {
	const cache = new MemberCache(10_000, 2);
	for (const id of ["a", "b", "c"]) cache.set({ ...ann, _id: id }, cache.mark());
	assert.equal(cache.get("a"), undefined);
	assert.ok(cache.get("b") && cache.get("c"));
});
