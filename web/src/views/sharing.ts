import type { Api } from "../api";
import { busy, h } from "../dom";
import { clockTime, dateTime } from "../format";
import type { Group, ShareLink } from "../types";
import { copyText, field, formError, modal, showFormError, toast, toastError } from "../ui";

/**
 * "Share a link" (API.md §6.5): a link to my own session in this group, for someone without an
 * account, for a while or until I arrive; the address is in the answer that creates it only (the
 * server keeps a hash), so it is shown here once, with a Copy button. Below, my running links,
 * each with "Stop sharing".
 */

const DURATIONS: [number, string][] = [
	[900, "15 minutes"],
	[3600, "1 hour"],
	[4 * 3600, "4 hours"],
	[86400, "24 hours"],
];

export function openShareLinks(api: Api, group: Group, groups: () => Group[], journeyRunning: boolean): void {
	const error = formError();
	const duration = h(
		"select",
		{ name: "duration" },
		DURATIONS.map(([s, label]) => h("option", { value: s }, label)),
	);
	duration.value = "3600";
	const untilArrival = h("input", { type: "checkbox", name: "untilArrival", checked: journeyRunning });
	const result = h("div", { class: "share-result", hidden: true });
	const list = h("ul", { class: "share-list", "aria-label": "Your running share links" });
	const create = h("button", { type: "submit", class: "btn btn-primary", "data-action": "share-create" }, "Create the link");
	const form = h(
		"form",
		{ class: "stack", novalidate: true },
		h("p", { class: "hint" }, `Anyone with the link sees your position in “${group.name}” (not the group), read-only, until it ends.`),
		field("For", duration),
		journeyRunning ? h("label", { class: "check" }, untilArrival, " Until I arrive (ends with your journey, or sooner when the time is up)") : null,
		error,
		h("div", { class: "actions" }, create),
		result,
	);
	const groupName = (id: string) => groups().find(g => g.id === id)?.name ?? "a group";

	const load = async () => {
		try {
			const links = await api.shareLinks();
			list.replaceChildren(
				...links.map(link =>
					h(
						"li",
						{ "data-link-id": link.id },
						h("span", {}, `${groupName(link.groupId)} · until ${clockTime(link.expiresAt)}${link.untilArrival ? " or arrival" : ""}`),
						h(
							"button",
							{
								type: "button",
								class: "btn btn-small btn-danger",
								"data-action": "share-stop",
								onclick: (e: Event) => void stop(link, e.currentTarget as HTMLButtonElement),
							},
							"Stop sharing",
						),
					),
				),
			);
			if (links.length === 0) list.append(h("li", { class: "hint" }, "No running links."));
		} catch (err) {
			toastError("Could not load your share links", err);
		}
	};
	const stop = async (link: ShareLink, button: HTMLButtonElement) => {
		try {
			await busy(button, () => api.deleteShareLink(link.id), "Stopping…");
			toast({ title: "The link no longer shows anything", kind: "success" });
			await load();
		} catch (err) {
			toastError("Could not stop the link", err);
		}
	};

	form.addEventListener("submit", async event => {
		event.preventDefault();
		showFormError(error, null);
		try {
			const link = await busy(
				create,
				() =>
					api.createShareLink({
						groupId: group.id,
						duration: Number(duration.value),
						...(journeyRunning && untilArrival.checked ? { untilArrival: true } : {}),
					}),
				"Creating…",
			);
			const url = link.url ?? "";
			const input = h("input", {
				type: "text",
				readonly: true,
				value: url,
				class: "mono share-url",
				"aria-label": "Share link",
				onfocus: () => input.select(),
			});
			const status = h("span", { class: "copy-status", role: "status" });
			const copy = h("button", { type: "button", class: "btn", "data-action": "share-copy" }, "Copy");
			copy.addEventListener("click", async () => {
				status.textContent = (await copyText(url, input)) ? "Copied" : "Select the text and copy it.";
			});
			result.replaceChildren(
				h("p", {}, `Send this link: it works until ${dateTime(link.expiresAt)}${link.untilArrival ? " or until you arrive" : ""}.`),
				h("div", { class: "copy-row" }, input, copy),
				status,
			);
			result.hidden = false;
			await load();
		} catch (err) {
			showFormError(error, err);
		}
	});

	modal("Share a link", () => [form, h("section", {}, h("h3", {}, "Your running links"), list)]);
	void load();
}
