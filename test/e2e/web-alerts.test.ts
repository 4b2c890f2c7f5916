import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import {
	assertSosReachable,
	logIn,
	screenshot,
	screenshotsFolder,
	startBrowserTest,
	stopBrowserTest,
	tabButton,
	type TestBrowser,
} from "../support/browser.js";
import { ApiClient } from "../support/client.js";
import type { System } from "../support/system.js";
import { waitFor } from "../support/wait.js";

// Alerts in the web client (issue 17, points 6, 7, 8, 11, 12), in a real browser against the whole
// system. Bob lives in Rome and uses a phone (390×844) and a laptop; Ada, whose steps are made
// through the API, chats, travels and raises an SOS. Bob's pages: a sign of new chat messages on the
// Chat tab; alert times in his own time zone; at most two alerts, above the tab bar, never over the
// SOS button; the SOS as a banner with "Show on map", a call link, a sound and a flashing title; the
// unread count the same on both devices after "mark all read"; nothing private left after logout.
// The steps build on each other. Screenshots go to test-output/web-alerts/.

const SHOTS = screenshotsFolder("web-alerts");
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, timezoneId: "Europe/Rome" };
const HOME = { name: "Home", latitude: 44.1405, longitude: 12.2435 };

let system: System;
let browser: TestBrowser;
let ada: ApiClient;
let bob: ApiClient;
let groupId = "";
let phone: Page;
let laptop: Page;

const shot = (page: Page, name: string) => screenshot(page, name, SHOTS);
/** "08:33" as a viewer in Rome reads an instant. */
const romeTime = (iso: string) => new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: "Europe/Rome" }).format(new Date(iso));

/** Every toast lies above the tab bar and clear of the SOS button. */
async function assertToastsCoverNothing(page: Page, where: string) {
	const tabbar = (await page.locator(".tabbar").boundingBox())!;
	const sos = (await page.locator(".btn-sos").boundingBox())!;
	for (const toast of await page.locator("#toasts .toast").all()) {
		const box = await toast.boundingBox();
		if (!box) continue;
		assert.ok(box.y + box.height <= tabbar.y + 1, `${where}: a toast over the tab bar`);
		const overlaps = box.y < sos.y + sos.height && sos.y < box.y + box.height && box.x < sos.x + sos.width && sos.x < box.x + box.width;
		assert.ok(!overlaps, `${where}: a toast over the SOS button`);
	}
}

before(async () => {
	({ system, browser } = await startBrowserTest(SHOTS, { services: ["users", "location", "chat", "notification", "gateway"] }));
	ada = new ApiClient(system.url);
	bob = new ApiClient(system.url);
	await ada.signUp("Ada", "Lovelace");
	await bob.signUp("Bob", "Noyce");
	assert.equal((await ada.patch("/api/users/me", { phone: "+39 333 123 4567" })).status, 200);
	groupId = (await ada.createGroup("Family", [bob.user!.email])).id;
	assert.equal((await ada.post(`/api/groups/${groupId}/sharing`)).status < 300, true);
	assert.equal((await ada.post("/api/location/samples", { latitude: 44.1379, longitude: 12.2432, accuracy: 10 })).status, 202);
	phone = (await browser.newPage("bob-phone", PHONE)).page;
	laptop = (await browser.newPage("bob-laptop", { timezoneId: "Europe/Rome" })).page;
	await logIn(phone, bob, "Family");
	await logIn(laptop, bob, "Family");
});

after(() => stopBrowserTest(browser, system));

test("a chat message from someone else marks the phone's Chat tab until Bob opens it", async () => {
	assert.equal((await ada.post(`/api/groups/${groupId}/messages`, { text: "Leaving work now" })).status, 201);
	const chatTab = phone.locator('.tabbar [data-tab="chat"]');
	await chatTab.locator(".count:not([hidden])", { hasText: "1" }).waitFor({ timeout: 10_000 });
	await shot(phone, "phone-chat-tab-unread");
	await chatTab.click();
	await phone.locator(".chat", { hasText: "Leaving work now" }).first().waitFor();
	await chatTab.locator(".count").waitFor({ state: "hidden" });
	await tabButton(phone, "Map").click();
});

