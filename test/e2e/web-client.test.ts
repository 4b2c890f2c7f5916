import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import type { Page } from "playwright-core";
import webpush from "web-push";
import { clientConfig, contentSecurityPolicy } from "../../services/gateway/static-files.js";
import { ensureWebBuild, launchBrowser, screenshot, SCREENSHOTS, type TestBrowser } from "../support/browser.js";
import { ApiClient } from "../support/client.js";
import { startSystem, type System } from "../support/system.js";
import { waitFor } from "../support/wait.js";

// The reference web client (web/) in a real browser, as two people would use it: Ada on a
// desktop, Bob on a phone-sized screen, two browser contexts against the whole system. Ada walks
// a simulated path and starts a journey by clicking the map; Bob sees her marker move, her state
// change and the notification; they chat; an API error shows the server's message; Ada's page
// survives a network loss. Each step saves a screenshot under test-output/web-client/.
// The steps build on each other.

let system: System;
let browser: TestBrowser;
let ada: Page;
let bob: Page;
const suffix = randomBytes(3).toString("hex");
const adaAccount = { name: "Ada", surname: "Lovelace", email: `ada.${suffix}@example.com`, password: "correct horse battery" };
const bobAccount = { name: "Bob", surname: "Noyce", email: `bob.${suffix}@example.com`, password: "staple battery horse" };
let adaId = "";
let bobId = "";

const adaMarker = (page: Page) => page.locator(`.pin[data-user-id="${adaId}"]`);
const markerPosition = async (page: Page) => {
	const pin = adaMarker(page);
	return { lat: Number(await pin.getAttribute("data-lat")), lng: Number(await pin.getAttribute("data-lng")), state: await pin.getAttribute("data-state") };
};
const userIdOf = async (page: Page) => String(await page.evaluate("JSON.parse(localStorage.getItem('positionpal.session')).user.id"));

before(async () => {
	ensureWebBuild();
	rmSync(SCREENSHOTS, { recursive: true, force: true });
	// Time-based checks every second, so journeys are watched promptly. VAPID keys switch Web Push
	// on, so the inbox offers it (the test never subscribes: that would reach a real push service).
	const vapid = webpush.generateVAPIDKeys();
	system = await startSystem({
		services: ["users", "location", "chat", "notification", "gateway"],
		// WEB_DEMO: Ada's page offers the simulated walk this file walks with.
		env: {
			TRACKING_CHECK_EVERY: "1",
			WEB_DEMO: "true",
			VAPID_PUBLIC_KEY: vapid.publicKey,
			VAPID_PRIVATE_KEY: vapid.privateKey,
			VAPID_SUBJECT: "mailto:ops@example.com",
		},
	});
	const page = await fetch(`${system.url}/`);
	if (page.status !== 200 || !/text\/html/.test(page.headers.get("content-type") ?? ""))
		throw new Error(
			`GET / answered ${page.status}: the gateway does not serve the web client (wire webClientMiddleware from services/gateway/static-files.ts into its "/" route)`,
		);
	browser = await launchBrowser(system.url);
	ada = (await browser.newPage("ada")).page;
	bob = (await browser.newPage("bob", { viewport: { width: 390, height: 800 }, isMobile: true })).page;
});

after(async () => {
	await browser?.close();
	await system?.stopAll();
});

async function register(page: Page, account: typeof adaAccount) {
	await page.goto("/");
	await page.getByRole("tab", { name: "Create account" }).click();
	const form = page.locator("#panel-register");
	await form.getByLabel("First name").fill(account.name);
	await form.getByLabel("Last name").fill(account.surname);
	await form.getByLabel("Email").fill(account.email);
	await form.getByLabel("Password").fill(account.password);
	await form.getByRole("button", { name: "Create account" }).click();
	await page.getByRole("button", { name: "Log out" }).waitFor();
}

