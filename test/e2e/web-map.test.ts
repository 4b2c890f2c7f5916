import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import type { BrowserContext, Page } from "playwright-core";
import type { Session } from "../../events/types.js";
import { logIn, screenshot, screenshotsFolder, startBrowserTest, stopBrowserTest, type TestBrowser } from "../support/browser.js";
import { ApiClient } from "../support/client.js";
import type { System } from "../support/system.js";
import { waitFor } from "../support/wait.js";

// The web map tells the truth about who is where (issue 17), in a real browser against the whole
// system. Ada (desktop, location allowed) opens her group with everyone in view, and again after
// switching groups; positions read in words from the group's places. A deliberate stop (Cy) and a
// silent phone (Bob) look different. Bob's phone page has the location permission denied: his page
// says "Location blocked" and how to fix it, and Ada sees it too instead of a green "Sharing". Ada's
// tab goes to the background and silent: back in front she is told, and her sharing resumes.
// Cy's phone loses its fix for a moment while good positions keep coming: no red alarm; after a
// long silence, one.
// Screenshots go to test-output/web-map/.

const SHOTS = screenshotsFolder("web-map");
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true };
const HOME = { latitude: 44.1391, longitude: 12.2431 };
/** 450 m north of Home's centre: 350 m from its 100 m edge. */
const CY_AT = { latitude: HOME.latitude + 0.00405, longitude: HOME.longitude };
/** About 8 km east: off-screen at street zoom, and far from every place. */
const BOB_AT = { latitude: 44.1391, longitude: 12.3433 };

let system: System;
let browser: TestBrowser;
const api = { ada: null as unknown as ApiClient, bob: null as unknown as ApiClient, cy: null as unknown as ApiClient, dee: null as unknown as ApiClient };
let family = "";
let work = "";
let ada: Page;
let adaContext: BrowserContext;
/** The pages open now, to show what they looked like when a step failed. */
const open = new Map<string, Page>();

const shot = (page: Page, name: string) => screenshot(page, name, SHOTS);

async function share(who: ApiClient, groupId: string, at: { latitude: number; longitude: number }) {
	assert.equal((await who.post(`/api/groups/${groupId}/sharing`)).status, 200);
	assert.equal((await who.post("/api/location/samples", at)).status, 202);
}

const pin = (page: Page, userId: string) => page.locator(`.pin[data-user-id="${userId}"]`);
const card = (page: Page, userId: string) => page.locator(`.member[data-user-id="${userId}"]`);

/** Whether every given member's marker lies inside the map's visible box. */
async function allInView(page: Page, userIds: string[]): Promise<boolean> {
	const map = (await page.locator("#map").boundingBox())!;
	for (const id of userIds) {
		const box = await pin(page, id).boundingBox();
		if (!box) return false;
		const x = box.x + box.width / 2;
		const y = box.y + box.height / 2;
		if (x < map.x || x > map.x + map.width || y < map.y || y > map.y + map.height) return false;
	}
	return true;
}

async function session(viewer: ApiClient, groupId: string, userId: string) {
	return (await viewer.get<Session & { sharing?: boolean; locationBlocked?: boolean }>(`/api/groups/${groupId}/sessions/${userId}`)).body;
}

/** Makes the page believe it went to the background, or came back (as a tab switch does). */
async function setVisibility(page: Page, state: "hidden" | "visible") {
	await page.evaluate(`Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "${state}" });
		document.dispatchEvent(new Event("visibilitychange"));`);
}

