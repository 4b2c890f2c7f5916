import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import mongoose from "mongoose";
import type { NatsConnection } from "nats";
import { ServiceBroker } from "moleculer";
import { brokerOptions } from "../../moleculer.config.js";
import { AllDomainEvents, DomainEvents, type DomainEventType, type Envelope, type GroupSnapshot, type NotificationSend } from "../../events/domain.js";
import type { Group } from "../../events/types.js";
import { notificationId } from "../../services/notification/inbox.js";
import { ApiClient, connectSocket, type LiveSocket } from "./client.js";
import { freePort, ROOT, type System } from "./system.js";
import { waitFor } from "./wait.js";

/**
 * Fault-injection helpers (SPEC §8–§9): private NATS and FerretDB servers a test file may restart
 * or stop without disturbing other files, a scripted workload that treats every non-2xx answer as
 * "not acknowledged" and retries idempotently, and the checks that prove nothing was lost:
 * projections equal the users service, every expected notification exists once, every
 * acknowledged chat message is in history, every published event was processed by every consumer.
 */

// ---------------------------------------------------------------- private servers

function which(name: string): string | undefined {
	const found = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).stdout.trim();
	return found || undefined;
}

export function natsServerBinary(): string {
	const candidates = [which("nats-server"), "/usr/sbin/nats-server", join(ROOT, ".data", "bin", "nats-server")];
	const bin = candidates.find(c => c && existsSync(c));
	if (!bin) throw new Error("nats-server not found (PATH, /usr/sbin, .data/bin): run `npm test` once to install it");
	return bin;
}

export function ferretdbBinary(): string {
	const bin = join(ROOT, ".data", "bin", "ferretdb");
	if (!existsSync(bin)) throw new Error(".data/bin/ferretdb not built yet: run `npm test` once (scripts/infra.mjs builds it)");
	return bin;
}

function portOpen(port: number): Promise<boolean> {
	return new Promise(resolve => {
		const socket = netConnect({ host: "127.0.0.1", port });
		socket.once("connect", () => {
			socket.destroy();
			resolve(true);
		});
		socket.once("error", () => resolve(false));
	});
}

/** One server process (nats-server or ferretdb) on a fixed port with its data in a temp dir, restartable. */
export class ServerProcess {
	private child?: ChildProcess;

	constructor(
		readonly name: string,
		readonly bin: string,
		readonly args: string[],
		readonly port: number,
		readonly logFile: string,
	) {}

	get running(): boolean {
		return Boolean(this.child && this.child.exitCode === null && this.child.signalCode === null);
	}

	async start(): Promise<void> {
		const log = createWriteStream(this.logFile, { flags: "a" });
		const child = spawn(this.bin, this.args, { stdio: ["ignore", "pipe", "pipe"] });
		child.stdout!.pipe(log);
		child.stderr!.pipe(log);
		this.child = child;
		// A test process that dies must not leave its private server behind.
		const reap = () => child.kill("SIGKILL");
		process.once("exit", reap);
		child.once("exit", () => process.removeListener("exit", reap));
		await waitFor(
			async () => {
				if (child.exitCode !== null) throw new Error(`${this.name} exited with ${child.exitCode} (log: ${this.logFile})`);
				return portOpen(this.port);
			},
			{ timeoutMs: 20_000, what: `${this.name} to listen on ${this.port}` },
		);
	}

	/** Stops the server (SIGTERM: graceful; SIGKILL: a crash) and waits until it exited. */
	async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
		const child = this.child;
		if (!child || child.exitCode !== null || child.signalCode !== null) return;
		const exited = new Promise(resolve => child.once("exit", resolve));
		child.kill(signal);
		const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
		await exited;
		clearTimeout(timer);
	}
}

export interface PrivateInfra {
	nats: ServerProcess;
	ferretdb: ServerProcess;
	/** TRANSPORTER and MONGO_URL for `startSystem({ env })`. */
	env: { TRANSPORTER: string; MONGO_URL: string };
	cleanup(): Promise<void>;
}