test("the gateway serves the client: hashed assets cached for a year, the page revalidated, a CSP", async () => {
	const page = await fetch(`${system.url}/`);
	assert.equal(page.status, 200);
	assert.equal(page.headers.get("cache-control"), "no-cache");
	assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'self'/);
	const html = await page.text();
	const script = /src="(\/assets\/app-[\w-]+\.js)"/.exec(html)?.[1];
	assert.ok(script, "index.html names the hashed bundle");
	const asset = await fetch(`${system.url}${script}`, { headers: { "accept-encoding": "gzip" } });
	assert.equal(asset.status, 200);
	assert.equal(asset.headers.get("cache-control"), "public, max-age=31536000, immutable");
	assert.match(asset.headers.get("content-type") ?? "", /javascript/);
	const notModified = await fetch(`${system.url}/`, { headers: { "if-none-match": page.headers.get("etag")! } });
	assert.equal(notModified.status, 304);
	const config = (await (await fetch(`${system.url}/config.json`)).json()) as { tileUrl: string | null };
	assert.equal(config.tileUrl, null, "no tile server in the tests (MAP_TILE_URL=none)");
	const worker = await fetch(`${system.url}/sw.js`, { method: "HEAD" });
	assert.equal(worker.status, 200);
	assert.equal(worker.headers.get("cache-control"), "no-cache");
	// The API is untouched: unknown API paths are still the API's JSON 404; nothing outside web/dist is served.
	const unknown = await fetch(`${system.url}/api/nope`);
	assert.equal(unknown.status, 404);
	assert.equal(((await unknown.json()) as { type: string }).type, "NOT_FOUND");
	for (const path of ["/assets/..%2F..%2Fpackage.json", "/assets/%2e%2e/build.json", "/package.json", "/web/dist/index.html"]) {
		assert.equal((await fetch(`${system.url}${path}`)).status, 404, path);
	}
});

test("the page's CSP admits the configured tile server and nothing else", () => {
	const withTiles = clientConfig({ MAP_TILE_URL: "https://{s}.tile.example.org/{z}/{x}/{y}.png", MAP_CENTER: "51.5,-0.12" });
	assert.deepEqual(withTiles.center, [51.5, -0.12]);
	assert.match(contentSecurityPolicy(withTiles), /img-src 'self' data: blob: https:\/\/\*\.tile\.example\.org;/);
	assert.match(contentSecurityPolicy(clientConfig({ MAP_TILE_URL: "none" })), /img-src 'self' data: blob:;/);
	// The geocoder's origin may be called only when GEOCODER_URL is set (unset: no outside calls at all).
	assert.match(contentSecurityPolicy(clientConfig({})), /connect-src 'self';/);
	assert.match(
		contentSecurityPolicy(clientConfig({ GEOCODER_URL: "https://Nominatim.example.org/nominatim" })),
		/connect-src 'self' https:\/\/nominatim\.example\.org;/,
	);
	// Unset: OpenStreetMap's standard tiles, and exactly that host.
	assert.equal(clientConfig({}).tileUrl, "https://tile.openstreetmap.org/{z}/{x}/{y}.png");
	assert.match(clientConfig({}).tileAttribution ?? "", /OpenStreetMap/);
	assert.match(contentSecurityPolicy(clientConfig({})), /img-src 'self' data: blob: https:\/\/tile\.openstreetmap\.org;/);
	// A refused value never reaches the page: the default stands (the process would not start with it anyway).
	assert.equal(clientConfig({ MAP_TILE_URL: "javascript:alert(1)" }).tileUrl, "https://tile.openstreetmap.org/{z}/{x}/{y}.png");
});

test("both register in the browser; a failed login shows the server's own message", async () => {
	await register(ada, adaAccount);
	adaId = await userIdOf(ada);
	await screenshot(ada, "ada-registered");

	// Bob first mistypes his password on an account that does not exist yet.
	await bob.goto("/");
	await bob.locator("#panel-login").getByLabel("Email").fill(bobAccount.email);
	await bob.locator("#panel-login").getByLabel("Password").fill("wrong password");
	await bob.locator("#panel-login").getByRole("button", { name: "Log in" }).click();
	const expected = await new ApiClient(system.url).post("/api/auth/login", { email: bobAccount.email, password: "wrong password" });
	assert.equal(expected.status, 401);
	const alert = bob.locator("#panel-login .form-error");
	await alert.waitFor();
	assert.equal(await alert.textContent(), expected.body.message);
	await screenshot(bob, "bob-login-error");

	await register(bob, bobAccount);
	bobId = await userIdOf(bob);
	assert.notEqual(adaId, bobId);
});

