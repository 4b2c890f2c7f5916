import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import jsQRModule from "jsqr";
import { PNG } from "pngjs";
import type { BrowserContext, Locator, Page } from "playwright-core";
import { logIn, profileButton, screenshot, screenshotsFolder, startBrowserTest, stopBrowserTest, type TestBrowser } from "../support/browser.js";
import { ApiClient } from "../support/client.js";
import { nowSeconds, sendOsmAnd, type OsmAndCredentials, type OwnTracksCredentials } from "../support/phones.js";
import type { System } from "../support/system.js";

// Onboarding a phone in the web client (issue 15, API.md §6.2), as a person would. Ada (desktop)
// adds an OwnTracks phone: the QR code on the screen, read back from its pixels, is exactly the
// configUrl the API answered, the link beside it too, and neither is ever shown again. She adds a
// Traccar/OsmAnd phone and sees its server URL and id; a real OsmAnd report with that id turns
// "Never seen" into "Last seen just now". On a phone-sized screen she adds another OwnTracks phone
// from her profile and removes one; a removed phone's next report is refused.
// The steps build on each other. Screenshots go to test-output/devices-web/.

const SHOTS = screenshotsFolder("devices-web");
// jsqr is CommonJS whose types declare `export default`: under NodeNext the default import is the
// module, and its `default` the decoder (at run time both are the function).
const jsQR = jsQRModule.default;
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true };

let system: System;
let browser: TestBrowser;
let adaApi: ApiClient;
let desk: Page;
let deskContext: BrowserContext;
let phone: Page;
let ownTracks: { id: string; credentials: OwnTracksCredentials };
let osmAnd: { id: string; credentials: OsmAndCredentials };

const shot = (page: Page, name: string) => screenshot(page, name, SHOTS);

const phonesDialog = (page: Page) => page.getByRole("dialog", { name: "Your phones" });

async function openPhones(page: Page): Promise<Locator> {
	await page.getByRole("button", { name: "Your phones", exact: true }).click();
	const dialog = phonesDialog(page);
	await dialog.locator(".device-list").waitFor();
	return dialog;
}

/** Adds a phone through the form and returns what the API answered (the only place the credentials are). */
async function addPhone(page: Page, dialog: Locator, name: string, app: "OwnTracks" | "Traccar Client or OsmAnd") {
	const form = dialog.getByRole("form", { name: "Add a phone" });
	await form.getByLabel("Name").fill(name);
	await form.getByRole("radio", { name: new RegExp(`^${app}`) }).check();
	const [answer] = await Promise.all([
		page.waitForResponse(res => res.url().endsWith("/api/devices") && res.request().method() === "POST"),
		form.getByRole("button", { name: "Add phone" }).click(),
	]);
	assert.equal(answer.status(), 201);
	const device = await answer.json();
	await dialog.getByRole("heading", { name: `Set up “${name}”` }).waitFor();
	return device;
}

/** Reads the QR code on the screen from its pixels: a screenshot of the element, decoded by jsQR. */
async function readQrCode(dialog: Locator): Promise<string> {
	const frame = dialog.locator(".qr-frame");
	const png = PNG.sync.read(await frame.screenshot());
	const code = jsQR(new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.length), png.width, png.height);
	assert.ok(code, "the QR code on the screen decodes");
	return code.data;
}

/** Everything the page holds as text and values (inputs, links): the secrets must be in none of it. */
const pageText = (page: Page) =>
	page.evaluate<string>(
		`document.documentElement.outerHTML + [...document.querySelectorAll("input, textarea")].map(e => e.value).join(" ") + [...document.querySelectorAll("a")].map(a => a.href).join(" ")`,
	);

before(async () => {
	({ system, browser } = await startBrowserTest(SHOTS, { services: ["users", "location", "devices", "notification", "gateway"] }));
	adaApi = new ApiClient(system.url);
	await adaApi.signUp("Ada", "Lovelace");
	({ page: desk, context: deskContext } = await browser.newPage("ada-desktop"));
	phone = (await browser.newPage("ada-phone", PHONE)).page;
	// One after the other: two password checks at once can wait for a hashing slot on a busy machine.
	await logIn(desk, adaApi);
	await logIn(phone, adaApi);
});

after(() => stopBrowserTest(browser, system));

