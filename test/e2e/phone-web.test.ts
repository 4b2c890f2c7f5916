import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import type { BrowserContext, Page } from "playwright-core";
import { ensureWebBuild, launchBrowser, screenshot, screenshotsFolder, type TestBrowser } from "../support/browser.js";
import { ApiClient } from "../support/client.js";
import { atTime, nowSeconds, postOwnTracks, registerDevice, type OwnTracksCredentials } from "../support/phones.js";
import { startSystem, type System } from "../support/system.js";
import { waitFor } from "../support/wait.js";
import * as ownTracks from "../fixtures/owntracks/messages.js";

// Richer positions and "where are you now?" in the web client (issue 15, API.md §6.3), in a real
// browser against the whole system. Cy's phone reports through OwnTracks (a real HTTP-mode request):
// Ada (desktop) sees his battery, that it came from OwnTracks and a circle of his accuracy on the map,
// all updated live and gone when a position no longer carries them. Bob shares from his phone's
// (mocked) GPS; Ada asks him "Where are you now?" and his page answers at once with a fresh position,
// which Ada sees; asking again within the minute shows the server's message with the time left.
// A request to someone who is not sharing sends nothing and offers to share.
// The steps build on each other. Screenshots go to test-output/phone-web/.

const SHOTS = screenshotsFolder("phone-web");
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true };
/** Where Cy is (Amsterdam), and Bob's GPS: two spots a few hundred metres from it. */
const CY_AT = { lat: 52.37601, lon: 4.89453 };
const BOB_GPS = { latitude: 52.3741, longitude: 4.8897, accuracy: 12 };
const BOB_MOVED = { latitude: 52.3747, longitude: 4.8905, accuracy: 12 };
/** The tracker repeats an unchanged position this often (web/src/tracker.ts HEARTBEAT_MS). */
const HEARTBEAT_MS = 20_000;

let system: System;
let browser: TestBrowser;
const api = { ada: null as unknown as ApiClient, bob: null as unknown as ApiClient, cy: null as unknown as ApiClient };
let groupId = "";
let ada: Page;
let bob: Page;
let bobContext: BrowserContext;
let cyPhone: { id: string; credentials: OwnTracksCredentials };

const shot = (page: Page, name: string) => screenshot(page, name, SHOTS);
const ids = () => ({ ada: api.ada.user!.id, bob: api.bob.user!.id, cy: api.cy.user!.id });

async function logIn(page: Page, who: ApiClient) {
	await page.goto("/");
	const form = page.locator("#panel-login");
	await form.getByLabel("Email").fill(who.user!.email);
	await form.getByLabel("Password").fill("correct horse battery");
	await form.getByRole("button", { name: "Log in" }).click();
	await page.locator("#group-title", { hasText: "Family" }).waitFor();
}

/** One OwnTracks location from Cy's phone, now-ish, as the iOS app sends it. */
async function cyReports(extra: Record<string, unknown>) {
	const res = await postOwnTracks(
		system.url,
		cyPhone.credentials,
		atTime(ownTracks.IOS_LOCATION, nowSeconds() - 1, { lat: CY_AT.lat, lon: CY_AT.lon, ...extra }),
	);
	assert.equal(res.status, 200, res.text);
}

const memberRow = (page: Page, userId: string) => page.locator(`.member[data-user-id="${userId}"]`);
const circleOf = (page: Page, userId: string) => page.locator(`path.accuracy-circle[data-user-id="${userId}"]`);
const pinOf = (page: Page, userId: string) => page.locator(`.pin[data-user-id="${userId}"]`);
/** The time of a member's position as the page shows it on the marker. */
const shownAt = async (page: Page, userId: string) => Date.parse((await pinOf(page, userId).getAttribute("data-at")) ?? "");

/**
 * Metres per CSS pixel on the page's map, read from Leaflet's own scale bar (its width in pixels
 * stands for the distance it is labelled with, measured at the middle of the map).
 */
async function metresPerPixel(page: Page): Promise<number> {
	const line = page.locator(".leaflet-control-scale-line").first();
	const text = (await line.textContent()) ?? "";
	const match = /^([\d.]+)\s*(m|km)$/.exec(text.trim());
	assert.ok(match, `the scale bar reads a distance (${text})`);
	const metres = Number(match[1]) * (match[2] === "km" ? 1000 : 1);
	const width = (await line.boundingBox())!.width;
	return metres / width;
}

