import L from "leaflet";
import type { Api } from "../api";
import type { ClientConfig } from "../config";
import { busy, h } from "../dom";
import { clockTime, plural } from "../format";
import type { Point } from "../types";
import { confirmAction, field, modal, toast, toastError } from "../ui";

/**
 * "Your history" (API.md §6.6): my own positions of one day as a line on a small map, downloads
 * as GPX, GeoJSON or JSON, and "Delete my history". The exports need the Authorization header, so
 * they are fetched here and saved as a Blob (a plain link could not send the token).
 */

/** The local day of `date` (yyyy-mm-dd) as an ISO range. */
function dayRange(date: string): { from: string; to: string } {
	const start = new Date(`${date}T00:00:00`);
	const end = new Date(start);
	end.setDate(end.getDate() + 1);
	return { from: start.toISOString(), to: new Date(Math.min(end.getTime(), Date.now())).toISOString() };
}

const today = () => {
	const d = new Date();
	return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
};

const FORMATS = [
	["gpx", "GPX", "gpx"],
	["geojson", "GeoJSON", "geojson"],
	["json", "JSON", "json"],
] as const;

export function openHistory(api: Api, config: ClientConfig): void {
	const day = h("input", { type: "date", name: "day", value: today(), max: today() });
	const summary = h("p", { class: "history-summary", role: "status" }, "Loading…");
	const mapEl = h("div", { class: "history-map", role: "region", "aria-label": "Map of your positions of the day" });
	const downloads = h(
		"div",
		{ class: "history-downloads" },
		FORMATS.map(([format, label, ext]) => {
			const button = h("button", { type: "button", class: "btn btn-small", "data-format": format }, `Download ${label}`);
			button.addEventListener("click", () => void download(format, ext, button));
			return button;
		}),
	);
	const remove = h("button", { type: "button", class: "btn btn-danger", "data-action": "history-delete" }, "Delete my history");
	let map: L.Map | null = null;
	let line: L.Polyline | null = null;

	const download = async (format: "gpx" | "geojson" | "json", ext: string, button: HTMLButtonElement) => {
		try {
			const { from, to } = dayRange(day.value || today());
			const blob = await busy(button, () => api.historyFile(from, to, format), "Downloading…");
			const url = URL.createObjectURL(blob);
			const a = h("a", { href: url, download: `positionpal-${day.value || today()}.${ext}`, hidden: true });
			document.body.append(a);
			a.click();
			a.remove();
			window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
		} catch (err) {
			toastError("Could not download your history", err);
		}
	};

	const show = async () => {
		const { from, to } = dayRange(day.value || today());
		summary.textContent = "Loading…";
		try {
			const { points } = await api.history(from, to);
			draw(points);
			summary.dataset.points = String(points.length);
			summary.textContent = points.length
				? `${plural(points.length, "point")} from ${clockTime(points[0]!.timestamp)} to ${clockTime(points.at(-1)!.timestamp)}`
				: "No positions kept for this day.";
		} catch (err) {
			summary.textContent = "";
			toastError("Could not load your history", err);
		}
	};

	const draw = (points: Point[]) => {
		if (!map) return;
		line?.remove();
		line = null;
		if (points.length === 0) return;
		const latlngs = points.map(p => [p.latitude, p.longitude] as L.LatLngTuple);
		line = L.polyline(latlngs, { color: "#0b5cad", weight: 4, opacity: 0.8, className: "history-line" }).addTo(map);
		map.fitBounds(line.getBounds(), { padding: [24, 24], maxZoom: 16 });
	};

	remove.addEventListener("click", async () => {
		if (
			!(await confirmAction({
				title: "Delete your history?",
				message: "Every position kept for you is deleted, on every day. Nobody else could read it; this cannot be undone.",
				confirm: "Delete my history",
				danger: true,
			}))
		)
			return;
		try {
			await busy(remove, () => api.deleteHistory(), "Deleting…");
			toast({ title: "Your history is deleted", kind: "success" });
			await show();
		} catch (err) {
			toastError("Could not delete your history", err);
		}
	});
	day.addEventListener("change", () => void show());

	modal(
		"Your history",
		() => [
			h("p", { class: "hint" }, "Your own positions, kept for a limited time. Only you can see them."),
			field("Day", day),
			summary,
			mapEl,
			downloads,
			h("div", { class: "actions" }, remove),
		],
		{ onClose: () => map?.remove() },
	);
	map = L.map(mapEl, { center: config.center, zoom: 13, attributionControl: Boolean(config.tileUrl) });
	if (config.tileUrl) L.tileLayer(config.tileUrl, { maxZoom: 19, attribution: config.tileAttribution ?? "" }).addTo(map);
	else mapEl.classList.add("no-tiles");
	requestAnimationFrame(() => map?.invalidateSize());
	void show();
}