test("Ada adds an OwnTracks phone: the QR code on the screen is exactly the API's configUrl, and so is the link", async () => {
	const dialog = await openPhones(desk);
	await dialog.getByText("No phones yet.").waitFor();
	ownTracks = await addPhone(desk, dialog, "Ada's iPhone", "OwnTracks");
	assert.match(ownTracks.credentials.configUrl, /^owntracks:\/\/\/config\?inline=/);

	await dialog.getByText("This is shown only once.").waitFor();
	await shot(desk, "owntracks-setup-desktop");
	// The test's server is on 127.0.0.1, which no phone reaches: the page says so.
	await dialog.locator(".setup-warning", { hasText: `A phone cannot reach ${system.url}` }).waitFor();
	const qr = dialog.getByRole("img", { name: "QR code of the OwnTracks setup link" });
	await qr.scrollIntoViewIfNeeded();
	const box = (await qr.boundingBox())!;
	assert.ok(box.width >= 200 && box.height >= 200, `the QR code is big enough to scan (${box.width}×${box.height} CSS px)`);
	assert.equal(await readQrCode(dialog), ownTracks.credentials.configUrl);
	assert.equal(await dialog.getByRole("textbox", { name: "OwnTracks setup link" }).inputValue(), ownTracks.credentials.configUrl);
	assert.equal(await dialog.getByRole("link", { name: "Open in OwnTracks" }).getAttribute("href"), ownTracks.credentials.configUrl);
	await dialog.locator(".setup-steps li").first().waitFor();
	assert.deepEqual(
		(await dialog.locator(".setup-steps li").allTextContents()).map(s => s.trim()),
		[
			"Install OwnTracks on the phone (App Store or Google Play).",
			"Scan this QR code with the phone's camera, or open the link on the phone: OwnTracks opens and sets itself up.",
			"When the app asks, allow location access Always (Android: “Allow all the time”).",
		],
	);
	// The new phone is listed at once, as every read shows it.
	await dialog.locator(`li[data-device-id="${ownTracks.id}"]`, { hasText: "OwnTracks · Never seen" }).waitFor();
	await dialog.locator(".setup-status", { hasText: "Waiting for the first report from the phone…" }).waitFor();
	await dialog.getByRole("textbox", { name: "OwnTracks setup link" }).scrollIntoViewIfNeeded();
	await shot(desk, "owntracks-qr-desktop");
});

test("the setup is not shown again: after closing, the list shows the phone and no secret is on the page", async () => {
	await phonesDialog(desk).getByRole("button", { name: "Close" }).click();
	await phonesDialog(desk).waitFor({ state: "detached" });
	const dialog = await openPhones(desk);
	await dialog.locator(`li[data-device-id="${ownTracks.id}"]`, { hasText: "Ada's iPhone" }).waitFor();
	assert.equal(await dialog.locator(".device-setup").isVisible(), false);
	assert.equal(await dialog.locator(".qr-code").count(), 0);
	const text = await pageText(desk);
	for (const secret of [ownTracks.credentials.password, ownTracks.credentials.configUrl, ownTracks.credentials.configUrl.split("inline=")[1]!])
		assert.ok(!text.includes(secret), "no credential of the phone is anywhere on the page");
	await shot(desk, "phone-listed-desktop");
});

test("Ada adds a Traccar/OsmAnd phone: the server URL and id shown are the API's; a real OsmAnd report marks it seen", async () => {
	const dialog = phonesDialog(desk);
	osmAnd = await addPhone(desk, dialog, "Ada's Android", "Traccar Client or OsmAnd");
	const { url, id } = osmAnd.credentials;
	assert.equal(url, `${system.url}/api/osmand`);
	assert.equal(await dialog.getByRole("textbox", { name: "Server URL" }).inputValue(), url);
	assert.equal(await dialog.getByRole("textbox", { name: "Device id" }).inputValue(), id);
	assert.equal(
		await dialog.getByRole("textbox", { name: "OsmAnd web address" }).inputValue(),
		`${url}?id=${id}&lat={0}&lon={1}&timestamp={2}&hdop={3}&altitude={4}&bearing={6}`,
	);
	await dialog.getByText("This is shown only once.").waitFor();
	await deskContext.grantPermissions(["clipboard-read", "clipboard-write"], { origin: system.url });
	await dialog.getByRole("button", { name: "Copy the device id" }).click();
	await dialog.locator(".copy-status", { hasText: "Copied" }).waitFor();
	assert.equal(await desk.evaluate("navigator.clipboard.readText()"), id);
	await dialog.getByRole("heading", { name: "Traccar Client" }).waitFor();
	await dialog.getByRole("heading", { name: "OsmAnd" }).waitFor();
	assert.equal(await dialog.locator(".device-setup .setup-steps li").count(), 6, "three lines for each app");
	await dialog.locator(`li[data-device-id="${osmAnd.id}"]`, { hasText: "Traccar Client or OsmAnd · Never seen" }).waitFor();
	await shot(desk, "osmand-setup-desktop");

	// The phone reports, as OsmAnd's online tracking does (GET with the query string).
	const report = await sendOsmAnd(system.url, { query: `id=${encodeURIComponent(id)}&lat=51.5007&lon=-0.1246&timestamp=${nowSeconds()}&hdop=8&altitude=20` });
	assert.equal(report.status, 200, report.text);
	// The open dialog notices by itself (it re-reads the list while it waits for a first report).
	await dialog.locator(".setup-status", { hasText: "It works: the phone reported just now." }).waitFor({ timeout: 30_000 });
	await dialog.locator(`li[data-device-id="${osmAnd.id}"]`, { hasText: "Traccar Client or OsmAnd · Last seen just now" }).waitFor();
	await dialog.locator(".setup-status").scrollIntoViewIfNeeded();
	await shot(desk, "osmand-reported-desktop");

	// And after reopening, without the setup: the list only.
	await dialog.getByRole("button", { name: "Done" }).click();
	await dialog.locator(".device-setup").waitFor({ state: "hidden" });
	await dialog.getByRole("button", { name: "Close" }).click();
	await desk.reload();
	const again = await openPhones(desk);
	await again.locator(`li[data-device-id="${osmAnd.id}"]`, { hasText: "Last seen just now" }).waitFor();
	await again.locator(`li[data-device-id="${ownTracks.id}"]`, { hasText: "Never seen" }).waitFor();
	assert.ok(!(await pageText(desk)).includes(id), "the OsmAnd id is not on the page any more");
	await shot(desk, "phones-list-desktop");
	await again.getByRole("button", { name: "Close" }).click();
});