/** The circle drawn for `userId` stands for `radius` metres, by its data and by its size on the map. */
async function assertCircle(page: Page, userId: string, radius: number) {
	const circle = circleOf(page, userId);
	await page.locator(`path.accuracy-circle[data-user-id="${userId}"][data-radius="${radius}"]`).waitFor();
	assert.equal(await circle.count(), 1, "one accuracy circle per member");
	// Measured once the map has settled (a zoom animates the circle and the scale bar apart).
	let last = "";
	await waitFor(
		async () => {
			const box = (await circle.boundingBox())!;
			const measured = (box.width + box.height) / 2;
			const expected = (2 * radius) / (await metresPerPixel(page));
			last = `the circle on the map is ${measured.toFixed(1)} px across; ${radius} m of accuracy is ${expected.toFixed(1)} px at this zoom`;
			// The scale bar's width is rounded to whole pixels, and so may the circle's edges be.
			return Math.abs(measured - expected) <= 2 + 0.03 * expected;
		},
		{ timeoutMs: 5_000, what: `the accuracy circle to measure ${radius} m` },
	).catch(err => assert.fail(`${(err as Error).message}: ${last}`));
}

before(async () => {
	ensureWebBuild();
	rmSync(SHOTS, { recursive: true, force: true });
	system = await startSystem({
		services: ["users", "location", "chat", "devices", "notification", "gateway"],
		env: { OFFLINE_AFTER: "3600", STUCK_AFTER: "3600" },
	});
	api.ada = new ApiClient(system.url);
	api.bob = new ApiClient(system.url);
	api.cy = new ApiClient(system.url);
	await api.ada.signUp("Ada", "Lovelace");
	await api.bob.signUp("Bob", "Noyce");
	await api.cy.signUp("Cy", "Young");
	// Members by invitation and acceptance (API.md §6.1), through the API.
	groupId = (await api.ada.createGroup("Family", [api.bob.user!.email, api.cy.user!.email])).id;
	cyPhone = await registerDevice(api.cy, "owntracks", "Cy's iPhone");
	assert.equal((await api.cy.post(`/api/groups/${groupId}/sharing`)).status, 200);

	browser = await launchBrowser(system.url);
	ada = (await browser.newPage("ada")).page;
	({ page: bob, context: bobContext } = await browser.newPage("bob", PHONE));
	// Bob's phone has a GPS: the page may read it, and it says where he is.
	await bobContext.grantPermissions(["geolocation"]);
	await bobContext.setGeolocation(BOB_GPS);
	// One after the other: two password checks at once can wait for a hashing slot on a busy machine.
	await logIn(ada, api.ada);
	await logIn(bob, api.bob);
});

after(async () => {
	await browser?.close();
	await system?.stopAll();
});

test("Cy's OwnTracks report with accuracy 80 and battery 15: Ada sees the low battery, 'via OwnTracks' and an 80 m circle", async () => {
	const { cy } = ids();
	await cyReports({ acc: 80, batt: 15, bs: 1 });
	const row = memberRow(ada, cy);
	const battery = row.locator(".battery");
	await battery.filter({ hasText: "15 %" }).waitFor();
	assert.equal(await battery.getAttribute("title"), "Battery 15 %, low");
	assert.ok((await battery.getAttribute("class"))!.split(" ").includes("battery-low"), "a battery under 20 % is highlighted");
	assert.equal((await row.locator(".member-details").textContent())!.trim(), "Battery 15 % low · via OwnTracks");
	await assertCircle(ada, cy, 80);
	// The circle is faint and leaves the marker on top: it is drawn under the markers.
	const style = await circleOf(ada, cy).evaluate(el => ({
		pane: el.closest(".leaflet-pane:not(.leaflet-map-pane)")?.className ?? "",
		fill: el.getAttribute("fill-opacity"),
	}));
	assert.match(style.pane, /leaflet-overlay-pane/);
	assert.ok(Number(style.fill) <= 0.15, `a subtle fill (${style.fill})`);

	// The popup says it all, in words.
	await pinOf(ada, cy).click();
	const popup = ada.locator(`.popup[data-user-id="${cy}"]`);
	await popup.waitFor();
	assert.match((await popup.textContent()) ?? "", /Battery 15 % low · via OwnTracks/);
	assert.match(
		(await popup.locator(".position-facts").textContent()) ?? "",
		/accurate to ±80 m · moving at 18 km\/h · heading W \(270°\) · 27 m above sea level/,
	);
	await shot(ada, "cy-battery-and-accuracy-desktop");
	await ada.locator(".leaflet-popup-close-button").click();

	// Bob's phone-sized page shows the same on the members tab.
	await bob
		.locator(".tabbar")
		.getByRole("button", { name: /^Members\b/ })
		.click();
	await memberRow(bob, cy).locator(".battery", { hasText: "15 %" }).waitFor();
	await shot(bob, "cy-battery-phone");
	await bob
		.locator(".tabbar")
		.getByRole("button", { name: /^Map\b/ })
		.click();
	await circleOf(bob, cy).waitFor();
	await shot(bob, "cy-accuracy-phone");
});

