import { setTimeout as sleep } from "node:timers/promises";
import { waitFor } from "../wait.js";
import type { ApiClient } from "../client.js";
import type { Crew } from "./workload.js";

/**
 * Travellers on a long journey who keep moving and reporting, while their group's owner reads the
 * group, chats and reads the inbox: every call of the loop goes to a different service (location,
 * users, chat, notification), so the time from a crash to the first answered call after it shows
 * how long each service's callers were stranded. A client whose gateway stops answering goes to the
 * next one, as a load balancer would send it.
 */

export type CallKind = "journey" | "sample" | "group" | "chat" | "inbox";

interface Call {
	client: string;
	kind: CallKind;
	sentAt: number;
	doneAt: number;
	status: number;
}

export interface AckedSample {
	userId: string;
	groupId: string;
	latitude: number;
	at: number;
}

export class Movers {
	readonly calls: Call[] = [];
	readonly ackedSamples: AckedSample[] = [];
	readonly ackedMessages: { groupId: string; id: string; userId: string; clientMessageId: string }[] = [];
	private running = false;
	private loops: Promise<void>[] = [];
	private seq = 0;
	/** The gateway each client talks to now (index into `urls`). */
	private readonly gatewayOf = new Map<ApiClient, number>();

	constructor(
		readonly urls: string[],
		readonly crews: Crew[],
		readonly pauseMs = 150,
	) {}

	/** Starts a journey (an hour ahead, far away) for every traveller, then the loops. */
	async start(): Promise<void> {
		for (const crew of this.crews) {
			const res = await this.call(crew.traveller, "journey", "POST", `/api/groups/${crew.group.id}/journey`, {
				destination: { name: "Far", latitude: 45, longitude: 9 },
				eta: new Date(Date.now() + 3_600_000).toISOString(),
				mode: "driving",
			});
			if (res.status !== 201) throw new Error(`journey not started: ${res.status} ${JSON.stringify(res.body)}`);
		}
		this.running = true;
		// One loop per kind of call: a call stuck on a dead instance holds up only its own kind.
		this.loops = this.crews.flatMap(crew => [this.moving(crew), this.reading(crew), this.chatting(crew), this.inbox(crew)]);
	}

	/** Stops the loops and ends the journeys (until acknowledged): a traveller who stops reporting mid-journey would rightly be alerted about. */
	async stop(): Promise<void> {
		this.running = false;
		await Promise.all(this.loops);
		for (const crew of this.crews) {
			// Retried while the cluster recovers (network errors, 5xx); a 409 after a retry means the first try ended it.
			let attempts = 0;
			let refused: string | undefined;
			await waitFor(
				async () => {
					const res = await this.call(crew.traveller, "journey", "DELETE", `/api/groups/${crew.group.id}/journey`);
					attempts += 1;
					if (res.status === 200 || (attempts > 1 && res.status === 409)) return true;
					if (res.status !== 0 && res.status < 500) refused = `${res.status} ${JSON.stringify(res.body)}`;
					return refused !== undefined;
				},
				{ timeoutMs: 10_000, intervalMs: 200, what: `the journey of ${crew.traveller.user!.email} to end` },
			);
			if (refused) throw new Error(`journey not ended: ${refused}`);
		}
	}

	private async repeat(step: () => Promise<void>): Promise<void> {
		while (this.running) {
			await step();
			await sleep(this.pauseMs);
		}
	}

	private moving(crew: Crew): Promise<void> {
		let latitude = 44;
		return this.repeat(async () => {
			// About 110 m a step: out of the stuck circle every time, far from the destination.
			latitude += 0.001;
			const sample = await this.call(crew.traveller, "sample", "POST", "/api/location/samples", { latitude, longitude: 8 });
			if (sample.status === 202) this.ackedSamples.push({ userId: crew.traveller.user!.id, groupId: crew.group.id, latitude, at: Date.now() });
		});
	}

	private reading(crew: Crew): Promise<void> {
		return this.repeat(async () => void (await this.call(crew.owner, "group", "GET", `/api/groups/${crew.group.id}`)));
	}

	private chatting(crew: Crew): Promise<void> {
		return this.repeat(async () => {
			const g = crew.group.id;
			const clientMessageId = `mv-${++this.seq}`;
			const sent = await this.call(crew.owner, "chat", "POST", `/api/groups/${g}/messages`, { text: `on my way ${this.seq}`, clientMessageId });
			if (sent.status === 201) this.ackedMessages.push({ groupId: g, id: (sent.body as { id: string }).id, userId: crew.owner.user!.id, clientMessageId });
		});
	}

	private inbox(crew: Crew): Promise<void> {
		return this.repeat(async () => void (await this.call(crew.traveller, "inbox", "GET", "/api/notifications?limit=5")));
	}

	private async call(client: ApiClient, kind: CallKind, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
		const gateway = this.gatewayOf.get(client) ?? Math.max(0, this.urls.indexOf(client.baseUrl));
		const sentAt = Date.now();
		let status = 0;
		let parsed: unknown;
		try {
			const res = await fetch(`${this.urls[gateway]}${path}`, {
				method,
				headers: { authorization: `Bearer ${client.token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
				body: body === undefined ? undefined : JSON.stringify(body),
				signal: AbortSignal.timeout(30_000),
			});
			status = res.status;
			const text = await res.text();
			parsed = text ? JSON.parse(text) : undefined;
		} catch {
			// No answer from this gateway: the next call goes to the other one.
			this.gatewayOf.set(client, (gateway + 1) % this.urls.length);
		}
		this.calls.push({ client: client.user!.id, kind, sentAt, doneAt: Date.now(), status });
		return { status, body: parsed };
	}

	/**
	 * How long after `at` (ms) every client's every kind of call was answered successfully again: per
	 * client and kind, the first success of a call sent after `at`; the slowest of them. Undefined
	 * while some client has not had one yet.
	 */
	recoveryAfter(at: number): number | undefined {
		const firsts = new Map<string, number>();
		const kinds = new Set<string>();
		for (const call of this.calls) {
			if (call.kind === "journey") continue;
			const key = `${call.client}/${call.kind}`;
			kinds.add(key);
			if (call.sentAt < at || call.status < 200 || call.status >= 300) continue;
			firsts.set(key, Math.min(firsts.get(key) ?? Infinity, call.doneAt));
		}
		if (firsts.size < kinds.size) return undefined;
		return Math.max(...firsts.values()) - at;
	}

	/** Answers after `at` that were not successes, by status (what callers saw during the outage). */
	failuresAfter(at: number): Record<string, number> {
		const out: Record<string, number> = {};
		for (const call of this.calls)
			if (call.sentAt >= at && (call.status < 200 || call.status >= 300)) out[`${call.kind} ${call.status}`] = (out[`${call.kind} ${call.status}`] ?? 0) + 1;
		return out;
	}

	/** The slowest answer to a call sent after `at` (ms). */
	slowestAfter(at: number): number {
		return Math.max(0, ...this.calls.filter(c => c.sentAt >= at).map(c => c.doneAt - c.sentAt));
	}
}
