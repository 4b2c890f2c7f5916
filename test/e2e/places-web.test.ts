import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import type { BrowserContext, Page } from "playwright-core";
import type { Place } from "../../events/types.js";
import { ensureWebBuild, launchBrowser, screenshot, screenshotsFolder, type TestBrowser } from "../support/browser.js";
import { ApiClient } from "../support/client.js";
import { startSystem, type System } from "../support/system.js";
import { waitFor } from "../support/wait.js";

// Places, share links and history in the web client (issue 16, API.md §6.4–§6.6), in a real
// browser against the whole system. Ada (desktop) adds a place by clicking on the map; Bob (a
// 390×844 phone) sees it drawn and listed, live; Cy (API only) stands in it and both cards say
// "at <place>"; Ada deletes it and it goes for both. Ada makes a share link in the page and the
// address it shows opens the share page; she stops it. Her history dialog counts the day's points
// and downloads GPX. The steps build on each other. Screenshots go to test-output/places-web/.

const SHOTS = screenshotsFolder("places-web");
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true };
/** A member's own text: it must show as text. */
const PLACE_NAME = `School <img src="x" id="injected-place">`;
/** Where Ada's (mocked) GPS says she is: a few km from anything she draws. */
const ADA_GPS = { latitude: 45.44, longitude: 9.15, accuracy: 15 };

let system: System;
let browser: TestBrowser;
const api = { ada: null as unknown as ApiClient, bob: null as unknown as ApiClient, cy: null as unknown as ApiClient };
let groupId = "";
let ada: Page;
let bob: Page;
let adaContext: BrowserContext;
let place: Place;

const shot = (page: Page, name: string) => screenshot(page, name, SHOTS);

async function logIn(page: Page, who: ApiClient) {
	await page.goto("/");
	const form = page.locator("#panel-login");
	await form.getByLabel("Email").fill(who.user!.email);
	await form.getByLabel("Password").fill("correct horse battery");
	await form.getByRole("button", { name: "Log in" }).click();
	await page.locator("#group-title", { hasText: "Family" }).waitFor();
}

const placeCircle = (page: Page, id: string) => page.locator(`path.place-circle[data-place-id="${id}"]`);
const placeRow = (page: Page, id: string) => page.locator(`.place-list .place[data-place-id="${id}"]`);

async function noInjection(page: Page, label: string) {
	assert.deepEqual(
		await page.evaluate<string[]>(`[...document.querySelectorAll('[id^="injected"], img[src="x"]')].map(e => e.outerHTML)`),
		[],
		`${label}: the place's name did not become HTML`,
	);
}

before(async () => {
	ensureWebBuild();
	rmSync(SHOTS, { recursive: true, force: true });
	system = await startSystem({
		services: ["users", "location", "chat", "notification", "gateway"],
		env: { OFFLINE_AFTER: "3600", STUCK_AFTER: "3600" },
	});
	api.ada = new ApiClient(system.url);
	api.bob = new ApiClient(system.url);
	api.cy = new ApiClient(system.url);
	await api.ada.signUp("Ada", "Lovelace");
	await api.bob.signUp("Bob", "Noyce");
	await api.cy.signUp("Cy", "Young");
	groupId = (await api.ada.createGroup("Family", [api.bob.user!.email, api.cy.user!.email])).id;

	browser = await launchBrowser(system.url);
	({ page: ada, context: adaContext } = await browser.newPage("ada"));
	bob = (await browser.newPage("bob", PHONE)).page;
	await adaContext.grantPermissions(["geolocation"]);
	await adaContext.setGeolocation(ADA_GPS);
	await logIn(ada, api.ada);
	await logIn(bob, api.bob);
});

after(async () => {
	await browser?.close();
	await system?.stopAll();
});

