import { encode } from "uqr";

/**
 * A QR code as an inline SVG built with DOM calls: nothing goes through innerHTML or a data: URL,
 * so the page's CSP (no inline scripts) has nothing to say about it. The code carries the standard
 * quiet zone of 4 light modules, and each module is a whole number of CSS pixels (at least 3):
 * phone cameras read crisp, evenly sized modules best.
 */

const SVG = "http://www.w3.org/2000/svg";
/** Light modules around the code, as the QR standard asks. */
const QUIET_ZONE = 4;

export function qrCode(text: string, opts: { label: string }): SVGSVGElement {
	// Level L fits the longest setup links (~460 bytes) in version 14; boostEcc raises the level
	// as far as the same version allows. A screen is clean: L is readable.
	const { data, size } = encode(text, { ecc: "L", boostEcc: true, border: QUIET_ZONE });
	const px = String(size * 3);
	let d = "";
	data.forEach((row, y) => {
		for (let x = 0; x < size; x++) {
			if (!row[x]) continue;
			const start = x;
			while (x + 1 < size && row[x + 1]) x++;
			d += `M${start} ${y}h${x - start + 1}v1h-${x - start + 1}z`;
		}
	});
	const svg = document.createElementNS(SVG, "svg");
	for (const [name, value] of Object.entries({
		class: "qr-code",
		viewBox: `0 0 ${size} ${size}`,
		width: px,
		height: px,
		role: "img",
		"aria-label": opts.label,
		"shape-rendering": "crispEdges",
	}))
		svg.setAttribute(name, value);
	svg.style.setProperty("--qr-modules", String(size));
	const light = document.createElementNS(SVG, "rect");
	light.setAttribute("width", String(size));
	light.setAttribute("height", String(size));
	light.setAttribute("fill", "#fff");
	const dark = document.createElementNS(SVG, "path");
	dark.setAttribute("d", d);
	dark.setAttribute("fill", "#000");
	svg.append(light, dark);
	return svg;
}
