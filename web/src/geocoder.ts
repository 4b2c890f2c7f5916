/**
 * Street addresses and place search from a Nominatim-compatible service (GEOCODER_URL), only when
 * the server configures one: without it nothing here is ever called (no outside requests). One
 * request at a time, at most one a second (Nominatim's usage policy), and each address asked once.
 */

export interface FoundPlace {
	name: string;
	latitude: number;
	longitude: number;
}

interface NominatimPlace {
	display_name?: string;
	name?: string;
	lat?: string;
	lon?: string;
	address?: Record<string, string>;
}

const MIN_INTERVAL_MS = 1_000;

/** "Via Roma 12, Cesena" from a Nominatim answer's address parts; its display name otherwise. */
export function shortAddress(place: NominatimPlace): string | null {
	const a = place.address ?? {};
	const street = a.road ?? a.pedestrian ?? a.footway ?? a.path ?? a.square;
	const town = a.city ?? a.town ?? a.village ?? a.hamlet ?? a.suburb;
	if (street) return [a.house_number ? `${street} ${a.house_number}` : street, town].filter(Boolean).join(", ");
	return place.display_name?.split(",").slice(0, 3).join(",").trim() || null;
}

export class Geocoder {
	private addresses = new Map<string, Promise<string | null>>();
	private queue: Promise<unknown> = Promise.resolve();
	private lastAt = 0;

	constructor(private readonly base: string) {}

	/** The street address near a position (cached per ~10 m); null when the service does not know or fails. */
	address(latitude: number, longitude: number): Promise<string | null> {
		const key = `${latitude.toFixed(4)},${longitude.toFixed(4)}`;
		let known = this.addresses.get(key);
		if (!known) {
			known = this.get<NominatimPlace>(`reverse?format=jsonv2&zoom=18&addressdetails=1&lat=${latitude}&lon=${longitude}`).then(
				place => (place ? shortAddress(place) : null),
				() => null,
			);
			this.addresses.set(key, known);
		}
		return known;
	}

	/** Places matching a text, best first (at most 5). */
	async search(text: string): Promise<FoundPlace[]> {
		const found = await this.get<NominatimPlace[]>(`search?format=jsonv2&addressdetails=1&limit=5&q=${encodeURIComponent(text)}`);
		return (found ?? [])
			.map(p => ({ name: (p.name || shortAddress(p) || "").slice(0, 100), latitude: Number(p.lat), longitude: Number(p.lon) }))
			.filter(p => p.name && Number.isFinite(p.latitude) && Number.isFinite(p.longitude));
	}

	private get<T>(path: string): Promise<T | null> {
		const run = async () => {
			const wait = this.lastAt + MIN_INTERVAL_MS - Date.now();
			if (wait > 0) await new Promise(resolve => globalThis.setTimeout(resolve, wait));
			this.lastAt = Date.now();
			const res = await fetch(`${this.base}/${path}`, { headers: { Accept: "application/json" }, referrerPolicy: "no-referrer" });
			return res.ok ? ((await res.json()) as T) : null;
		};
		const next = this.queue.then(run, run);
		this.queue = next.catch(() => undefined);
		return next;
	}
}