test("Ada creates a group with Bob's email; Bob accepts the invitation on his phone", async () => {
	const form = ada.locator("form.new-group");
	await form.getByLabel("Name").fill("Family");
	await form.getByLabel("Invite (optional)").fill(bobAccount.email);
	await form.getByRole("button", { name: "Create group" }).click();
	await ada.locator("#group-title", { hasText: "Family" }).waitFor();

	// Nobody joins without accepting (API.md §6.1): the invitation reaches Bob's phone live.
	await bob.locator(".toast", { hasText: "Ada Lovelace invited you to “Family”" }).getByRole("button", { name: "Show" }).click();
	await bob.getByRole("button", { name: "Accept the invitation to Family" }).click();
	await bob.locator("#group-title", { hasText: "Family" }).waitFor();
	await ada.locator(`.member[data-user-id="${bobId}"]`).waitFor();
	await screenshot(ada, "ada-group-created");
	await screenshot(bob, "bob-sees-group");
});

test("inviting: an unknown email gets the same answer as anyone's; a member again is refused in plain words", async () => {
	await ada.getByRole("button", { name: "Invite people" }).click();
	const dialog = ada.getByRole("dialog", { name: /Invite people/ });
	const email = `nobody.${suffix}@example.com`;
	await dialog.getByRole("textbox", { name: "Invite by email" }).fill(email);
	await dialog.getByRole("button", { name: "Invite", exact: true }).click();
	await dialog
		.getByRole("status")
		.filter({ hasText: `Invitation sent to ${email}.` })
		.waitFor();
	await dialog.getByRole("textbox", { name: "Invite by email" }).fill(bobAccount.email);
	await dialog.getByRole("button", { name: "Invite", exact: true }).click();
	await dialog.locator(".form-error", { hasText: `${bobAccount.email} is already in this group or already has a pending invitation.` }).waitFor();
	await screenshot(ada, "ada-invite-errors");
	await dialog.getByRole("button", { name: "Close" }).click();
});

test("Ada shares a simulated walk: Bob sees her marker appear and move", async () => {
	await ada.getByLabel("Source").selectOption("simulate");
	await ada.getByLabel("Speed").selectOption("10");
	await ada.getByRole("button", { name: "Share my location" }).click();
	await ada.getByRole("button", { name: "Stop sharing" }).waitFor();

	await adaMarker(bob).waitFor();
	const first = await markerPosition(bob);
	assert.equal(first.state, "ACTIVE");
	await waitFor(
		async () => {
			const now = await markerPosition(bob);
			return now.lat !== first.lat || now.lng !== first.lng;
		},
		{ timeoutMs: 15_000, what: "Ada's marker to move on Bob's map" },
	);
	await screenshot(bob, "bob-sees-ada-walking");
});

test("Ada starts a journey by clicking the map; Bob sees ROUTING, the route, the moving marker, the toast and the arrival", async () => {
	// A destination ~150 px east of Ada's marker (about half a kilometre at this zoom).
	const box = (await adaMarker(ada).boundingBox())!;
	const mapBox = (await ada.locator("#map").boundingBox())!;
	const x = Math.min(box.x + box.width / 2 + 150, mapBox.x + mapBox.width - 40);
	const y = Math.max(box.y + box.height / 2 - 40, mapBox.y + 60);
	await ada.mouse.click(x, y);
	await ada.getByRole("button", { name: "Journey to here…" }).click();
	const dialog = ada.getByRole("dialog", { name: "Start a journey" });
	await dialog.getByLabel("Destination name").fill("Home");
	await dialog.getByLabel("Arrive within (minutes)").fill("20");
	await dialog.getByLabel("Cycling").check();
	await screenshot(ada, "ada-plans-journey");
	await dialog.getByRole("button", { name: "Start journey" }).click();
	await ada.getByRole("button", { name: "Stop journey" }).waitFor();

	// Bob: the state, the notification toast, the route, and the marker moving along.
	await bob.locator(`.pin[data-user-id="${adaId}"][data-state="ROUTING"]`).waitFor({ timeout: 10_000 });
	const routingAt = await markerPosition(bob);
	await bob.locator(".toast", { hasText: "Ada Lovelace started a journey" }).waitFor({ timeout: 10_000 });
	await bob.locator(`path.route-${adaId}`).waitFor({ timeout: 10_000 });
	await waitFor(
		async () => {
			const now = await markerPosition(bob);
			return now.state === "ROUTING" && (now.lat !== routingAt.lat || now.lng !== routingAt.lng);
		},
		{ timeoutMs: 10_000, what: "Ada's marker to move during the journey" },
	);
	await screenshot(bob, "bob-sees-journey");
	await screenshot(ada, "ada-on-journey");

	// The simulated ride reaches the destination: ARRIVED, and Ada is ACTIVE again.
	await bob.locator(".toast", { hasText: /arrived/i }).waitFor({ timeout: 30_000 });
	await bob.locator(`.pin[data-user-id="${adaId}"][data-state="ACTIVE"]`).waitFor();
	assert.equal(await bob.locator(`path.route-${adaId}`).count(), 0, "the route is gone after the journey");
	await screenshot(bob, "bob-sees-arrival");
});

