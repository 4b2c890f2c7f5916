import type { Middleware, ServiceBroker } from "moleculer";

type Send = (topic: string, data: Buffer, meta: object) => Promise<void>;

/**
 * Every packet a node sends in one event-loop turn goes to the transporter at the end of the turn,
 * together, so the NATS client writes them to its socket as one.
 *
 * nats.js flushes its buffer in a microtask: each request, reply and broadcast a service produces
 * from its own callback cost a socket write of its own. On the 2-core benchmark machine a loopback
 * write is tens of µs of system time plus a wake-up of nats-server; at 2,400 position samples/s
 * those writes were a third of the location service's CPU and close to half of the gateway's
 * (docs/BENCHMARKS.md, round 3). Packets keep their order; each send settles when its packet was
 * handed over (or failed), as before, at most the rest of the turn later. While the broker stops,
 * packets go at once, after any still waiting (the DISCONNECT packet must precede the close).
 */
export function CoalescedSends(): Middleware {
	let broker: ServiceBroker | undefined;
	return {
		name: "CoalescedSends",
		created(created: ServiceBroker) {
			broker = created;
		},
		transporterSend(next: Send): Send {
			return coalesceSends(next, () => Boolean(broker?.stopping));
		},
		// Moleculer's typings declare the hook as returning a send's result, not the wrapped send it is.
	} as unknown as Middleware;
}

/** The send that waits for the end of the turn (`immediately()`: no waiting, for stopping brokers). */
export function coalesceSends(next: Send, immediately: () => boolean): Send {
	let waiting: { topic: string; data: Buffer; meta: object; settle: (sent: Promise<void>) => void }[] = [];
	const sendWaiting = () => {
		const packets = waiting;
		waiting = [];
		for (const packet of packets) {
			let sent: Promise<void>;
			try {
				sent = next(packet.topic, packet.data, packet.meta);
			} catch (err) {
				sent = Promise.reject(err instanceof Error ? err : new Error(String(err)));
			}
			packet.settle(sent);
		}
	};
	return (topic, data, meta) => {
		if (immediately()) {
			sendWaiting();
			return next(topic, data, meta);
		}
		if (waiting.length === 0) setImmediate(sendWaiting);
		return new Promise<void>((resolve, reject) => waiting.push({ topic, data, meta, settle: sent => void sent.then(resolve, reject) }));
	};
}
