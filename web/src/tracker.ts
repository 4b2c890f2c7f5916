import { distanceM, offset, stepTowards, type LatLng } from "./geo";
import type { JourneyMode } from "./types";

/**
 * Where the user's position comes from while they share it: the browser's geolocation, or a
 * simulated walk (demos, tests, desktops without GPS). The tracker produces fixes; the app sends
 * them to the server as location samples.
 */

export type SourceKind = "device" | "simulate";

/** A position with what the source knew about it (API.md §6.3); unknown details are absent. */
export interface Fix extends LatLng {
	accuracy?: number;
	altitude?: number;
	/** Metres per second. */
	speed?: number;
	/** Degrees clockwise from north. */
	heading?: number;
	/** Percent, 0–100, and whether it is charging: from the Battery Status API where the browser has it. */
	battery?: number;
	charging?: boolean;
	timestamp: string;
}

/** The Battery Status API (Chromium-based browsers; not in TypeScript's DOM types). */
interface BatteryManager {
	level: number;
	charging: boolean;
}
type WithBattery = Navigator & { getBattery?: () => Promise<BatteryManager> };

export interface Target extends LatLng {
	mode: JourneyMode;
}

/** Metres per second for each journey mode (the simulation multiplies them by its speed-up). */
const SPEEDS: Record<JourneyMode, number> = { walking: 1.4, cycling: 4.5, driving: 12 };
/** A device that reports nothing new still says "I am here" this often, so it never looks offline. */
const HEARTBEAT_MS = 20_000;
/** Device fixes closer together than this are not all sent. */
const MIN_INTERVAL_MS = 2_000;

export interface TrackerOptions {
	/** Called with every fix to send. */
	onFix(fix: Fix): void;
	/** Called when the source fails (permission denied, no GPS…); `blocked`: the permission is denied. */
	onError(message: string, blocked: boolean): void;
	/** The journey destination to walk to in simulation, if any. */
	target(): Target | null;
	/** Where a simulated walk starts when there is no earlier fix. */
	start(): LatLng;
}

export class Tracker {
	kind: SourceKind;
	/** Simulation speed-up (1 = real walking speed). */
	speed = 10;
	/** Simulation tick. */
	tickMs = 1000;
	last: Fix | null = null;
	private watchId: number | null = null;
	private timer: number | null = null;
	private lastSentAt = 0;
	private lastSent: Fix | null = null;
	/** A move that came too soon after the last send goes when the interval is over (not at the next heartbeat). */
	private pending: number | null = null;
	/** The simulated idle walk goes round a square of this side, corner by corner. */
	private loop: LatLng[] = [];
	private corner = 0;
	/** Live battery readings, when the browser offers them (it updates the object in place). */
	private battery: BatteryManager | null = null;

	constructor(
		private readonly opts: TrackerOptions,
		kind: SourceKind,
	) {
		this.kind = kind;
		// Not every browser has it, and some refuse it: then positions simply carry no battery.
		(navigator as WithBattery).getBattery?.().then(
			b => (this.battery = b),
			() => undefined,
		);
	}

	get running(): boolean {
		return this.watchId !== null || this.timer !== null;
	}

	start(): void {
		if (this.running) return;
		if (this.kind === "device") this.startDevice();
		else this.startSimulation();
	}

	stop(): void {
		if (this.watchId !== null) navigator.geolocation.clearWatch(this.watchId);
		if (this.timer !== null) window.clearInterval(this.timer);
		this.clearPending();
		this.watchId = null;
		this.timer = null;
	}

	private clearPending() {
		if (this.pending !== null) window.clearTimeout(this.pending);
		this.pending = null;
	}

	/** Switches the source; keeps running if it was. */
	use(kind: SourceKind): void {
		const wasRunning = this.running;
		this.stop();
		this.kind = kind;
		if (wasRunning) this.start();
	}

	/** A position now: the last fix, or a fresh one from the source (for an SOS). */
	async current(): Promise<Fix> {
		if (this.last && Date.now() - Date.parse(this.last.timestamp) < 60_000) return this.last;
		if (this.kind === "simulate") return this.remember({ ...(this.last ?? this.opts.start()), accuracy: 5, timestamp: new Date().toISOString() });
		return new Promise((resolve, reject) => {
			if (!("geolocation" in navigator)) return reject(new Error("This browser cannot tell your location."));
			navigator.geolocation.getCurrentPosition(
				p => resolve(this.remember(fromPosition(p))),
				e => reject(new Error(geolocationMessage(e))),
				{ enableHighAccuracy: true, timeout: 10_000, maximumAge: 30_000 },
			);
		});
	}

	/**
	 * Someone asked where I am (API.md §6.3 `location:request`): a fix to send at once, whatever the
	 * throttle says; it counts as sent (the heartbeat waits from now). While the device is watched,
	 * its latest fix is what it knows now (it reports every move), stamped now like the heartbeat;
	 * waiting for a brand-new reading could take many seconds on a phone lying still. Otherwise the
	 * device is asked (a reading up to 10 s old will do); failing that, or in a simulation, the last
	 * position, stamped now.
	 */
	async fixNow(): Promise<Fix> {
		let fix: Fix | null = null;
		if (this.kind === "device" && (this.watchId === null || !this.last) && "geolocation" in navigator)
			fix = await new Promise<Fix | null>(resolve =>
				navigator.geolocation.getCurrentPosition(
					p => resolve(fromPosition(p)),
					() => resolve(null),
					{ enableHighAccuracy: true, timeout: 10_000, maximumAge: 10_000 },
				),
			);
		if (!fix) {
			if (this.kind === "device" && !this.last) throw new Error("Your position is not available right now.");
			fix = { ...(this.last ?? this.opts.start()), timestamp: new Date().toISOString() };
		}
		this.clearPending();
		this.remember(fix);
		this.lastSent = fix;
		this.lastSentAt = Date.now();
		return this.withBattery(fix);
	}

