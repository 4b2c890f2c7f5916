import { io, type Socket } from "socket.io-client";
import { Histogram, type LatencySummary } from "./stats.js";
import { mapLimit } from "./cluster.js";

/**
 * The live fan-out load generator, shared by the system and its baseline: N socket.io clients in
 * groups, sending location samples open-loop at a given total rate (clients take turns, so the
 * rate is even), and timing each sample from the moment it is sent to the moment each OTHER
 * member of the group receives it as a `location:update`.
 */

export interface LoadClient {
	userId: string;
	groupId: string;
	/** Members of the group besides this one who are connected (receivers of each of its samples). */
	peers: number;
	socket: Socket;
	/** Last timestamp sent (ms): samples must be newer than the previous one or they are stale. */
	lastTs: number;
	lat: number;
	lon: number;
}

interface Sent {
	at: number;
	/** Second of the measured window it was sent in (-1 during the warm-up). */
	second: number;
	peers: number;
	received: number;
	measured: boolean;
	/** undefined while the ack is outstanding; true ok, false refused. */
	ok?: boolean;
}

export interface PhaseResult {
	targetRate: number;
	seconds: number;
	/** Samples sent per second in the measured window. */
	samplesPerSecond: number;
	/** Updates received by other members per second (of samples of the measured window). */
	updatesPerSecond: number;
	latency: LatencySummary;
	ack: LatencySummary;
	expected: number;
	received: number;
	lost: number;
	ackErrors: number;
	ackTimeouts: number;
	/** Sending stopped early because too many samples were waiting for their ack (overload). */
	aborted: boolean;
	/** p99 latency (ms) of the samples sent in each second of the measured window: shows stalls. */
	p99PerSecond: number[];
}

export interface ConnectOptions {
	/** One URL, or several (client i connects to the i-th modulo their count: a group's members spread over them). */
	url: string | string[];
	auth: (client: { userId: string; groupId: string; token: string }) => Record<string, string>;
}

export async function connectClients(
	members: { userId: string; groupId: string; token: string; groupSize: number }[],
	opts: ConnectOptions,
	concurrency = 50,
): Promise<LoadClient[]> {
	return mapLimit(members, concurrency, async (member, index) => {
		let socket: Socket | undefined;
		// Set-up, not measured: a connection refused with SERVICE_UNAVAILABLE (busy cluster) is tried again.
		for (let attempt = 1; !socket; attempt++) {
			const url = typeof opts.url === "string" ? opts.url : opts.url[index % opts.url.length]!;
			const candidate = io(url, { auth: opts.auth(member), transports: ["websocket"], reconnection: false, forceNew: true, timeout: 30_000 });
			const error = await new Promise<Error | null>(resolve => {
				candidate.once("connect", () => resolve(null));
				candidate.once("connect_error", err => resolve(err));
			});
			if (!error) socket = candidate;
			else {
				candidate.disconnect();
				if (attempt >= 5 || error.message !== "SERVICE_UNAVAILABLE") throw new Error(`socket ${index} could not connect: ${error.message}`);
				await new Promise(resolve => setTimeout(resolve, 1_000 * attempt));
			}
		}
		return {
			userId: member.userId,
			groupId: member.groupId,
			peers: member.groupSize - 1,
			socket,
			lastTs: 0,
			lat: 44 + (index % 100) * 0.01,
			lon: 11 + Math.floor(index / 100) * 0.01,
		};
	});
}

export class FanoutLoad {
	private sent = new Map<string, Sent>();
	private latency = new Histogram();
	private ackLatency = new Histogram();
	private perSecond: Histogram[] = [];
	private outstanding = 0;

	constructor(private readonly clients: LoadClient[]) {
		for (const client of clients) {
			client.socket.on("location:update", (session: { userId?: string; position?: { timestamp?: string } | null }) => {
				if (session.userId === client.userId) return; // the sender's own echo is not an update "out"
				const record = this.sent.get(`${session.userId}|${session.position?.timestamp}`);
				if (!record) return;
				record.received++;
				if (record.measured) {
					const ms = performance.now() - record.at;
					this.latency.record(ms);
					(this.perSecond[record.second] ??= new Histogram()).record(ms);
				}
			});
		}
	}

