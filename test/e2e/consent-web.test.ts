import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import type { BrowserContext, Page } from "playwright-core";
import { ensureWebBuild, launchBrowser, screenshot, screenshotsFolder, type TestBrowser } from "../support/browser.js";
import { ApiClient } from "../support/client.js";
import { startSystem, type System } from "../support/system.js";
import { waitFor } from "../support/wait.js";

// Consent in the web client (issue 14, API.md §6.1), as people would use it. Ada (desktop)
// creates a group naming Cy and invites Bob by email; Bob (phone) sees the invitation arrive
// live and accepts, and both see each other in the group; Cy (desktop) declines, then declines
// and blocks. Ada creates an invite link and copies it; Dee, logged out on a phone, opens
// /join/<code>, registers and lands in the group. A revoked link shows the expired page.
// The steps build on each other. Screenshots go to test-output/consent-web/.

const SHOTS = screenshotsFolder("consent-web");
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true };
const suffix = randomBytes(3).toString("hex");
const account = (name: string, surname: string) => ({
	name,
	surname,
	email: `${name.toLowerCase()}.${suffix}@example.com`,
	password: `${name} correct horse battery`,
});
const people = { ada: account("Ada", "Lovelace"), bob: account("Bob", "Noyce"), cy: account("Cy", "Young"), dee: account("Dee", "Hock") };

let system: System;
let browser: TestBrowser;
let ada: Page;
let adaContext: BrowserContext;
let bob: Page;
let cy: Page;
const ids: Record<string, string> = {};
let groupId = "";
let inviteUrl = "";
let revokedUrl = "";

const shot = (page: Page, name: string) => screenshot(page, name, SHOTS);
const api = async (who: keyof typeof people) => {
	const client = new ApiClient(system.url);
	await client.logIn(people[who].email, people[who].password);
	return client;
};

async function logIn(page: Page, who: keyof typeof people) {
	await page.goto("/");
	const form = page.locator("#panel-login");
	await form.getByLabel("Email").fill(people[who].email);
	await form.getByLabel("Password").fill(people[who].password);
	await form.getByRole("button", { name: "Log in" }).click();
	await page.getByRole("button", { name: "Log out" }).waitFor();
}

/** The SOS button is visible and nothing lies on top of its centre. */
async function assertSosReachable(page: Page, where: string) {
	const sos = page.locator(".btn-sos");
	await sos.waitFor();
	const box = (await sos.boundingBox())!;
	const viewport = page.viewportSize()!;
	assert.ok(box.y >= 0 && box.y + box.height <= viewport.height, `${where}: the SOS button is on screen`);
	const onTop = await page.evaluate<string>(
		`(e => e?.closest(".btn-sos") ? "" : e?.outerHTML.slice(0, 200) ?? "nothing")(document.elementFromPoint(${box.x + box.width / 2}, ${box.y + box.height / 2}))`,
	);
	if (onTop) await shot(page, "sos-covered");
	assert.equal(onTop, "", `${where}: nothing covers the SOS button`);
}

before(async () => {
	ensureWebBuild();
	rmSync(SHOTS, { recursive: true, force: true });
	system = await startSystem({ services: ["users", "location", "chat", "notification", "gateway"] });
	for (const who of ["ada", "bob", "cy"] as const) {
		const p = people[who];
		const res = await new ApiClient(system.url).post("/api/auth/register", { name: p.name, surname: p.surname, email: p.email, password: p.password });
		assert.equal(res.status, 201, JSON.stringify(res.body));
		ids[who] = res.body.id;
	}
	browser = await launchBrowser(system.url);
	({ page: ada, context: adaContext } = await browser.newPage("ada"));
	bob = (await browser.newPage("bob", PHONE)).page;
	cy = (await browser.newPage("cy")).page;
	await Promise.all([logIn(ada, "ada"), logIn(bob, "bob"), logIn(cy, "cy")]);
});

after(async () => {
	await browser?.close();
	await system?.stopAll();
});

test("Ada creates a group naming Cy: an invitation, not a membership", async () => {
	const form = ada.locator("form.new-group");
	await form.getByLabel("Name").fill("Family");
	await form.getByLabel("Invite (optional)").fill(people.cy.email);
	await form.getByRole("button", { name: "Create group" }).click();
	await ada.locator("#group-title", { hasText: "Family" }).waitFor();
	groupId = new URL(ada.url()).hash.replace("#group=", "");
	assert.ok(groupId, "the group is selected");
	await ada.locator(".group-sub", { hasText: /^1 member · \d online · 1 invited$/ }).waitFor();
	assert.equal(await ada.locator(`.member[data-user-id="${ids.cy}"]`).count(), 0, "Cy is not a member before accepting");
	// Cy was logged in before: the invitation reaches her page live.
	await cy.locator(`.invitation[data-group-id="${groupId}"]`).waitFor();
});

