import { h } from "../dom";
import { accuracyText, altitudeText, batteryLevel, headingText, LOW_BATTERY, SOURCE_LABELS, speedText } from "../format";
import type { Point } from "../types";

/**
 * The details a position may carry (API.md §6.3: battery, charging, source, accuracy, speed,
 * heading, altitude), as text for the member list and the map popup. A detail the sender did not
 * know is absent from the point, and then nothing is shown for it (never "0 %" or "unknown").
 */

/** The battery as a small gauge and "34 %" (", charging"); highlighted when low. Null without a level. */
export function batteryChip(point: Point | null | undefined): HTMLElement | null {
	if (typeof point?.battery !== "number") return null;
	const low = point.battery < LOW_BATTERY;
	const charging = point.charging === true;
	const level = batteryLevel(point.battery);
	const fill = h("span", { class: "battery-fill" });
	// Through the CSSOM, which the page's CSP allows (a style attribute it would not).
	fill.style.setProperty("--level", String(Math.max(0, Math.min(100, point.battery))));
	const label = `Battery ${level}${charging ? ", charging" : ""}${low ? ", low" : ""}`;
	return h(
		"span",
		{ class: `battery${low ? " battery-low" : ""}${charging ? " battery-charging" : ""}`, title: label, "data-battery": point.battery },
		h("span", { class: "battery-icon", "aria-hidden": "true" }, fill),
		h("span", { class: "visually-hidden" }, "Battery "),
		h("span", { class: "battery-text" }, level),
		charging ? h("span", { class: "battery-note" }, " charging") : null,
		low && !charging ? h("span", { class: "battery-note" }, " low") : null,
	);
}

/** "via OwnTracks" when the position came from a phone app; null for the web client or an unknown source. */
export function sourceText(point: Point | null | undefined): string | null {
	const app = point?.source ? SOURCE_LABELS[point.source] : undefined;
	return app ? `via ${app}` : null;
}

/** The line under a member's name: battery and source, separated; null when the point has neither. */
export function positionSummary(point: Point | null | undefined): HTMLElement | null {
	const battery = batteryChip(point);
	const source = sourceText(point);
	if (!battery && !source) return null;
	return h("span", { class: "position-summary" }, battery, battery && source ? " · " : null, source ? h("span", { class: "position-source" }, source) : null);
}

/** Everything known about the position, one short phrase each (the popup's list). */
export function positionFacts(point: Point): string[] {
	const facts: string[] = [];
	if (typeof point.accuracy === "number") facts.push(`accurate to ${accuracyText(point.accuracy)}`);
	if (typeof point.speed === "number") facts.push(`moving at ${speedText(point.speed)}`);
	if (typeof point.heading === "number" && (point.speed ?? 1) > 0) facts.push(`heading ${headingText(point.heading)}`);
	if (typeof point.altitude === "number") facts.push(altitudeText(point.altitude));
	return facts;
}