test("on a phone-sized screen: from the profile, Ada adds another OwnTracks phone, and its QR code reads too", async () => {
	await profileButton(phone, "Ada Lovelace").click();
	const profile = phone.getByRole("dialog", { name: "Your profile" });
	await profile.getByRole("button", { name: "Manage your phones" }).scrollIntoViewIfNeeded();
	await shot(phone, "profile-phones-phone");
	await profile.getByRole("button", { name: "Manage your phones" }).click();
	await profile.waitFor({ state: "detached" });
	const dialog = phonesDialog(phone);
	await dialog.locator(`li[data-device-id="${osmAnd.id}"]`).waitFor();
	await shot(phone, "phones-list-phone");
	const second = await addPhone(phone, dialog, "Ada's iPad", "OwnTracks");
	assert.notEqual(second.credentials.password, ownTracks.credentials.password);
	await shot(phone, "owntracks-setup-phone");
	const qr = dialog.getByRole("img", { name: "QR code of the OwnTracks setup link" });
	await qr.scrollIntoViewIfNeeded();
	const box = (await qr.boundingBox())!;
	assert.ok(box.width >= 200, `the QR code is big enough to scan on a phone (${box.width} CSS px)`);
	assert.ok(box.x >= 0 && box.x + box.width <= 390, "the QR code fits the screen");
	await shot(phone, "owntracks-qr-phone");
	assert.equal(await readQrCode(dialog), second.credentials.configUrl);
	await dialog.getByRole("textbox", { name: "OwnTracks setup link" }).scrollIntoViewIfNeeded();
	await shot(phone, "owntracks-link-phone");
	// Nothing in the dialog is wider than the screen.
	const overflow = await phone.evaluate<number>(
		`document.querySelector("dialog.modal-devices").scrollWidth - document.querySelector("dialog.modal-devices").clientWidth`,
	);
	assert.equal(overflow, 0, "no sideways scrolling in the dialog");
	await dialog.getByRole("button", { name: "Done" }).click();
});

test("Ada removes the OsmAnd phone after confirming: it leaves the list and its next report is refused", async () => {
	const dialog = phonesDialog(phone);
	const row = dialog.locator(`li[data-device-id="${osmAnd.id}"]`);
	await row.getByRole("button", { name: "Remove Ada's Android" }).click();
	const confirm = phone.getByRole("dialog", { name: "Remove this phone?" });
	await confirm.getByText("“Ada's Android” can no longer send your position.").waitFor();
	await shot(phone, "remove-confirm-phone");
	// Cancel first: nothing happens.
	await confirm.getByRole("button", { name: "Cancel" }).click();
	await confirm.waitFor({ state: "detached" });
	assert.equal(await row.count(), 1);
	await row.getByRole("button", { name: "Remove Ada's Android" }).click();
	await phone.getByRole("dialog", { name: "Remove this phone?" }).getByRole("button", { name: "Remove" }).click();
	await row.waitFor({ state: "detached" });
	await phone.locator(".toast", { hasText: "“Ada's Android” removed" }).waitFor();
	const listed = (await adaApi.get("/api/devices")).body as { id: string; credentials?: unknown }[];
	assert.deepEqual(
		listed.map(d => d.id).sort(),
		(await dialog.locator("li[data-device-id]").evaluateAll(els => els.map(e => e.getAttribute("data-device-id")))).sort(),
	);
	assert.ok(!listed.some(d => d.id === osmAnd.id));
	assert.ok(
		listed.every(d => d.credentials === undefined),
		"the list has no secrets",
	);
	const refused = await sendOsmAnd(system.url, { query: `id=${encodeURIComponent(osmAnd.credentials.id)}&lat=51.5&lon=-0.12&timestamp=${nowSeconds()}` });
	assert.equal(refused.status, 401);
	await shot(phone, "phone-removed-phone");
});

test("nothing was fetched from outside, and the pages logged no errors", () => {
	assert.deepEqual(browser.blocked, []);
	assert.deepEqual(browser.errors, []);
});