/** A NATS (JetStream) and a FerretDB only this test file uses, with their data in a temp dir. */
export async function startPrivateInfra(): Promise<PrivateInfra> {
	const dir = mkdtempSync(join(tmpdir(), "positionpal-faults-"));
	const [natsPort, mongoPort] = [await freePort(), await freePort()];
	const nats = new ServerProcess(
		"nats-server",
		natsServerBinary(),
		["-js", "-a", "127.0.0.1", "-p", String(natsPort), "-sd", join(dir, "nats")],
		natsPort,
		join(dir, "nats.log"),
	);
	const ferretdb = new ServerProcess(
		"ferretdb",
		ferretdbBinary(),
		[
			"--handler=sqlite",
			`--sqlite-url=file:${join(dir, "sqlite")}/`,
			`--listen-addr=127.0.0.1:${mongoPort}`,
			`--state-dir=${join(dir, "state")}`,
			"--telemetry=disable",
			"--debug-addr=-",
			"--log-level=warn",
		],
		mongoPort,
		join(dir, "ferretdb.log"),
	);
	for (const sub of ["nats", "sqlite", "state"]) mkdirSync(join(dir, sub), { recursive: true });
	try {
		await Promise.all([nats.start(), ferretdb.start()]);
	} catch (err) {
		await Promise.all([nats.stop("SIGKILL"), ferretdb.stop("SIGKILL")]);
		rmSync(dir, { recursive: true, force: true });
		throw err;
	}
	return {
		nats,
		ferretdb,
		env: { TRANSPORTER: `nats://127.0.0.1:${natsPort}`, MONGO_URL: `mongodb://127.0.0.1:${mongoPort}` },
		async cleanup() {
			await Promise.all([nats.stop(), ferretdb.stop()]);
			rmSync(dir, { recursive: true, force: true });
		},
	};
}

// ---------------------------------------------------------------- probe broker

/** An in-process broker on the system's namespace, to call the services' operator actions. */
export async function startProbe(system: System): Promise<ServiceBroker> {
	// brokerOptions (and its channels middleware) read TRANSPORTER from the environment.
	if (system.env.TRANSPORTER) process.env.TRANSPORTER = system.env.TRANSPORTER;
	const probe = new ServiceBroker(
		brokerOptions({
			namespace: system.env.NAMESPACE,
			nodeID: `probe-${Date.now().toString(36)}`,
			logger: process.env.PROBE_LOG ? undefined : false,
			// Notices a killed node as soon as the services do.
			heartbeatInterval: Number(system.env.HEARTBEAT_INTERVAL ?? 5),
			heartbeatTimeout: Number(system.env.HEARTBEAT_TIMEOUT ?? 15),
		}),
	);
	await probe.start();
	return probe;
}

