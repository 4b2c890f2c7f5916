// Preloaded into every test file's process by scripts/test.mjs. Once a file's tests are done its
// process must exit; a handle left open (a socket, a timer, a child's pipe) would keep it, and the
// whole run, waiting forever. If the process is still alive two minutes after its tests, this
// names what keeps it alive and exits with a failure, so the run goes on and the file is red.
import { after } from "node:test";

const GRACE_MS = Number(process.env.TEST_EXIT_GRACE_MS) || 120_000;

// Only in the processes the runner starts for test files, not in the runner itself.
if (process.env.NODE_TEST_CONTEXT) {
	after(() => {
		setTimeout(() => {
			const counts = new Map();
			for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
			const open = [...counts].map(([kind, n]) => `${kind} ×${n}`);
			process.stderr.write(`[exit-guard] ${process.argv[1]} still running ${GRACE_MS / 1000} s after its tests; open: ${open.join(", ")}\n`);
			process.exit(1);
		}, GRACE_MS).unref();
	});
}