test("Ada invites Bob by email; Bob's phone shows the invitation live", async () => {
	await ada.getByRole("button", { name: "Invite people" }).click();
	const dialog = ada.getByRole("dialog", { name: "Invite people to “Family”" });
	await dialog.getByRole("textbox", { name: "Invite by email" }).fill(people.bob.email);
	await dialog.getByRole("button", { name: "Invite", exact: true }).click();
	await dialog
		.getByRole("status")
		.filter({ hasText: `Invitation sent to ${people.bob.email}.` })
		.waitFor();
	await dialog.locator(".pending-email", { hasText: people.bob.email }).waitFor();
	await dialog.locator(".pending-email", { hasText: people.cy.email }).waitFor();

	// Bob's phone: a toast at once, and the invitation behind the Groups tab (which counts it).
	const toast = bob.locator(".toast", { hasText: "Ada Lovelace invited you to “Family”" });
	await toast.waitFor();
	await shot(bob, "bob-invitation-toast-phone");
	await bob.getByRole("button", { name: "Groups, 1 invitation" }).waitFor();
	await toast.getByRole("button", { name: "Show" }).click();
	const invitation = bob.locator(`.invitation[data-group-id="${groupId}"]`);
	await invitation.waitFor();
	assert.match((await invitation.textContent()) ?? "", /Ada Lovelace invited you/);
	await shot(bob, "bob-invitation-phone");

	// An email nobody registered gets the very same answer: the page cannot tell who has an account.
	const nobody = `nobody.${suffix}@example.com`;
	await dialog.getByRole("textbox", { name: "Invite by email" }).fill(nobody);
	await dialog.getByRole("button", { name: "Invite", exact: true }).click();
	await dialog
		.getByRole("status")
		.filter({ hasText: `Invitation sent to ${nobody}.` })
		.waitFor();
	await dialog.locator(".pending-email", { hasText: nobody }).waitFor();
	// Inviting Bob again: a plain-words conflict.
	await dialog.getByRole("textbox", { name: "Invite by email" }).fill(people.bob.email);
	await dialog.getByRole("button", { name: "Invite", exact: true }).click();
	await dialog.locator(".form-error", { hasText: `${people.bob.email} is already in this group or already has a pending invitation.` }).waitFor();
	await shot(ada, "ada-invite-dialog-desktop");
	// Withdraw the invitation to nobody.
	await dialog.getByRole("button", { name: `Withdraw the invitation to ${nobody}` }).click();
	await dialog.locator(".pending-email", { hasText: nobody }).waitFor({ state: "detached" });
	await dialog.getByRole("button", { name: "Close" }).click();
});

test("Bob accepts: the group opens on his phone and both see each other in it", async () => {
	await bob.getByRole("button", { name: "Accept the invitation to Family" }).click();
	await bob.locator("#group-title", { hasText: "Family" }).waitFor();
	await bob.getByRole("button", { name: "Groups", exact: true }).waitFor();
	await assertSosReachable(bob, "Bob's phone, just after joining");
	await shot(bob, "bob-joined-phone");
	await bob
		.locator(".tabbar")
		.getByRole("button", { name: /^Members\b/ })
		.click();
	await bob.locator(`.member[data-user-id="${ids.ada}"]`).waitFor();
	await shot(bob, "bob-members-phone");
	await bob
		.locator(".tabbar")
		.getByRole("button", { name: /^Map\b/ })
		.click();

	await ada.locator(`.member[data-user-id="${ids.bob}"]`).waitFor();
	// Bob was online before he joined: Ada's page reads his presence when he appears.
	await ada.locator(`.member[data-user-id="${ids.bob}"] .presence-dot.online`).waitFor();
	await ada.locator(".group-sub", { hasText: "2 members · 2 online · 1 invited" }).waitFor();
	// Ada hears it once: "Bob Noyce accepted your invitation" (the MEMBER_ADDED of her own invitation is not hers).
	const adaApi = await api("ada");
	const unread = await waitFor(
		async () => {
			const page = (await adaApi.get("/api/notifications")).body as { notifications: { kind: string; groupId?: string }[]; unread: number };
			const kinds = new Set(page.notifications.filter(n => n.groupId === groupId).map(n => n.kind));
			return kinds.has("INVITATION_ACCEPTED") && !kinds.has("MEMBER_ADDED") && page.unread;
		},
		{ what: "Ada's two notifications about Bob" },
	);
	await ada.locator(`.inbox-btn[data-unread="${unread}"]`).waitFor();
	assert.equal(await ada.locator(".toast", { hasText: /Bob Noyce (joined|accepted)/ }).count(), 1, "one toast about Bob joining");
	await assertSosReachable(ada, "Ada's desktop");
	await shot(ada, "ada-sees-bob-desktop");
	const members = (await (await api("bob")).get(`/api/groups/${groupId}`)).body.members.map((m: { id: string }) => m.id).sort();
	assert.deepEqual(members, [ids.ada, ids.bob].sort());
});

