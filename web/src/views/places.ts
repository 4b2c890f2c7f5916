import type { Api } from "../api";
import { busy, h } from "../dom";
import { coords } from "../format";
import type { Place } from "../types";
import { confirmAction, field, formError, showFormError, toast, toastError } from "../ui";

/**
 * The group's places (API.md §6.4), in a panel over the map: the list, and a form to add one
 * (name, radius 25–5000 m, the centre chosen by clicking the map or "here, where I am") or to
 * rename, move or resize one; delete asks first. The map draws them; `place:changed` re-reads.
 */

export interface PlaceHooks {
	api: Api;
	groupId(): string | null;
	/** The places were read again: draw them. */
	drawn(places: Place[]): void;
	/** The outline of the place being edited (null: none). */
	draft(draft: { latitude: number; longitude: number; radius: number } | null): void;
	/** Where I am, if known. */
	here(): { latitude: number; longitude: number } | null;
}

export class PlacesPanel {
	readonly el: HTMLElement;
	places: Place[] = [];
	private list: HTMLUListElement;
	private form: HTMLFormElement;
	private nameInput: HTMLInputElement;
	private radiusInput: HTMLInputElement;
	private centreText: HTMLElement;
	private error: HTMLElement;
	private title: HTMLElement;
	private centre: { latitude: number; longitude: number } | null = null;
	private editing: Place | null = null;
	private loadedFor: string | null = null;
	private reads = 0;

	constructor(private readonly hooks: PlaceHooks) {
		this.list = h("ul", { class: "place-list", "aria-label": "Places" });
		this.nameInput = h("input", { name: "name", required: true, maxlength: 60, autocomplete: "off" });
		this.radiusInput = h("input", { name: "radius", type: "number", min: 25, max: 5000, step: 5, required: true, value: "100" });
		this.radiusInput.addEventListener("input", () => this.showDraft());
		this.centreText = h("p", { class: "place-centre hint", role: "status" });
		this.error = formError();
		this.title = h("h3", {}, "New place");
		const here = h("button", { type: "button", class: "btn btn-small", "data-action": "place-here" }, "Here, where I am");
		here.addEventListener("click", () => {
			const at = this.hooks.here();
			if (!at) return showFormError(this.error, new Error("Your position is not known yet: share your location, or click on the map."));
			this.setCentre(at.latitude, at.longitude);
		});
		this.form = h(
			"form",
			{ class: "place-form stack", novalidate: true, hidden: true },
			this.title,
			field("Name", this.nameInput),
			field("Radius (m)", this.radiusInput, "25 to 5000 metres."),
			this.centreText,
			h("div", { class: "row" }, here),
			this.error,
			h(
				"div",
				{ class: "actions" },
				h("button", { type: "button", class: "btn", onclick: () => this.closeForm() }, "Cancel"),
				h("button", { type: "submit", class: "btn btn-primary", "data-action": "place-save" }, "Save place"),
			),
		);
		this.form.addEventListener("submit", event => {
			event.preventDefault();
			void this.save();
		});
		const add = h(
			"button",
			{ type: "button", class: "btn btn-small btn-primary", "data-action": "place-add", onclick: () => this.openForm(null) },
			"Add a place",
		);
		this.el = h(
			"section",
			{ class: "places-panel", "aria-labelledby": "places-title", hidden: true },
			h(
				"header",
				{ class: "places-head" },
				h("h2", { id: "places-title" }, "Places"),
				add,
				h("button", { type: "button", class: "icon-btn", "aria-label": "Close the places", onclick: () => this.hide() }, "×"),
			),
			this.list,
			this.form,
		);
	}

	get open(): boolean {
		return !this.el.hidden;
	}

	toggle(): void {
		if (this.open) this.hide();
		else this.el.hidden = false;
	}

	hide(): void {
		this.closeForm();
		this.el.hidden = true;
	}

	/** Whether a map click chooses a centre now. */
	get picking(): boolean {
		return this.open && !this.form.hidden;
	}

	/** A map click while the form is open: the place's centre. */
	pick(latitude: number, longitude: number): boolean {
		if (!this.picking) return false;
		this.setCentre(latitude, longitude);
		return true;
	}

