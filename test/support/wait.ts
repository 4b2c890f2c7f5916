/** Polls `check` until it returns a truthy value (or stops throwing), failing after `timeoutMs`. */
export async function waitFor<T>(check: () => T | Promise<T>, opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<NonNullable<T>> {
	const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
	let lastError: unknown;
	for (;;) {
		try {
			const value = await check();
			if (value) return value as NonNullable<T>;
		} catch (err) {
			lastError = err;
		}
		if (Date.now() > deadline) {
			const reason = lastError instanceof Error ? `: ${lastError.message}` : "";
			throw new Error(`Timed out after ${opts.timeoutMs ?? 10_000} ms waiting for ${opts.what ?? "a condition"}${reason}`);
		}
		await new Promise(resolve => setTimeout(resolve, opts.intervalMs ?? 50));
	}
}
