import assert from "node:assert/strict";
import { createCrews, SocketPool, Workload, type Crew } from "./workload.js";
import { verifyNothingLost, type Verification } from "./invariants.js";

/**
 * The frame every fault scenario shares: fresh crews under a running workload with their owners'
 * sockets open, and the closing verdict (nothing acknowledged lost, no request hung).
 */

/** Slower than this, a request counts as hung: a fault must fail requests fast, never hold them. */
export const HUNG_MS = 15_000;

export interface RunningWorkload {
	crews: Crew[];
	workload: Workload;
	/** The owners' sockets: chat's presence must follow what is really open. */
	sockets: SocketPool;
}

/** `count` fresh crews, each owner's socket open, and the workload started over them. */
export async function startWorkload(url: string, count: number, opts?: Workload["opts"]): Promise<RunningWorkload> {
	const crews = await createCrews(url, count);
	const workload = new Workload(url, crews, opts);
	const sockets = new SocketPool(url);
	for (const crew of crews) await sockets.connect(crew.owner);
	workload.start();
	return { crews, workload, sockets };
}

/**
 * After the workload stopped: every check of `verifyNothingLost` passes (the sockets are closed
 * once it has compared presence with them), and no request took `HUNG_MS` or more.
 */
export async function assertNothingLost(v: Verification & { sockets: SocketPool }): Promise<void> {
	const { problems } = await verifyNothingLost(v);
	v.sockets.closeAll();
	assert.deepEqual(problems, []);
	assert.ok(v.workload.maxLatencyMs < HUNG_MS, `no request hung (slowest ${v.workload.maxLatencyMs} ms)`);
}
