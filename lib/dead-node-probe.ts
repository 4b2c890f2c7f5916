import type { Context, Middleware, ServiceBroker } from "moleculer";

/**
 * Notices a crashed node in about a second instead of HEARTBEAT_TIMEOUT, by asking the NATS server.
 *
 * A process that dies (SIGKILL, OOM, a crashed container) loses its TCP connection to NATS at
 * once, and the server drops its subscriptions with it. Moleculer only learns of it when the node's
 * heartbeats have been missing for `heartbeatTimeout` seconds, checked every `heartbeatTimeout`
 * seconds (10–30 s with 5/15: every call routed to the node meanwhile waits for its timeout). So when
 * a node is suspect — a call to it has been waiting `slowCallMs`, or its heartbeat is late — this
 * sends a PING to the subject only that node subscribes to, as a NATS request: when nobody listens
 * there the server answers "no responders" (503) at once, and the node is given up as Moleculer
 * itself would (pending calls to it are rejected, the registry and `$node.disconnected` follow).
 * A node that is alive gets an ordinary PING and answers it as usual; a node that is only cut off
 * (a partition: the server still holds its connection) is left to the heartbeat timeout.
 */

export interface DeadNodeProbeOptions {
	/** How often heartbeats are checked for lateness (ms). */
	checkEveryMs: number;
	/** A remote call that has waited this long makes its node suspect (ms). */
	slowCallMs: number;
	/** How long a probe waits for the server's "no responders" (ms); a live node's silence is no answer. */
	probeTimeoutMs?: number;
}

interface NatsClient {
	request(subject: string, data: Uint8Array, opts: { timeout: number }): Promise<unknown>;
	isClosed?(): boolean;
}

interface NatsTransporter {
	client?: NatsClient;
	getTopicName(cmd: string, nodeID?: string): string;
}

interface RemoteNode {
	id: string;
	local: boolean;
	available: boolean;
	lastHeartbeatTime: number;
}

/** The NATS server's answer to a request nobody subscribes to (nats.js `ErrorCode.NoResponders`). */
const NO_RESPONDERS = "503";

/** Whether a node's heartbeat is late: nothing for longer than one interval and a second (Moleculer counts in whole seconds of uptime). */
export function heartbeatLate(lastHeartbeatTime: number, uptimeS: number, heartbeatIntervalS: number): boolean {
	return lastHeartbeatTime > 0 && uptimeS - lastHeartbeatTime > heartbeatIntervalS + 1;
}

export const DeadNodeProbe = (opts: DeadNodeProbeOptions): Middleware => {
	let broker: ServiceBroker;
	let timer: NodeJS.Timeout | undefined;
	const probing = new Set<string>();
	let seq = 0;

	const client = (): NatsTransporter | undefined => {
		const tx = (broker.transit as unknown as { tx?: NatsTransporter } | undefined)?.tx;
		return tx?.client && !tx.client.isClosed?.() ? tx : undefined;
	};

	async function probe(nodeID: string) {
		const tx = client();
		const node = broker.registry.nodes.get(nodeID) as RemoteNode | undefined;
		if (!tx || !node || node.local || !node.available || probing.has(nodeID)) return;
		probing.add(nodeID);
		try {
			const ping = { ver: broker.PROTOCOL_VERSION, sender: broker.nodeID, id: `probe-${++seq}`, time: Date.now() };
			const data = (broker.serializer as unknown as { serialize(obj: object, type: string): Buffer }).serialize(ping, "PING");
			await tx.client!.request(tx.getTopicName("PING", nodeID), data, { timeout: opts.probeTimeoutMs ?? 1_000 });
		} catch (err) {
			if ((err as { code?: string }).code === NO_RESPONDERS && (broker.registry.nodes.get(nodeID) as RemoteNode | undefined)?.available) {
				broker.logger.warn(`Node '${nodeID}' has no connection to NATS any more: given up without waiting for its heartbeat timeout.`);
				broker.registry.nodes.disconnected(nodeID, true);
			}
		} finally {
			probing.delete(nodeID);
		}
	}

	function checkHeartbeats() {
		const uptime = Math.round(process.uptime());
		const interval = broker.options.heartbeatInterval ?? 10;
		for (const node of broker.registry.nodes.toArray() as RemoteNode[]) {
			if (!node.local && node.available && heartbeatLate(node.lastHeartbeatTime, uptime, interval)) void probe(node.id);
		}
	}

	return {
		name: "DeadNodeProbe",
		created(b: ServiceBroker) {
			broker = b;
		},
		started() {
			if (opts.checkEveryMs <= 0) return;
			timer = setInterval(checkHeartbeats, opts.checkEveryMs);
			timer.unref();
		},
		stopped() {
			clearInterval(timer);
		},
		// A call waiting on a remote node longer than usual: is the node still there?
		remoteAction(next: (ctx: Context) => Promise<unknown>) {
			if (opts.slowCallMs <= 0) return next;
			return (ctx: Context) => {
				const nodeID = ctx.nodeID;
				const suspect = nodeID ? setTimeout(() => void probe(nodeID), opts.slowCallMs) : undefined;
				return next(ctx).finally(() => clearTimeout(suspect));
			};
		},
	} as unknown as Middleware;
};