test("chat: Ada's message appears on Bob's phone, Bob's reply on Ada's screen, with presence", async () => {
	await ada.getByRole("textbox", { name: "Message" }).fill("On my way home!");
	await ada.getByRole("textbox", { name: "Message" }).press("Enter");
	await ada.locator(".message:not(.pending)", { hasText: "On my way home!" }).waitFor();

	await bob
		.locator(".tabbar")
		.getByRole("button", { name: /^Chat\b/ })
		.click();
	await bob.locator(".message", { hasText: "On my way home!" }).waitFor();
	await bob.getByRole("textbox", { name: "Message" }).fill("Great, see you soon");
	await bob.getByRole("button", { name: "Send" }).click();
	await ada.locator(".message", { hasText: "Great, see you soon" }).waitFor();
	assert.match((await ada.locator(".message", { hasText: "Great, see you soon" }).locator(".author").textContent()) ?? "", /Bob Noyce/);
	await ada.locator(`.member[data-user-id="${bobId}"] .presence-dot.online`).waitFor();
	await screenshot(bob, "bob-chat");
	await screenshot(ada, "ada-chat");
});

test("Bob's inbox lists the notifications with an unread count, and marks them read", async () => {
	await bob.getByRole("button", { name: /Notifications, \d+ unread/ }).click();
	const dialog = bob.getByRole("dialog", { name: "Notifications" });
	await dialog.locator(".inbox-item", { hasText: "started a journey" }).waitFor();
	await dialog.locator(".inbox-item", { hasText: /arrived/i }).waitFor();
	// The server has VAPID keys: Web Push is offered (not clicked: subscribing would reach a real push service).
	await dialog.getByRole("button", { name: "Turn on push notifications" }).waitFor();
	await screenshot(bob, "bob-inbox");
	await dialog.getByRole("button", { name: "Mark all as read" }).click();
	await dialog.locator(".inbox-item.unread").first().waitFor({ state: "detached" });
	await dialog.getByRole("button", { name: "Close" }).click();
	await bob.getByRole("button", { name: "Notifications", exact: true }).waitFor();
});

test("SOS: Ada confirms, Bob is alerted at once; Ada stops it", async () => {
	await ada.getByRole("button", { name: "Send an SOS to all your groups" }).click();
	const confirm = ada.getByRole("dialog", { name: "Send an SOS?" });
	await confirm.getByRole("button", { name: "Send SOS" }).click();
	await ada.getByRole("button", { name: "Stop the SOS" }).waitFor();

	await bob
		.locator(".tabbar")
		.getByRole("button", { name: /^Map\b/ })
		.click();
	await bob.locator(`.pin[data-user-id="${adaId}"][data-state="SOS"]`).waitFor({ timeout: 10_000 });
	// Someone else's SOS is a banner of its own, not a toast (issue 17 point 7).
	await bob.locator(".sos-banner", { hasText: /SOS/ }).waitFor({ timeout: 10_000 });
	await screenshot(bob, "bob-sees-sos");
	await screenshot(ada, "ada-in-sos");

	await ada.getByRole("button", { name: "Stop the SOS" }).click();
	await ada.getByRole("dialog", { name: "Stop the SOS?" }).getByRole("button", { name: "Stop SOS" }).click();
	await bob.locator(`.pin[data-user-id="${adaId}"][data-state="ACTIVE"]`).waitFor({ timeout: 10_000 });
});