test("Ada adds a place by clicking on the map: drawn and listed for her, and live for Bob", async () => {
	await ada.getByRole("button", { name: "Places", exact: true }).click();
	await ada.locator(".places-panel").getByRole("button", { name: "Add a place" }).click();
	const form = ada.locator(".place-form");
	await form.getByLabel("Name").fill(PLACE_NAME);
	await form.getByLabel("Radius (m)").fill("300");
	// Without a centre the form says what is missing, in words.
	await form.getByRole("button", { name: "Save place" }).click();
	await form.locator(".form-error", { hasText: "Click on the map to set the centre." }).waitFor();
	// A click on the map (right of the panel) is the centre: an outline shows it before saving.
	const box = (await ada.locator("#map").boundingBox())!;
	await ada.mouse.click(box.x + box.width * 0.75, box.y + box.height * 0.55);
	await form.locator(".place-centre", { hasText: "Centre:" }).waitFor();
	await ada.locator("path.place-draft").waitFor();
	// The server's own limits are shown as it words them (a radius beyond 5000 m is caught here first).
	await form.getByLabel("Radius (m)").fill("6000");
	await form.getByRole("button", { name: "Save place" }).click();
	await form.locator(".form-error", { hasText: "25 to 5000 metres" }).waitFor();
	await form.getByLabel("Radius (m)").fill("300");
	// A name the server refuses (a bidi control character): its own words, as plain text.
	await form.getByLabel("Name").fill("Home\u202Eevil");
	await form.getByRole("button", { name: "Save place" }).click();
	const refused = form.locator(".form-error");
	await waitFor(async () => /name/i.test((await refused.textContent()) ?? "") && !/25 to 5000/.test((await refused.textContent()) ?? ""), {
		what: "the server's field error",
	});
	assert.equal(await refused.locator("*").count(), 0, "plain text");
	assert.equal((await api.ada.get(`/api/groups/${groupId}/places`)).body.length, 0, "nothing saved");
	await form.getByLabel("Name").fill(PLACE_NAME);
	await form.getByRole("button", { name: "Save place" }).click();

	const places = await waitFor(
		async () => {
			const res = await api.ada.get<Place[]>(`/api/groups/${groupId}/places`);
			return res.body.length === 1 ? res.body : null;
		},
		{ what: "the place to be saved" },
	);
	place = places[0]!;
	assert.equal(place.name, PLACE_NAME);
	assert.equal(place.radius, 300);
	await placeCircle(ada, place.id).waitFor();
	assert.equal(await placeRow(ada, place.id).locator(".place-label").textContent(), PLACE_NAME);
	assert.equal(await ada.locator(`.place-name[data-place-id="${place.id}"]`).textContent(), PLACE_NAME);
	assert.equal(await ada.locator("path.place-draft").count(), 0, "the outline goes once saved");
	await shot(ada, "place-added-desktop");

	// Bob did nothing: place:changed brings it to his map, and his list has it.
	await placeCircle(bob, place.id).waitFor({ state: "attached" });
	assert.equal(await bob.locator(`.place-name[data-place-id="${place.id}"]`).textContent(), PLACE_NAME);
	await bob.getByRole("button", { name: "Places", exact: true }).click();
	assert.equal(await placeRow(bob, place.id).locator(".place-label").textContent(), PLACE_NAME);
	await shot(bob, "place-listed-phone");
	await bob.locator(".places-panel").getByRole("button", { name: "Close the places" }).click();
	await noInjection(ada, "ada");
	await noInjection(bob, "bob");
});

