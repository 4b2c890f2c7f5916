import { test } from "node:test";
import assert from "node:assert/strict";
import { openSosCalls } from "../../web/src/sos-calls.js";
import type { Notification } from "../../web/src/types.js";

// Which SOS banners a page shows when it opens (web/src/sos-calls.ts): pure, so checked without a browser.

let seq = 0;
const note = (kind: Notification["kind"], subjectUserId: string): Notification => ({
	id: `n${++seq}`,
	kind,
	title: `${subjectUserId} ${kind}`,
	body: "",
	subjectUserId,
	createdAt: new Date(Date.UTC(2026, 11, 3, 16, 0, seq)).toISOString(),
	read: true,
});

test("a page opened during Ada's SOS shows her banner; Bob's SOS that already ended shows none", () => {
	const adaSos = note("SOS", "ada");
	const newestFirst = [note("ARRIVED", "cy"), adaSos, note("SOS_ENDED", "bob"), note("SOS", "bob")];
	assert.deepEqual(openSosCalls(newestFirst, "me"), [adaSos]);
});

test("only the newest word about a person counts: an SOS raised again after it ended is open", () => {
	const again = note("SOS", "ada");
	assert.deepEqual(openSosCalls([again, note("SOS_ENDED", "ada"), note("SOS", "ada")], "me"), [again]);
});

test("one's own SOS is never a banner on one's own page", () => {
	assert.deepEqual(openSosCalls([note("SOS", "me")], "me"), []);
});
