/**
 * A device's `lastSeenAt` without a database write per report: a phone reporting every second would
 * otherwise write its device document every second. The instance that receives a device's reports
 * (sharded by device id) writes `lastSeenAt` when it is `everyMs` older than the report, so the stored
 * value is at most that far behind; a graceful stop writes what is newer than the stored value.
 */
export class LastSeen {
	/** Device id → the last `lastSeenAt` written (or read), ms. */
	private readonly written = new Map<string, number>();
	/** Device id → the last report, ms, when newer than the written value. */
	private readonly unwrittenAt = new Map<string, number>();

	constructor(readonly everyMs = 60_000) {}

	/**
	 * A report from the device at `now`; `stored` is its lastSeenAt as read with the device. True when
	 * lastSeenAt is to be written now (the caller writes it, and calls `failed` if that fails).
	 */
	seen(deviceId: string, now: number, stored: number | null): boolean {
		const written = Math.max(this.written.get(deviceId) ?? -Infinity, stored ?? -Infinity);
		if (now - written >= this.everyMs) {
			this.written.set(deviceId, now);
			this.unwrittenAt.delete(deviceId);
			return true;
		}
		if (now > written) this.unwrittenAt.set(deviceId, now);
		return false;
	}

	/** The write of `at` failed: the next report writes again. */
	failed(deviceId: string, at: number): void {
		if (this.written.get(deviceId) === at) this.written.delete(deviceId);
		const later = this.unwrittenAt.get(deviceId);
		if (later === undefined || later < at) this.unwrittenAt.set(deviceId, at);
	}

	/** Reports newer than what was written (to write on a graceful stop), and forgets them. */
	takeUnwritten(): [deviceId: string, at: number][] {
		const pending = [...this.unwrittenAt];
		for (const [deviceId, at] of pending) this.written.set(deviceId, at);
		this.unwrittenAt.clear();
		return pending;
	}

	forget(deviceId: string): void {
		this.written.delete(deviceId);
		this.unwrittenAt.delete(deviceId);
	}

	clear(): void {
		this.written.clear();
		this.unwrittenAt.clear();
	}
}
