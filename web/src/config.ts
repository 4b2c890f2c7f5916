/** Runtime settings the gateway serves at /config.json (services/gateway/static-files.ts). */
export interface ClientConfig {
	/** A Leaflet tile URL template; null = no tiles, markers on a plain background. */
	tileUrl: string | null;
	tileAttribution: string | null;
	/** Where an empty map (and a simulated walk with no known position) starts. */
	center: [number, number];
	/** WEB_DEMO: a simulated walk is offered as a location source (demos, tests). */
	demo: boolean;
	/** GEOCODER_URL: a Nominatim-compatible service for street addresses and place search; null: none, no outside calls. */
	geocoderUrl: string | null;
}

/** Cesena, Italy: any place works; this one has streets to walk along. */
const DEFAULT_CENTER: [number, number] = [44.1391, 12.2431];

export async function loadConfig(): Promise<ClientConfig> {
	let served: Partial<ClientConfig> = {};
	try {
		const res = await fetch("/config.json", { cache: "no-store" });
		if (res.ok) served = (await res.json()) as Partial<ClientConfig>;
	} catch {
		// Without the config the client still works: no tiles, the default centre, no demo.
	}
	return {
		tileUrl: typeof served.tileUrl === "string" && served.tileUrl ? served.tileUrl : null,
		tileAttribution: typeof served.tileAttribution === "string" ? served.tileAttribution : null,
		center: Array.isArray(served.center) && served.center.length === 2 ? [Number(served.center[0]), Number(served.center[1])] : DEFAULT_CENTER,
		demo: served.demo === true,
		geocoderUrl: typeof served.geocoderUrl === "string" && /^https?:\/\//.test(served.geocoderUrl) ? served.geocoderUrl : null,
	};
}