test("live: a new report changes the circle and the battery; a position without them shows neither", async () => {
	const { cy } = ids();
	await cyReports({ acc: 30, batt: 64, bs: 2 });
	const row = memberRow(ada, cy);
	await row.locator(".battery", { hasText: "64 %" }).waitFor();
	assert.equal((await row.locator(".member-details").textContent())!.trim(), "Battery 64 % charging · via OwnTracks");
	assert.equal(await row.locator(".battery-low").count(), 0, "64 % is not low");
	await assertCircle(ada, cy, 30);

	// A sample from the web API says nothing of accuracy or battery, and the web is no phone app.
	const bare = await api.cy.post("/api/location/samples", { latitude: CY_AT.lat, longitude: CY_AT.lon });
	assert.equal(bare.status, 202, JSON.stringify(bare.body));
	assert.equal(bare.body.sessions[0].position.accuracy, undefined);
	await waitFor(async () => (await circleOf(ada, cy).count()) === 0, { what: "Cy's accuracy circle to go" });
	await waitFor(async () => (await row.locator(".member-details").isHidden()) && (await row.locator(".battery").count()) === 0, {
		what: "Cy's battery and app to go",
	});
	assert.equal(await pinOf(ada, cy).count(), 1, "the marker stays");
});

test("Ada asks Bob 'Where are you now?': his sharing page sends a fresh position at once, and Ada sees it", async () => {
	const { bob: bobId } = ids();
	// His device is the only location source (the simulated walk is offered with WEB_DEMO only).
	assert.equal(await bob.locator('option[value="simulate"]').count(), 0);
	await bob.getByRole("button", { name: "Share my location" }).click();
	await bob.getByRole("button", { name: "Stop sharing" }).waitFor();
	await waitFor(async () => Number(await pinOf(ada, bobId).getAttribute("data-lat")) === BOB_GPS.latitude, { what: "Bob's GPS position on Ada's map" });
	// His page's circle is his GPS's accuracy.
	await ada.getByRole("button", { name: "Show everyone" }).click();
	await assertCircle(ada, bobId, BOB_GPS.accuracy);

	// Bob walks a little: his page sends that at once. From then on, standing still, it would only
	// repeat itself after the heartbeat: anything sooner is the answer to Ada's question.
	await bobContext.setGeolocation(BOB_MOVED);
	await waitFor(async () => Number(await pinOf(ada, bobId).getAttribute("data-lat")) === BOB_MOVED.latitude, { what: "Bob's move on Ada's map" });
	const before = await shownAt(ada, bobId);
	assert.ok(Number.isFinite(before));

	const unread = async () => Number(await bob.locator(".inbox-btn").getAttribute("data-unread"));
	const unreadBefore = await unread();
	const ask = memberRow(ada, bobId).getByRole("button", { name: "Where are you now? Ask Bob Noyce" });
	const [answer] = await Promise.all([ada.waitForResponse(res => res.url().endsWith(`/api/groups/${groupId}/members/${bobId}/locate`)), ask.click()]);
	assert.equal(answer.status(), 202);
	await Promise.all([
		ada.locator(".toast", { hasText: "Asked Bob for their position" }).waitFor(),
		bob.locator(".toast", { hasText: "Ada asked where you are — sent" }).waitFor({ timeout: 10_000 }),
	]);
	const fresh = await waitFor(
		async () => {
			const at = await shownAt(ada, bobId);
			return at > before ? at : null;
		},
		{ timeoutMs: 10_000, what: "a newer position of Bob on Ada's map" },
	);
	assert.ok(fresh - before < HEARTBEAT_MS, `the fresh position came ${fresh - before} ms after the last one: an answer, not the heartbeat`);
	assert.equal(Number(await pinOf(ada, bobId).getAttribute("data-lat")), BOB_MOVED.latitude, "from where Bob is");
	// The page answered, so Bob's notification goes to his inbox without a second toast.
	await waitFor(async () => (await unread()) > unreadBefore, { what: "the LOCATE_REQUESTED notification in Bob's inbox" });
	assert.equal(await bob.locator(".toast", { hasText: "Ada Lovelace asked where you are" }).count(), 0);
	await shot(bob, "bob-answered-phone");
	await shot(ada, "ada-asked-desktop");
});

