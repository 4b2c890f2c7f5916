import { setTimeout as sleep } from "node:timers/promises";
import type { Group } from "../../../events/types.js";
import { ApiClient, connectSocket, type LiveSocket } from "../client.js";
import { waitFor } from "../wait.js";

/**
 * A scripted workload for the fault tests: crews (an owner, a traveller and guests per group)
 * driven through membership changes, journeys and chat, treating every non-2xx answer as "not
 * acknowledged" and retrying idempotently, and the sockets they hold open.
 */

export interface Crew {
	group: Group;
	owner: ApiClient;
	traveller: ApiClient;
	/** Added to and removed from the group over and over. */
	guests: ApiClient[];
}

export interface AckedMessage {
	groupId: string;
	id: string;
	userId: string;
	clientMessageId: string;
}

interface Answer {
	status: number;
	/** The parsed JSON answer (an error's `{ name, message, code, type }`, or the resource); the error text for no answer. */
	body: unknown;
}

const TRANSIENT = (status: number) => status === 0 || status >= 500;

/**
 * Drives every crew through membership changes, journeys and chat until stopped: three loops
 * per crew, so a service that is down blocks only the loops that need it. A request is
 * acknowledged only by its documented success status; anything else (5xx, a refused connection,
 * a timeout) means "not acknowledged" and the step is retried, relying on the API's idempotency:
 * the same clientMessageId, or the 409/404 that says an earlier attempt did commit.
 */
export class Workload {
	readonly statuses = new Map<string, number>();
	readonly ackedMessages: AckedMessage[] = [];
	/** Acknowledged steps per `${groupId}/${step}` (each committed exactly once). */
	readonly steps = new Map<string, number>();
	/** Answers that are neither success, an expected idempotency answer, nor a clean 503. */
	readonly unexpected: string[] = [];
	requests = 0;
	acknowledged = 0;
	retries = 0;
	maxLatencyMs = 0;
	private readonly cycles: number[] = [];
	private running = false;
	private loops: Promise<void>[] = [];
	private failure?: Error;
	private seq = 0;
	/** Called after every completed cycle and on a failure (see `progress`). */
	private readonly changed = new Set<() => void>();

	constructor(
		readonly url: string,
		readonly crews: Crew[],
		readonly opts: { stepDeadlineMs?: number; journeyEtaMs?: number } = {},
	) {}

	start(): void {
		this.running = true;
		this.loops = this.crews.flatMap(crew => [
			this.loop(() => this.membershipCycle(crew)),
			this.loop(() => this.journeyCycle(crew)),
			this.loop(() => this.chatCycle(crew)),
		]);
	}

	/** Finishes the steps under way (each until acknowledged) and stops. */
	async stop(): Promise<void> {
		this.running = false;
		await Promise.all(this.loops);
		if (this.failure) throw this.failure;
	}

	get totalCycles(): number {
		return this.cycles.reduce((a, b) => a + b, 0);
	}

	/** Waits until every loop completed `n` more cycles (proof the whole system serves again). */
	async progress(n: number, timeoutMs = 60_000): Promise<void> {
		const target = this.cycles.map(c => c + n);
		await new Promise<void>((resolve, reject) => {
			const finish = (err?: Error) => {
				clearTimeout(timer);
				this.changed.delete(check);
				if (err) reject(err);
				else resolve();
			};
			// Re-checked whenever a loop completes a cycle or fails, not on a clock.
			const check = () => {
				// A step that could not be acknowledged fails the test at once, with its own message.
				if (this.failure) finish(this.failure);
				else if (this.cycles.every((c, i) => c >= target[i]!)) finish();
			};
			const timer = setTimeout(
				() => finish(new Error(`Timed out after ${timeoutMs} ms waiting for ${n} more workload cycles in every loop (${this.summary()})`)),
				timeoutMs,
			);
			this.changed.add(check);
			check();
		});
	}

	private async loop(cycle: () => Promise<void>): Promise<void> {
		const index = this.cycles.push(0) - 1;
		try {
			while (this.running) {
				await cycle();
				this.cycles[index]!++;
				for (const listener of this.changed) listener();
			}
		} catch (err) {
			this.failure ??= err as Error;
			this.running = false;
			for (const listener of this.changed) listener();
		}
	}

	private count(groupId: string, step: string) {
		const key = `${groupId}/${step}`;
		this.steps.set(key, (this.steps.get(key) ?? 0) + 1);
	}

