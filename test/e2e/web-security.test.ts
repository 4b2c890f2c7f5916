import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import type { Page } from "playwright-core";
import ts from "typescript";
import { logIn, screenshot, screenshotsFolder, startBrowserTest, stopBrowserTest, type TestBrowser } from "../support/browser.js";
import { ApiClient } from "../support/client.js";
import { ROOT, type System } from "../support/system.js";

// The web client against a hostile group member (issue 14, holes 7 and 8). Ada writes HTML into
// every string she controls: her name, the group's name, a journey's destination and a chat
// message. Bob's page must show it as the literal text and build no element from it (the CSP
// stops injected scripts, not an injected link that looks like the app's own). A static check
// over web/src finds the HTML sinks a browser run would need a path to reach. And the built
// client ships no source maps. Screenshots go to test-output/web-security/.

const SHOTS = screenshotsFolder("web-security");
const evil = (path: string, id: string, text: string) => `<a href="https://evil.example/${path}" id="${id}">${text}</a>`;
const hostile = {
	name: evil("n", "injected-name", "Ada"),
	surname: `<img src="https://evil.example/s.png" id="injected-surname">`,
	group: evil("g", "injected-group", "Family"),
	destination: `<a href="https://evil.example/" id="injected">Home</a>`,
	message: evil("c", "injected-chat", "click me"),
};
const adaFullName = `${hostile.name} ${hostile.surname}`;

let system: System;
let browser: TestBrowser;
let bob: Page;
let ada: ApiClient;
let groupId = "";

async function signUp(name: string, surname: string, password: string): Promise<ApiClient> {
	const api = new ApiClient(system.url);
	const email = `user.${randomBytes(4).toString("hex")}@example.com`;
	const res = await api.post("/api/auth/register", { name, surname, email, password });
	assert.equal(res.status, 201, JSON.stringify(res.body));
	await api.logIn(email, password);
	return api;
}

/** Fails when the page holds an element built from one of Ada's strings. */
async function assertNothingInjected(page: Page, where: string) {
	const found = await page.evaluate<string[]>(
		`[...document.querySelectorAll('[id^="injected"], a[href^="https://evil"], img[src^="https://evil"]')].map(e => e.outerHTML)`,
	);
	assert.deepEqual(found, [], `elements injected into ${where}`);
}

before(async () => {
	({ system, browser } = await startBrowserTest(SHOTS, {
		services: ["users", "location", "chat", "notification", "gateway"],
		env: { TRACKING_CHECK_EVERY: "1" },
	}));
	ada = await signUp(hostile.name, hostile.surname, "correct horse battery");
	const bobApi = await signUp("Bob", "Noyce", "staple battery horse");
	const bobUser = bobApi.user!;
	const group = await ada.createGroup(hostile.group, [bobUser.email]);
	groupId = group.id;
	// Where adding by email creates an invitation (API.md §6.1), Bob accepts it.
	if (!group.members.some(m => m.id === bobUser.id)) {
		const invitations = await bobApi.get<{ id: string; groupId: string }[]>("/api/invitations");
		const invitation = invitations.body.find(i => i.groupId === groupId);
		assert.ok(invitation, `Bob has an invitation to the group (GET /api/invitations answered ${invitations.status})`);
		assert.equal((await bobApi.post(`/api/invitations/${invitation.id}/accept`)).status, 200);
	}
	bob = (await browser.newPage("bob")).page;
	await logIn(bob, { email: bobUser.email, password: "staple battery horse" });
});

after(() => stopBrowserTest(browser, system));

test("Ada's name and the group's name show as text on Bob's page", async () => {
	await bob.locator("#group-title", { hasText: hostile.group }).waitFor();
	assert.equal(await bob.locator("#group-title").textContent(), hostile.group);
	assert.equal(await bob.locator(".group-item .group-name").first().textContent(), hostile.group);
	await bob.locator(`.member .member-name`, { hasText: adaFullName }).waitFor();
	await assertNothingInjected(bob, "the group view");
});