test("Cy stands inside the place: Ada's and Bob's cards say 'at <place>'", async () => {
	const cy = api.cy.user!.id;
	assert.equal((await api.cy.post(`/api/groups/${groupId}/sharing`)).status, 200);
	assert.equal((await api.cy.post("/api/location/samples", { latitude: place.latitude, longitude: place.longitude, accuracy: 10 })).status, 202);
	await ada.locator(`.member[data-user-id="${cy}"] .member-place`, { hasText: `at ${PLACE_NAME}` }).waitFor();
	await shot(ada, "cy-at-place-desktop");
	await bob
		.locator(".tabbar")
		.getByRole("button", { name: /^Members\b/ })
		.click();
	await bob.locator(`.member[data-user-id="${cy}"] .member-place`, { hasText: `at ${PLACE_NAME}` }).waitFor();
	await shot(bob, "cy-at-place-phone");
	await bob
		.locator(".tabbar")
		.getByRole("button", { name: /^Map\b/ })
		.click();
	await noInjection(bob, "bob");
});

test("Ada renames and resizes the place; then deletes it (after confirming): gone for both", async () => {
	await placeRow(ada, place.id).getByRole("button", { name: "Edit" }).click();
	const form = ada.locator(".place-form");
	await form.getByLabel("Name").fill("School");
	await form.getByLabel("Radius (m)").fill("400");
	await form.getByRole("button", { name: "Save place" }).click();
	await placeRow(ada, place.id)
		.locator(".place-label", { hasText: /^School$/ })
		.waitFor();
	await bob.locator(`path.place-circle[data-place-id="${place.id}"][data-radius="400"]`).waitFor({ state: "attached" });
	assert.equal(await bob.locator(`.place-name[data-place-id="${place.id}"]`).textContent(), "School");

	await placeRow(ada, place.id).getByRole("button", { name: "Delete" }).click();
	await ada.locator("dialog [data-confirm]").click();
	await placeCircle(ada, place.id).waitFor({ state: "detached" });
	await placeRow(ada, place.id).waitFor({ state: "detached" });
	await placeCircle(bob, place.id).waitFor({ state: "detached" });
	assert.equal(await bob.locator(".place-name").count(), 0, "its name goes with it");
	assert.equal(await ada.locator(".place-name").count(), 0, "its name goes with it");
	assert.deepEqual((await api.bob.get(`/api/groups/${groupId}/places`)).body, []);
	await ada.locator(".places-panel").getByRole("button", { name: "Close the places" }).click();
});

test("Ada shares her location and makes a share link in the page: its address opens the share page; Stop sharing ends it", async () => {
	await ada.getByRole("button", { name: "Share my location" }).click();
	await ada.getByRole("button", { name: "Stop sharing" }).waitFor();
	await ada.getByRole("button", { name: "Share a link…" }).click();
	const dialog = ada.locator("dialog", { hasText: "Share a link" });
	await dialog.getByLabel("For").selectOption("900");
	await dialog.getByRole("button", { name: "Create the link" }).click();
	const input = dialog.locator("input.share-url");
	await input.waitFor();
	const url = await input.inputValue();
	const match = /\/s\/([A-Za-z0-9_-]{43})$/.exec(url);
	assert.ok(match, `a share page address (${url})`);
	const token = match[1]!;
	const visitor = new ApiClient(system.url);
	const shared = await visitor.get(`/api/shared/${token}`, { token: null });
	assert.equal(shared.status, 200, JSON.stringify(shared.body));
	assert.equal(shared.body.name, "Ada L.");
	// The share page itself is served at that address.
	const page = await fetch(new URL(new URL(url).pathname, system.url));
	assert.equal(page.status, 200);
	const row = dialog.locator(".share-list li[data-link-id]");
	await row.waitFor();
	assert.equal(await row.count(), 1);
	await shot(ada, "share-link-desktop");

	await row.getByRole("button", { name: "Stop sharing" }).click();
	await row.waitFor({ state: "detached" });
	assert.equal((await visitor.get(`/api/shared/${token}`, { token: null })).status, 404);
	await dialog.getByRole("button", { name: "Close" }).click();
});