	/** A guest is invited and accepts, says hello, the group is renamed, the guest is removed. */
	private async membershipCycle(crew: Crew): Promise<void> {
		const g = crew.group.id;
		const guest = crew.guests[this.seq++ % crew.guests.length]!;
		// 409: an earlier attempt's invitation is pending.
		await this.step(crew.owner, "POST", `/api/groups/${g}/members`, { email: guest.user!.email }, [202], [409]);
		this.count(g, "INVITED");
		const listed = await this.step(guest, "GET", "/api/invitations", undefined, [200], []);
		const invitation = (listed.body as { id: string; groupId: string }[]).find(i => i.groupId === g);
		if (!invitation) throw new Error(`${guest.user!.surname} has no invitation to ${g} after it was acknowledged`);
		// 404: an earlier attempt's accept committed (the invitation is answered).
		await this.step(guest, "POST", `/api/invitations/${invitation.id}/accept`, undefined, [200], [404]);
		this.count(g, "MEMBER_ADDED");
		await this.chat(guest, g);
		await this.step(crew.owner, "PATCH", `/api/groups/${g}`, { name: `crew ${this.seq}` }, [200], []);
		await this.step(crew.owner, "DELETE", `/api/groups/${g}/members/${guest.user!.id}`, undefined, [200], [404]);
		this.count(g, "MEMBER_REMOVED");
	}

	/** The traveller starts a journey, sends a few samples (barely moving), and stops it. */
	private async journeyCycle(crew: Crew): Promise<void> {
		const g = crew.group.id;
		// The ETA is taken afresh on every attempt: a retry after an outage must not send a past one.
		const journey = () => ({
			destination: { name: "Home", latitude: 45, longitude: 9 },
			eta: new Date(Date.now() + (this.opts.journeyEtaMs ?? 60_000)).toISOString(),
			mode: "walking",
		});
		await this.step(crew.traveller, "POST", `/api/groups/${g}/journey`, journey, [201], [409]);
		this.count(g, "JOURNEY_STARTED");
		for (let i = 0; i < 3; i++) {
			// Far from the destination, within a metre: the journey never arrives, and may get stuck or late.
			await this.once(crew.traveller, "POST", "/api/location/samples", { latitude: 44 + Math.random() / 1e5, longitude: 8 }, [202]);
			// A look at the group's map between samples, as a client would.
			await this.once(crew.traveller, "GET", `/api/groups/${g}/sessions`, undefined, [200]);
		}
		await this.step(crew.traveller, "DELETE", `/api/groups/${g}/journey`, undefined, [200], [409]);
		this.count(g, "JOURNEY_ENDED");
	}

	/** The two permanent members chat. */
	private async chatCycle(crew: Crew): Promise<void> {
		await this.chat(crew.owner, crew.group.id);
		await this.chat(crew.traveller, crew.group.id);
	}

	private async chat(client: ApiClient, groupId: string): Promise<void> {
		const clientMessageId = `m-${++this.seq}-${client.user!.id.slice(0, 6)}`;
		const res = await this.step(client, "POST", `/api/groups/${groupId}/messages`, { text: `hello ${this.seq}`, clientMessageId }, [201], []);
		this.ackedMessages.push({ groupId, id: (res.body as { id: string }).id, userId: client.user!.id, clientMessageId });
	}

