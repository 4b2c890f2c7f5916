/** One socket opened or closed on this gateway, as reported to the chat service. */
export interface SocketChange {
	socketId: string;
	userId: string;
	open: boolean;
}

/**
 * Collects socket reports for `windowMs` and sends them as one list. At most one list is in
 * flight: reports made meanwhile wait for it, so a slow chat service gets fewer, larger lists
 * instead of a growing pile of concurrent calls. Failures are `send`'s to handle.
 */
export class PresenceReports {
	private queue: SocketChange[] = [];
	private timer: NodeJS.Timeout | undefined;
	private inFlight: Promise<void> | undefined;

	constructor(
		private readonly send: (changes: SocketChange[]) => Promise<void>,
		private readonly windowMs = 25,
		private readonly maxBatch = 2_000,
	) {}

	report(change: SocketChange): void {
		this.queue.push(change);
		this.schedule();
	}

	get queued(): number {
		return this.queue.length;
	}

	/** Sends what is queued now (waiting for a list in flight first); for a graceful stop. */
	async flush(): Promise<void> {
		this.stop();
		if (this.inFlight) await this.inFlight;
		while (this.queue.length) {
			this.stop();
			await this.sendNext();
		}
		this.stop();
	}

	/** Drops the timer (reports still queued are not sent). */
	stop(): void {
		clearTimeout(this.timer);
		this.timer = undefined;
	}

	private schedule(): void {
		if (this.timer || this.inFlight || this.queue.length === 0) return;
		this.timer = setTimeout(() => {
			this.timer = undefined;
			void this.sendNext();
		}, this.windowMs);
		this.timer.unref?.();
	}

	private sendNext(): Promise<void> {
		const batch = this.queue.splice(0, this.maxBatch);
		const sent = this.send(batch)
			.catch(() => undefined)
			.finally(() => {
				if (this.inFlight === sent) this.inFlight = undefined;
				this.schedule();
			});
		this.inFlight = sent;
		return sent;
	}
}