	/**
	 * Sends at `rate` samples/s in total for `warmupMs + measureMs`, measuring the samples sent
	 * after the warm-up, then waits up to `drainMs` for their updates to arrive.
	 */
	async phase(
		rate: number,
		measureMs: number,
		{ warmupMs = 1_000, drainMs = 3_000, ackTimeoutMs = 10_000, abortWhenOverloaded = true } = {},
	): Promise<PhaseResult> {
		this.sent.clear();
		this.latency = new Histogram();
		this.ackLatency = new Histogram();
		this.perSecond = [];
		let ackErrors = 0;
		let ackTimeouts = 0;
		let measuredCount = 0;
		let aborted = false;
		const measured: Sent[] = [];
		const start = performance.now();
		const measureFrom = start + warmupMs;
		const end = measureFrom + measureMs;
		// Overload guard: more than 2 s of samples waiting for acks means the target cannot keep up.
		const maxOutstanding = Math.max(200, rate * 2);
		let k = 0;

		await new Promise<void>(resolve => {
			const tick = () => {
				const now = performance.now();
				if (now >= end || aborted) {
					clearInterval(timer);
					resolve();
					return;
				}
				while (start + (k * 1000) / rate <= now) {
					if (abortWhenOverloaded && this.outstanding > maxOutstanding) {
						aborted = true;
						break;
					}
					const client = this.clients[k % this.clients.length]!;
					k++;
					const inWindow = now >= measureFrom;
					const ts = Math.max(Date.now(), client.lastTs + 1);
					client.lastTs = ts;
					client.lat += (Math.random() - 0.5) * 1e-4;
					client.lon += (Math.random() - 0.5) * 1e-4;
					const timestamp = new Date(ts).toISOString();
					const sentAt = performance.now();
					const record: Sent = {
						at: sentAt,
						second: inWindow ? Math.floor((sentAt - measureFrom) / 1000) : -1,
						peers: client.peers,
						received: 0,
						measured: inWindow,
					};
					this.sent.set(`${client.userId}|${timestamp}`, record);
					if (inWindow) {
						measured.push(record);
						measuredCount++;
					}
					this.outstanding++;
					client.socket
						.timeout(ackTimeoutMs)
						.emit("location:sample", { latitude: client.lat, longitude: client.lon, timestamp }, (err: Error | null, reply?: { ok?: boolean }) => {
							this.outstanding--;
							if (err) {
								ackTimeouts++;
								return;
							}
							record.ok = reply?.ok === true;
							if (!record.ok) ackErrors++;
							else if (record.measured) this.ackLatency.record(performance.now() - record.at);
						});
				}
			};
			const timer = setInterval(tick, 2);
		});

		const sentUntil = Math.min(performance.now(), end);
		const drainDeadline = performance.now() + drainMs;
		const pendingCount = () => measured.reduce((n, r) => n + (r.ok === false ? 0 : Math.max(0, r.peers - r.received)), 0);
		while (performance.now() < drainDeadline && (pendingCount() > 0 || this.outstanding > 0)) await new Promise(resolve => setTimeout(resolve, 20));

		const seconds = Math.max(0.001, (sentUntil - measureFrom) / 1000);
		const expected = measured.reduce((n, r) => n + (r.ok === false ? 0 : r.peers), 0);
		const received = measured.reduce((n, r) => n + (r.ok === false ? 0 : Math.min(r.peers, r.received)), 0);
		return {
			targetRate: rate,
			seconds,
			samplesPerSecond: measuredCount / seconds,
			updatesPerSecond: received / seconds,
			latency: this.latency.summary(),
			ack: this.ackLatency.summary(),
			expected,
			received,
			lost: expected - received,
			ackErrors,
			ackTimeouts,
			aborted,
			p99PerSecond: Array.from(this.perSecond, h => (h ? Math.round(h.percentile(99)) : Number.NaN)),
		};
	}

	/**
	 * Waits until the live path works end to end (a new gateway is announced to the other nodes
	 * a moment after it starts; broadcasts sent before that reach no socket).
	 */
	async waitLive(timeoutMs = 20_000): Promise<void> {
		const [sender, receiver] = this.clients;
		if (!sender || !receiver || sender.groupId !== receiver.groupId) return;
		const deadline = performance.now() + timeoutMs;
		let seen = false;
		const onUpdate = (session: { userId?: string }) => {
			if (session.userId === sender.userId) seen = true;
		};
		receiver.socket.on("location:update", onUpdate);
		try {
			while (!seen && performance.now() < deadline) {
				const ts = Math.max(Date.now(), sender.lastTs + 1);
				sender.lastTs = ts;
				sender.socket.emit("location:sample", { latitude: sender.lat, longitude: sender.lon, timestamp: new Date(ts).toISOString() }, () => undefined);
				await new Promise(resolve => setTimeout(resolve, 250));
			}
		} finally {
			receiver.socket.off("location:update", onUpdate);
		}
		if (!seen) throw new Error("no live update reached a socket: the live path does not work");
	}

	/** Waits until no sample waits for its ack (after an overloaded phase), at most `timeoutMs`. */
	async settle(timeoutMs = 20_000): Promise<void> {
		const deadline = performance.now() + timeoutMs;
		while (this.outstanding > 0 && performance.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50));
		await new Promise(resolve => setTimeout(resolve, 500));
	}

	close(): void {
		for (const client of this.clients) client.socket.disconnect();
	}
}

/** A phase is sustainable when p99 < `p99Ms`, nothing is lost or refused, and the sender kept its rate. */
export const sustainable = (r: PhaseResult, p99Ms = 100) =>
	!r.aborted && r.latency.p99 < p99Ms && r.ackErrors === 0 && r.ackTimeouts === 0 && r.lost <= r.expected * 0.001 && r.samplesPerSecond >= r.targetRate * 0.95;
