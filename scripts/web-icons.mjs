// The web client's app icons (web app manifest, home screen), drawn here as PNGs at build time:
// a white map pin on the brand blue, on a full square so the "maskable" icon survives any mask.
// No image files in the repository and no drawing library: a few lines of geometry and zlib.
import { deflateSync } from "node:zlib";

const BLUE = [0x0b, 0x5c, 0xad];
const WHITE = [0xff, 0xff, 0xff];

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
	let c = n;
	for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
	return c >>> 0;
});
function crc32(bytes) {
	let c = 0xffffffff;
	for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
	return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
	const head = Buffer.alloc(8);
	head.writeUInt32BE(data.length, 0);
	head.write(type, 4, "ascii");
	const crc = Buffer.alloc(4);
	crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
	return Buffer.concat([head, data, crc]);
}

/** Whether (x, y), in units of the icon's side (0..1), is on the pin: a ring above a point, with a hole. */
function onPin(x, y) {
	const cx = 0.5;
	const cy = 0.42;
	const r = 0.22;
	const d = Math.hypot(x - cx, y - cy);
	if (d <= 0.085) return false; // the hole
	if (d <= r) return true;
	// The point: a triangle from the circle's sides down to (0.5, 0.82).
	if (y < cy || y > 0.82) return false;
	const half = r * (1 - (y - cy) / (0.82 - cy)) * 0.92;
	return Math.abs(x - cx) <= half;
}

/** A square PNG of `size` pixels (RGB, 2×2 supersampled edges). */
export function iconPng(size) {
	const row = size * 3 + 1;
	const raw = Buffer.alloc(row * size);
	for (let y = 0; y < size; y++) {
		raw[y * row] = 0; // filter: none
		for (let x = 0; x < size; x++) {
			let hits = 0;
			for (const [dx, dy] of [
				[0.25, 0.25],
				[0.75, 0.25],
				[0.25, 0.75],
				[0.75, 0.75],
			])
				if (onPin((x + dx) / size, (y + dy) / size)) hits++;
			const t = hits / 4;
			for (let c = 0; c < 3; c++) raw[y * row + 1 + x * 3 + c] = Math.round(BLUE[c] * (1 - t) + WHITE[c] * t);
		}
	}
	const ihdr = Buffer.alloc(13);
	ihdr.writeUInt32BE(size, 0);
	ihdr.writeUInt32BE(size, 4);
	ihdr[8] = 8; // bit depth
	ihdr[9] = 2; // RGB
	return Buffer.concat([
		Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
		chunk("IHDR", ihdr),
		chunk("IDAT", deflateSync(raw, { level: 9 })),
		chunk("IEND", Buffer.alloc(0)),
	]);
}

/** The web app manifest (installable: name, start URL, standalone display, 192 and 512 px icons). */
export function manifest(icons) {
	return {
		name: "PositionPal",
		short_name: "PositionPal",
		description: "Live location, journeys, SOS and chat for trusted groups.",
		id: "/",
		start_url: "/",
		scope: "/",
		display: "standalone",
		orientation: "any",
		background_color: "#ffffff",
		theme_color: "#0b5cad",
		icons: [
			{ src: icons[192], sizes: "192x192", type: "image/png", purpose: "any" },
			{ src: icons[512], sizes: "512x512", type: "image/png", purpose: "any" },
			{ src: icons[512], sizes: "512x512", type: "image/png", purpose: "maskable" },
		],
	};
}
