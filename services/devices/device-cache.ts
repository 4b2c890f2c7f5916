import type { DeviceProtocol, User } from "../../events/types.js";
import { SingleFlight } from "../../lib/single-flight.js";
import { TtlCache } from "../../lib/ttl-cache.js";
import type { DeviceDoc } from "./models.js";

/**
 * The devices a devices instance checks reports against, kept in memory so a phone's report costs no
 * database read. Reports, removals and "where are you now?" flags of one device are routed to one
 * instance (Shard strategy on the device id), so that instance's copy is the one that matters: a
 * removal forgets it there before it answers, and the service also tells every other instance (a
 * report routed elsewhere while instances come and go). An entry lives `ttlMs` at most; a load that
 * started before a forget is not stored (the generation check), so a removed device cannot come back
 * from a read that raced with its removal.
 */

/** Reports of one device go to the instance owning it (consistent hashing on the device id, read from the params' `key`). */
export const OWNED_BY_DEVICE = (key: string) => ({ strategy: "Shard", strategyOptions: { shardKey: key } });

/** A registered device as a report needs it: whose it is, how its secret is checked, what it has pending. */
export interface KnownDevice {
	id: string;
	protocol: DeviceProtocol;
	secretHash: string;
	/** The owner as the location service's `meta.user` needs them (read from the users service). */
	owner: User;
	/** As stored, ms. */
	lastSeenAt: number | null;
	reportRequestedAt: number | null;
	waypointsVersion: string;
}

/**
 * A stored device and its owner as reports need them; null when there is no such device or its owner is
 * gone (`readOwner` refused with 401 or 404: a deleted account, whose devices go when its event arrives).
 */
export async function loadKnownDevice(doc: DeviceDoc | null, readOwner: (userId: string) => Promise<User>): Promise<KnownDevice | null> {
	if (!doc) return null;
	let owner: User;
	try {
		owner = await readOwner(doc.userId);
	} catch (err) {
		const code = (err as { code?: number }).code;
		if (code === 401 || code === 404) return null;
		throw err;
	}
	return toKnownDevice(doc, owner);
}

/** The nodes running a devices instance, as one string: when it changes, devices may have changed owner. */
export const devicesNodes = (services: readonly { name: string; nodeID: string }[]): string =>
	services
		.filter(service => service.name === "devices")
		.map(service => service.nodeID)
		.sort()
		.join(",");

/** A stored device and its owner as a report needs them (times in ms). */
export const toKnownDevice = (doc: DeviceDoc, owner: User): KnownDevice => ({
	id: doc._id,
	protocol: doc.protocol,
	secretHash: doc.secretHash,
	owner,
	lastSeenAt: doc.lastSeenAt ? new Date(doc.lastSeenAt).getTime() : null,
	reportRequestedAt: doc.reportRequestedAt ? new Date(doc.reportRequestedAt).getTime() : null,
	waypointsVersion: doc.waypointsVersion ?? "",
});

export class DeviceCache {
	private readonly entries: TtlCache<string, KnownDevice>;
	private readonly loads = new SingleFlight<string, KnownDevice | null>();

	constructor(
		private readonly load: (deviceId: string) => Promise<KnownDevice | null>,
		ttlMs = 60_000,
		maxEntries = 50_000,
		now: () => number = Date.now,
	) {
		this.entries = new TtlCache(ttlMs, maxEntries, now);
	}

	/** The device (from memory, else loaded once however many reports ask at the same time), or null when there is none. */
	async get(deviceId: string): Promise<KnownDevice | null> {
		const cached = this.entries.get(deviceId);
		if (cached) return cached;
		const generation = this.entries.generation;
		const loaded = await this.loads.run(deviceId, () => this.load(deviceId));
		if (loaded) this.entries.setIfUnchanged(deviceId, loaded, generation);
		return loaded;
	}

	/** Changes the copy held, if any, as `change` says from its current value (after the same change was stored). */
	update(deviceId: string, change: (device: KnownDevice) => Partial<Pick<KnownDevice, "reportRequestedAt" | "waypointsVersion" | "lastSeenAt">>): void {
		const cached = this.entries.get(deviceId);
		if (cached) this.entries.set(deviceId, { ...cached, ...change(cached) });
	}

	forget(deviceId: string): void {
		this.entries.delete(deviceId);
	}

	clear(): void {
		this.entries.clear();
	}

	get size(): number {
		return this.entries.size;
	}
}