	/** Reads the places of the selected group (on select, after a reconnection, on place:changed). */
	async load(groupId: string): Promise<void> {
		if (groupId !== this.loadedFor) this.closeForm();
		this.loadedFor = groupId;
		// Reads can cross (two place:changed in a row): only the latest one's answer is shown.
		const read = ++this.reads;
		try {
			const places = await this.hooks.api.places(groupId);
			if (groupId !== this.hooks.groupId() || read !== this.reads) return;
			this.places = places;
			this.render();
			this.hooks.drawn(places);
		} catch (err) {
			if (groupId === this.hooks.groupId()) toastError("Could not load the group's places", err);
		}
	}

	private render() {
		this.list.replaceChildren(
			...this.places.map(place =>
				h(
					"li",
					{ class: "place", "data-place-id": place.id },
					h("div", { class: "place-text" }, h("strong", { class: "place-label" }, place.name), h("span", { class: "hint" }, ` ${place.radius} m`)),
					h(
						"div",
						{ class: "place-actions" },
						h("button", { type: "button", class: "btn btn-small", "data-action": "place-edit", onclick: () => this.openForm(place) }, "Edit"),
						h("button", { type: "button", class: "btn btn-small btn-danger", "data-action": "place-delete", onclick: () => void this.remove(place) }, "Delete"),
					),
				),
			),
		);
		if (this.places.length === 0)
			this.list.append(h("li", { class: "hint place-none" }, "No places yet. Add home, school or work to hear when someone arrives."));
	}

	private openForm(place: Place | null) {
		this.editing = place;
		this.title.textContent = place ? `Edit “${place.name}”` : "New place";
		this.nameInput.value = place?.name ?? "";
		this.radiusInput.value = String(place?.radius ?? 100);
		this.centre = place ? { latitude: place.latitude, longitude: place.longitude } : null;
		showFormError(this.error, null);
		this.form.hidden = false;
		this.showCentre();
		this.showDraft();
		this.nameInput.focus();
	}

	private closeForm() {
		this.form.hidden = true;
		this.editing = null;
		this.centre = null;
		this.hooks.draft(null);
	}

	private setCentre(latitude: number, longitude: number) {
		this.centre = { latitude, longitude };
		showFormError(this.error, null);
		this.showCentre();
		this.showDraft();
	}

	private showCentre() {
		this.centreText.textContent = this.centre
			? `Centre: ${coords(this.centre.latitude, this.centre.longitude)} (click on the map to move it)`
			: "Click on the map to set the centre.";
	}

	private showDraft() {
		const radius = Number(this.radiusInput.value);
		this.hooks.draft(this.centre && radius > 0 ? { ...this.centre, radius: Math.min(radius, 5000) } : null);
	}

	private async save() {
		const groupId = this.hooks.groupId();
		if (!groupId) return;
		const name = this.nameInput.value.trim();
		const radius = Number(this.radiusInput.value);
		const problems: string[] = [];
		if (!name) problems.push("Give the place a name.");
		if (!Number.isFinite(radius) || radius < 25 || radius > 5000) problems.push("The radius is 25 to 5000 metres.");
		if (!this.centre) problems.push("Click on the map to set the centre.");
		if (problems.length) return showFormError(this.error, new Error(problems.join(" ")));
		const body = { name, radius, latitude: this.centre!.latitude, longitude: this.centre!.longitude };
		const editing = this.editing;
		try {
			await busy(this.form.querySelector("button[type=submit]"), () =>
				editing ? this.hooks.api.updatePlace(groupId, editing.id, body) : this.hooks.api.createPlace(groupId, body),
			);
			toast({ title: editing ? `“${name}” saved` : `“${name}” added`, kind: "success" });
			this.closeForm();
			await this.load(groupId);
		} catch (err) {
			showFormError(this.error, err);
		}
	}

	private async remove(place: Place) {
		const groupId = this.hooks.groupId();
		if (!groupId) return;
		if (
			!(await confirmAction({
				title: `Delete “${place.name}”?`,
				message: "Nobody will be told about arriving there or leaving any more.",
				confirm: "Delete",
				danger: true,
			}))
		)
			return;
		try {
			await this.hooks.api.deletePlace(groupId, place.id);
			if (this.editing?.id === place.id) this.closeForm();
			await this.load(groupId);
		} catch (err) {
			toastError("Could not delete the place", err);
		}
	}
}