test("Ada's history: the day's points counted and drawn, a GPX download", async () => {
	for (let i = 1; i <= 3; i++)
		assert.equal((await api.ada.post("/api/location/samples", { latitude: 45.45 + i * 0.002, longitude: 9.16 + i * 0.001, accuracy: 10 })).status, 202);
	const day = new Date().toISOString().slice(0, 10);
	const count = async () => (await api.ada.get(`/api/users/me/history?from=${day}T00:00:00.000Z&to=${new Date().toISOString()}`)).body.points.length as number;
	await waitFor(async () => (await count()) >= 3, { what: "Ada's three samples to be kept" });

	await ada.locator(".profile-btn").click();
	await ada.locator("dialog").getByRole("button", { name: "Show your history" }).click();
	const dialog = ada.locator("dialog", { hasText: "Your history" });
	const summary = dialog.locator(".history-summary[data-points]");
	await summary.waitFor();
	// Her page keeps sending her position too: the dialog's figure is the API's at the time it read it.
	await waitFor(
		async () => {
			const shown = Number(await summary.getAttribute("data-points"));
			if (shown === (await count())) return true;
			await dialog.getByLabel("Day", { exact: true }).dispatchEvent("change");
			return false;
		},
		{ what: "the dialog to show the day's count of points" },
	);
	const shown = Number(await summary.getAttribute("data-points"));
	assert.ok(shown >= 3);
	assert.match((await summary.textContent()) ?? "", new RegExp(`^${shown} points from \\d\\d:\\d\\d to \\d\\d:\\d\\d$`));
	await dialog.locator("path.history-line").waitFor();
	await shot(ada, "history-desktop");

	const [download] = await Promise.all([ada.waitForEvent("download"), dialog.getByRole("button", { name: "Download GPX" }).click()]);
	const gpx = readFileSync((await download.path())!, "utf8");
	assert.ok(gpx.startsWith("<?xml"), gpx.slice(0, 80));
	assert.match(gpx, /<gpx/);
	assert.match(download.suggestedFilename(), /\.gpx$/);
	await dialog.getByRole("button", { name: "Close" }).click();
});

test("Ada chooses an approximate position for the group: kept after a reload, and Bob sees her on the ~1 km grid", async () => {
	const select = ada.getByLabel("The group sees");
	await select.selectOption("approximate");
	await ada.locator(".toast", { hasText: "The group sees an approximate position" }).waitFor();
	const adaId = api.ada.user!.id;
	const seen = await waitFor(
		async () => {
			const res = await api.bob.get(`/api/groups/${groupId}/sessions/${adaId}`);
			return res.body.precision === "approximate" ? res.body : null;
		},
		{ what: "Bob to be shown Ada approximately" },
	);
	assert.notEqual(seen.position.latitude, ADA_GPS.latitude, "snapped");
	await ada.reload();
	await ada.locator("#group-title", { hasText: "Family" }).waitFor();
	await waitFor(async () => (await select.inputValue()) === "approximate", { what: "the choice to show after a reload" });
	await shot(ada, "precision-desktop");
	await select.selectOption("exact");
	await ada.locator(".toast", { hasText: "The group sees your exact position" }).waitFor();
	await waitFor(async () => (await api.bob.get(`/api/groups/${groupId}/sessions/${adaId}`)).body.precision === undefined, {
		what: "Bob to see her exactly again",
	});
});

test("the phone-sized page: places, the share link and precision controls fit", async () => {
	await bob.getByRole("button", { name: "Places", exact: true }).click();
	await bob.locator(".places-panel").getByRole("button", { name: "Add a place" }).click();
	const box = (await bob.locator("#map").boundingBox())!;
	await bob.mouse.click(box.x + box.width * 0.5, box.y + 40);
	await bob.locator("path.place-draft").waitFor();
	await shot(bob, "place-form-phone");
	await bob.locator(".place-form").getByRole("button", { name: "Cancel" }).click();
	await bob.locator(".places-panel").getByRole("button", { name: "Close the places" }).click();
	assert.deepEqual(browser.errors, []);
	assert.deepEqual(browser.blocked, []);
});
