/**
 * Lookups of keys that arrive close together run as one: the keys asked for within `windowMs` of
 * the first go to ONE call of `lookup` (after a restart every client sends its first sample in the
 * same second). A key whose lookup is still running is not looked up again: its caller waits for
 * the running one (samples keep coming while a slow database answers the first).
 */
export class BatchedLookups<K> {
	private batch?: { keys: Set<K>; done: Promise<void> };
	private readonly running = new Map<K, Promise<void>>();

	constructor(
		private readonly windowMs: number,
		private readonly lookup: (keys: K[]) => Promise<void>,
	) {}

	/** Resolves once a lookup that includes `key` has finished (rejects when that lookup failed). */
	wait(key: K): Promise<void> {
		const running = this.running.get(key);
		if (running) return running;
		if (!this.batch) {
			const keys = new Set<K>();
			const done = new Promise<void>(resolve => setTimeout(resolve, this.windowMs))
				.then(() => {
					this.batch = undefined;
					return this.lookup([...keys]);
				})
				.finally(() => {
					for (const finished of keys) if (this.running.get(finished) === done) this.running.delete(finished);
				});
			this.batch = { keys, done };
		}
		this.batch.keys.add(key);
		this.running.set(key, this.batch.done);
		return this.batch.done;
	}
}