test("a journey's destination shows as text in the map tooltip, the marker popup and the toast", async () => {
	assert.equal((await ada.post(`/api/groups/${groupId}/sharing`)).status, 200);
	assert.equal((await ada.post("/api/location/samples", { latitude: 44.1391, longitude: 12.2431 })).status, 202);
	const adaId = ada.user!.id;
	await bob.locator(`.pin[data-user-id="${adaId}"]`).waitFor();
	const journey = {
		destination: { name: hostile.destination, latitude: 44.1391, longitude: 12.2481 },
		eta: new Date(Date.now() + 3_600_000).toISOString(),
		mode: "walking",
	};
	assert.equal((await ada.post(`/api/groups/${groupId}/journey`, journey)).status, 201);
	await bob.locator(`.pin[data-user-id="${adaId}"][data-state="ROUTING"]`).waitFor();

	// The toast names Ada ("… started a journey") and says where to.
	const toast = bob.locator(".toast", { hasText: "started a journey" });
	await toast.waitFor();
	assert.ok((await toast.textContent())?.includes(adaFullName), "the toast names Ada");
	await assertNothingInjected(bob, "the journey toast");

	// The destination's tooltip, shown on hover.
	await bob.locator(".destination-marker").hover();
	const tooltip = bob.locator(".leaflet-tooltip");
	await tooltip.waitFor();
	assert.equal(await tooltip.textContent(), hostile.destination);
	await screenshot(bob, "destination-tooltip", SHOTS);
	await assertNothingInjected(bob, "the destination tooltip");

	// Ada's marker: its label and its popup (her name, the journey's destination).
	assert.ok((await bob.locator(`.pin[data-user-id="${adaId}"] ~ .marker-label`).textContent())?.startsWith(`${hostile.name} · `), "the marker's label");
	await bob.locator(`.pin[data-user-id="${adaId}"]`).click();
	const popup = bob.locator(".leaflet-popup-content .popup");
	await popup.waitFor();
	assert.equal(await popup.locator("strong").textContent(), adaFullName);
	assert.ok((await popup.textContent())?.includes(`To ${hostile.destination} by`), "the popup's journey summary");
	await screenshot(bob, "member-popup", SHOTS);
	await assertNothingInjected(bob, "the member popup");
});

test("a chat message and its author show as text", async () => {
	assert.equal((await ada.post(`/api/groups/${groupId}/messages`, { text: hostile.message })).status, 201);
	const message = bob.locator(".message", { hasText: hostile.message });
	await message.waitFor();
	assert.equal(await message.locator(".text").textContent(), hostile.message);
	assert.ok((await message.locator(".author").textContent())?.includes(adaFullName), "the message's author");
	await screenshot(bob, "chat", SHOTS);
	await assertNothingInjected(bob, "the chat");
});

test("the inbox shows the notifications' titles and bodies as text", async () => {
	await bob.getByRole("button", { name: /Notifications/ }).click();
	const dialog = bob.getByRole("dialog", { name: "Notifications" });
	const item = dialog.locator(".inbox-item", { hasText: "started a journey" });
	await item.waitFor();
	const text = (await item.textContent()) ?? "";
	assert.ok(text.includes(adaFullName), `the title names Ada: ${text}`);
	assert.ok(text.includes(hostile.destination), `the body says where to: ${text}`);
	await screenshot(bob, "inbox", SHOTS);
	await assertNothingInjected(bob, "the inbox");
	await dialog.getByRole("button", { name: "Close" }).click();
});

test("the page tried to fetch nothing from elsewhere and logged no errors", () => {
	assert.deepEqual(browser.blocked, []);
	assert.deepEqual(browser.errors, []);
});

