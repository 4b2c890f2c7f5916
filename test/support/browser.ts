import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { ApiClient, SIGN_UP_PASSWORD } from "./client.js";
import { ROOT, startSystem, type System, type SystemOptions } from "./system.js";

/**
 * A real browser for end-to-end tests of the web client: Debian's Chromium driven by
 * playwright-core (no browser download). Installed from Debian when missing, so `npm test` works
 * on a fresh machine. The page may reach the gateway under test only; every other request is
 * refused and recorded, so a test can assert that nothing left the machine.
 */

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** Where screenshots go: one folder per test file, under the git-ignored test-output/. */
export const screenshotsFolder = (name: string) => join(ROOT, "test-output", name);
export const SCREENSHOTS = screenshotsFolder("web-client");

const CHROMIUM_ARGS = [
	"--no-sandbox",
	"--disable-gpu",
	"--disable-quic",
	"--no-first-run",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
	// Belt and braces: no host name resolves, so nothing but the loopback address can be reached.
	"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
];

function run(cmd: string, args: string[]): boolean {
	const r = spawnSync(cmd, args, { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }, timeout: 15 * 60_000 });
	return r.status === 0;
}

/** Installs Debian's chromium when it is not there (apt-get update first if the lists are stale). */
export function ensureChromium(): string {
	if (existsSync(CHROMIUM)) return CHROMIUM;
	console.log(`[browser] ${CHROMIUM} is missing: installing Debian's chromium (apt-get install -y chromium)…`);
	if (!run("apt-get", ["install", "-y", "chromium"])) {
		if (!run("apt-get", ["update"]) || !run("apt-get", ["install", "-y", "chromium"])) throw new Error("could not install chromium with apt-get");
	}
	if (!existsSync(CHROMIUM)) throw new Error(`chromium installed but ${CHROMIUM} does not exist`);
	return CHROMIUM;
}

/**
 * Builds web/dist when it is missing or older than its sources, typechecking web/ first
 * (scripts/build-web.mjs --if-stale --check): the client's types are checked where it is tested.
 */
export function ensureWebBuild(): void {
	const r = spawnSync(process.execPath, [join(ROOT, "scripts", "build-web.mjs"), "--if-stale", "--check"], {
		cwd: ROOT,
		stdio: "inherit",
		timeout: 5 * 60_000,
	});
	if (r.status !== 0) throw new Error("the web client build failed (node scripts/build-web.mjs)");
}

export interface TestBrowser {
	browser: Browser;
	/** Requests the pages tried to make to anywhere but the system under test. */
	blocked: string[];
	/** Uncaught page errors and console errors, per context label. */
	errors: string[];
	newPage(
		label: string,
		opts?: { viewport?: { width: number; height: number }; isMobile?: boolean; timezoneId?: string },
	): Promise<{ context: BrowserContext; page: Page }>;
	close(): Promise<void>;
}

/**
 * Launches headless Chromium. Playwright gives every launch a fresh temporary user-data-dir
 * (and removes it on close), and each `newPage` is its own browser context: separate storage,
 * as two people on two devices.
 */
