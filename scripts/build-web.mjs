#!/usr/bin/env node
// Builds the reference web client (web/) into web/dist/, which the gateway serves at `/`
// (services/gateway/static-files.ts):
//   web/dist/index.html         web/index.html with the hashed bundle names filled in
//   web/dist/assets/*-HASH.*    the app bundle (TypeScript + Leaflet + socket.io-client) and its CSS
//   web/dist/sw.js              the service worker (Web Push), unhashed: browsers look it up by name
//   web/dist/assets/manifest-HASH.webmanifest, icon-192-HASH.png, icon-512-HASH.png
//                               the web app manifest and its icons (drawn by scripts/web-icons.mjs)
// plus a .gz copy of every text file, which the gateway sends to clients that accept gzip.
// No source maps: everything in web/dist is public, and a map hands out the client's sources.
//
//   node scripts/build-web.mjs              build
//   node scripts/build-web.mjs --if-stale   build only when a source is newer than the last build
//                                           (or was built with the other --sourcemap setting)
//   node scripts/build-web.mjs --check      typecheck web/ (tsc -p web/tsconfig.json) first
//   node scripts/build-web.mjs --sourcemap  for debugging on your own machine: maps inline in
//                                           the bundles; the next build without it drops them
//
// Also importable: `await buildWeb({ ifStale: true, log })` (npm start, tests).
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { createRequire } from "node:module";
import { createHash } from "node:crypto";
import { iconPng, manifest } from "./web-icons.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const WEB = join(ROOT, "web");
const DIST = join(WEB, "dist");
const STAMP = join(DIST, "build.json");

/** Everything a build reads; a change to any of them makes the build stale. */
function inputs() {
	const files = [fileURLToPath(import.meta.url), join(ROOT, "scripts", "web-icons.mjs"), join(ROOT, "package-lock.json"), join(ROOT, "events", "types.ts")];
	const walk = dir => {
		for (const e of readdirSync(dir, { withFileTypes: true })) {
			const p = join(dir, e.name);
			if (e.isDirectory()) {
				if (p !== DIST && e.name !== "node_modules") walk(p);
			} else files.push(p);
		}
	};
	walk(WEB);
	return files.filter(f => existsSync(f));
}

/** True when web/dist is missing, older than one of its inputs, or built with the other source-map setting. */
export function isStale({ sourcemap = false } = {}) {
	if (!existsSync(STAMP) || !existsSync(join(DIST, "index.html"))) return true;
	if (JSON.parse(readFileSync(STAMP, "utf8")).sourcemap !== sourcemap) return true;
	const built = statSync(STAMP).mtimeMs;
	return inputs().some(f => statSync(f).mtimeMs > built);
}

function typecheck(log) {
	const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
	log("typecheck web/ (tsc -p web/tsconfig.json)");
	const r = spawnSync(process.execPath, [tsc, "--noEmit", "-p", join(WEB, "tsconfig.json")], { cwd: ROOT, stdio: "inherit" });
	if (r.status !== 0) throw new Error("web/ does not typecheck");
}

/** esbuild, after checking that what the client bundles is installed (a clear message, not a resolve error). */
function loadEsbuild() {
	const require = createRequire(import.meta.url);
	const missing = ["esbuild", "leaflet", "socket.io-client"].filter(name => {
		try {
			require.resolve(`${name}/package.json`);
			return false;
		} catch {
			return true;
		}
	});
	if (missing.length) throw new Error(`${missing.join(", ")} not installed: run \`npm install\` (devDependencies of the web client)`);
	return require("esbuild");
}

/**
 * Builds into a fresh folder and swaps it in, so a gateway serving the old build never sees a
 * half-written one.
 */
