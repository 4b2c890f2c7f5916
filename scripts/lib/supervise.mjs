// Shutdown plumbing shared by start.mjs and test.mjs.
//
// One Ctrl-C can arrive here several times (from the terminal, from npm, from the Node 20
// parent that re-executed us), so signals within a short window count as one. A signal that
// comes later while we are already stopping means "hurry up" and is passed to `onForce`.

const REPEAT_WINDOW_MS = 1500;

/**
 * Call `onSignal(signal)` once on SIGINT/SIGTERM/SIGHUP; `onForce(signal)` on a genuinely
 * repeated signal during shutdown.
 */
export function onTermination(onSignal, onForce = () => {}) {
	let first = 0;
	for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
		process.on(sig, () => {
			const now = Date.now();
			if (!first) {
				first = now;
				onSignal(sig);
			} else if (now - first > REPEAT_WINDOW_MS) {
				onForce(sig);
			}
		});
	}
}

export const prefixLog = prefix => msg => console.log(`[${prefix}] ${msg}`);