test("Cy declines; a second invitation she declines and blocks, and Ada's third is dropped silently", async () => {
	await shot(cy, "cy-invitation-desktop");
	await cy.getByRole("button", { name: "Decline the invitation to Family" }).click();
	await cy.locator(`.invitation[data-group-id="${groupId}"]`).waitFor({ state: "detached" });
	await cy.locator("#invitations").waitFor({ state: "hidden" });
	const cyApi = await api("cy");
	assert.deepEqual((await cyApi.get("/api/invitations")).body, []);
	assert.equal((await cyApi.get(`/api/groups/${groupId}`)).status, 403, "Cy is not a member");

	const adaApi = await api("ada");
	assert.equal((await adaApi.post(`/api/groups/${groupId}/members`, { email: people.cy.email })).status, 202);
	await cy.locator(`.invitation[data-group-id="${groupId}"]`).waitFor();
	await cy.getByRole("button", { name: "Decline and block Ada Lovelace" }).click();
	const confirm = cy.getByRole("dialog", { name: "Decline and block" });
	await shot(cy, "cy-block-confirm-desktop");
	await confirm.getByRole("button", { name: "Decline and block" }).click();
	await cy.locator(".toast", { hasText: "Ada Lovelace is blocked" }).waitFor();
	await cy.locator(`.invitation[data-group-id="${groupId}"]`).waitFor({ state: "detached" });

	// Blocked: Ada's next invitation still answers 202, and Cy gets nothing.
	assert.equal((await adaApi.post(`/api/groups/${groupId}/members`, { email: people.cy.email })).status, 202);
	assert.deepEqual((await cyApi.get("/api/invitations")).body, []);
});

test("Ada creates an invite link and copies it", async () => {
	await adaContext.grantPermissions(["clipboard-read", "clipboard-write"], { origin: system.url });
	await ada.getByRole("button", { name: "Invite people" }).click();
	const dialog = ada.getByRole("dialog", { name: "Invite people to “Family”" });
	await dialog.getByRole("button", { name: "Create link" }).click();
	const url = dialog.getByRole("textbox", { name: "Invite link" });
	await url.waitFor();
	inviteUrl = await url.inputValue();
	assert.match(new URL(inviteUrl).pathname, /^\/join\/[\w-]{22,}$/, "a /join/<code> link with a long code");
	await dialog.getByRole("button", { name: "Copy" }).click();
	await dialog.locator(".copy-status", { hasText: "Copied" }).waitFor();
	assert.equal(await ada.evaluate("navigator.clipboard.readText()"), inviteUrl);
	await dialog.locator("li[data-link-id]", { hasText: "Used by 0 of 10 people" }).waitFor();
	await shot(ada, "ada-invite-link-desktop");

	// A second link, revoked at once: it must stop working.
	await dialog.getByRole("button", { name: "Create link" }).click();
	await waitFor(async () => (await url.inputValue()) !== inviteUrl && (await url.inputValue()), { what: "the second link" });
	revokedUrl = await url.inputValue();
	const revokedId = await dialog.locator(".new-link").getAttribute("data-link-id");
	assert.equal(await dialog.locator("li[data-link-id]").count(), 2);
	await dialog.locator(`li[data-link-id="${revokedId}"]`).getByRole("button", { name: "Revoke this invite link" }).click();
	await dialog.locator(`li[data-link-id="${revokedId}"]`).waitFor({ state: "detached" });
	assert.equal(await dialog.locator("li[data-link-id]").count(), 1, "the first link is still listed");
	await url.waitFor({ state: "hidden" });
	await dialog.getByRole("button", { name: "Close" }).click();
});