	private remember(fix: Fix): Fix {
		this.last = fix;
		return fix;
	}

	private emit(fix: Fix) {
		this.remember(fix);
		this.lastSent = fix;
		this.lastSentAt = Date.now();
		this.opts.onFix(this.withBattery(fix));
	}

	/** The battery at the time of sending (a repeated fix must not repeat an old level). */
	private withBattery(fix: Fix): Fix {
		const b = this.battery;
		if (!b || !Number.isFinite(b.level)) return fix;
		return { ...fix, battery: Math.round(b.level * 100), charging: b.charging };
	}

	private startDevice() {
		if (!("geolocation" in navigator)) {
			this.opts.onError("This browser cannot tell your location.", false);
			return;
		}
		this.watchId = navigator.geolocation.watchPosition(
			p => {
				this.remember(fromPosition(p));
				this.sendSoon();
			},
			e => {
				const blocked = e.code === e.PERMISSION_DENIED;
				if (blocked) this.stop();
				this.opts.onError(geolocationMessage(e), blocked);
			},
			{ enableHighAccuracy: true, maximumAge: 5_000, timeout: 30_000 },
		);
		// A phone lying still reports nothing: repeat the last fix now and then.
		this.timer = window.setInterval(() => {
			if (this.last && Date.now() - this.lastSentAt >= HEARTBEAT_MS) this.emit({ ...this.last, timestamp: new Date().toISOString() });
		}, 5_000);
	}

	/**
	 * Sends the latest device fix when it moved from the last one sent (or the heartbeat is due), but
	 * not sooner than MIN_INTERVAL_MS after the last send: then when that interval is over.
	 */
	private sendSoon() {
		if (this.pending !== null || !this.last) return;
		const moved = !this.lastSent || distanceM(this.lastSent, this.last) > 5;
		if (!moved && Date.now() - this.lastSentAt < HEARTBEAT_MS) return;
		const wait = this.lastSentAt + MIN_INTERVAL_MS - Date.now();
		if (wait <= 0) return this.emit(this.last);
		this.pending = window.setTimeout(() => {
			this.pending = null;
			if (this.running && this.last) this.emit(this.last);
		}, wait);
	}

	private startSimulation() {
		const tick = () => {
			const here: LatLng = this.last ?? this.opts.start();
			const target = this.opts.target();
			let next: LatLng;
			if (target) {
				// On a journey: straight to the destination at the mode's speed.
				next = stepTowards(here, target, SPEEDS[target.mode] * this.speed * (this.tickMs / 1000));
				this.loop = [];
			} else {
				// Otherwise: round and round a block, so the demo has something to watch.
				if (this.loop.length === 0) {
					this.loop = [offset(here, 120, 0), offset(here, 120, 120), offset(here, 0, 120), here];
					this.corner = 0;
				}
				const corner = this.loop[this.corner]!;
				next = stepTowards(here, corner, SPEEDS.walking * this.speed * (this.tickMs / 1000));
				if (distanceM(next, corner) < 1) this.corner = (this.corner + 1) % this.loop.length;
			}
			this.emit({ latitude: round(next.latitude), longitude: round(next.longitude), accuracy: 5, timestamp: new Date().toISOString() });
		};
		tick();
		this.timer = window.setInterval(tick, this.tickMs);
	}
}

const round = (value: number) => Math.round(value * 1e7) / 1e7;

/**
 * A number the device knows, within the range the server accepts (services/location/point.ts);
 * else absent. The Geolocation API gives null or NaN for what it does not know, and one odd
 * reading must not get the whole position refused.
 */
const known = (value: number | null | undefined, min: number, max: number): number | undefined =>
	typeof value === "number" && Number.isFinite(value) && value >= min && value <= max ? value : undefined;

function fromPosition(p: GeolocationPosition): Fix {
	const { coords } = p;
	return {
		latitude: coords.latitude,
		longitude: coords.longitude,
		accuracy: known(coords.accuracy, 0, 1_000_000),
		altitude: known(coords.altitude, -12_000, 100_000),
		speed: known(coords.speed, 0, 1_000),
		heading: known(coords.heading, 0, 360),
		timestamp: new Date(p.timestamp || Date.now()).toISOString(),
	};
}

function geolocationMessage(e: GeolocationPositionError): string {
	if (e.code === e.PERMISSION_DENIED)
		return "Location is blocked for this site. Allow it in the browser's site settings (the icon left of the address), then reload.";
	if (e.code === e.POSITION_UNAVAILABLE) return "Your position is not available right now. Try again outside.";
	if (e.code === e.TIMEOUT) return "Finding your position took too long. Try again.";
	return e.message || "Your position could not be read.";
}

/** Whether the browser already refuses this site the location (the Permissions API; false when it cannot say). */
export async function locationDenied(): Promise<boolean> {
	try {
		return (await navigator.permissions?.query({ name: "geolocation" }))?.state === "denied";
	} catch {
		return false;
	}
}