test("the built client ships no source maps: none in web/dist, none referenced, none served", async () => {
	const files = (function walk(dir: string): string[] {
		return readdirSync(dir, { withFileTypes: true }).flatMap(e => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
	})(join(ROOT, "web", "dist"));
	assert.deepEqual(
		files.filter(f => /\.map(\.gz)?$/.test(f)).map(f => relative(ROOT, f)),
		[],
	);

	const html = await (await fetch(`${system.url}/`)).text();
	const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[\w.-]+\.(?:js|css))"/g)].map(m => m[1]!);
	assert.equal(assets.length, 2, "index.html names the script and the style sheet");
	for (const path of [...assets, "/sw.js"]) {
		const res = await fetch(`${system.url}${path}`);
		assert.equal(res.status, 200, path);
		assert.equal(res.headers.get("sourcemap"), null, `${path} has no SourceMap header`);
		assert.doesNotMatch(await res.text(), /sourceMappingURL/, `${path} names no source map`);
		assert.equal((await fetch(`${system.url}${path}.map`)).status, 404, `${path}.map`);
	}
});

/**
 * Every place in web/src where a string would be parsed as HTML: an assignment to innerHTML,
 * outerHTML or srcdoc, an HTML-parsing call, or Leaflet content (tooltips, popups, div icons)
 * given a string instead of an element. Type-aware, so a variable holding a string is caught too.
 */
function htmlSinks(): string[] {
	const config = ts.getParsedCommandLineOfConfigFile(
		join(ROOT, "web", "tsconfig.json"),
		{},
		{ ...ts.sys, onUnRecoverableConfigFileDiagnostic: d => assert.fail(String(d.messageText)) },
	)!;
	const program = ts.createProgram(config.fileNames, config.options);
	const checker = program.getTypeChecker();
	const isStringy = (type: ts.Type): boolean =>
		Boolean(type.flags & ts.TypeFlags.StringLike) ||
		(type.isUnion() && type.types.some(isStringy)) ||
		type.getCallSignatures().some(s => isStringy(s.getReturnType()));
	const found: string[] = [];
	for (const file of program.getSourceFiles()) {
		if (file.isDeclarationFile || !file.fileName.startsWith(join(ROOT, "web", "src"))) continue;
		const report = (node: ts.Node, what: string) => {
			const { line } = file.getLineAndCharacterOfPosition(node.getStart(file));
			found.push(`${relative(ROOT, file.fileName)}:${line + 1}: ${what}`);
		};
		const visit = (node: ts.Node) => {
			if (
				ts.isBinaryExpression(node) &&
				node.operatorToken.kind === ts.SyntaxKind.EqualsToken &&
				ts.isPropertyAccessExpression(node.left) &&
				["innerHTML", "outerHTML", "srcdoc"].includes(node.left.name.text)
			)
				report(node, `assigns ${node.left.name.text}`);
			if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
				const method = node.expression.name.text;
				if (
					["insertAdjacentHTML", "createContextualFragment", "parseFromString"].includes(method) ||
					(node.expression.expression.getText(file) === "document" && /^write(ln)?$/.test(method))
				)
					report(node, `calls ${method}`);
				const first = node.arguments[0];
				if (
					first &&
					["bindTooltip", "bindPopup", "setContent", "setTooltipContent", "setPopupContent"].includes(method) &&
					isStringy(checker.getTypeAtLocation(first))
				)
					report(node, `gives ${method} a string`);
				if (first && ts.isObjectLiteralExpression(first) && ["divIcon", "popup", "tooltip"].includes(method))
					for (const prop of first.properties)
						if (
							ts.isPropertyAssignment(prop) &&
							["html", "content"].includes(prop.name.getText(file)) &&
							isStringy(checker.getTypeAtLocation(prop.initializer))
						)
							report(prop, `gives ${method} ${prop.name.getText(file)} as a string`);
			}
			ts.forEachChild(node, visit);
		};
		visit(file);
	}
	return found;
}

test("web/src puts no string into an HTML sink (innerHTML and the like, Leaflet content)", () => {
	assert.deepEqual(htmlSinks(), []);
});
