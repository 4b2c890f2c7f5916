import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { Page } from "playwright-core";
import type { Group } from "../../events/types.js";
import { screenshot, screenshotsFolder, startBrowserTest, stopBrowserTest, type TestBrowser } from "../support/browser.js";
import { ApiClient } from "../support/client.js";
import type { System } from "../support/system.js";
import { waitFor } from "../support/wait.js";

// The share link page, /s/<token> (API.md §6.5, issue 16), as a visitor without an account sees it.
// Ada shares in her group and walks home; she makes a link; a fresh browser (desktop and a 390×844
// phone) opens it and sees her name, the ETA countdown, the distance left and her marker, then
// follows her live, sees her arrive, and sees the link end when she deletes it. A link that ends
// with the journey, and an unknown token, show the ended page too. Screenshots go to
// test-output/share-web/.

const SHOTS = screenshotsFolder("share-web");
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true };
/** The destination's name is Ada's own text: it must show as text. */
const HOME = { name: `Home <img src="x" id="injected-home">`, latitude: 45.4642, longitude: 9.19 };
const away = (i: number) => ({ latitude: 45.4742 - i * 0.002, longitude: 9.19 + i * 0.001, accuracy: 40 });
const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();

let system: System;
let browser: TestBrowser;
let ada: ApiClient;
let family: Group;
let link: { id: string; token: string; url: string; expiresAt: string };
const visitors: { label: string; page: Page; apiPaths: string[] }[] = [];

const shot = (page: Page, name: string) => screenshot(page, name, SHOTS);

/** Metres between two points (the page's own formula is its business; this checks the figure). */
function metres(a: { latitude: number; longitude: number }, b: { latitude: number; longitude: number }): number {
	const rad = (d: number) => (d * Math.PI) / 180;
	const h =
		Math.sin(rad(b.latitude - a.latitude) / 2) ** 2 + Math.cos(rad(a.latitude)) * Math.cos(rad(b.latitude)) * Math.sin(rad(b.longitude - a.longitude) / 2) ** 2;
	return 2 * 6_371_000 * Math.asin(Math.sqrt(h));
}
/** As the page writes it: metres to the 10 under a kilometre, else kilometres to one decimal. */
const distance = (m: number) => (m < 1000 ? `${Math.round(m / 10) * 10} m` : `${(m / 1000).toFixed(1)} km`);

/** A fresh browser context, no login: opens the link and records every API call the page makes. */
async function visit(label: string, path: string, opts = {}) {
	const { page } = await browser.newPage(label, opts);
	const apiPaths: string[] = [];
	page.on("request", req => {
		const url = new URL(req.url());
		if (url.pathname.startsWith("/api/")) apiPaths.push(`${req.method()} ${url.pathname}`);
	});
	await page.goto(path);
	return { label, page, apiPaths };
}

before(async () => {
	({ system, browser } = await startBrowserTest(SHOTS, {
		services: ["users", "location", "chat", "notification", "gateway"],
		env: { OFFLINE_AFTER: "3600", STUCK_AFTER: "3600" },
	}));
	ada = new ApiClient(system.url);
	await ada.signUp("Ada", "Lovelace");
	family = await ada.createGroup("family");
	assert.equal((await ada.post(`/api/groups/${family.id}/sharing`)).status, 200);
	assert.equal((await ada.post("/api/location/samples", away(0))).status, 202);
	const started = await ada.post(`/api/groups/${family.id}/journey`, { destination: HOME, eta: inAnHour(), mode: "walking" });
	assert.equal(started.status, 201, JSON.stringify(started.body));
});

after(() => stopBrowserTest(browser, system));