test("journey alerts write the ETA in the viewer's own time, never in UTC", async () => {
	const eta = new Date(Date.now() + 95 * 60_000).toISOString();
	const started = await ada.post(`/api/groups/${groupId}/journey`, { destination: HOME, eta, mode: "walking" });
	assert.equal(started.status, 201, JSON.stringify(started.body));
	const toast = phone.locator("#toasts .toast", { hasText: "Ada Lovelace started a journey" });
	await toast.waitFor();
	await shot(phone, "phone-journey-toast");
	const text = (await toast.textContent()) ?? "";
	assert.match(text, new RegExp(romeTime(eta)), `the ETA at ${romeTime(eta)} Rome time: ${text}`);
	assert.doesNotMatch(text, /UTC/);
	await laptop.locator(".inbox-btn").click();
	const item = laptop.locator(".inbox-item", { hasText: "started a journey" }).first();
	await item.waitFor();
	await shot(laptop, "laptop-inbox-local-times");
	assert.match((await item.textContent()) ?? "", new RegExp(romeTime(eta)));
	assert.equal(await laptop.locator(".modal-inbox", { hasText: "UTC" }).count(), 0, "no UTC in the inbox");
	await laptop.keyboard.press("Escape");
});

test("on a phone at most two alerts show, above the tab bar and clear of the SOS button; the rest wait in the inbox", async () => {
	for (let i = 1; i <= 3; i++) {
		const res = await ada.patch(`/api/groups/${groupId}/journey`, { eta: new Date(Date.now() + (100 + i * 5) * 60_000).toISOString() });
		assert.equal(res.status, 200, JSON.stringify(res.body));
	}
	assert.equal((await ada.delete(`/api/groups/${groupId}/journey`)).status < 300, true);
	await phone.locator("#toasts .toast", { hasText: "ended their journey" }).waitFor();
	const unread = await waitFor(
		async () => ((await bob.get("/api/notifications")).body as { unread: number }).unread >= 5 && (await bob.get("/api/notifications")).body.unread,
		{
			what: "Bob's five notifications",
		},
	);
	await phone.locator(`.inbox-btn[data-unread="${unread}"]`).waitFor();
	await shot(phone, "phone-alerts-stack");
	assert.ok((await phone.locator("#toasts .toast").count()) <= 2, `at most two alerts: ${await phone.locator("#toasts .toast").count()}`);
	await assertToastsCoverNothing(phone, "Bob's phone");
	await assertSosReachable(phone, "Bob's phone with alerts", SHOTS);
});

test("an SOS is a persistent full-width banner with Show on map and a call link, a sound and a flashing title", async () => {
	assert.equal((await ada.post("/api/sos", { latitude: 44.1381, longitude: 12.2433 })).status < 300, true);
	const banner = phone.locator(".sos-banner", { hasText: "Ada Lovelace" });
	await banner.waitFor();
	const box = (await banner.boundingBox())!;
	assert.ok(box.width >= 380, `full width: ${box.width}`);
	assert.equal(await banner.locator('a[href="tel:+393331234567"]').count(), 1, "a call link to Ada's phone");
	await banner.getByRole("button", { name: "Show on map" }).waitFor();
	// The title flashes: it changes back and forth while the SOS lasts.
	const titles = new Set<string>();
	await waitFor(async () => (titles.add(await phone.title()), titles.size >= 2), { what: "the tab title to flash" });
	assert.ok(
		[...titles].some(t => /SOS/.test(t)),
		[...titles].join(" / "),
	);
	// Bob clicked in the page before (a user gesture): the alarm sounds.
	await waitFor(async () => (await banner.getAttribute("data-sound")) === "played", { what: "the alarm sound" });
	await assertSosReachable(phone, "Bob's phone during Ada's SOS", SHOTS);
	await shot(phone, "phone-sos-banner");
	await laptop.locator(".sos-banner", { hasText: "Ada Lovelace" }).waitFor();
	await shot(laptop, "laptop-sos-banner");
	await tabButton(phone, "Members").click();
	await banner.getByRole("button", { name: "Show on map" }).click();
	await phone.locator('.layout[data-tab="map"]').waitFor();
	await waitFor(async () => (await banner.isVisible()) && true, { what: "the banner to stay" });
	assert.equal((await ada.delete("/api/sos")).status < 300, true);
	await banner.waitFor({ state: "detached" });
	await waitFor(async () => (await phone.title()) === "PositionPal", { what: "the title back" });
	await shot(phone, "phone-sos-over");
});

