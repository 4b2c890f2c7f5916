import { busy, formValues, h } from "../dom";
import type { Geocoder } from "../geocoder";
import { clockTime } from "../format";
import type { JourneyMode } from "../types";
import { field, formError, modal, showFormError } from "../ui";

/** Announce a journey: destination (from a map click, or typed), arrival time and mode. */

export interface JourneyRequest {
	destination: { name: string; latitude: number; longitude: number };
	eta: string;
	mode: JourneyMode;
}

export function planJourney(
	at: { latitude: number; longitude: number },
	start: (journey: JourneyRequest) => Promise<void>,
	geocoder: Geocoder | null = null,
): void {
	const error = formError();
	const minutes = h("input", { name: "minutes", type: "number", min: 1, max: 1440, step: 1, value: 15, required: true, inputmode: "numeric" });
	const etaHint = h("small", { class: "hint", id: "eta-hint", "aria-live": "polite" });
	const showEta = () => {
		const m = Number(minutes.value);
		etaHint.textContent = Number.isFinite(m) && m > 0 ? `Expected by ${clockTime(new Date(Date.now() + m * 60_000).toISOString())}.` : "";
	};
	minutes.setAttribute("aria-describedby", "eta-hint");
	minutes.addEventListener("input", showEta);
	showEta();

	const modes: JourneyMode[] = ["walking", "cycling", "driving"];
	const form = h(
		"form",
		{ class: "stack", novalidate: true },
		field("Destination name", h("input", { name: "name", required: true, maxlength: 100, value: "Destination", autocomplete: "off" })),
		h(
			"div",
			{ class: "row" },
			field("Latitude", h("input", { name: "latitude", type: "number", step: "any", min: -90, max: 90, required: true, value: at.latitude.toFixed(6) })),
			field("Longitude", h("input", { name: "longitude", type: "number", step: "any", min: -180, max: 180, required: true, value: at.longitude.toFixed(6) })),
		),
		h("div", { class: "field" }, h("label", { for: minutes.id || (minutes.id = "eta-minutes") }, "Arrive within (minutes)"), minutes, etaHint),
		h(
			"fieldset",
			{ class: "modes" },
			h("legend", {}, "Travelling by"),
			modes.map((mode, i) =>
				h("label", { class: "mode" }, h("input", { type: "radio", name: "mode", value: mode, checked: i === 0 }), " ", mode[0]!.toUpperCase() + mode.slice(1)),
			),
		),
		error,
		h("div", { class: "actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Start journey")),
	);
	// With a geocoder (GEOCODER_URL): find the destination by name or address.
	const search = geocoder
		? placeSearch(geocoder, found => {
				(form.elements.namedItem("name") as HTMLInputElement).value = found.name;
				(form.elements.namedItem("latitude") as HTMLInputElement).value = found.latitude.toFixed(6);
				(form.elements.namedItem("longitude") as HTMLInputElement).value = found.longitude.toFixed(6);
			})
		: null;
	const dialog = modal("Start a journey", () => [
		h(
			"p",
			{ class: "muted" },
			"Your group is told where you are going and when to expect you, and warned if you are late or stop moving. Tip: click the map to choose the destination.",
		),
		...(search ? [search] : []),
		form,
	]);
	form.addEventListener("submit", async event => {
		event.preventDefault();
		const v = formValues(form);
		const request: JourneyRequest = {
			destination: { name: v.name ?? "", latitude: Number(v.latitude), longitude: Number(v.longitude) },
			eta: new Date(Date.now() + Number(v.minutes) * 60_000).toISOString(),
			mode: (v.mode as JourneyMode) ?? "walking",
		};
		showFormError(error, null);
		if (!v.latitude || !v.longitude) {
			showFormError(error, new Error("Enter the destination's latitude and longitude, or click the map to choose it."));
			return;
		}
		if (!v.minutes || !Number.isFinite(Number(v.minutes)) || Number(v.minutes) <= 0) {
			showFormError(error, new Error("Enter in how many minutes you expect to arrive."));
			return;
		}
		try {
			await busy(form.querySelector("button[type=submit]"), () => start(request), "Starting…");
			dialog.close();
		} catch (err) {
			showFormError(error, err);
		}
	});
}

/** "Search for a place": the geocoder's matches as buttons; choosing one fills in the destination. */
function placeSearch(geocoder: Geocoder, choose: (found: { name: string; latitude: number; longitude: number }) => void): HTMLElement {
	const input = h("input", { type: "search", name: "q", placeholder: "Street, town or place", autocomplete: "off", "aria-label": "Search for a place" });
	const results = h("ul", { class: "place-results", "aria-label": "Places found" });
	const status = h("p", { class: "hint", role: "status" });
	const form = h(
		"form",
		{ class: "place-search", role: "search" },
		h("div", { class: "copy-row" }, input, h("button", { type: "submit", class: "btn" }, "Search")),
		status,
		results,
	);
	form.addEventListener("submit", async event => {
		event.preventDefault();
		const text = input.value.trim();
		if (!text) return;
		status.textContent = "Searching…";
		results.replaceChildren();
		try {
			const found = await geocoder.search(text);
			status.textContent = found.length ? "" : "Nothing found: try other words, or click the map.";
			results.replaceChildren(
				...found.map(place =>
					h(
						"li",
						{},
						h(
							"button",
							{
								type: "button",
								class: "btn btn-small",
								onclick: () => (choose(place), results.replaceChildren(), (status.textContent = `Destination: ${place.name}`)),
							},
							place.name,
						),
					),
				),
			);
		} catch {
			status.textContent = "The place search is not available now: click the map instead.";
		}
	});
	return form;
}
