import L from "leaflet";
import type { ClientConfig } from "../config";
import { h } from "../dom";
import { ago, ALERT_LABELS, clockTime, coords, fullName, initials, journeySummary } from "../format";
import type { Place, Point, Session, UserRef } from "../types";
import { Geocoder } from "../geocoder";
import { placeText, sharingStatus, type SharedSession } from "../whereabouts";
import { positionFacts, positionSummary } from "./position";

/**
 * The live map of one group: a marker per member coloured by state, with the last-seen time and,
 * when the position says how accurate it is, a faint circle of that radius around it; the route
 * of members on a journey or in SOS; journey destinations. Map tiles come from the
 * configured tile URL; without one the map is a plain background with a coordinate grid, so it
 * stays usable offline and in tests (nothing is fetched from elsewhere).
 */

export interface MapHandlers {
	/** A place was chosen on the map to travel to. */
	pick(latitude: number, longitude: number): void;
	/** Whether choosing a destination makes sense now (no journey or SOS going on). */
	canPick(): boolean;
	/** "Where are you now?" from a member's popup (the button shows it is busy meanwhile); absent: no button (the share page). */
	ask?(userId: string, button: HTMLButtonElement): void;
	/** A click while a place's centre is being chosen: true when it was taken (no journey popup then). */
	placePick?(latitude: number, longitude: number): boolean;
}

interface MemberMarker {
	marker: L.Marker;
	/** The marker's content, moved aside when others stand on the same spot (`spread`). */
	inner: HTMLElement;
	pin: HTMLElement;
	label: HTMLElement;
	/** The accuracy circle, while the position has an accuracy. */
	circle: L.Circle | null;
	session: Session;
}

const STATE_COLORS: Record<string, string> = { ACTIVE: "#1a7f37", INACTIVE: "#6e7781", ROUTING: "#0b5cad", WARNING: "#9a6700", SOS: "#cf222e" };

/** Markers closer than this (px) are spread round their spot, so none hides another. */
const OVERLAP_PX = 30;
const SPREAD_PX = 26;

export class MapView {
	readonly map: L.Map;
	private markers = new Map<string, MemberMarker>();
	private routes = new Map<string, L.Polyline>();
	private destinations = new Map<string, L.Marker>();
	private members = new Map<string, UserRef>();
	private meId = "";
	private fitted = false;
	private grid: L.LayerGroup | null = null;
	/** Where the map looks while it is hidden (no size, so Leaflet cannot say). */
	private keptCenter: L.LatLng | null = null;
	private empty: HTMLElement;
	/** The group's places: a faint circle of the radius with the name (API.md §6.4). */
	private placeLayers = new Map<string, { circle: L.Circle; label: L.Marker }>();
	/** The same places, to say where members are in words. */
	private places: Place[] = [];
	/** Street addresses (GEOCODER_URL); null: none, nothing is asked outside. */
	readonly geocoder: Geocoder | null;
	/** The place being added or edited, before it is saved. */
	private draft: L.Circle | null = null;

	constructor(
		readonly el: HTMLElement,
		config: ClientConfig,
		private readonly handlers: MapHandlers,
	) {
		this.geocoder = config.geocoderUrl ? new Geocoder(config.geocoderUrl) : null;
		this.map = L.map(el, {
			center: config.center,
			zoom: 14,
			zoomControl: true,
			attributionControl: Boolean(config.tileUrl),
			keyboard: true,
			worldCopyJump: true,
		});
		if (config.tileUrl) {
			L.tileLayer(config.tileUrl, { maxZoom: 19, attribution: config.tileAttribution ?? "" }).addTo(this.map);
		} else {
			el.classList.add("no-tiles");
			this.grid = L.layerGroup().addTo(this.map);
			this.map.on("moveend zoomend resize", () => this.drawGrid());
			this.drawGrid();
		}
		L.control.scale({ imperial: false }).addTo(this.map);
		this.addCoordinateReadout();
		this.empty = h("div", { class: "map-empty", role: "note" }, "Nobody in this group is sharing a position yet.");
		el.append(this.empty);
		this.map.on("click", (e: L.LeafletMouseEvent) => this.onClick(e));
		this.map.on("zoomend", () => this.spread());
		// Leaflet measures its container once; panels, banners and tabs change its size later.
		new ResizeObserver(() => this.resized()).observe(el);
		// While hidden (another tab on a phone) the view has no size: remember where it looks.
		this.map.on("moveend", () => {
			if (this.hidden()) this.keptCenter = this.map.getCenter();
		});
	}

