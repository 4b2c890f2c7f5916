import { createHash } from "node:crypto";
import { TtlCache } from "../../lib/ttl-cache.js";

/**
 * Failed device logins per client address, counted in the gateway (API.md §6.2: unknown OsmAnd ids are
 * rate-limited per client address). Once an address has failed `limit` times within a window, its
 * device requests are refused with 429 right here: a flood of guessed ids never reaches the devices
 * service, let alone its database. A credential that worked recently still goes through from a
 * blocked address — phones behind one carrier-grade NAT share their address with whoever floods it.
 * Credentials are remembered by a hash, never as given.
 *
 * With `shared` (the gateway passes `devices.failedLogin`), every failure is also counted in the devices
 * database, and its verdict there is what this gateway goes by: an address that failed `limit` times
 * over all gateways, or before a restart, is blocked here after its next failure at most. The check on
 * each request stays in memory (no round trip on the phones' hot path, one per failure only), so
 * the cluster lets an address fail at most `limit` + (gateways − 1) times a window, and once more per
 * gateway restart. A shared count that cannot be reached leaves this gateway's own count in charge.
 */
export class DeviceAuthLimiter {
	private readonly windows = new Map<string, { failures: number; endsAt: number }>();
	private readonly working: TtlCache<string, true>;

	constructor(
		/** Failures allowed per address and window; 0 turns the limit off. */
		private readonly limit: number,
		private readonly windowMs = 60_000,
		private readonly now: () => number = Date.now,
		private readonly maxAddresses = 100_000,
		workingTtlMs = 3_600_000,
		/** The cluster-wide count of failures per address (lib/attempt-limits.ts `reserve`). */
		private readonly shared?: (address: string, limit: number, windowMs: number) => Promise<{ allowed: boolean; count: number; retryAfterMs: number }>,
	) {
		this.working = new TtlCache(workingTtlMs, 100_000, now);
	}

	/** A credential as this limiter remembers it (protocol and credential, hashed). */
	static fingerprint(protocol: string, credential: string): string {
		return createHash("sha256").update(`${protocol}\u0000${credential}`).digest("base64url");
	}

	/** 0 when a request from `address` with this credential may go on; else ms until the address may try again. */
	blockedFor(address: string, fingerprint: string): number {
		if (this.limit <= 0) return 0;
		const window = this.windows.get(address);
		const now = this.now();
		if (!window || window.endsAt <= now || window.failures < this.limit) return 0;
		if (this.working.get(fingerprint)) return 0;
		return window.endsAt - now;
	}

	/** A request from `address` was refused for its credentials (unknown, removed, wrong). */
	async failed(address: string, fingerprint: string): Promise<void> {
		this.working.delete(fingerprint);
		if (this.limit <= 0) return;
		const now = this.now();
		let window = this.windows.get(address);
		if (!window || window.endsAt <= now) {
			if (!window && this.windows.size >= this.maxAddresses) this.prune(now);
			window = { failures: 0, endsAt: now + this.windowMs };
			this.windows.set(address, window);
		}
		window.failures += 1;
		if (!this.shared) return;
		const verdict = await this.shared(address, this.limit, this.windowMs).catch(() => undefined);
		if (!verdict) return;
		// The cluster's window wins when it has seen more failures than this gateway.
		const failures = verdict.allowed ? verdict.count : this.limit;
		const later = this.now();
		const mine = this.windows.get(address);
		const live = mine && mine.endsAt > later ? mine.failures : 0;
		if (failures > live) this.windows.set(address, { failures, endsAt: later + verdict.retryAfterMs });
	}

	/** The credential worked. */
	succeeded(fingerprint: string): void {
		this.working.set(fingerprint, true);
	}

	/** Ended windows go first; if none has ended, the oldest (a Map iterates in insertion order). */
	private prune(now: number): void {
		for (const [address, window] of this.windows) if (window.endsAt <= now) this.windows.delete(address);
		if (this.windows.size >= this.maxAddresses) this.windows.delete(this.windows.keys().next().value!);
	}
}