test("a visitor without an account opens Ada's link: her name, the ETA countdown, the distance left, her marker", async () => {
	const res = await ada.post("/api/share-links", { groupId: family.id, duration: 7200 });
	assert.equal(res.status, 201, JSON.stringify(res.body));
	link = res.body;
	const path = new URL(link.url).pathname;
	assert.equal(path, `/s/${link.token}`);

	for (const [label, opts] of [
		["desktop", {}],
		["phone", PHONE],
	] as const) {
		const visitor = await visit(label, path, opts);
		visitors.push(visitor);
		const { page } = visitor;
		await page.locator("#shared-name", { hasText: "Ada L." }).waitFor();
		assert.equal(await page.title(), "Ada L. — PositionPal");
		await page.locator(".shared-connection", { hasText: "Live" }).waitFor();
		assert.equal(await page.locator(".badge[data-state]").textContent(), "On a journey");
		assert.equal(await page.locator(".shared-to .shared-destination").textContent(), HOME.name, "the destination's name, as text");
		assert.equal(await page.locator(".shared-distance").textContent(), distance(metres(away(0), HOME)));
		// The ETA in the viewer's local time (the browser runs in UTC), and a countdown that moves.
		const eta = (await ada.get(`/api/groups/${family.id}/sessions/${ada.user!.id}`)).body.journey.eta as string;
		assert.equal(await page.locator(".shared-eta").getAttribute("datetime"), eta);
		assert.equal(await page.locator(".shared-eta").textContent(), new Date(eta).toISOString().slice(11, 16));
		const countdown = page.locator(".shared-countdown");
		const first = await countdown.textContent();
		assert.match(first ?? "", /^in (59|60):\d\d$|^in 1 h 00 min$/);
		await waitFor(async () => (await countdown.textContent()) !== first, { what: `${label}: the countdown to move` });
		// Her marker where she is, with the accuracy circle, and the destination's flag.
		const pin = page.locator('.pin[data-state="ROUTING"]');
		await pin.waitFor();
		assert.equal(await pin.getAttribute("data-lat"), String(away(0).latitude));
		assert.equal(await pin.textContent(), "AL");
		await page.locator(".accuracy-circle").waitFor();
		await page.locator(".destination-marker").waitFor();
		await shot(page, `journey-${label}`);
	}
});

test("the page reads nothing but the link and stores nothing", async () => {
	for (const { label, page, apiPaths } of visitors) {
		assert.deepEqual([...new Set(apiPaths)], [`GET /api/shared/${link.token}`], `${label}: the only API call`);
		assert.equal(await page.evaluate("localStorage.length + sessionStorage.length"), 0, `${label}: nothing stored`);
		assert.deepEqual(
			await page.evaluate<string[]>(`[...document.querySelectorAll('[id^="injected"], img[src="x"]')].map(e => e.outerHTML)`),
			[],
			`${label}: the destination's name did not become HTML`,
		);
	}
});

test("Ada moves: both pages follow her live (marker, distance, route)", async () => {
	assert.equal((await ada.post("/api/location/samples", away(2))).status, 202);
	for (const { label, page } of visitors) {
		await page.locator(`.pin[data-lat="${away(2).latitude}"]`).waitFor();
		await page.locator(".shared-distance", { hasText: distance(metres(away(2), HOME)) }).waitFor();
		// From where she was when the journey began to where she is now.
		const route = page.locator(".route");
		await route.waitFor({ state: "attached" });
		assert.match((await route.getAttribute("d")) ?? "", /^M-?\d+ -?\d+L-?\d+ -?\d+$/, "a line of two points");
		await shot(page, `moved-${label}`);
	}
	assert.equal(
		visitors.every(v => v.apiPaths.length === 1),
		true,
		"the update came over the socket, not by reading again",
	);
});

test("Ada arrives: the page says so, still live", async () => {
	assert.equal((await ada.post("/api/location/samples", { latitude: HOME.latitude, longitude: HOME.longitude, accuracy: 10 })).status, 202);
	for (const { label, page } of visitors) {
		const arrived = page.locator(".shared-arrived");
		await arrived.waitFor();
		assert.match((await arrived.textContent()) ?? "", /^Arrived at Home <img src="x" id="injected-home"> · \d\d:\d\d$/);
		await page.locator(".badge[data-state]", { hasText: "Sharing" }).waitFor();
		assert.equal(await page.locator(".shared-countdown").count(), 0, "no countdown without a journey");
		await page.locator(".route").waitFor({ state: "detached" });
		await shot(page, `arrived-${label}`);
	}
});