before(async () => {
	({ system, browser } = await startBrowserTest(SHOTS, {
		services: ["users", "location", "chat", "notification", "gateway"],
		// A phone goes silent after 4 s without a position (checked every second), so the test need not wait a minute.
		env: { OFFLINE_AFTER: "4", TRACKING_CHECK_EVERY: "1", STUCK_AFTER: "3600" },
	}));
	for (const [key, name, surname] of [
		["ada", "Ada", "Lovelace"],
		["bob", "Bob", "Noyce"],
		["cy", "Cy", "Young"],
		["dee", "Dee", "Hopper"],
	] as const) {
		api[key] = new ApiClient(system.url);
		await api[key].signUp(name, surname);
	}
	family = (await api.ada.createGroup("Family", [api.bob.user!.email, api.cy.user!.email])).id;
	work = (await api.ada.createGroup("Work", [api.bob.user!.email, api.cy.user!.email])).id;
	assert.equal((await api.ada.post(`/api/groups/${family}/places`, { name: "Home", ...HOME, radius: 100 })).status, 201);
	await share(api.cy, family, CY_AT);
	await share(api.bob, family, BOB_AT);
	await share(api.bob, work, BOB_AT);
	await share(api.cy, work, CY_AT);

	({ page: ada, context: adaContext } = await browser.newPage("ada"));
	open.set("ada", ada);
	await adaContext.grantPermissions(["geolocation"]);
	// Ada stands where Cy was: their markers must not hide each other.
	await adaContext.setGeolocation({ ...CY_AT, accuracy: 10 });
});

afterEach(async t => {
	// Node 24's TestContext says whether the test passed (not in @types/node yet).
	if ((t as { passed?: boolean }).passed !== false) return;
	for (const [who, page] of open) if (!page.isClosed()) await shot(page, `FAILED-${who}`).catch(() => undefined);
});

after(() => stopBrowserTest(browser, system));

test("Ada opens her group with everyone in view, and again after switching groups", async () => {
	await logIn(ada, api.ada, "Family");
	const others = [api.bob.user!.id, api.cy.user!.id];
	await pin(ada, api.bob.user!.id).waitFor();
	await pin(ada, api.cy.user!.id).waitFor();
	await waitFor(() => allInView(ada, others), { what: "Bob and Cy both in view on opening Family", timeoutMs: 5_000 });
	await shot(ada, "desktop-everyone-in-view");

	// Ada zooms in on one spot, then opens Work: everyone there is in view again.
	for (let i = 0; i < 3; i++) await ada.getByRole("button", { name: "Zoom in" }).click();
	await ada.locator(`.group-item[data-group-id="${work}"]`).click();
	await ada.locator("#group-title", { hasText: "Work" }).waitFor();
	await pin(ada, api.bob.user!.id).waitFor();
	await waitFor(() => allInView(ada, others), { what: "Bob and Cy both in view after switching to Work", timeoutMs: 5_000 });
	await shot(ada, "desktop-group-switch-in-view");
	await ada.locator(`.group-item[data-group-id="${family}"]`).click();
	await ada.locator("#group-title", { hasText: "Family" }).waitFor();
});

test("positions read in words from the group's places; coordinates only far from every place", async () => {
	await card(ada, api.cy.user!.id).locator(".member-seen", { hasText: "350 m from Home" }).waitFor();
	await card(ada, api.bob.user!.id).locator(".member-seen", { hasText: "44.1391° N, 12.3433° E" }).waitFor();
	// No demo setting here: nobody is offered a simulated walk.
	assert.equal(await ada.locator('option[value="simulate"]').count(), 0);
});

test("a deliberate stop and a silent phone look different, each saying what it means", async () => {
	// Cy stops on purpose; Bob's phone simply goes quiet (nothing sent for longer than OFFLINE_AFTER).
	assert.equal((await api.cy.delete(`/api/groups/${family}/sharing`)).status, 200);
	const cyCard = card(ada, api.cy.user!.id);
	const bobCard = card(ada, api.bob.user!.id);
	await cyCard.locator(".badge", { hasText: "Stopped sharing" }).waitFor();
	await cyCard.locator(".member-status", { hasText: /Stopped sharing at \d\d:\d\d/ }).waitFor();
	await bobCard.locator(".badge", { hasText: "No signal" }).waitFor({ timeout: 15_000 });
	await bobCard.locator(".member-status", { hasText: /No signal since \d\d:\d\d — phone may be off or app in background/ }).waitFor();
	assert.notEqual(await cyCard.getAttribute("data-status"), await bobCard.getAttribute("data-status"));
	await shot(ada, "desktop-stopped-vs-silent");
});

