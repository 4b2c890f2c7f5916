import type { Api } from "../api";
import { busy, formValues, h, replace } from "../dom";
import { ago, dateTime } from "../format";
import { qrCode } from "../qr";
import type { Device, DeviceProtocol, NewDevice, OsmAndCredentials, OwnTracksCredentials } from "../types";
import { confirmAction, copyText, field, formError, modal, showFormError, toast } from "../ui";

/**
 * "Your phones" (API.md §6.2): a browser stops sharing when its tab is in the background, a phone
 * app keeps reporting from a pocket. The user lists their phones (when each last reported),
 * removes one, and adds one for OwnTracks or for Traccar Client / OsmAnd. The new phone's
 * credentials are in the answer that creates it and nowhere else (the server keeps hashes), so
 * the setup is shown once, in this dialog only: closing it or pressing Done forgets them.
 */

export const PROTOCOL_LABELS: Record<DeviceProtocol, string> = { owntracks: "OwnTracks", osmand: "Traccar Client or OsmAnd" };

/** While a new phone has not reported yet, the list is re-read this often (then every 30 s). */
const WAITING_REFRESH_MS = 5_000;
const REFRESH_MS = 30_000;

/**
 * The web address OsmAnd's online tracking calls. OsmAnd fills the placeholders in
 * LiveMonitoringHelper.getLiveUrl (osmandapp/OsmAnd,
 * OsmAnd/src/net/osmand/plus/plugins/monitoring/LiveMonitoringHelper.java) with MessageFormat:
 * {0} latitude, {1} longitude, {2} the time in epoch ms, {3} "hdop" (Location.getAccuracy(), in
 * metres), {4} altitude, {5} speed (Location.getSpeed(), in m/s), {6} bearing. The server reads
 * `speed` in knots as Traccar does, and OsmAnd would send m/s: the address leaves speed out rather
 * than show half the real speed (the web client derives none from it anyway).
 */
export function osmAndTrackingUrl(c: OsmAndCredentials): string {
	return `${c.url}${c.url.includes("?") ? "&" : "?"}id=${encodeURIComponent(c.id)}&lat={0}&lon={1}&timestamp={2}&hdop={3}&altitude={4}&bearing={6}`;
}

/** "Last seen 3 min ago" / "Never seen". */
function lastSeen(device: Device): HTMLElement {
	if (!device.lastSeenAt) return h("span", { class: "device-seen" }, "Never seen");
	return h(
		"span",
		{ class: "device-seen" },
		"Last seen ",
		h("time", { datetime: device.lastSeenAt, title: dateTime(device.lastSeenAt) }, ago(device.lastSeenAt)),
	);
}

/** A server address only this computer reaches: a phone could not report to it. */
function onlyThisComputer(url: string): boolean {
	try {
		const host = new URL(url).hostname;
		return host === "localhost" || host === "[::1]" || /^127\./.test(host);
	} catch {
		return false;
	}
}

/** A read-only value with a Copy button (the text stays selectable when the clipboard is refused). */
function copyRow(label: string, value: string): HTMLElement {
	const input = h("input", { type: "text", readonly: true, value, class: "mono", "aria-label": label, onfocus: () => input.select() });
	const status = h("span", { class: "copy-status", role: "status" });
	const copy = h("button", { type: "button", class: "btn", "aria-label": `Copy the ${label.toLowerCase()}` }, "Copy");
	copy.addEventListener("click", async () => {
		const ok = await copyText(value, input);
		status.textContent = ok ? "Copied" : "Select the text and copy it.";
	});
	return h("div", { class: "copy-field" }, h("span", { class: "copy-label" }, label), h("div", { class: "copy-row" }, input, copy), status);
}

const steps = (...lines: (string | Node)[][]) => h("ol", { class: "setup-steps" }, ...lines.map(line => h("li", {}, ...line)));

function ownTracksSetup(c: OwnTracksCredentials): Node[] {
	return [
		steps(
			["Install ", h("strong", {}, "OwnTracks"), " on the phone (App Store or Google Play)."],
			["Scan this QR code with the phone's camera, or open the link on the phone: OwnTracks opens and sets itself up."],
			["When the app asks, allow location access ", h("strong", {}, "Always"), " (Android: “Allow all the time”)."],
		),
		// Reading this page on the phone itself: no camera needed.
		h("p", { class: "open-app" }, "On this phone? ", h("a", { href: c.configUrl, class: "btn btn-small" }, "Open in OwnTracks")),
		h("div", { class: "qr-frame" }, qrCode(c.configUrl, { label: "QR code of the OwnTracks setup link" })),
		copyRow("OwnTracks setup link", c.configUrl),
	];
}

