/** Runs `fn` over `items` with at most `limit` in flight; results in the items' order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
	const results = new Array<R>(items.length);
	let next = 0;
	const worker = async () => {
		while (next < items.length) {
			const index = next++;
			results[index] = await fn(items[index]!, index);
		}
	};
	await Promise.all(Array.from({ length: Math.max(0, Math.min(limit, items.length)) }, worker));
	return results;
}

/**
 * One run at a time of a periodic task (a flush, a check, a push queue): a tick that finds a run
 * in progress is skipped, and shutdown waits for the run in progress to end — on its promise,
 * not by polling a flag.
 */
export class ExclusiveRun {
	private current: Promise<void> | null = null;

	get busy(): boolean {
		return this.current !== null;
	}

	/** Runs `task` unless a run is in progress; resolves when this run (or the skipped call) is done. */
	async runIfIdle(task: () => Promise<void>): Promise<boolean> {
		if (this.current) return false;
		const run = (async () => task())().finally(() => {
			if (this.current === run) this.current = null;
		});
		this.current = run;
		await run;
		return true;
	}

	/** Resolves once no run is in progress (a failed run counts as ended), or after `timeoutMs`. */
	async idle(timeoutMs = Number.POSITIVE_INFINITY): Promise<void> {
		const deadline = Date.now() + timeoutMs;
		while (this.current) {
			const left = deadline - Date.now();
			if (left <= 0) return;
			let timer: NodeJS.Timeout | undefined;
			const timeout = Number.isFinite(left) ? new Promise<void>(resolve => (timer = setTimeout(resolve, left))) : null;
			await Promise.race([this.current.catch(() => undefined), ...(timeout ? [timeout] : [])]);
			clearTimeout(timer);
		}
	}
}