export async function launchBrowser(baseUrl: string): Promise<TestBrowser> {
	const executablePath = ensureChromium();
	const browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
	const origin = new URL(baseUrl).origin;
	const blocked: string[] = [];
	const errors: string[] = [];
	const contexts: BrowserContext[] = [];
	return {
		browser,
		blocked,
		errors,
		async newPage(label, opts = {}) {
			const context = await browser.newContext({
				baseURL: baseUrl,
				viewport: opts.viewport ?? { width: 1280, height: 800 },
				isMobile: opts.isMobile,
				hasTouch: opts.isMobile,
				locale: "en-GB",
				timezoneId: opts.timezoneId ?? "UTC",
				serviceWorkers: "allow",
			});
			contexts.push(context);
			await context.route("**/*", route => {
				const url = route.request().url();
				if (url.startsWith(origin) || url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
				blocked.push(url);
				return route.abort("blockedbyclient");
			});
			const page = await context.newPage();
			page.on("pageerror", err => errors.push(`[${label}] page error: ${err.message}`));
			page.on("console", msg => {
				// A failed request is reported by the page as a console error too; those are checked through the API's answers.
				if (msg.type() === "error" && !/Failed to load resource/.test(msg.text())) errors.push(`[${label}] console: ${msg.text()}`);
			});
			return { context, page };
		},
		async close() {
			for (const c of contexts) await c.close().catch(() => undefined);
			await browser.close();
		},
	};
}

let shot = 0;
/** Saves a screenshot of the viewport as NN-name.png (in test-output/web-client/ unless told) and returns its path. */
export async function screenshot(page: Page, name: string, folder = SCREENSHOTS): Promise<string> {
	mkdirSync(folder, { recursive: true });
	const path = join(folder, `${String(++shot).padStart(2, "0")}-${name}.png`);
	await page.screenshot({ path, fullPage: false });
	return path;
}

/**
 * A tab of the phone's tab bar, by the start of its name: the Chat tab's name grows a count of new
 * messages, and the page has other buttons with these words inside their names (the SOS banner's
 * "Show on map", member cards' "Show … on the map").
 */
export const tabButton = (page: Page, label: "Map" | "Members" | "Chat" | "Groups") =>
	page.locator(".tabbar").getByRole("button", { name: new RegExp(`^${label}\\b`) });

/** The chat box's Send button (the SOS button's name, "Send an SOS to all your groups", holds "Send" too). */
export const chatSendButton = (page: Page) => page.getByRole("form", { name: "Send a message" }).getByRole("button", { name: "Send", exact: true });

/**
 * The top bar's profile button, named after the signed-in person: exactly, since member cards
 * ("Show Ada Lovelace on the map") and map markers ("Ada Lovelace (you): Sharing…") are buttons
 * whose names hold the name too once positions arrive.
 */
export const profileButton = (page: Page, fullName: string) => page.locator(".topbar").getByRole("button", { name: fullName, exact: true });

/**
 * A browser test file's setting: the web client built, the file's screenshots folder emptied, the
 * system started, and a browser on it. Nothing is left running when the browser fails to start.
 */
export async function startBrowserTest(folder: string, options: SystemOptions): Promise<{ system: System; browser: TestBrowser }> {
	ensureWebBuild();
	rmSync(folder, { recursive: true, force: true });
	const system = await startSystem(options);
	try {
		return { system, browser: await launchBrowser(system.url) };
	} catch (err) {
		await system.stopAll();
		throw err;
	}
}

/** Ends what `startBrowserTest` started (either may be missing when a `before` failed). */
export async function stopBrowserTest(browser: TestBrowser | undefined, system: System | undefined): Promise<void> {
	await browser?.close();
	await system?.stopAll();
}

export interface Credentials {
	email: string;
	password: string;
}

/** An account made through the API (signed up with the test client's default password), or an email and password. */
const credentialsOf = (who: ApiClient | Credentials): Credentials => (who instanceof ApiClient ? { email: who.user!.email, password: SIGN_UP_PASSWORD } : who);

/** Opens the app and sends its login form; what follows (the app, or an error) is the caller's to wait for. */
export async function submitLogin(page: Page, who: ApiClient | Credentials): Promise<void> {
	const { email, password } = credentialsOf(who);
	await page.goto("/");
	const form = page.locator("#panel-login");
	await form.getByLabel("Email").fill(email);
	await form.getByLabel("Password").fill(password);
	await form.getByRole("button", { name: "Log in" }).click();
}

/** Logs in through the page and waits for the app: with `group`, that group open; without, its Log out button. */
export async function logIn(page: Page, who: ApiClient | Credentials, group?: string): Promise<void> {
	await submitLogin(page, who);
	if (group) await page.locator("#group-title", { hasText: group }).waitFor();
	else await page.getByRole("button", { name: "Log out", exact: true }).waitFor();
}

/** Fills the registration form on the page (the login page's, or an invite link's) and sends it. */
export async function submitRegistration(page: Page, account: Credentials & { name: string; surname: string }): Promise<void> {
	const form = page.locator("#panel-register");
	await form.getByLabel("First name").fill(account.name);
	await form.getByLabel("Last name").fill(account.surname);
	await form.getByLabel("Email").fill(account.email);
	await form.getByLabel("Password").fill(account.password);
	await form.getByRole("button", { name: "Create account" }).click();
}

/** The SOS button is on screen and nothing (no alert, no banner) lies over its middle; a screenshot in `folder` when covered. */
export async function assertSosReachable(page: Page, where: string, folder: string): Promise<void> {
	const sos = page.locator(".btn-sos");
	await sos.waitFor();
	const box = (await sos.boundingBox())!;
	const viewport = page.viewportSize()!;
	assert.ok(box.y >= 0 && box.y + box.height <= viewport.height, `${where}: the SOS button is on screen`);
	const onTop = await page.evaluate<string>(
		`(e => e?.closest(".btn-sos") ? "" : e?.outerHTML.slice(0, 200) ?? "nothing")(document.elementFromPoint(${box.x + box.width / 2}, ${box.y + box.height / 2}))`,
	);
	if (onTop) await screenshot(page, "sos-covered", folder);
	assert.equal(onTop, "", `${where}: nothing covers the SOS button`);
}