function osmAndSetup(c: OsmAndCredentials): Node[] {
	return [
		copyRow("Server URL", c.url),
		copyRow("Device id", c.id),
		h("h4", {}, "Traccar Client"),
		steps(
			["Install ", h("strong", {}, "Traccar Client"), " (App Store or Google Play)."],
			["In its settings, set ", h("em", {}, "Server URL"), " and ", h("em", {}, "Device identifier"), " to the two values above."],
			["Start the service, and allow location access ", h("strong", {}, "Always"), "."],
		),
		h("h4", {}, "OsmAnd"),
		steps(
			["Install ", h("strong", {}, "OsmAnd"), " and turn on the ", h("em", {}, "Trip recording"), " plugin (Menu → Plugins)."],
			["In Trip recording → ", h("em", {}, "Online tracking"), ", set the web address to:", copyRow("OsmAnd web address", osmAndTrackingUrl(c))],
			["Turn on online tracking and start recording; allow location access ", h("strong", {}, "Always"), "."],
		),
	];
}

export function openDevices(api: Api): void {
	let devices: Device[] = [];
	/** The phone whose setup is on screen (its credentials live only in this closure). */
	let setupFor: string | null = null;
	let timer = 0;
	let open = true;

	const list = h("ul", { class: "pending-list device-list", "aria-label": "Your phones" });
	const listError = formError();
	const setup = h("section", { class: "device-setup", "aria-labelledby": "device-setup-title", tabindex: -1, hidden: true });
	const setupStatus = h("p", { class: "setup-status", role: "status" });

	const render = () => {
		list.replaceChildren(...devices.map(row));
		if (devices.length === 0) list.append(h("li", { class: "empty" }, "No phones yet. Add one below: it keeps sharing from your pocket."));
		const waiting = devices.find(d => d.id === setupFor);
		if (waiting) {
			setupStatus.textContent = waiting.lastSeenAt
				? `It works: the phone reported ${ago(waiting.lastSeenAt)}.`
				: "Waiting for the first report from the phone…";
			setupStatus.classList.toggle("setup-ok", Boolean(waiting.lastSeenAt));
		}
	};

	const row = (device: Device) => {
		const remove = h("button", { type: "button", class: "btn btn-small btn-danger-quiet", "aria-label": `Remove ${device.name}` }, "Remove");
		remove.addEventListener("click", async () => {
			const sure = await confirmAction({
				title: "Remove this phone?",
				message: `“${device.name}” can no longer send your position. Remove its settings from the app too.`,
				confirm: "Remove",
				danger: true,
			});
			if (!sure) return;
			showFormError(listError, null);
			try {
				await busy(remove, () => api.deleteDevice(device.id), "Removing…");
				devices = devices.filter(d => d.id !== device.id);
				if (setupFor === device.id) hideSetup();
				render();
				toast({ title: `“${device.name}” removed`, body: "Its next report is refused.", kind: "success" });
			} catch (err) {
				showFormError(listError, err);
			}
		});
		return h(
			"li",
			{ class: "device", "data-device-id": device.id },
			h(
				"div",
				{ class: "pending-text" },
				h("span", { class: "device-name" }, device.name),
				h("span", { class: "muted" }, `${PROTOCOL_LABELS[device.protocol]} · `, lastSeen(device)),
			),
			remove,
		);
	};

	const load = async () => {
		try {
			devices = await api.devices();
			showFormError(listError, null);
			render();
		} catch (err) {
			showFormError(listError, err);
		}
	};

	/** Keeps "last seen" current while the dialog is open; faster while a new phone is awaited. */
	const schedule = () => {
		window.clearTimeout(timer);
		if (!open) return;
		const awaited = devices.find(d => d.id === setupFor && !d.lastSeenAt);
		timer = window.setTimeout(() => void load().then(schedule), awaited ? WAITING_REFRESH_MS : REFRESH_MS);
	};

	const hideSetup = () => {
		setupFor = null;
		setup.replaceChildren();
		setup.hidden = true;
	};

	const showSetup = (device: NewDevice) => {
		setupFor = device.id;
		const done = h("button", { type: "button", class: "btn btn-primary", onclick: () => hideSetup() }, "Done");
		replace(
			setup,
			h("h3", { id: "device-setup-title" }, `Set up “${device.name}”`),
			h(
				"p",
				{ class: "setup-once" },
				h("strong", {}, "This is shown only once."),
				" Set the phone up now: PositionPal keeps no copy. If you lose it, remove this phone and add it again.",
			),
			onlyThisComputer(device.credentials.url)
				? h(
						"p",
						{ class: "setup-warning" },
						`A phone cannot reach ${new URL(device.credentials.url).origin} (this computer only). Open PositionPal at an address the phone reaches, then add the phone there.`,
					)
				: null,
			...(device.protocol === "owntracks" ? ownTracksSetup(device.credentials) : osmAndSetup(device.credentials)),
			setupStatus,
			h("div", { class: "actions" }, done),
		);
		setup.hidden = false;
		render();
		setup.scrollIntoView({ block: "start" });
		setup.focus({ preventScroll: true });
		schedule();
	};

	// ---- add a phone
	const addError = formError();
	const form = h(
		"form",
		{ class: "stack add-device", "aria-label": "Add a phone", novalidate: true },
		field("Name", h("input", { name: "name", required: true, maxlength: 100, autocomplete: "off", placeholder: "My phone" })),
		h(
			"fieldset",
			{ class: "protocols" },
			h("legend", {}, "App"),
			h(
				"label",
				{ class: "mode protocol" },
				h("input", { type: "radio", name: "protocol", value: "owntracks", checked: true }),
				h("span", {}, PROTOCOL_LABELS.owntracks, h("small", { class: "hint" }, "iPhone and Android; shows your group on its map")),
			),
			h(
				"label",
				{ class: "mode protocol" },
				h("input", { type: "radio", name: "protocol", value: "osmand" }),
				h("span", {}, PROTOCOL_LABELS.osmand, h("small", { class: "hint" }, "Android and iPhone")),
			),
		),
		addError,
		h("div", { class: "actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Add phone")),
	);
	form.addEventListener("submit", async event => {
		event.preventDefault();
		const { name, protocol } = formValues(form);
		showFormError(addError, null);
		if (!name) return showFormError(addError, new Error("Give the phone a name, such as “Ada's iPhone”."));
		try {
			const device = await busy(form.querySelector("button[type=submit]"), () => api.createDevice(name, protocol as DeviceProtocol), "Adding…");
			form.reset();
			// The list keeps what every read shows; the credentials stay with the setup only.
			const listed: Device = { id: device.id, name: device.name, protocol: device.protocol, createdAt: device.createdAt, lastSeenAt: device.lastSeenAt };
			devices = [...devices.filter(d => d.id !== device.id), listed];
			showSetup(device);
		} catch (err) {
			showFormError(addError, err);
		}
	});

	modal(
		"Your phones",
		() => [
			h(
				"p",
				{ class: "muted" },
				"A browser stops sharing when its tab is in the background. A phone app keeps reporting from your pocket: its reports count wherever you share.",
			),
			list,
			listError,
			setup,
			h("h3", {}, "Add a phone"),
			form,
		],
		{
			className: "modal-devices",
			onClose: () => {
				open = false;
				window.clearTimeout(timer);
			},
		},
	);
	render();
	void load().then(schedule);
}

/** The top bar's button: a phone. */
export function phoneIcon(): SVGSVGElement {
	const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
	svg.setAttribute("viewBox", "0 0 24 24");
	svg.setAttribute("aria-hidden", "true");
	svg.setAttribute("fill", "currentColor");
	const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
	path.setAttribute(
		"d",
		"M8 1.5h8A2.5 2.5 0 0 1 18.5 4v16a2.5 2.5 0 0 1-2.5 2.5H8A2.5 2.5 0 0 1 5.5 20V4A2.5 2.5 0 0 1 8 1.5ZM7.5 5v13h9V5h-9Zm4.5 14.25a1 1 0 1 0 0 2 1 1 0 0 0 0-2Z",
	);
	path.setAttribute("fill-rule", "evenodd");
	svg.append(path);
	return svg;
}
