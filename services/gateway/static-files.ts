import { createReadStream, existsSync, statSync, type Stats } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { dirname, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { config, readSetting, type WebClientSettings } from "../../lib/config.js";

/**
 * The reference web client (web/, built into web/dist by scripts/build-web.mjs), served by the
 * gateway at `/`. Only these paths are the client's; every other request falls through to the
 * gateway's routes (and their JSON 404):
 *
 *   GET /  /index.html    the page: `no-cache`, so a new build is picked up at once
 *   GET /sw.js            the service worker (Web Push): `no-cache`, and it must live at the root
 *                         to control the whole page
 *   GET /assets/<file>    bundles named by content hash: cached for a year, immutable
 *   GET /config.json      the client's runtime settings (map tiles, demo), from the environment
 *
 * Configuration: `MAP_TILE_URL` (a Leaflet tile URL template; unset = OpenStreetMap's standard
 * tiles `https://tile.openstreetmap.org/{z}/{x}/{y}.png` with their attribution; `none` = no
 * tiles, markers on a plain grid and nothing fetched from outside), `MAP_TILE_ATTRIBUTION`,
 * `MAP_CENTER` ("lat,lng" of an empty map), `WEB_DEMO` (offer a simulated walk), `GEOCODER_URL`
 * (a Nominatim-compatible service for street addresses and place search; unset: none) and `WEB_ROOT`
 * (the built client; default web/dist beside the sources, also from the compiled dist/ tree).
 */

export type ClientConfig = WebClientSettings;

type Request = IncomingMessage & { originalUrl?: string };

const here = dirname(fileURLToPath(import.meta.url));
/** services/gateway → web/dist, and the same from dist/services/gateway in the image. */
const defaultRoot = () => {
	for (const up of ["../../web/dist", "../../../web/dist"]) {
		const candidate = resolve(here, up);
		if (existsSync(candidate)) return candidate;
	}
	return resolve(here, "../../web/dist");
};

export const webRoot = (env?: NodeJS.ProcessEnv): string => (env ? readSetting("webRoot", env).value : config.webRoot()) ?? defaultRoot();

const TYPES: Record<string, string> = {
	".html": "text/html; charset=utf-8",
	".js": "text/javascript; charset=utf-8",
	".mjs": "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".map": "application/json; charset=utf-8",
	".json": "application/json; charset=utf-8",
	".png": "image/png",
	".svg": "image/svg+xml",
	".ico": "image/x-icon",
	".webmanifest": "application/manifest+json",
	".txt": "text/plain; charset=utf-8",
};

const IMMUTABLE = "public, max-age=31536000, immutable";
const REVALIDATE = "no-cache";

/** What the browser client reads at start-up; nothing secret. */
export function clientConfig(env?: NodeJS.ProcessEnv): ClientConfig {
	// A value lib/config.ts refuses (the process would not have started with it) is left out.
	return env ? readSetting("webClient", env).value : config.webClient();
}

/** The tile server's origin as a CSP source (`{s}` subdomains become a wildcard), or null. */
export function tileSource(tileUrl: string | null): string | null {
	if (!tileUrl) return null;
	const match = /^(https?):\/\/([^/?#]+)/i.exec(tileUrl);
	if (!match) return null;
	const host = match[2]!.replace(/\{s\}/g, "*").replace(/\{[^}]*\}/g, "*");
	return `${match[1]!.toLowerCase()}://${host}`;
}

/** The geocoder's origin as a CSP source, or null when none is configured. */
export function geocoderSource(geocoderUrl: string | null): string | null {
	const match = geocoderUrl ? /^(https?):\/\/([^/?#]+)/i.exec(geocoderUrl) : null;
	return match ? `${match[1]!.toLowerCase()}://${match[2]!.toLowerCase()}` : null;
}

/**
 * The page may talk to its own origin only (REST, Socket.IO, the service worker), plus images
 * from the configured tile server and, when GEOCODER_URL is set, requests to that geocoder: a
 * stray request elsewhere is blocked by the browser.
 */
export function contentSecurityPolicy(config: ClientConfig): string {
	const tiles = tileSource(config.tileUrl);
	const geocoder = geocoderSource(config.geocoderUrl);
	return [
		"default-src 'self'",
		"script-src 'self'",
		// Leaflet positions its panes and markers with inline styles.
		"style-src 'self' 'unsafe-inline'",
		`img-src 'self' data: blob:${tiles ? ` ${tiles}` : ""}`,
		`connect-src 'self'${geocoder ? ` ${geocoder}` : ""}`,
		"worker-src 'self'",
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	].join("; ");
}

/** Maps a URL path to a file of the client, or null when the path is not the client's. */
export function clientFileFor(pathname: string): { file: string; cache: string } | null {
	if (pathname === "/" || pathname === "/index.html") return { file: "index.html", cache: REVALIDATE };
	if (/^\/join\/[^/]+\/?$/.test(pathname)) return { file: "index.html", cache: REVALIDATE }; // the invite link page (API.md §6.1)
	if (/^\/s\/[^/]+\/?$/.test(pathname)) return { file: "index.html", cache: REVALIDATE }; // a share link's page (API.md §6.5)
	if (pathname === "/sw.js") return { file: "sw.js", cache: REVALIDATE };
	const asset = /^\/assets\/([A-Za-z0-9][\w.-]*)$/.exec(pathname);
	// The name pattern rules out "..", slashes and hidden files: nothing outside web/dist/assets.
	if (asset && !asset[1]!.includes("..")) return { file: join("assets", asset[1]!), cache: IMMUTABLE };
	return null;
}

function pathnameOf(req: Request): string | null {
	const raw = (req.originalUrl ?? req.url ?? "/").split("?")[0]!;
	try {
		return decodeURIComponent(raw);
	} catch {
		return null;
	}
}

function statFile(path: string): Stats | null {
	try {
		const stats = statSync(path);
		return stats.isFile() ? stats : null;
	} catch {
		return null;
	}
}

const notBuilt = `<!doctype html><html lang="en"><meta charset="utf-8"><title>PositionPal</title>
<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;line-height:1.5">
<h1>The web client is not built</h1><p>Run <code>node scripts/build-web.mjs</code> (<code>npm start</code> does it for you), then reload.
The API is up: see <a href="/api/docs">/api/docs</a>.</p></body></html>`;

/**
 * Serves the request when it is for the web client and returns true; returns false (and touches
 * nothing) when the request is someone else's.
 */
export function serveWebClient(req: Request, res: ServerResponse, env?: NodeJS.ProcessEnv): boolean {
	if (req.method !== "GET" && req.method !== "HEAD") return false;
	const pathname = pathnameOf(req);
	if (pathname === null) return false;

	if (pathname === "/config.json") {
		send(req, res, 200, { "Content-Type": TYPES[".json"]!, "Cache-Control": "no-store" }, JSON.stringify(clientConfig(env)));
		return true;
	}

	const target = clientFileFor(pathname);
	if (!target) return false;
	const root = webRoot(env);
	const path = join(root, target.file);
	const stats = statFile(path);
	if (!stats) {
		if (target.file !== "index.html") return false;
		send(req, res, 503, { "Content-Type": TYPES[".html"]!, "Cache-Control": "no-store" }, notBuilt);
		return true;
	}

	const headers: Record<string, string> = {
		"Content-Type": TYPES[extname(path)] ?? "application/octet-stream",
		"Cache-Control": target.cache,
		"X-Content-Type-Options": "nosniff",
		ETag: `W/"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`,
		"Last-Modified": stats.mtime.toUTCString(),
		Vary: "Accept-Encoding",
	};
	if (target.file === "index.html") {
		headers["Content-Security-Policy"] = contentSecurityPolicy(clientConfig(env));
		headers["Referrer-Policy"] = "no-referrer";
	}
	if (target.file === "sw.js") headers["Service-Worker-Allowed"] = "/";

	if (req.headers["if-none-match"] === headers.ETag) {
		res.writeHead(304, {
			ETag: headers.ETag,
			"Cache-Control": target.cache,
			Vary: "Accept-Encoding",
		});
		res.end();
		return true;
	}

	// The build writes a gzip copy beside each text file; send it to clients that accept gzip.
	let body = path;
	let size = stats.size;
	if (/\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""))) {
		const gz = statFile(`${path}.gz`);
		if (gz) {
			body = `${path}.gz`;
			size = gz.size;
			headers["Content-Encoding"] = "gzip";
		}
	}
	headers["Content-Length"] = String(size);
	res.writeHead(200, headers);
	if (req.method === "HEAD") {
		res.end();
		return true;
	}
	createReadStream(body)
		.on("error", () => res.destroy())
		.pipe(res);
	return true;
}

function send(req: Request, res: ServerResponse, status: number, headers: Record<string, string>, body: string) {
	res.writeHead(status, {
		...headers,
		"Content-Length": String(Buffer.byteLength(body)),
		"X-Content-Type-Options": "nosniff",
	});
	res.end(req.method === "HEAD" ? undefined : body);
}

/** The same as a moleculer-web (connect-style) middleware, for a route's `use: [...]`. */
export function webClientMiddleware(req: Request, res: ServerResponse, next: (err?: unknown) => void): void {
	if (!serveWebClient(req, res)) next();
}