test("Bob's phone reloaded during Ada's SOS shows her banner again at once, and it goes when the SOS ends", async () => {
	assert.equal((await ada.post("/api/sos", { latitude: 44.1381, longitude: 12.2433 })).status < 300, true);
	const banner = phone.locator(".sos-banner", { hasText: "Ada Lovelace" });
	await banner.waitFor();
	await phone.reload();
	// No new notification comes after the reload: the banner is there from what the page reads.
	await banner.waitFor({ timeout: 10_000 });
	await banner.getByRole("button", { name: "Show on map" }).waitFor();
	await shot(phone, "phone-sos-banner-after-reload");
	// Bob closes it: Ada's next positions during the same SOS do not bring it back.
	await banner.getByRole("button", { name: /^Dismiss/ }).click();
	await banner.waitFor({ state: "detached" });
	assert.equal((await ada.post("/api/location/samples", { latitude: 44.1391, longitude: 12.2441, accuracy: 10 })).status, 202);
	await phone.locator(`.pin[data-state="SOS"][data-lat="44.1391"]`).waitFor({ timeout: 10_000 });
	assert.equal(await banner.count(), 0, "a dismissed banner stays closed while the same SOS goes on");
	assert.equal((await ada.delete("/api/sos")).status < 300, true);
	await banner.waitFor({ state: "detached" });
});

test("marking all read on the laptop clears the count on the phone", async () => {
	await phone.locator('.inbox-btn:not([data-unread="0"])').waitFor();
	await laptop.locator(".inbox-btn").click();
	await laptop.getByRole("dialog", { name: "Notifications" }).getByRole("button", { name: "Mark all as read" }).click();
	await laptop.locator('.inbox-btn[data-unread="0"]').waitFor();
	await laptop.keyboard.press("Escape");
	await phone.locator('.inbox-btn[data-unread="0"]').waitFor({ timeout: 10_000 });
	await shot(phone, "phone-count-synced");
});

test("the page can be installed: a manifest with its PNG icons; the push service worker is still served", async () => {
	const cdp = await phone.context().newCDPSession(phone);
	const { url, errors } = (await cdp.send("Page.getAppManifest")) as { url: string; errors: { message: string }[] };
	assert.match(url, /\/assets\/manifest-[\w]+\.webmanifest$/);
	assert.deepEqual(errors, []);
	const manifest = (await (await fetch(url)).json()) as {
		name: string;
		display: string;
		start_url: string;
		icons: { src: string; sizes: string; type: string }[];
	};
	assert.equal(manifest.name, "PositionPal");
	assert.equal(manifest.display, "standalone");
	for (const size of [192, 512]) {
		const icon = manifest.icons.find(i => i.sizes === `${size}x${size}`)!;
		const res = await fetch(new URL(icon.src, system.url));
		assert.equal(res.headers.get("content-type"), "image/png");
		const png = Buffer.from(await res.arrayBuffer());
		assert.equal(png.readUInt32BE(16), size, "the PNG's width");
		assert.equal(png.readUInt32BE(20), size, "the PNG's height");
	}
	const sw = await fetch(new URL("/sw.js", system.url));
	assert.equal(sw.status, 200);
	assert.match(await sw.text(), /showNotification/);
	const { installabilityErrors } = (await cdp.send("Page.getInstallabilityErrors")) as { installabilityErrors: { errorId: string }[] };
	// A test browser's context is incognito, where nothing installs; nothing else may stand in the way.
	assert.deepEqual(
		installabilityErrors.map(e => e.errorId).filter(id => id !== "in-incognito"),
		[],
	);
});

test("Bob gives his phone number in his profile; a wrong one is refused in plain words", async () => {
	await laptop.locator(".profile-btn").click();
	const dialog = laptop.getByRole("dialog", { name: "Your profile" });
	await dialog.getByLabel("Phone (optional)").fill("333 12");
	await dialog.getByRole("button", { name: "Save" }).click();
	await dialog.locator(".form-error", { hasText: "international form" }).waitFor();
	await shot(laptop, "laptop-profile-phone-refused");
	await dialog.getByLabel("Phone (optional)").fill("+39 06 1234 5678");
	await dialog.getByRole("button", { name: "Save" }).click();
	await dialog.waitFor({ state: "detached" });
	const members = (await ada.get(`/api/groups/${groupId}`)).body.members as { id: string; phone?: string }[];
	assert.equal(members.find(m => m.id === bob.user!.id)?.phone, "+390612345678", "Ada sees Bob's number");
});

test("logging out leaves no private alert on screen", async () => {
	const eta = new Date(Date.now() + 60 * 60_000).toISOString();
	assert.equal((await ada.post(`/api/groups/${groupId}/journey`, { destination: HOME, eta, mode: "walking" })).status, 201);
	await laptop.locator("#toasts .toast", { hasText: "started a journey" }).waitFor();
	await laptop.getByRole("button", { name: "Log out" }).click();
	await laptop.locator("#panel-login").waitFor();
	await shot(laptop, "laptop-logged-out");
	assert.equal(await laptop.locator("#toasts .toast").count(), 0, "no alert left after logout");
	assert.deepEqual(browser.errors, []);
	assert.deepEqual(browser.blocked, []);
});