test("a phone that refuses the location says 'Location blocked' with the fix, and the group is told", async () => {
	// Bob's phone is sharing (a green "Sharing" for Ada), then his page opens with location denied.
	assert.equal((await api.bob.post("/api/location/samples", BOB_AT)).status, 202);
	const { page: bob } = await browser.newPage("bob", PHONE);
	open.set("bob", bob);
	await logIn(bob, api.bob, "Family");
	const status = bob.locator(".my-status");
	await status.locator(".my-status-label", { hasText: "Location blocked" }).waitFor({ timeout: 10_000 });
	assert.match((await status.textContent()) ?? "", /Allow location for this site/);
	assert.doesNotMatch((await status.textContent()) ?? "", /Sharing/);
	assert.equal(await bob.locator(".toast", { hasText: "You are sharing your location" }).count(), 0);
	await shot(bob, "phone-location-blocked");

	// The group is told the truth: Ada sees "Location blocked", not a green "Sharing".
	const bobCard = card(ada, api.bob.user!.id);
	await bobCard.locator(".badge", { hasText: "Location blocked" }).waitFor();
	await bobCard.locator(".member-status", { hasText: "Ask them to allow location" }).waitFor();
	const seen = await session(api.ada, family, api.bob.user!.id);
	assert.equal(seen.locationBlocked, true);
	assert.notEqual(seen.state, "ACTIVE");
	await shot(ada, "desktop-sees-bob-blocked");
	await bob.close();
});

test("Ada's tab goes silent in the background: back in front she is told, and sharing resumes", async () => {
	await ada.getByRole("button", { name: "Share my location" }).click();
	await waitFor(async () => (await session(api.ada, family, api.ada.user!.id)).state === "ACTIVE", { what: "Ada sharing" });
	// Her marker and Cy's (same spot) are both visible: spread apart, not stacked.
	const [a, c] = [await pin(ada, api.ada.user!.id).boundingBox(), await pin(ada, api.cy.user!.id).boundingBox()];
	assert.ok(a && c && Math.hypot(a.x - c.x, a.y - c.y) >= 20, "markers on the same spot are spread apart");
	await shot(ada, "desktop-same-spot-spread");
	// All three members fit in the desktop panel (none cut off), now that one shares and two say why not.
	const panel = (await ada.locator(".panel.members").boundingBox())!;
	const third = (await ada.locator(".member-list .member").nth(2).boundingBox())!;
	assert.ok(third.y + third.height <= panel.y + panel.height + 1, "the third member is not cut off");

	await setVisibility(ada, "hidden");
	await waitFor(async () => (await session(api.ada, family, api.ada.user!.id)).state === "INACTIVE", { what: "Ada silent", timeoutMs: 15_000 });
	await setVisibility(ada, "visible");
	await ada.locator(".toast", { hasText: "Your location stopped while this page was in the background" }).waitFor();
	await waitFor(async () => (await session(api.ada, family, api.ada.user!.id)).state === "ACTIVE", { what: "Ada sharing again", timeoutMs: 10_000 });
	await shot(ada, "desktop-back-from-background");
});

/**
 * Stands in for the device's location (before the app loads): the test hands out positions (`age`
 * ms old) and a passing POSITION_UNAVAILABLE error on demand, as a phone losing its fix for a moment
 * does; Chromium never reports one by itself. It also notes the title of every toast ever shown.
 * (Plain script text: the test's own compiled functions would not run in the page.)
 */