	/** Starts over for another group. */
	reset(members: UserRef[], meId: string): void {
		for (const id of [...this.markers.keys()]) this.removeMember(id);
		this.members = new Map(members.map(m => [m.id, m]));
		this.meId = meId;
		this.fitted = false;
		this.map.closePopup();
		this.updateEmpty();
	}

	setMembers(members: UserRef[]): void {
		this.members = new Map(members.map(m => [m.id, m]));
		for (const id of [...this.markers.keys()]) if (!this.members.has(id)) this.removeMember(id);
		for (const entry of this.markers.values()) this.render(entry);
	}

	/** Shows a member's session: moves and recolours the marker, shows or hides the destination. */
	update(session: Session): void {
		const existing = this.markers.get(session.userId);
		if (!session.position) {
			if (existing) this.removeMember(session.userId);
			return;
		}
		const at = L.latLng(session.position.latitude, session.position.longitude);
		if (existing) {
			existing.session = session;
			existing.marker.setLatLng(at);
			this.showAccuracy(existing);
			this.render(existing);
		} else {
			const pin = h("span", { class: "pin" });
			const label = h("span", { class: "marker-label" });
			const inner = h("div", { class: "marker-inner" }, pin, label);
			const icon = L.divIcon({
				className: "member-marker",
				html: inner,
				iconSize: [36, 36],
				iconAnchor: [18, 18],
				popupAnchor: [0, -18],
			});
			const marker = L.marker(at, { icon, keyboard: true, title: "", riseOnHover: true, zIndexOffset: session.userId === this.meId ? 1000 : 0 }).addTo(
				this.map,
			);
			const entry: MemberMarker = { marker, inner, pin, label, circle: null, session };
			marker.bindPopup(() => this.popup(entry.session));
			this.markers.set(session.userId, entry);
			this.showAccuracy(entry);
			this.render(entry);
		}
		this.showDestination(session);
		const route = this.routes.get(session.userId);
		route?.setStyle({ color: STATE_COLORS[session.state] });
		this.updateEmpty();
		this.spread();
		if (!this.fitted) this.fit();
	}

