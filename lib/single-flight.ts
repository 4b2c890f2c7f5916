/**
 * Concurrent loads of the same key share one promise, so a burst of requests for one thing (every
 * member's first sample after a start asks for their group) costs one read. Nothing is cached: a
 * load that settled is forgotten, and the next caller loads again.
 */
export class SingleFlight<K, V> {
	private readonly running = new Map<K, Promise<V>>();

	run(key: K, load: () => Promise<V>): Promise<V> {
		const running = this.running.get(key);
		if (running) return running;
		const promise = (async () => load())().finally(() => {
			if (this.running.get(key) === promise) this.running.delete(key);
		});
		this.running.set(key, promise);
		return promise;
	}
}