export async function buildWeb({ ifStale = false, check = false, sourcemap = false, log = m => console.log(`[web] ${m}`) } = {}) {
	if (ifStale && !isStale({ sourcemap })) {
		log("web/dist is up to date");
		return false;
	}
	if (check) typecheck(log);
	const esbuild = loadEsbuild();
	const started = Date.now();
	const out = join(WEB, `.dist-${process.pid}`);
	rmSync(out, { recursive: true, force: true });
	mkdirSync(out, { recursive: true });
	try {
		const common = {
			bundle: true,
			minify: true,
			sourcemap: sourcemap ? "inline" : false,
			target: ["chrome109", "firefox115", "safari16"],
			platform: "browser",
			legalComments: "linked",
			logLevel: "warning",
			absWorkingDir: ROOT,
		};
		const app = await esbuild.build({
			...common,
			entryPoints: { app: join(WEB, "src", "main.ts") },
			outdir: out,
			entryNames: "assets/[name]-[hash]",
			assetNames: "assets/[name]-[hash]",
			format: "esm",
			metafile: true,
			loader: { ".png": "file", ".svg": "file" },
		});
		await esbuild.build({ ...common, entryPoints: [join(WEB, "src", "sw.ts")], outfile: join(out, "sw.js"), format: "iife" });

		const outputs = Object.keys(app.metafile.outputs).map(file => "/" + relative(out, resolve(ROOT, file)).split("\\").join("/"));
		const script = outputs.find(f => /^\/assets\/app-[\w-]+\.js$/.test(f));
		const style = outputs.find(f => /^\/assets\/app-[\w-]+\.css$/.test(f));
		if (!script || !style) throw new Error(`unexpected build outputs: ${outputs.join(", ")}`);
		const template = readFileSync(join(WEB, "index.html"), "utf8");
		if (!template.includes("%APP_JS%") || !template.includes("%APP_CSS%")) throw new Error("web/index.html lacks %APP_JS% / %APP_CSS%");
		// Installable: the manifest and its icons, named by content like the bundles.
		const hashed = (name, ext, data) => {
			const file = `/assets/${name}-${createHash("sha256").update(data).digest("hex").slice(0, 10).toUpperCase()}.${ext}`;
			writeFileSync(join(out, file), data);
			return file;
		};
		const icons = { 192: hashed("icon-192", "png", iconPng(192)), 512: hashed("icon-512", "png", iconPng(512)) };
		const manifestFile = hashed("manifest", "webmanifest", JSON.stringify(manifest(icons), null, 1));
		writeFileSync(
			join(out, "index.html"),
			template.replaceAll("%APP_JS%", script).replaceAll("%APP_CSS%", style).replaceAll("%MANIFEST%", manifestFile).replaceAll("%ICON%", icons[192]),
		);

		let bytes = 0;
		const compress = dir => {
			for (const e of readdirSync(dir, { withFileTypes: true })) {
				const p = join(dir, e.name);
				if (e.isDirectory()) compress(p);
				else if (/\.(html|js|css|svg|json|txt)$/.test(e.name)) {
					const raw = readFileSync(p);
					if (!sourcemap && /\.(js|css)$/.test(e.name) && raw.includes("sourceMappingURL")) throw new Error(`${e.name} names a source map`);
					const gz = gzipSync(raw, { level: 9 });
					if (gz.length < raw.length) writeFileSync(`${p}.gz`, gz);
					bytes += gz.length;
				} else if (e.name.endsWith(".map")) throw new Error(`a source map in the build: ${e.name}`);
			}
		};
		compress(out);
		writeFileSync(join(out, "build.json"), JSON.stringify({ builtAt: new Date().toISOString(), script, style, sourcemap }, null, 2) + "\n");

		const old = join(WEB, `.dist-old-${process.pid}`);
		if (existsSync(DIST)) renameSync(DIST, old);
		renameSync(out, DIST);
		rmSync(old, { recursive: true, force: true });
		log(
			`built web/dist in ${Date.now() - started} ms (${script}, ${style}; ${Math.round(bytes / 1024)} KiB gzipped${sourcemap ? "; source maps inline" : ""})`,
		);
		return true;
	} catch (err) {
		rmSync(out, { recursive: true, force: true });
		throw err;
	}
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
	const args = new Set(process.argv.slice(2));
	buildWeb({ ifStale: args.has("--if-stale"), check: args.has("--check"), sourcemap: args.has("--sourcemap") }).catch(err => {
		console.error(`[web] build failed: ${err.message}`);
		process.exit(1);
	});
}