test("Dee, logged out on a phone, opens the link, registers and lands in the group", async () => {
	const { page: dee } = await browser.newPage("dee", PHONE);
	await dee.goto(new URL(inviteUrl).pathname);
	const intro = dee.locator(".join-intro");
	await intro.waitFor();
	assert.match((await intro.textContent()) ?? "", /Ada( Lovelace)? invited you to join\s*Family/);
	assert.match((await intro.textContent()) ?? "", /2 members · this link expires in \d+ days/);
	await shot(dee, "dee-join-page-phone");

	const form = dee.locator("#panel-register");
	await form.getByLabel("First name").fill(people.dee.name);
	await form.getByLabel("Last name").fill(people.dee.surname);
	await form.getByLabel("Email").fill(people.dee.email);
	await form.getByLabel("Password").fill(people.dee.password);
	await form.getByRole("button", { name: "Create account" }).click();
	await dee.locator("#group-title", { hasText: "Family" }).waitFor();
	assert.equal(new URL(dee.url()).pathname, "/", "the page left the link's address");
	assert.equal(new URL(dee.url()).hash, `#group=${groupId}`);
	await assertSosReachable(dee, "Dee's phone");
	await shot(dee, "dee-joined-phone");

	await ada.locator(".member .member-name", { hasText: "Dee Hock" }).waitFor();
	await bob
		.locator(".tabbar")
		.getByRole("button", { name: /^Members\b/ })
		.click();
	await bob.locator(".member .member-name", { hasText: "Dee Hock" }).waitFor();
	await bob
		.locator(".tabbar")
		.getByRole("button", { name: /^Map\b/ })
		.click();
	await shot(ada, "ada-sees-dee-desktop");
});

test("a revoked link shows the expired page, on a phone and on a desktop", async () => {
	for (const [label, opts] of [
		["phone", PHONE],
		["desktop", {}],
	] as const) {
		const { page } = await browser.newPage(`visitor-${label}`, opts);
		await page.goto(new URL(revokedUrl).pathname);
		await page.getByRole("heading", { name: "This invite link has expired or was revoked" }).waitFor();
		await shot(page, `expired-link-${label}`);
		await page.getByRole("button", { name: "Go to PositionPal" }).click();
		await page.getByRole("tab", { name: "Log in" }).waitFor();
		assert.equal(new URL(page.url()).pathname, "/");
	}
	// An unknown code looks the same.
	const { page } = await browser.newPage("visitor-unknown", PHONE);
	await page.goto(`/join/${randomBytes(16).toString("base64url")}`);
	await page.getByRole("heading", { name: "This invite link has expired or was revoked" }).waitFor();
});

test("a signed-in member opening a link is asked before joining", async () => {
	const adaApi = await api("ada");
	const link = await adaApi.post(`/api/groups/${groupId}/invite-links`, {});
	assert.equal(link.status, 201, JSON.stringify(link.body));
	const cyApi = await api("cy");
	const other = await cyApi.post("/api/groups", { name: "Book club" });
	assert.equal(other.status, 201);
	// Cy blocked Ada's invitations, but a link she opens herself is her own choice.
	await cy.goto(new URL(link.body.url, system.url).pathname);
	await cy.locator(".join-intro", { hasText: "Family" }).waitFor();
	await cy.getByText("You are logged in as Cy Young.").waitFor();
	await shot(cy, "cy-join-signed-in-desktop");
	await cy.getByRole("button", { name: "Join Family" }).click();
	await cy.locator("#group-title", { hasText: "Family" }).waitFor();
	await cy.locator(".group-item .group-name", { hasText: "Book club" }).waitFor();
});

test("a hostile group name shows as text in the invitation and on the join page", async () => {
	const hostile = `<a href="https://evil.example/" id="injected-g">Family</a><img src="x" id="injected-i">`;
	const adaApi = await api("ada");
	// A raw POST: the test client's createGroup would accept on Bob's behalf.
	const created = await adaApi.post("/api/groups", { name: hostile, memberEmails: [people.bob.email] });
	assert.equal(created.status, 201, JSON.stringify(created.body));
	const group = created.body as { id: string };
	const invitation = bob.locator(`.invitation[data-group-id="${group.id}"]`);
	await bob.getByRole("button", { name: "Groups, 1 invitation" }).click();
	await invitation.waitFor();
	assert.equal(await invitation.locator(".invitation-group").textContent(), hostile);
	const link = await adaApi.post(`/api/groups/${group.id}/invite-links`, {});
	assert.equal(link.status, 201);
	const { page: visitor } = await browser.newPage("visitor-hostile", PHONE);
	await visitor.goto(new URL(link.body.url, system.url).pathname);
	await visitor.locator(".join-group").waitFor();
	assert.equal(await visitor.locator(".join-group").textContent(), hostile);
	await shot(visitor, "hostile-join-page-phone");
	for (const page of [bob, visitor]) {
		const injected = await page.evaluate<string[]>(
			`[...document.querySelectorAll('[id^="injected"], a[href^="https://evil"], img[src^="https://evil"]')].map(e => e.outerHTML)`,
		);
		assert.deepEqual(injected, []);
	}
	await bob.getByRole("button", { name: `Decline the invitation to ${hostile}` }).click();
	await invitation.waitFor({ state: "detached" });
	await bob
		.locator(".tabbar")
		.getByRole("button", { name: /^Map\b/ })
		.click();
});

test("nothing was fetched from outside, and the pages logged no errors", () => {
	assert.deepEqual(browser.blocked, []);
	assert.deepEqual(browser.errors, []);
});