test("Ada deletes the link: the pages show that it has ended", async () => {
	assert.equal((await ada.delete(`/api/share-links/${link.id}`)).status, 204);
	for (const { label, page } of visitors) {
		await page.getByRole("heading", { name: "This link has ended" }).waitFor();
		assert.equal(await page.title(), "PositionPal — link ended");
		assert.equal(await page.locator(".pin").count(), 0, "no position left on the page");
		await shot(page, `ended-${label}`);
	}
});

test("a link that ends with the journey: Ada stops it; offline the page reconnects, then shows the link ended", async () => {
	assert.equal((await ada.post("/api/location/samples", away(0))).status, 202);
	assert.equal((await ada.post(`/api/groups/${family.id}/journey`, { destination: HOME, eta: inAnHour(), mode: "cycling" })).status, 201);
	const res = await ada.post("/api/share-links", { groupId: family.id, untilArrival: true });
	assert.equal(res.status, 201, JSON.stringify(res.body));
	const { page } = await visit("until-arrival-phone", new URL(res.body.url).pathname, PHONE);
	await page.locator(".shared-connection", { hasText: "Live" }).waitFor();
	await page.locator(".shared-to", { hasText: "(cycling)" }).waitFor();
	// The socket is closed by the server; the page asks whether the link ended, and the network is down.
	let failed = 0;
	await page.route("**/api/shared/**", route => (failed++, route.abort("internetdisconnected")));
	assert.equal((await ada.delete(`/api/groups/${family.id}/journey`)).status, 200);
	await page.locator(".shared-connection", { hasText: "Reconnecting…" }).waitFor();
	// The first failure was handled as the network's: the page tried again.
	await waitFor(() => failed >= 2, { what: "a second try after a network failure" });
	assert.equal(await page.getByRole("heading", { name: "This link has ended" }).count(), 0, "a network failure is not the end of the link");
	await shot(page, "reconnecting-phone");
	// The network is back: the page asks again, and the link has ended.
	await page.unroute("**/api/shared/**");
	await page.getByRole("heading", { name: "This link has ended" }).waitFor();
});

test("an 'until I arrive' link: Ada arrives, and the page says she arrived, not just that the link ended", async () => {
	assert.equal((await ada.post(`/api/groups/${family.id}/journey`, { destination: HOME, eta: inAnHour(), mode: "walking" })).status, 201);
	const res = await ada.post("/api/share-links", { groupId: family.id, untilArrival: true });
	assert.equal(res.status, 201, JSON.stringify(res.body));
	const { page } = await visit("until-arrival-arrived-phone", new URL(res.body.url).pathname, PHONE);
	await page.locator(".shared-connection", { hasText: "Live" }).waitFor();
	assert.equal((await ada.post("/api/location/samples", { latitude: HOME.latitude, longitude: HOME.longitude, accuracy: 10 })).status, 202);
	await page.getByRole("heading", { name: "Arrived" }).waitFor();
	assert.match((await page.locator(".shared-end p").first().textContent()) ?? "", /^Ada L\. arrived at Home <img src="x" id="injected-home"> at \d\d:\d\d\.$/);
	assert.equal(await page.title(), "Ada L. arrived — PositionPal");
	assert.equal(await page.locator(".pin").count(), 0, "no position left on the page");
	assert.equal((await ada.get(`/api/shared/${res.body.token}`)).status, 404, "the link has ended");
	await shot(page, "until-arrival-arrived-phone");
});

test("an unknown token shows the ended page, on a phone and on a desktop", async () => {
	for (const [label, opts] of [
		["phone", PHONE],
		["desktop", {}],
	] as const) {
		const { page, apiPaths } = await visit(`unknown-${label}`, `/s/${randomBytes(32).toString("base64url")}`, opts);
		await page.getByRole("heading", { name: "This link has ended" }).waitFor();
		assert.equal(apiPaths.length, 1);
		await shot(page, `unknown-${label}`);
	}
});

test("nothing was fetched from outside, and the pages logged no errors", () => {
	assert.deepEqual(browser.blocked, []);
	assert.deepEqual(browser.errors, []);
});
