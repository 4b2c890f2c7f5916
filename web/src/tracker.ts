import { distanceM, offset, stepTowards, type LatLng } from "./geo";
import type { JourneyMode } from "./types";

/**
 * Where the user's position comes from while they share it: the browser's geolocation, or a
 * simulated walk (demos, tests, desktops without GPS). The tracker produces fixes; the app sends
 * them to the server as location samples.
 */

export type SourceKind = "device" | "simulate";

export interface Fix extends LatLng {
	accuracy?: number;
	timestamp: string;
}

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
	/** Called when the source fails (permission denied, no GPS…). */
	onError(message: string): void;
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
	/** The simulated idle walk goes round a square of this side, corner by corner. */
	private loop: LatLng[] = [];
	private corner = 0;

	constructor(
		private readonly opts: TrackerOptions,
		kind: SourceKind,
	) {
		this.kind = kind;
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
		this.watchId = null;
		this.timer = null;
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
			if (!("geolocation" in navigator)) return reject(new Error("This browser cannot tell your location. Switch the location source to Simulate."));
			navigator.geolocation.getCurrentPosition(
				p => resolve(this.remember(fromPosition(p))),
				e => reject(new Error(geolocationMessage(e))),
				{ enableHighAccuracy: true, timeout: 10_000, maximumAge: 30_000 },
			);
		});
	}

	private remember(fix: Fix): Fix {
		this.last = fix;
		return fix;
	}

	private emit(fix: Fix) {
		this.remember(fix);
		this.lastSentAt = Date.now();
		this.opts.onFix(fix);
	}

	private startDevice() {
		if (!("geolocation" in navigator)) {
			this.opts.onError("This browser cannot tell your location. Switch the location source to Simulate.");
			return;
		}
		this.watchId = navigator.geolocation.watchPosition(
			p => {
				const fix = fromPosition(p);
				const moved = !this.last || distanceM(this.last, fix) > 5;
				if (Date.now() - this.lastSentAt >= MIN_INTERVAL_MS && (moved || Date.now() - this.lastSentAt >= HEARTBEAT_MS)) this.emit(fix);
				else this.remember(fix);
			},
			e => {
				this.opts.onError(geolocationMessage(e));
				if (e.code === e.PERMISSION_DENIED) this.stop();
			},
			{ enableHighAccuracy: true, maximumAge: 5_000, timeout: 30_000 },
		);
		// A phone lying still reports nothing: repeat the last fix now and then.
		this.timer = window.setInterval(() => {
			if (this.last && Date.now() - this.lastSentAt >= HEARTBEAT_MS) this.emit({ ...this.last, timestamp: new Date().toISOString() });
		}, 5_000);
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

function fromPosition(p: GeolocationPosition): Fix {
	return {
		latitude: p.coords.latitude,
		longitude: p.coords.longitude,
		accuracy: Number.isFinite(p.coords.accuracy) ? p.coords.accuracy : undefined,
		timestamp: new Date(p.timestamp || Date.now()).toISOString(),
	};
}

function geolocationMessage(e: GeolocationPositionError): string {
	if (e.code === e.PERMISSION_DENIED) return "Location permission was denied. Allow it in the browser, or switch the location source to Simulate.";
	if (e.code === e.POSITION_UNAVAILABLE) return "Your position is not available right now. Try again outside, or switch the location source to Simulate.";
	if (e.code === e.TIMEOUT) return "Finding your position took too long. Try again, or switch the location source to Simulate.";
	return e.message || "Your position could not be read.";
}