// ---------------------------------------------------------------- workload

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
	body: any;
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
		this.ackedMessages.push({ groupId, id: res.body.id, userId: client.user!.id, clientMessageId });
	}

	async request(client: ApiClient, method: string, path: string, body?: unknown): Promise<Answer> {
		this.requests++;
		const started = Date.now();
		let answer: Answer;
		try {
			const res = await fetch(`${this.url}${path}`, {
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
		if (res.status === 503 && res.body?.type === "SERVICE_UNAVAILABLE" && res.body?.code === 503 && !("stack" in res.body)) return;
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

/** Signs up the crews (owner, traveller, guests) and creates their groups. */
export async function createCrews(url: string, count: number, guests = 2): Promise<Crew[]> {
	return Promise.all(
		Array.from({ length: count }, async (_, i) => {
			const owner = new ApiClient(url);
			const traveller = new ApiClient(url);
			const guestClients = Array.from({ length: guests }, () => new ApiClient(url));
			await owner.signUp("Olga", `Owner${i}`);
			await traveller.signUp("Tom", `Traveller${i}`);
			for (const [j, guest] of guestClients.entries()) await guest.signUp("Gina", `Guest${i}x${j}`);
			const group = await owner.createGroup(`crew ${i}`, [traveller.user!.email]);
			return { group, owner, traveller, guests: guestClients };
		}),
	);
}

// ---------------------------------------------------------------- what JetStream holds

export interface PublishedLog {
	/** Every stored message per event type, duplicates (republished envelopes) included. */
	messages: Map<DomainEventType, Envelope[]>;
	/** Distinct envelopes per id. */
	byId: Map<string, Envelope>;
	/** Group snapshots by `${groupId}@${version}`. */
	snapshots: Map<string, GroupSnapshot>;
}

export const streamName = (namespace: string, type: DomainEventType) => `${namespace}_${type.split(".").join("_")}`;

/** Reads every message of every domain-event stream of the namespace (only the new ones when given the previous read). */
export async function readPublished(nats: NatsConnection, namespace: string, previous?: PublishedLog): Promise<PublishedLog> {
	const jsm = await nats.jetstreamManager();
	const log: PublishedLog = previous ?? { messages: new Map(), byId: new Map(), snapshots: new Map() };
	for (const type of AllDomainEvents) {
		const info = await jsm.streams.info(streamName(namespace, type));
		const list = log.messages.get(type) ?? [];
		log.messages.set(type, list);
		if (info.state.messages === 0) continue;
		for (let seq = Math.max(info.state.first_seq, list.length + 1); seq <= info.state.last_seq; seq++) {
			const stored = await jsm.streams.getMessage(streamName(namespace, type), { seq });
			const envelope = JSON.parse(Buffer.from(stored.data).toString("utf8")) as Envelope;
			list.push(envelope);
			log.byId.set(envelope.id, envelope);
			if (type.startsWith("groups.")) {
				const p = envelope.payload as GroupSnapshot & { groupId: string };
				log.snapshots.set(`${p.groupId}@${p.version}`, { version: p.version, name: p.name, members: p.members, deleted: p.deleted });
			}
		}
	}
	return log;
}

/** Repeats `check` until it reports no problem or time runs out; returns the last problems (for the assertion). */
export async function settle(check: () => Promise<string[]>, timeoutMs: number, intervalMs = 500): Promise<string[]> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		let problems: string[];
		try {
			problems = await check();
		} catch (err) {
			problems = [`check failed: ${(err as Error).message}`];
		}
		if (!problems.length || Date.now() > deadline) return problems;
		await sleep(intervalMs);
	}
}

// ---------------------------------------------------------------- checks

const MEMBERSHIP_TYPES: DomainEventType[] = [
	DomainEvents.groupCreated,
	DomainEvents.groupRenamed,
	DomainEvents.groupDeleted,
	DomainEvents.memberAdded,
	DomainEvents.memberRemoved,
	DomainEvents.userDeleted,
];
/** The event types each consuming service's durable consumer group subscribes to. */
export const CONSUMED: Record<string, DomainEventType[]> = {
	location: MEMBERSHIP_TYPES,
	chat: MEMBERSHIP_TYPES,
	notification: [...MEMBERSHIP_TYPES, DomainEvents.notificationSend],
};

interface ProjectionRow {
	version: number;
	name: string;
	memberIds: string[];
	deleted: boolean;
}

const sorted = (ids: string[]) => [...ids].sort();

/** Differences between each service's projection and the users service, per group (empty when equal). */
export async function projectionDiffs(
	probe: ServiceBroker,
	groups: { id: string; anyMember: string }[],
	services = ["location", "chat", "notification"],
): Promise<string[]> {
	const diffs: string[] = [];
	for (const { id, anyMember } of groups) {
		const truth = (await probe.call("users.membership", { groupId: id, userId: anyMember })) as { group: (GroupSnapshot & { groupId: string }) | null };
		if (!truth.group) {
			diffs.push(`${id}: unknown to users`);
			continue;
		}
		const expected: ProjectionRow = {
			version: truth.group.version,
			name: truth.group.name,
			memberIds: sorted(truth.group.members.map(m => m.id)),
			deleted: Boolean(truth.group.deleted),
		};
		for (const service of services) {
			const copy = (await probe.call(`${service}.projectedGroup`, { groupId: id })) as ProjectionRow | null;
			const actual = copy && { version: copy.version, name: copy.name, memberIds: sorted(copy.memberIds), deleted: Boolean(copy.deleted) };
			if (JSON.stringify(actual) !== JSON.stringify(expected))
				diffs.push(`${service} ${id}: has ${JSON.stringify(actual)}, users has ${JSON.stringify(expected)}`);
		}
	}
	return diffs;
}

/**
 * The notifications each user must have: for every distinct `notifications.send` command, the
 * members of the target group at the version the producer wrote it at (`groupVersion`), minus the
 * subject, plus `alsoUserIds` — each as the id derived from the command and the recipient.
 */
export function expectedNotifications(log: PublishedLog): { byUser: Map<string, Set<string>>; problems: string[] } {
	const byUser = new Map<string, Set<string>>();
	const problems: string[] = [];
	for (const envelope of log.byId.values()) {
		if (envelope.type !== DomainEvents.notificationSend) continue;
		const command = envelope.payload as NotificationSend;
		const recipients = new Set<string>();
		if ("userIds" in command.target) {
			for (const id of command.target.userIds) recipients.add(id);
		} else if ("groupId" in command.target) {
			const snapshot = log.snapshots.get(`${command.target.groupId}@${command.groupVersion}`);
			if (!snapshot) {
				problems.push(`command ${envelope.id} (${command.kind}) names group version ${command.groupVersion}, which no group event announced`);
				continue;
			}
			for (const member of snapshot.deleted ? [] : snapshot.members) if (member.id !== command.subjectUserId) recipients.add(member.id);
		} else {
			problems.push(`command ${envelope.id} (${command.kind}) targets co-members: not part of this workload`);
		}
		for (const id of command.alsoUserIds ?? []) recipients.add(id);
		for (const userId of recipients) {
			if (!byUser.has(userId)) byUser.set(userId, new Set());
			byUser.get(userId)!.add(notificationId(envelope.id, userId));
		}
	}
	return { byUser, problems };
}

/** Every notification in a user's inbox (all pages), through the public API. */
export async function inboxOf(client: ApiClient): Promise<{ id: string; kind: string }[]> {
	const all: { id: string; kind: string }[] = [];
	let before: string | undefined;
	for (;;) {
		const res = await client.get(`/api/notifications?limit=200${before ? `&before=${before}` : ""}`);
		if (res.status !== 200) throw new Error(`inbox: ${res.status} ${JSON.stringify(res.body)}`);
		all.push(...res.body.notifications);
		if (res.body.notifications.length < 200) return all;
		before = res.body.notifications.at(-1).id;
	}
}

/** A group's whole chat history, oldest first, through the public API. */
export async function historyOf(client: ApiClient, groupId: string): Promise<{ id: string; userId: string; kind: string; clientMessageId?: string }[]> {
	const pages: { id: string; userId: string; kind: string; clientMessageId?: string }[][] = [];
	let before: string | undefined;
	for (;;) {
		const res = await client.get(`/api/groups/${groupId}/messages?limit=200${before ? `&before=${before}` : ""}`);
		if (res.status !== 200) throw new Error(`history: ${res.status} ${JSON.stringify(res.body)}`);
		const page = res.body.messages;
		pages.unshift(page);
		if (page.length < 200) return pages.flat();
		before = page[0].id;
	}
}

/** Notification inbox differences against the expectation (empty when every expected one is there once, and nothing else). */
export async function notificationDiffs(
	expected: Map<string, Set<string>>,
	clients: ApiClient[],
): Promise<{ diffs: string[]; found: number; expected: number }> {
	const diffs: string[] = [];
	let found = 0;
	let total = 0;
	for (const client of clients) {
		const want = expected.get(client.user!.id) ?? new Set<string>();
		total += want.size;
		const inbox = await inboxOf(client);
		found += inbox.length;
		const ids = inbox.map(n => n.id);
		const seen = new Set(ids);
		if (seen.size !== ids.length) diffs.push(`${client.user!.id}: a notification id appears twice`);
		const missing = [...want].filter(id => !seen.has(id));
		const extra = inbox.filter(n => !want.has(n.id));
		if (missing.length) diffs.push(`${client.user!.surname}: ${missing.length} missing of ${want.size}`);
		if (extra.length) diffs.push(`${client.user!.surname}: ${extra.length} unexpected (${extra.map(n => n.kind).join(",")})`);
	}
	return { diffs, found, expected: total };
}

/** Chat problems: acknowledged messages missing from history, duplicates of one client message id, system lines not once per membership event. */
export async function chatDiffs(log: PublishedLog, crews: Crew[], acked: AckedMessage[]): Promise<{ diffs: string[]; messages: number; systemLines: number }> {
	const diffs: string[] = [];
	let messages = 0;
	let systemLines = 0;
	for (const crew of crews) {
		const history = await historyOf(crew.owner, crew.group.id);
		const ids = new Set(history.map(m => m.id));
		const mine = acked.filter(m => m.groupId === crew.group.id);
		const missing = mine.filter(m => !ids.has(m.id));
		if (missing.length) diffs.push(`${crew.group.id}: ${missing.length} acknowledged messages missing from history`);
		const perClientId = new Map<string, number>();
		for (const m of history.filter(m => m.kind === "user")) {
			const key = `${m.userId}/${m.clientMessageId}`;
			perClientId.set(key, (perClientId.get(key) ?? 0) + 1);
		}
		const dup = [...perClientId].filter(([, n]) => n > 1);
		if (dup.length) diffs.push(`${crew.group.id}: ${dup.length} client message ids stored more than once`);
		messages += history.filter(m => m.kind === "user").length;
		// One system line per member in each membership event about this group.
		let expectedLines = 0;
		for (const envelope of log.byId.values()) {
			const p = envelope.payload as { groupId?: string };
			if (p.groupId !== crew.group.id) continue;
			if (envelope.type === DomainEvents.groupCreated || envelope.type === DomainEvents.memberAdded || envelope.type === DomainEvents.memberRemoved)
				expectedLines++;
		}
		const lines = history.filter(m => m.kind === "system").length;
		systemLines += lines;
		if (lines !== expectedLines) diffs.push(`${crew.group.id}: ${lines} system lines for ${expectedLines} membership events`);
	}
	return { diffs, messages, systemLines };
}

export interface DeliveryCounts {
	service: string;
	/** Distinct events on the streams this service consumes. */
	sent: number;
	/** Deliveries JetStream made to the service's consumer group (redeliveries included). */
	delivered: number;
	/** Deliveries beyond the first of each stored message: retries after a failure or a crash, acks lost with NATS. */
	redelivered: number;
	/** Distinct events the service recorded as processed. */
	received: number;
	/** Redeliveries and republished copies that the service recognised and skipped. */
	duplicatesAbsorbed: number;
	/** Sent but never processed. Must be 0. */
	lost: number;
	lostIds: string[];
}

/** Per consuming service: what was sent, delivered, processed once, skipped as a duplicate, lost. */
export async function deliveryCounts(nats: NatsConnection, mongoUrl: string, namespace: string, log: PublishedLog): Promise<DeliveryCounts[]> {
	const jsm = await nats.jetstreamManager();
	const rows: DeliveryCounts[] = [];
	for (const [service, types] of Object.entries(CONSUMED)) {
		const sentIds = new Set<string>();
		let delivered = 0;
		let firstDeliveries = 0;
		for (const type of types) {
			for (const envelope of log.messages.get(type) ?? []) sentIds.add(envelope.id);
			try {
				const info = await jsm.consumers.info(streamName(namespace, type), service);
				delivered += info.delivered.consumer_seq;
				// Deliver-all consumer of a one-subject stream: messages 1..stream_seq were each delivered at least once.
				firstDeliveries += info.delivered.stream_seq;
			} catch {
				/* no consumer yet: nothing delivered */
			}
		}
		const connection = await mongoose.createConnection(mongoUrl, { dbName: `${namespace}_${service}` }).asPromise();
		try {
			const processed = await connection.collection<{ _id: string; duplicates?: number }>("processedevents").find({}).toArray();
			const processedIds = new Set(processed.map(p => p._id));
			const lostIds = [...sentIds].filter(id => !processedIds.has(id));
			rows.push({
				service,
				sent: sentIds.size,
				delivered,
				redelivered: delivered - firstDeliveries,
				received: [...sentIds].filter(id => processedIds.has(id)).length,
				duplicatesAbsorbed: processed.reduce((sum, p) => sum + (p.duplicates ?? 0), 0),
				lost: lostIds.length,
				lostIds,
			});
		} finally {
			await connection.close();
		}
	}
	return rows;
}

export function formatCounts(log: PublishedLog, rows: DeliveryCounts[]): string {
	const stored = [...log.messages.values()].reduce((n, list) => n + list.length, 0);
	const lines = [`events published: ${log.byId.size} distinct, ${stored} stored in JetStream (${stored - log.byId.size} republished copies)`];
	for (const r of rows)
		lines.push(
			`  ${r.service.padEnd(12)} sent ${r.sent}, delivered ${r.delivered} (${r.redelivered} redeliveries), received ${r.received}, duplicates absorbed ${r.duplicatesAbsorbed}, lost ${r.lost}`,
		);
	return lines.join("\n");
}

/**
 * Producer-side exactness: per group, one command for each acknowledged step (an ambiguous
 * attempt that committed must not produce a second one), and per journey each alert at most once.
 */
export function commandDiffs(log: PublishedLog, crews: Crew[], steps: Map<string, number>): { diffs: string[]; alerts: Record<string, number> } {
	const diffs: string[] = [];
	const alerts: Record<string, number> = {};
	const commands = [...log.byId.values()]
		.filter(e => e.type === DomainEvents.notificationSend)
		.map(e => ({ at: e.occurredAt, id: e.id, ...(e.payload as NotificationSend) }))
		.sort((a, b) => a.at.localeCompare(b.at) || a.id.localeCompare(b.id));
	for (const crew of crews) {
		const g = crew.group.id;
		// The traveller was invited and joined when the group was created.
		const initial: Record<string, number> = { MEMBER_ADDED: 1, INVITATION_ACCEPTED: 1, INVITED: 1 };
		const stepsOf = (kind: string) => steps.get(`${g}/${kind === "INVITATION_ACCEPTED" ? "MEMBER_ADDED" : kind}`) ?? 0;
		// INVITED names no group: it is told apart by its addressee (each crew's people are invited to their crew only).
		const crewIds = new Set([crew.traveller, ...crew.guests].map(c => c.user!.id));
		const ofCrew = (c: NotificationSend) => (c.kind === "INVITED" ? "userIds" in c.target && c.target.userIds.some(id => crewIds.has(id)) : c.groupId === g);
		for (const kind of ["MEMBER_ADDED", "MEMBER_REMOVED", "JOURNEY_STARTED", "JOURNEY_ENDED", "INVITATION_ACCEPTED", "INVITED"]) {
			const want = stepsOf(kind) + (initial[kind] ?? 0);
			const got = commands.filter(c => c.kind === kind && ofCrew(c)).length;
			if (got !== want) diffs.push(`${g}: ${got} ${kind} commands for ${want} acknowledged steps`);
		}
		// Segment the traveller's commands by journey: each alert at most once per journey.
		let journey = 0;
		const seen = new Set<string>();
		for (const c of commands.filter(c => c.groupId === g && c.subjectUserId === crew.traveller.user!.id)) {
			if (c.kind === "JOURNEY_STARTED") journey++;
			if (!["LATE", "STUCK", "OFFLINE"].includes(c.kind)) continue;
			alerts[c.kind] = (alerts[c.kind] ?? 0) + 1;
			const key = `${journey}/${c.kind}`;
			if (seen.has(key)) diffs.push(`${g}: ${c.kind} twice in journey ${journey}`);
			seen.add(key);
		}
	}
	return { diffs, alerts };
}

/** Sockets the test holds open, and what chat's presence must say about them. */
export class SocketPool {
	readonly open = new Map<ApiClient, LiveSocket>();

	constructor(readonly url: string) {}

	async connect(client: ApiClient): Promise<void> {
		this.open.get(client)?.close();
		this.open.set(client, await waitFor(() => connectSocket(this.url, client.token), { timeoutMs: 20_000, what: "a socket to connect" }));
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

/**
 * Presence problems: chat must count exactly the sockets the pool holds, all on the running
 * gateway, and a group's presence must show each crew member online exactly when they hold one.
 */
export async function presenceDiffs(probe: ServiceBroker, pool: SocketPool, crews: Crew[]): Promise<string[]> {
	const diffs: string[] = [];
	const gateways = [
		...new Set(
			probe.registry
				.getServiceList({ onlyAvailable: true })
				.filter(s => s.name === "gateway")
				.map(s => s.nodeID),
		),
	];
	const stats = (await probe.call("chat.presenceStats")) as { sockets: number; perGateway: Record<string, number> };
	if (stats.sockets !== pool.open.size) diffs.push(`chat counts ${stats.sockets} open sockets, ${pool.open.size} are open`);
	const elsewhere = Object.keys(stats.perGateway).filter(id => !gateways.includes(id));
	if (elsewhere.length) diffs.push(`sockets counted on gateways that are gone: ${elsewhere.join(", ")}`);
	for (const crew of crews) {
		const res = await crew.owner.get(`/api/groups/${crew.group.id}/presence`);
		if (res.status !== 200) {
			diffs.push(`presence of ${crew.group.id}: ${res.status}`);
			continue;
		}
		for (const entry of res.body as { userId: string; online: boolean }[]) {
			const holder = [...pool.open.keys()].some(c => c.user!.id === entry.userId);
			if (entry.online !== holder)
				diffs.push(`${entry.userId} shows ${entry.online ? "online" : "offline"} in ${crew.group.id}, holds ${holder ? "a" : "no"} socket`);
		}
	}
	return diffs;
}

/** Every user of the crews (for inbox checks). */
export const crewClients = (crews: Crew[]) => crews.flatMap(c => [c.owner, c.traveller, ...c.guests]);
export const crewGroups = (crews: Crew[]) => crews.map(c => ({ id: c.group.id, anyMember: c.owner.user!.id }));

export interface Verification {
	system: System;
	probe: ServiceBroker;
	nats: NatsConnection;
	mongoUrl: string;
	crews: Crew[];
	workload: Workload;
	/** How long the system may take to converge after the workload stopped. */
	timeoutMs?: number;
	/** Where the counts are printed (t.diagnostic; stdout by default). */
	report?: (line: string) => void;
	/** Sockets held open during the workload: chat's presence must match them. */
	sockets?: SocketPool;
}

/**
 * After the workload stopped: outboxes drain, every consumer processes every event, projections
 * equal the users service, inboxes hold exactly the expected notifications, chat history holds
 * every acknowledged message once. Prints the counts; returns the problems (empty = all good).
 */
export async function verifyNothingLost(v: Verification): Promise<{ problems: string[]; counts: DeliveryCounts[] }> {
	const timeoutMs = v.timeoutMs ?? 60_000;
	const started = Date.now();
	const left = () => Math.max(5_000, timeoutMs - (Date.now() - started));
	const ns = v.system.env.NAMESPACE!;
	const report = v.report ?? ((line: string) => console.log(line));
	const problems: string[] = [];

	problems.push(
		...(await settle(async () => {
			const out: string[] = [];
			for (const service of ["users", "location"]) {
				const status = (await v.probe.call(`${service}.outboxStatus`)) as { pending: number };
				if (status.pending) out.push(`${service}: ${status.pending} events still in the outbox`);
			}
			return out;
		}, left())),
	);

	let log = await readPublished(v.nats, ns);
	let counts: DeliveryCounts[] = [];
	problems.push(
		...(await settle(
			async () => {
				log = await readPublished(v.nats, ns, log);
				counts = await deliveryCounts(v.nats, v.mongoUrl, ns, log);
				return counts.filter(c => c.lost).map(c => `${c.service}: ${c.lost} events never processed (${c.lostIds.slice(0, 3).join(", ")}…)`);
			},
			left(),
			1_000,
		)),
	);

	problems.push(...(await settle(() => projectionDiffs(v.probe, crewGroups(v.crews)), left())));

	const expected = expectedNotifications(log);
	problems.push(...expected.problems);
	let inbox = { diffs: [] as string[], found: 0, expected: 0 };
	problems.push(
		...(await settle(
			async () => {
				inbox = await notificationDiffs(expected.byUser, crewClients(v.crews));
				return inbox.diffs;
			},
			left(),
			1_000,
		)),
	);

	// The operators' view agrees with the inboxes.
	let stored = 0;
	for (const client of crewClients(v.crews))
		stored += ((await v.probe.call("notification.stats", { userId: client.user!.id })) as { notifications: number }).notifications;
	if (stored !== inbox.found) problems.push(`notification.stats counts ${stored} notifications, the inboxes hold ${inbox.found}`);

	if (v.sockets) problems.push(...(await settle(() => presenceDiffs(v.probe, v.sockets!, v.crews), left())));

	const chat = await chatDiffs(log, v.crews, v.workload.ackedMessages);
	problems.push(...chat.diffs);
	const commands = commandDiffs(log, v.crews, v.workload.steps);
	problems.push(...commands.diffs);
	problems.push(...v.workload.unexpected.map(u => `unclean answer: ${u}`));

	report(v.workload.summary());
	report(formatCounts(log, counts));
	report(
		`notifications: ${inbox.expected} expected, ${inbox.found} in inboxes; chat: ${chat.messages} user messages (${v.workload.ackedMessages.length} acknowledged), ${chat.systemLines} system lines; alerts: ${JSON.stringify(commands.alerts)}; converged in ${Date.now() - started} ms`,
	);
	return { problems, counts };
}
