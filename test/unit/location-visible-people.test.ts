import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Point } from "../../events/types.js";
import { approximatePoint } from "../../services/location/precision.js";
import { newSession, type SessionData } from "../../services/location/session.js";
import { sosGroupsOf } from "../../services/location/sos.js";
import { shownPositions } from "../../services/location/visible-people.js";

// What a phone's map is shown of each member, and which groups an SOS alerts.

const at: Point = { latitude: 45.46421, longitude: 9.19012, timestamp: "2026-12-03T10:00:00.000Z", accuracy: 5 };
const session = (userId: string, state: SessionData["state"]): SessionData => ({ ...newSession("g1", userId), state, position: at });

describe("the positions a viewer is shown", () => {
	test("approximate sharers are snapped for others, never for themselves or during an SOS; exact ones as they are", () => {
		const precisions: Record<string, "exact" | "approximate"> = { exact: "exact", approx: "approximate", sos: "approximate", viewer: "approximate" };
		const shown = shownPositions(
			"viewer",
			[session("exact", "ACTIVE"), session("approx", "ACTIVE"), session("sos", "SOS"), session("viewer", "ACTIVE")],
			userId => precisions[userId]!,
		);
		assert.deepEqual(
			shown.map(s => s.position),
			[at, approximatePoint(at), at, at],
		);
	});
});

describe("the groups an SOS alerts", () => {
	test("the listed groups the projection knows, and the others it could be taught, in the listed order", async () => {
		const asked: string[] = [];
		const admit = async (groupId: string) => (asked.push(groupId), groupId !== "g3");
		assert.deepEqual(await sosGroupsOf(["g1", "g2", "g3", "g4"], new Set(["g1", "g4"]), admit), ["g1", "g2", "g4"]);
		assert.deepEqual(asked, ["g2", "g3"], "a known group is not asked about");
	});
});
