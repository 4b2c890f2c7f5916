import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { MembershipChange } from "../../mixins/membership.mixin.js";
import { ENDED_LINKS_KEPT_MS, Erasure, type ErasureDeps } from "../../services/location/erasure.js";

// What leaves with a person or a group, with the stores faked: each records what it was asked to erase.

function setup() {
	const calls: string[] = [];
	const record =
		(name: string, answer: unknown = undefined) =>
		async (...args: unknown[]) => {
			calls.push(`${name} ${JSON.stringify(args)}`);
			return answer;
		};
	const deps = {
		history: { erase: record("history.erase"), purge: record("history.purge", 3) },
		precisions: { eraseUser: record("precisions.eraseUser"), eraseGroup: record("precisions.eraseGroup"), eraseMembers: record("precisions.eraseMembers") },
		shareLinks: { endWhere: record("shareLinks.endWhere", ["link-1"]), purgeExpired: record("shareLinks.purgeExpired") },
		places: { removeGroup: record("places.removeGroup") },
		now: () => ENDED_LINKS_KEPT_MS + 1_000,
		logger: { info: () => {}, warn: () => {} },
	} as unknown as ErasureDeps;
	return { erasure: new Erasure(deps), calls };
}

const change = (fields: Partial<MembershipChange>): MembershipChange =>
	({ eventId: "e", type: "x", occurredAt: "", groupId: "g1", groupName: "G", added: [], removed: [], deleted: false, ...fields }) as MembershipChange;

describe("what leaves with a person or a group", () => {
	it("a deleted account takes its history, its choices and its links", async () => {
		const { erasure, calls } = setup();
		assert.deepEqual(await erasure.after(change({ deletedUserId: "u1" })), ["link-1"]);
		assert.deepEqual(calls, ['history.erase ["u1"]', 'precisions.eraseUser ["u1"]', 'shareLinks.endWhere [{"userId":"u1"}]']);
	});

	it("a deleted group takes its places, the choices and the links made in it", async () => {
		const { erasure, calls } = setup();
		await erasure.after(change({ deleted: true }));
		assert.deepEqual(calls, ['places.removeGroup ["g1"]', 'precisions.eraseGroup ["g1"]', 'shareLinks.endWhere [{"groupId":"g1"}]']);
	});

	it("members who left take their choices and links in that group only; a join erases nothing", async () => {
		const { erasure, calls } = setup();
		await erasure.after(change({ removed: [{ id: "u2", name: "B", surname: "C" }] as MembershipChange["removed"] }));
		assert.deepEqual(calls, ['precisions.eraseMembers ["g1",["u2"]]', 'shareLinks.endWhere [{"groupId":"g1","userId":{"$in":["u2"]}}]']);
		assert.deepEqual(await erasure.after(change({ added: [{ id: "u3", name: "D", surname: "E" }] as MembershipChange["added"] })), []);
		assert.equal(calls.length, 2);
	});

	it("the purge deletes expired history and the links ended a day ago", async () => {
		const { erasure, calls } = setup();
		await erasure.purge();
		assert.deepEqual(calls, [`history.purge [${ENDED_LINKS_KEPT_MS + 1_000}]`, `shareLinks.purgeExpired ["${new Date(1_000).toISOString()}"]`]);
	});
});