test("asking again within the minute shows the server's message with the time left", async () => {
	const { bob: bobId } = ids();
	// From the popup this time ("Show on map" centres Bob and opens it, clear of the toasts).
	await memberRow(ada, bobId).getByRole("button", { name: "Show Bob Noyce on the map" }).click();
	const popup = ada.locator(`.popup[data-user-id="${bobId}"]`);
	const [answer] = await Promise.all([
		ada.waitForResponse(res => res.url().endsWith(`/api/groups/${groupId}/members/${bobId}/locate`)),
		popup.getByRole("button", { name: "Where are you now? Ask Bob Noyce" }).click(),
	]);
	assert.equal(answer.status(), 429);
	const refused = (await answer.json()) as { message: string; data: { retryAfter: number } };
	assert.ok(refused.data.retryAfter > 0 && refused.data.retryAfter <= 60);
	const toast = ada.locator(".toast", { hasText: "Could not ask Bob again yet" });
	await toast.waitFor();
	assert.equal(
		(await toast.locator(".toast-body").textContent())!.trim(),
		`${refused.message.replace(/[^.!?]$/, "$&.")} You can ask again in ${refused.data.retryAfter} s.`,
	);
	await shot(ada, "ada-asked-too-soon-desktop");
	await ada.locator(".leaflet-popup-close-button").click();
});

test("someone who is not sharing is asked: nothing is sent, and the page offers to share", async () => {
	const { bob: bobId } = ids();
	await bob.getByRole("button", { name: "Stop sharing" }).click();
	await bob.getByRole("button", { name: "Share my location" }).waitFor();
	const stopped = await api.bob.get(`/api/groups/${groupId}/sessions/${bobId}`);
	assert.equal(stopped.body.state, "INACTIVE");

	// Cy asks (Ada may not, for a minute).
	assert.equal((await api.cy.post(`/api/groups/${groupId}/members/${bobId}/locate`)).status, 202);
	const offer = bob.locator(".toast", { hasText: "Cy asked where you are" });
	await offer.waitFor();
	assert.match((await offer.textContent()) ?? "", /You are not sharing your location with “Family”, so nothing was sent\./);
	await shot(bob, "bob-offered-to-share-phone");
	const still = await api.bob.get(`/api/groups/${groupId}/sessions/${bobId}`);
	assert.equal(still.body.state, "INACTIVE");
	assert.deepEqual(still.body.position, stopped.body.position, "no position was sent");

	// Bob takes the offer: he shares, and his position follows.
	await offer.getByRole("button", { name: "Share now" }).click();
	await bob.getByRole("button", { name: "Stop sharing" }).waitFor();
	await waitFor(async () => (await api.ada.get(`/api/groups/${groupId}/sessions/${bobId}`)).body.state === "ACTIVE", { what: "Bob sharing again" });
});

test("when Cy's position goes (he leaves the group), his circle goes with his marker", async () => {
	const { cy } = ids();
	await cyReports({ acc: 50, batt: 40, bs: 1 });
	await circleOf(ada, cy).waitFor({ state: "attached" });
	assert.equal((await api.cy.post(`/api/groups/${groupId}/leave`)).status, 204);
	await memberRow(ada, cy).waitFor({ state: "detached" });
	await waitFor(async () => (await circleOf(ada, cy).count()) === 0 && (await pinOf(ada, cy).count()) === 0, { what: "Cy's marker and circle to go" });
	assert.equal(await ada.locator("path.accuracy-circle").count(), 1, "Bob's circle stays");
});

test("nothing was fetched from outside, and the pages logged no errors", () => {
	assert.deepEqual(browser.errors, []);
	assert.deepEqual(browser.blocked, []);
});
