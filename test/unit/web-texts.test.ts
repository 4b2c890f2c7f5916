import { test } from "node:test";
import assert from "node:assert/strict";
import { fieldProblemText, localizeTimes, localTime } from "../../web/src/texts.js";

// The web client's own words (web/src/texts.ts): pure, so checked here without a browser.

const NOW = new Date("2026-12-03T16:00:00.000Z");

test("a notification's UTC times are written in the viewer's zone, from the notification's data", () => {
	const body = "Ada Lovelace is on the way to Home (walking), expected by 2026-12-03 18:33 UTC.";
	const data = { eta: "2026-12-03T18:33:40.000Z" };
	assert.equal(localizeTimes(body, data, NOW, "Europe/Rome"), "Ada Lovelace is on the way to Home (walking), expected by 19:33.");
	assert.equal(localizeTimes(body, data, NOW, "America/New_York"), "Ada Lovelace is on the way to Home (walking), expected by 13:33.");
	// Without data (an older notification), from the stamp itself; no stamp, no change.
	assert.equal(localizeTimes("Last known position: 1, 2 at 2026-12-03 15:53 UTC.", undefined, NOW, "Asia/Tokyo"), "Last known position: 1, 2 at 00:53.");
	assert.equal(localizeTimes("Ada arrived safely.", data, NOW, "Europe/Rome"), "Ada arrived safely.");
	assert.doesNotMatch(localizeTimes(body, data, NOW), /UTC/);
});

test("a time today shows as hours, within the week with the day, further with the date", () => {
	assert.equal(localTime("2026-12-03T18:33:00Z", NOW, "Europe/Rome"), "19:33");
	assert.equal(localTime("2026-12-05T09:00:00Z", NOW, "Europe/Rome"), "Sat 10:00");
	assert.equal(localTime("2026-12-24T09:00:00Z", NOW, "Europe/Rome"), "24 Dec 10:00");
	assert.equal(localTime("not a time", NOW), "not a time");
});

test("the validator's field errors become plain sentences", () => {
	assert.equal(
		fieldProblemText({
			type: "stringMax",
			field: "destination.name",
			expected: 100,
			message: "The 'destination.name' field length must be less than or equal to 100 characters long.",
		}),
		"The destination's name can be at most 100 characters long.",
	);
	assert.equal(fieldProblemText({ type: "stringMin", field: "password", expected: 8, message: "…" }), "The password must be at least 8 characters long.");
	assert.equal(fieldProblemText({ type: "required", field: "name", message: "The 'name' field is required." }), "Please fill in the name.");
	assert.equal(fieldProblemText({ type: "email", field: "memberEmails[1]", message: "…" }), "That does not look like an email address.");
	assert.equal(
		fieldProblemText({ type: "phone", field: "phone", message: "an international number" }),
		"Write the phone number with its country code, like +39 333 123 4567.",
	);
	// Unknown kinds: the message, with the field named in words and no quotes.
	assert.equal(fieldProblemText({ type: "custom", field: "maxUses", message: "The 'maxUses' field is odd" }), "The max uses is odd.");
	assert.doesNotMatch(fieldProblemText({ type: "stringPattern", field: "name", message: "The 'name' field fails to match the required pattern!" }), /'|field/);
});