	/**
	 * Members standing on (nearly) the same spot would hide each other: each group of markers closer
	 * than OVERLAP_PX is spread on a small circle round its spot (the position itself is unchanged;
	 * the accuracy circles still show where). Done again on every move and zoom.
	 */
	private spread() {
		const entries = [...this.markers.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, e]) => e);
		const at = entries.map(e => this.map.latLngToLayerPoint(e.marker.getLatLng()));
		const placed = new Set<number>();
		for (let i = 0; i < entries.length; i++) {
			if (placed.has(i)) continue;
			const cluster = [i];
			for (let j = i + 1; j < entries.length; j++) if (!placed.has(j) && at[i]!.distanceTo(at[j]!) < OVERLAP_PX) cluster.push(j);
			cluster.forEach((k, n) => {
				placed.add(k);
				const angle = (2 * Math.PI * n) / cluster.length - Math.PI / 2;
				const [x, y] = cluster.length > 1 ? [Math.round(Math.cos(angle) * SPREAD_PX), Math.round(Math.sin(angle) * SPREAD_PX)] : [0, 0];
				// Through the CSSOM, which the page's CSP allows (a style attribute it would not).
				entries[k]!.inner.style.translate = x || y ? `${x}px ${y}px` : "";
				entries[k]!.inner.toggleAttribute("data-spread", cluster.length > 1);
			});
		}
	}

	/** Re-renders labels (relative times change as time passes). */
	refreshTimes(): void {
		for (const entry of this.markers.values()) this.render(entry);
	}

	setRoute(userId: string, points: Point[], state: string): void {
		this.clearRoute(userId);
		if (points.length === 0) return;
		const line = L.polyline(
			points.map(p => [p.latitude, p.longitude] as L.LatLngTuple),
			{ color: STATE_COLORS[state] ?? "#0b5cad", weight: 4, opacity: 0.75, interactive: false, className: `route route-${userId}` },
		).addTo(this.map);
		this.routes.set(userId, line);
	}

	appendRoute(userId: string, point: Point, state: string): void {
		const line = this.routes.get(userId);
		if (!line) return this.setRoute(userId, [point], state);
		const last = line.getLatLngs().at(-1) as L.LatLng | undefined;
		if (last && last.lat === point.latitude && last.lng === point.longitude) return;
		line.addLatLng([point.latitude, point.longitude]);
	}

	clearRoute(userId: string): void {
		this.routes.get(userId)?.remove();
		this.routes.delete(userId);
	}

	hasRoute(userId: string): boolean {
		return this.routes.has(userId);
	}

	/** Centres on one member. */
	focus(userId: string): void {
		const entry = this.markers.get(userId);
		if (!entry) return;
		this.map.setView(entry.marker.getLatLng(), Math.max(this.map.getZoom(), 15));
		entry.marker.openPopup();
	}

	/** Shows every member with a known position. */
	fit(): void {
		const points = [...this.markers.values()].map(e => e.marker.getLatLng());
		for (const d of this.destinations.values()) points.push(d.getLatLng());
		if (points.length === 0) return;
		this.fitted = true;
		// At once, not animated: a resize meanwhile (panels filling in on a group switch) would stop the
		// animation half way and keep the view where it was (`resized` keeps the current centre).
		if (points.length === 1) this.map.setView(points[0]!, Math.max(this.map.getZoom(), 15), { animate: false });
		else this.map.fitBounds(L.latLngBounds(points), { padding: [48, 48], maxZoom: 16, animate: false });
	}

	/**
	 * Leaflet measures its container once; a container that changed size must say so. The map keeps
	 * looking at the same place: on its own Leaflet would keep the top left corner (or, panning,
	 * put the hidden map's corner in the middle), and a phone switching tabs would lose its members.
	 */
	resized(): void {
		const center = this.hidden() ? this.keptCenter : this.map.getCenter();
		this.map.invalidateSize({ pan: false });
		if (this.hidden()) this.keptCenter = center;
		else if (center && !center.equals(this.map.getCenter())) this.map.setView(center, this.map.getZoom(), { animate: false });
	}

	/** Whether the map has no size now, as Leaflet last measured it. */
	private hidden(): boolean {
		const size = this.map.getSize();
		return size.x === 0 || size.y === 0;
	}

	private removeMember(userId: string) {
		this.markers.get(userId)?.marker.remove();
		this.markers.get(userId)?.circle?.remove();
		this.markers.delete(userId);
		this.destinations.get(userId)?.remove();
		this.destinations.delete(userId);
		this.clearRoute(userId);
		this.updateEmpty();
		this.spread();
	}

	private updateEmpty() {
		this.empty.hidden = this.markers.size > 0;
	}

	private name(userId: string) {
		const member = this.members.get(userId);
		return userId === this.meId ? `${member ? fullName(member) : "You"} (you)` : member ? fullName(member) : "Former member";
	}

	private render(entry: MemberMarker) {
		const { session, pin, label, marker } = entry;
		const member = this.members.get(session.userId);
		const seen = session.position ? ago(session.position.timestamp) : "";
		const status = sharingStatus(session as SharedSession, session.userId === this.meId);
		pin.className = `pin state-${session.state} status-${status.tone}${session.userId === this.meId ? " is-me" : ""}`;
		pin.textContent = initials(member);
		Object.assign(pin.dataset, {
			userId: session.userId,
			state: session.state,
			status: status.tone,
			lat: String(session.position?.latitude ?? ""),
			lng: String(session.position?.longitude ?? ""),
			at: session.position?.timestamp ?? "",
		});
		label.textContent = `${member?.name ?? "?"} · ${seen}`;
		const el = marker.getElement();
		if (el) {
			el.title = `${this.name(session.userId)}: ${status.label}, seen ${seen}`;
			el.setAttribute("aria-label", el.title);
		}
		if (marker.isPopupOpen()) marker.setPopupContent(this.popup(session));
	}

	/**
	 * The circle of the position's accuracy (radius in metres, so it scales with the zoom), in the
	 * member's state colour and faint, under the markers; none when the accuracy is not known.
	 */
	private showAccuracy(entry: MemberMarker) {
		const { session } = entry;
		const accuracy = session.position?.accuracy;
		if (!session.position || typeof accuracy !== "number" || accuracy <= 0) {
			entry.circle?.remove();
			entry.circle = null;
			return;
		}
		const at = L.latLng(session.position.latitude, session.position.longitude);
		const color = STATE_COLORS[session.state] ?? "#6e7781";
		if (entry.circle) {
			entry.circle.setLatLng(at).setRadius(accuracy).setStyle({ color, fillColor: color });
		} else {
			entry.circle = L.circle(at, {
				radius: accuracy,
				color,
				fillColor: color,
				weight: 1,
				opacity: 0.45,
				fillOpacity: 0.08,
				interactive: false,
				className: "accuracy-circle",
			}).addTo(this.map);
		}
		// What the circle stands for, readable from the page (and by tests): whose, and how many metres.
		const path = entry.circle.getElement();
		if (path) {
			path.setAttribute("data-user-id", session.userId);
			path.setAttribute("data-radius", String(accuracy));
		}
	}

	private popup(session: Session): HTMLElement {
		const journey = session.journey;
		const position = session.position;
		const facts = position ? positionFacts(position) : [];
		const name = this.members.get(session.userId);
		const status = sharingStatus(session as SharedSession, session.userId === this.meId);
		let ask: HTMLButtonElement | null = null;
		const askWhere = this.handlers.ask?.bind(this.handlers);
		if (session.userId !== this.meId && name && askWhere)
			ask = h(
				"button",
				{
					type: "button",
					class: "btn btn-small",
					"data-action": "ask-where",
					"aria-label": `Where are you now? Ask ${fullName(name)}`,
					onclick: () => askWhere(session.userId, ask!),
				},
				"Where are you now?",
			);
		return h(
			"div",
			{ class: "popup", "data-user-id": session.userId },
			h("strong", {}, this.name(session.userId)),
			h("div", {}, h("span", { class: `badge state-${session.state} status-${status.tone}` }, status.label)),
			status.detail ? h("div", { class: "popup-status" }, status.detail) : null,
			position ? h("div", {}, `Seen ${ago(position.timestamp)} (${clockTime(position.timestamp)})`) : null,
			position ? h("div", { class: "popup-place" }, placeText(position, this.places, session.place)) : null,
			position && this.geocoder ? this.address(position) : null,
			positionSummary(position),
			facts.length ? h("div", { class: "position-facts" }, facts.join(" · ")) : null,
			journey ? h("div", {}, journeySummary(journey)) : null,
			journey?.alerts.length
				? h(
						"div",
						{ class: "alerts" },
						journey.alerts.map(a => h("span", { class: "chip chip-warning" }, ALERT_LABELS[a] ?? a)),
					)
				: null,
			ask,
		);
	}

	/** The street address of a position (GEOCODER_URL), filled in when the answer comes. */
	private address(position: Point): HTMLElement {
		const line = h("div", { class: "popup-address", hidden: true });
		void this.geocoder?.address(position.latitude, position.longitude).then(text => {
			line.textContent = text ? `Near ${text}` : "";
			line.hidden = !text;
		});
		return line;
	}

	private showDestination(session: Session) {
		const current = this.destinations.get(session.userId);
		const journey = session.journey;
		if (!journey) {
			current?.remove();
			this.destinations.delete(session.userId);
			return;
		}
		const at = L.latLng(journey.destination.latitude, journey.destination.longitude);
		const title = `${this.name(session.userId)} is going to ${journey.destination.name}, by ${clockTime(journey.eta)}`;
		if (current) {
			current.setLatLng(at);
			current.getElement()?.setAttribute("title", title);
			return;
		}
		const icon = L.divIcon({
			className: "destination-marker",
			html: h("span", { class: "flag", "aria-hidden": "true" }),
			iconSize: [28, 28],
			iconAnchor: [6, 26],
		});
		const marker = L.marker(at, { icon, title, keyboard: false, interactive: true }).addTo(this.map);
		// The name is the traveller's own text: an element, never a string, which Leaflet would parse as HTML.
		marker.bindTooltip(h("span", {}, journey.destination.name), { direction: "top", offset: [8, -24] });
		this.destinations.set(session.userId, marker);
	}

	/** Draws the group's places (replacing the ones drawn before). */
	setPlaces(places: Place[]): void {
		this.places = places;
		for (const entry of this.markers.values()) this.render(entry);
		const keep = new Set(places.map(p => p.id));
		for (const [id, drawn] of this.placeLayers)
			if (!keep.has(id)) {
				drawn.circle.remove();
				drawn.label.remove();
				this.placeLayers.delete(id);
			}
		for (const place of places) {
			const at = L.latLng(place.latitude, place.longitude);
			// The name sits on the circle's top edge, clear of whoever stands in the middle.
			const top = L.latLng(place.latitude + place.radius / 111_320, place.longitude);
			// The name is a member's own text: an element, never a string, which Leaflet would parse as HTML.
			const icon = L.divIcon({
				className: "place-label-marker",
				html: h("span", { class: "place-name", "data-place-id": place.id }, place.name),
				iconSize: [0, 0],
			});
			let drawn = this.placeLayers.get(place.id);
			if (drawn) {
				drawn.circle.setLatLng(at).setRadius(place.radius);
				drawn.label.setLatLng(top).setIcon(icon);
			} else {
				drawn = {
					circle: L.circle(at, {
						radius: place.radius,
						color: "#8250df",
						fillColor: "#8250df",
						weight: 1.5,
						opacity: 0.6,
						fillOpacity: 0.06,
						dashArray: "4 4",
						interactive: false,
						className: "place-circle",
					}).addTo(this.map),
					label: L.marker(top, { icon, interactive: false, keyboard: false, zIndexOffset: -1000 }).addTo(this.map),
				};
				this.placeLayers.set(place.id, drawn);
			}
			const path = drawn.circle.getElement();
			if (path) {
				path.setAttribute("data-place-id", place.id);
				path.setAttribute("data-radius", String(place.radius));
			}
		}
	}

	/** The outline of a place being added or edited; null removes it. */
	setDraft(draft: { latitude: number; longitude: number; radius: number } | null): void {
		if (!draft) {
			this.draft?.remove();
			this.draft = null;
			return;
		}
		const at = L.latLng(draft.latitude, draft.longitude);
		if (this.draft) this.draft.setLatLng(at).setRadius(draft.radius);
		else
			this.draft = L.circle(at, {
				radius: draft.radius,
				color: "#8250df",
				weight: 2,
				fillOpacity: 0.12,
				interactive: false,
				className: "place-draft",
			}).addTo(this.map);
	}

	private onClick(e: L.LeafletMouseEvent) {
		const { lat, lng } = e.latlng.wrap();
		if (this.handlers.placePick?.(lat, lng)) return;
		if (!this.handlers.canPick()) return;
		const content = h(
			"div",
			{ class: "popup" },
			h("div", { class: "mono" }, coords(lat, lng)),
			h(
				"button",
				{
					type: "button",
					class: "btn btn-primary btn-small",
					"data-action": "journey-here",
					onclick: () => (this.map.closePopup(), this.handlers.pick(lat, lng)),
				},
				"Journey to here…",
			),
		);
		L.popup({ autoPan: true }).setLatLng(e.latlng).setContent(content).openOn(this.map);
		content.querySelector("button")?.focus();
	}

	/** Lines of latitude and longitude with labels, at a spacing that fits the zoom and the size. */
	private drawGrid() {
		if (!this.grid) return;
		this.grid.clearLayers();
		const bounds = this.map.getBounds();
		const size = this.map.getSize();
		// About one line per 120 px, whichever way the map is longer.
		const stepFor = (span: number, px: number) => {
			const steps = [20, 10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001];
			return steps.find(s => (span / s) * (120 / Math.max(px, 1)) >= 1) ?? steps.at(-1)!;
		};
		const latStep = stepFor(Math.max(bounds.getNorth() - bounds.getSouth(), 1e-6), size.y);
		const lngStep = stepFor(Math.max(bounds.getEast() - bounds.getWest(), 1e-6), size.x);
		const digits = (step: number) => Math.max(0, -Math.floor(Math.log10(step)));
		const style = { color: "#8c959f", weight: 1, opacity: 0.35, interactive: false };
		const label = (at: L.LatLngExpression, text: string, cls: string) =>
			L.marker(at, {
				icon: L.divIcon({ className: `grid-label ${cls}`, html: h("span", {}, text), iconSize: [0, 0] }),
				interactive: false,
				keyboard: false,
			}).addTo(this.grid!);
		// Labels keep clear of the map's own controls in the corners.
		const clear = (p: L.Point) => p.x > 56 && p.x < size.x - 190 && p.y > 56 && p.y < size.y - 36;
		for (let lat = Math.floor(bounds.getSouth() / latStep) * latStep; lat <= bounds.getNorth() + latStep; lat += latStep) {
			L.polyline(
				[
					[lat, bounds.getWest() - 1],
					[lat, bounds.getEast() + 1],
				],
				style,
			).addTo(this.grid);
			const at = this.map.latLngToContainerPoint([lat, bounds.getEast()]);
			if (at.y > 56 && at.y < size.y - 36) label([lat, bounds.getEast()], `${lat.toFixed(digits(latStep))}°`, "grid-lat");
		}
		for (let lng = Math.floor(bounds.getWest() / lngStep) * lngStep; lng <= bounds.getEast() + lngStep; lng += lngStep) {
			L.polyline(
				[
					[bounds.getSouth() - 1, lng],
					[bounds.getNorth() + 1, lng],
				],
				style,
			).addTo(this.grid);
			const at = this.map.latLngToContainerPoint([bounds.getNorth(), lng]);
			if (clear(L.point(at.x, 60))) label([bounds.getNorth(), lng], `${lng.toFixed(digits(lngStep))}°`, "grid-lng");
		}
	}

	/** The pointer's coordinates (or the centre's), for a map without tiles to read. */
	private addCoordinateReadout() {
		const readout = h("div", { class: "coord-readout mono", "aria-hidden": "true" });
		const Readout = L.Control.extend({ onAdd: () => readout });
		new Readout({ position: "bottomright" }).addTo(this.map);
		const show = (latlng: L.LatLng) => (readout.textContent = coords(latlng.lat, latlng.lng));
		this.map.on("mousemove", (e: L.LeafletMouseEvent) => show(e.latlng.wrap()));
		this.map.on("moveend", () => show(this.map.getCenter().wrap()));
		show(this.map.getCenter());
	}
}