const FAKE_GEOLOCATION = `(() => {
	const watchers = new Map();
	const waiting = [];
	let latest = null;
	let next = 1;
	const geolocation = {
		watchPosition(ok, fail) { watchers.set(next, { ok, fail }); return next++; },
		getCurrentPosition(ok) { if (latest) ok(latest); else waiting.push(ok); },
		clearWatch(id) { watchers.delete(id); },
	};
	Object.defineProperty(navigator, "geolocation", { configurable: true, get: () => geolocation });
	const toasts = [];
	window.fakeGeo = {
		toasts,
		watching: () => watchers.size,
		position(latitude, longitude, age = 0) {
			const coords = { latitude, longitude, accuracy: 10, altitude: null, altitudeAccuracy: null, heading: null, speed: null };
			latest = { coords, timestamp: Date.now() - age };
			for (const ok of waiting.splice(0)) ok(latest);
			for (const { ok } of watchers.values()) ok(latest);
		},
		unavailable() {
			const error = { code: 2, message: "Position unavailable", PERMISSION_DENIED: 1, POSITION_UNAVAILABLE: 2, TIMEOUT: 3 };
			for (const { fail } of watchers.values()) fail?.(error);
		},
	};
	new MutationObserver(records => {
		for (const r of records)
			for (const node of r.addedNodes)
				if (node instanceof HTMLElement && node.classList.contains("toast")) toasts.push(node.querySelector(".toast-title")?.textContent ?? "");
	}).observe(document, { childList: true, subtree: true });
})();`;

test("a passing 'position unavailable' while good positions arrive raises no alarm; after a long silence it does", async () => {
	const { page: cy, context } = await browser.newPage("cy-fake-geo", PHONE);
	open.set("cy", cy);
	await context.grantPermissions(["geolocation"]);
	await context.addInitScript({ content: FAKE_GEOLOCATION });
	await logIn(cy, api.cy, "Family");
	const cyAt = async (latitude: number) => {
		await waitFor(async () => Math.abs(((await session(api.ada, family, api.cy.user!.id)).position?.latitude ?? 0) - latitude) < 1e-6, {
			what: `Cy's position ${latitude} on the server`,
			timeoutMs: 8_000,
		});
	};
	const unavailable = cy.locator(".toast", { hasText: "Location unavailable" });

	await cy.getByRole("button", { name: "Share my location" }).click();
	// Sharing with Family has started before the first position: her page already watches the location
	// (she shares with Work), and a position sent sooner would not reach Family, nor would another come.
	await cy.getByRole("button", { name: "Stop sharing" }).waitFor();
	await waitFor(() => cy.evaluate("fakeGeo.watching() > 0"), { what: "Cy's page watching the location" });
	await cy.evaluate(`fakeGeo.position(${HOME.latitude}, ${HOME.longitude})`);
	await cyAt(HOME.latitude);

	// The fix drops for a moment, then comes back: no red alert was ever shown for it.
	await cy.evaluate("fakeGeo.unavailable()");
	const moved = HOME.latitude + 0.001;
	await cy.evaluate(`fakeGeo.position(${moved}, ${HOME.longitude})`);
	await cyAt(moved);
	assert.deepEqual(await cy.evaluate(`fakeGeo.toasts.filter(t => t === "Location unavailable")`), []);
	assert.equal(await unavailable.count(), 0);
	await shot(cy, "phone-passing-error-no-alarm");

	// No good fix for longer than the window (the last one is a minute old): now she is told.
	await cy.evaluate(`fakeGeo.position(${moved + 0.001}, ${HOME.longitude}, 60000)`);
	await cy.evaluate("fakeGeo.unavailable()");
	await unavailable.waitFor({ timeout: 5_000 });
	assert.match((await unavailable.textContent()) ?? "", /Your position is not available right now/);
	await shot(cy, "phone-no-fix-for-long-alarm");
	await cy.close();
	open.delete("cy");
});

test("the phone's empty state offers to create a group and shows one's own email", async () => {
	const { page: dee } = await browser.newPage("dee", PHONE);
	open.set("dee", dee);
	await logIn(dee, api.dee);
	await dee.locator(".no-group-email", { hasText: api.dee.user!.email }).waitFor();
	await shot(dee, "phone-empty-state");
	await dee.getByRole("button", { name: "Create a group" }).click();
	await dee.locator('.new-group input[name="name"]').waitFor();
	assert.equal(await dee.evaluate(`document.activeElement?.getAttribute("name")`), "name");
	await shot(dee, "phone-empty-create-group");
	assert.deepEqual(browser.blocked, []);
	assert.deepEqual(browser.errors, []);
});