	async request(client: ApiClient, method: string, path: string, body?: unknown): Promise<Answer> {
		this.requests++;
		const started = Date.now();
		let answer: Answer;
		try {
			// Each client talks to its own gateway (members of one group on different gateways).
			const res = await fetch(`${client.baseUrl || this.url}${path}`, {
				method,
				headers: { authorization: `Bearer ${client.token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
				body: body === undefined ? undefined : JSON.stringify(body),
				// A hang is a failure too: no request may take longer than this.
				signal: AbortSignal.timeout(30_000),
			});
			const text = await res.text();
			answer = { status: res.status, body: text ? JSON.parse(text) : undefined };
		} catch (err) {
			const name = (err as Error).name;
			if (name === "TimeoutError") this.unexpected.push(`${method} ${path}: no answer within 30 s`);
			answer = { status: 0, body: String((err as Error).message) };
		}
		this.maxLatencyMs = Math.max(this.maxLatencyMs, Date.now() - started);
		const key = answer.status === 0 ? "network" : String(answer.status);
		this.statuses.set(key, (this.statuses.get(key) ?? 0) + 1);
		return answer;
	}

	/** One attempt, not retried; only its cleanliness is checked. */
	private async once(client: ApiClient, method: string, path: string, body: unknown, ok: number[]): Promise<Answer> {
		const res = await this.request(client, method, path, body);
		this.judge(res, method, path, ok, [], false);
		return res;
	}

	/**
	 * Repeats a step until it is acknowledged (`ok`), or until an answer in `done` shows that an
	 * earlier, unacknowledged attempt committed it (only accepted after such an attempt).
	 */
	private async step(client: ApiClient, method: string, path: string, body: unknown, ok: number[], done: number[]): Promise<Answer> {
		const deadlineMs = this.opts.stepDeadlineMs ?? 90_000;
		const deadline = Date.now() + deadlineMs;
		let ambiguous = false;
		for (let attempt = 0; ; attempt++) {
			if (attempt > 0) this.retries++;
			const res = await this.request(client, method, path, typeof body === "function" ? body() : body);
			if (ok.includes(res.status) || (ambiguous && done.includes(res.status))) {
				this.acknowledged++;
				return res;
			}
			this.judge(res, method, path, ok, done, ambiguous);
			if (!TRANSIENT(res.status)) throw new Error(`${method} ${path}: unexpected ${res.status} ${JSON.stringify(res.body)}`);
			ambiguous = true;
			if (Date.now() > deadline) throw new Error(`${method} ${path}: not acknowledged within ${deadlineMs} ms (last ${res.status})`);
			await sleep(Math.min(1_000, 100 * 2 ** Math.min(attempt, 4)));
		}
	}

	/** Records answers that are not clean: a 5xx other than a documented 503 (e.g. a 500), any other surprise. */
	private judge(res: Answer, method: string, path: string, ok: number[], done: number[], ambiguous: boolean) {
		if (ok.includes(res.status) || (ambiguous && done.includes(res.status)) || res.status === 0) return;
		const error = (res.body ?? {}) as { type?: unknown; code?: unknown; stack?: unknown };
		if (res.status === 503 && error.type === "SERVICE_UNAVAILABLE" && error.code === 503 && !("stack" in error)) return;
		this.unexpected.push(`${method} ${path}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
	}

	summary(): string {
		const statuses = [...this.statuses]
			.sort()
			.map(([s, n]) => `${s}×${n}`)
			.join(" ");
		return `workload: ${this.totalCycles} cycles, ${this.requests} requests (${statuses}), ${this.acknowledged} acknowledged steps, ${this.retries} retries, ${this.ackedMessages.length} chat messages acknowledged, slowest answer ${this.maxLatencyMs} ms`;
	}
}

/**
 * Signs up the crews (owner, traveller, guests) and creates their groups. With several gateway
 * URLs, the members of each group are spread over them (owner on the first, traveller on the next...).
 */
export async function createCrews(url: string | string[], count: number, guests = 2): Promise<Crew[]> {
	const urls = typeof url === "string" ? [url] : url;
	const at = (k: number) => urls[k % urls.length]!;
	return Promise.all(
		Array.from({ length: count }, async (_, i) => {
			const owner = new ApiClient(at(0));
			const traveller = new ApiClient(at(1));
			const guestClients = Array.from({ length: guests }, (_, j) => new ApiClient(at(j)));
			await owner.signUp("Olga", `Owner${i}`);
			await traveller.signUp("Tom", `Traveller${i}`);
			for (const [j, guest] of guestClients.entries()) await guest.signUp("Gina", `Guest${i}x${j}`);
			const group = await owner.createGroup(`crew ${i}`, [traveller.user!.email]);
			return { group, owner, traveller, guests: guestClients };
		}),
	);
}

/** Sockets the test holds open, and what chat's presence must say about them. */
export class SocketPool {
	readonly open = new Map<ApiClient, LiveSocket>();

	constructor(readonly url: string) {}

	async connect(client: ApiClient): Promise<void> {
		this.open.get(client)?.close();
		this.open.set(client, await waitFor(() => connectSocket(client.baseUrl || this.url, client.token), { timeoutMs: 20_000, what: "a socket to connect" }));
	}

	close(client: ApiClient): void {
		this.open.get(client)?.close();
		this.open.delete(client);
	}

	/** After a gateway restart: its sockets died with it, clients reconnect. */
	async reconnectAll(): Promise<void> {
		for (const client of [...this.open.keys()]) await this.connect(client);
	}

	closeAll(): void {
		for (const client of [...this.open.keys()]) this.close(client);
	}
}

/** Every user of the crews (for inbox checks). */
export const crewClients = (crews: Crew[]) => crews.flatMap(c => [c.owner, c.traveller, ...c.guests]);
export const crewGroups = (crews: Crew[]) => crews.map(c => ({ id: c.group.id, anyMember: c.owner.user!.id }));