test("after a network loss Ada's page reconnects by itself and catches up, without a reload", async () => {
	await ada.evaluate("window.__sameDocument = true");
	await ada.context().setOffline(true);
	// Offline emulation cuts new requests; the open socket notices when its transport fails or
	// the next ping is missed. The banner says so.
	await ada.locator(".banner").waitFor({ timeout: 60_000 });
	await screenshot(ada, "ada-offline");

	// Bob writes while Ada is away.
	await bob
		.locator(".tabbar")
		.getByRole("button", { name: /^Chat\b/ })
		.click();
	await bob.getByRole("textbox", { name: "Message" }).fill("Did you make it?");
	await bob.getByRole("button", { name: "Send" }).click();
	await bob.locator(".message:not(.pending)", { hasText: "Did you make it?" }).waitFor();

	await ada.context().setOffline(false);
	await ada.locator(".conn-online").waitFor({ timeout: 30_000 });
	await ada.locator(".message", { hasText: "Did you make it?" }).waitFor({ timeout: 10_000 });
	assert.equal(await ada.evaluate("window.__sameDocument === true"), true, "the page was not reloaded");
	await ada.getByRole("textbox", { name: "Message" }).fill("Yes, home safe");
	await ada.getByRole("textbox", { name: "Message" }).press("Enter");
	await bob.locator(".message", { hasText: "Yes, home safe" }).waitFor();
	await screenshot(ada, "ada-reconnected");
});

test("chat history pages backwards; a reload keeps Bob signed in", async () => {
	const api = new ApiClient(system.url);
	await api.logIn(adaAccount.email, adaAccount.password);
	const groupId = new URL(ada.url()).hash.replace("#group=", "");
	for (let i = 1; i <= 35; i++) {
		const res = await api.post(`/api/groups/${groupId}/messages`, { text: `History ${i}` });
		assert.equal(res.status, 201);
	}
	await bob.reload();
	await bob
		.locator(".tabbar")
		.getByRole("button", { name: /^Chat\b/ })
		.click();
	await bob.locator(".message", { hasText: "History 35" }).waitFor();
	assert.equal(await bob.locator(".message", { hasText: /^History 1$/ }).count(), 0, "only the latest page at first");
	await bob.getByRole("button", { name: "Load earlier messages" }).click();
	await bob.locator(".message .text", { hasText: /^History 1$/ }).waitFor();
	await screenshot(bob, "bob-chat-history");
});

test("group management: Bob changes his name and password and stays signed in; Ada renames the group and removes Bob, whose page says so", async () => {
	await bob
		.locator(".tabbar")
		.getByRole("button", { name: /^Map\b/ })
		.click();
	await bob.getByRole("button", { name: "Bob Noyce" }).click();
	const profile = bob.getByRole("dialog", { name: "Your profile" });
	await profile.getByLabel("First name").fill("Robert");
	// A wrong current password is refused with the server's message, and does not sign Bob out.
	await profile.getByLabel("New password").fill("a brand new secret");
	await profile.getByLabel("Current password").fill("not my password");
	await profile.getByRole("button", { name: "Save" }).click();
	await profile.locator(".form-error", { hasText: "Wrong email or password" }).waitFor();
	await profile.getByLabel("Current password").fill(bobAccount.password);
	await profile.getByRole("button", { name: "Save" }).click();
	await bob.getByRole("button", { name: "Robert Noyce" }).waitFor();
	await bob.locator(`.member[data-user-id="${bobId}"] .member-name`, { hasText: "Robert Noyce (you)" }).waitFor({ state: "attached" });

	// The new password revoked the old token; the page logged in again and its new socket is live.
	await ada.getByRole("button", { name: "Manage group" }).click();
	const manage = ada.getByRole("dialog", { name: /Manage/ });
	await manage.getByLabel("Group name").fill("Family & friends");
	await manage.getByRole("button", { name: "Rename" }).click();
	await ada.locator("#group-title", { hasText: "Family & friends" }).waitFor();
	await bob.locator("#group-title", { hasText: "Family & friends" }).waitFor();
	await bob.locator(".conn-online").waitFor({ state: "attached" });

	await manage.getByRole("button", { name: /^Remove .* from the group$/ }).click();
	await ada.getByRole("dialog", { name: "Remove member" }).getByRole("button", { name: "Remove" }).click();
	await manage.locator(".manage-members li").nth(1).waitFor({ state: "detached" });
	await screenshot(ada, "ada-manages-group");
	await manage.getByRole("button", { name: "Close" }).click();

	await bob.locator(".toast", { hasText: "You are no longer in “Family & friends”" }).waitFor();
	await bob.getByRole("heading", { name: "Welcome to PositionPal" }).waitFor();
	await screenshot(bob, "bob-removed");
});

test("nothing was fetched from outside, and the pages logged no errors", () => {
	assert.deepEqual(browser.blocked, []);
	assert.deepEqual(browser.errors, []);
});
