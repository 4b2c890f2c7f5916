import { randomBytes, randomUUID } from "node:crypto";
import mongoose from "mongoose";
import { freePort, startSystem, TEST_JWT_SECRET, type ServiceName, type System } from "../../test/support/system.js";
import { ApiClient } from "../../test/support/client.js";
import { hashPassword } from "../../services/users/passwords.js";
import { issueToken } from "../../services/users/tokens.js";
import { pidListeningOn } from "./procs.js";
import { stringOption } from "./options.js";

/**
 * The system under test: every service as its own process on the real NATS and Mongo-wire
 * server (test/support/system.ts), plus the accounts and groups a benchmark needs.
 */

export const ALL_SERVICES: ServiceName[] = ["users", "location", "chat", "notification", "gateway"];

export interface BenchUser {
	id: string;
	email: string;
	name: string;
	token: string;
}

/**
 * `--topology=single` (default): one process per service. `--topology=2x`: two of every service and
 * two gateways on one NATS and one database server, as the Swarm stack runs them (`BENCH_TOPOLOGY`).
 */
export type Topology = "single" | "2x";
export function topologyOption(): Topology {
	const topology = stringOption("topology", "single");
	if (topology !== "single" && topology !== "2x") throw new Error(`--topology: "${topology}" is not single or 2x`);
	return topology;
}

/** The gateways' base URLs of a cluster (one, or two with `--topology=2x`); clients are spread over them. */
const gatewaysOf = new WeakMap<System, string[]>();
export const gatewayUrls = (system: System): string[] => gatewaysOf.get(system) ?? [system.url];

export async function startCluster(services: ServiceName[] = ALL_SERVICES, env: Record<string, string> = {}, topology: Topology = "single"): Promise<System> {
	// LOG_LEVEL stays at the production default (info, one access-log line per request): the
	// figures are those of the configuration that is deployed. test/support waits for an info line.
	const system = await startSystem({ services, env: { LOG_LEVEL: "info", ...env } });
	if (topology === "single") return system;
	try {
		await Promise.all(services.filter(s => s !== "gateway").map(name => system.start(`${name}#2`)));
		if (services.includes("gateway")) {
			// The second gateway on its own port (the system's env gives every gateway the first one).
			const port = await freePort();
			system.serviceEnv.gateway = { PORT: String(port) };
			await system.start("gateway#2");
			gatewaysOf.set(system, [system.url, `http://127.0.0.1:${port}`]);
		}
		await system.waitHealthy();
	} catch (err) {
		await system.stopAll();
		throw err;
	}
	return system;
}

/** Every process of the cluster by name, plus NATS and the database server (shared, so also busy with anything else). */
export function clusterPids(system: System): Map<string, number> {
	const pids = new Map<string, number>();
	for (const [name, child] of system.processes) if (child.pid) pids.set(name, child.pid);
	const nats = pidListeningOn(portOf(process.env.TRANSPORTER ?? "nats://127.0.0.1:4222", 4222));
	const mongo = pidListeningOn(portOf(process.env.MONGO_URL ?? "mongodb://127.0.0.1:27017", 27017));
	if (nats) pids.set("nats-server", nats);
	if (mongo) pids.set("ferretdb", mongo);
	return pids;
}

function portOf(url: string, fallback: number): number {
	const match = /:(\d+)(\/|$)/.exec(url.replace(/^[a-z]+:\/\//, "x:"));
	return match ? Number(match[1]) : fallback;
}

let sharedHash: Promise<string> | undefined;
export const BENCH_PASSWORD = "bench password 1";

/**
 * Creates `count` accounts directly in the users database and signs their tokens with the test
 * key. Registering through the API would cost two scrypt hashes per account (~0.2 s of CPU each
 * on this machine) and measure the set-up instead of the benchmark; the auth-flow benchmark
 * measures that path on purpose. Each account has a real password hash (the same one), so it
 * can also log in.
 */
export async function provisionUsers(system: System, count: number, tokensPerUser = 1): Promise<{ users: BenchUser[]; tokens: string[][] }> {
	sharedHash ??= hashPassword(BENCH_PASSWORD);
	const passwordHash = await sharedHash;
	const connection = await mongoose
		.createConnection(process.env.MONGO_URL ?? "mongodb://127.0.0.1:27017", { dbName: `${system.env.NAMESPACE}_users` })
		.asPromise();
	try {
		const run = randomBytes(3).toString("hex");
		const docs = Array.from({ length: count }, (_, i) => ({
			_id: randomUUID(),
			name: `Bench${i}`,
			surname: "User",
			email: `bench${i}.${run}@example.com`,
			passwordHash,
			tokensValidAfter: 0,
			createdAt: new Date(),
			deletedAt: null,
			outbox: [],
			// What the users service keeps per account (services/users/models.ts): no groups yet, and the
			// email claim that makes the account findable by email without a scan.
			groupIds: [],
			groupIdsIndexed: true,
		}));
		// Small batches: one insert command per batch keeps each database transaction short.
		for (let i = 0; i < docs.length; i += 500) {
			const batch = docs.slice(i, i + 500);
			await connection.db!.collection("users").insertMany(batch as never[]);
			await connection.db!.collection("useremails").insertMany(batch.map(doc => ({ _id: doc.email, userId: doc._id })) as never[]);
		}
		const ttlMs = 3 * 3600_000;
		const tokens = docs.map(doc => Array.from({ length: tokensPerUser }, () => issueToken(doc._id, TEST_JWT_SECRET, ttlMs).token));
		const users = docs.map((doc, i) => ({ id: doc._id, email: doc.email, name: doc.name, token: tokens[i]![0]! }));
		return { users, tokens };
	} finally {
		await connection.close();
	}
}

export function clientFor(system: System, user: BenchUser): ApiClient {
	const client = new ApiClient(system.url);
	client.token = user.token;
	return client;
}

/** `owner` invites `member` to a group and the member accepts; the accept's answer (the group). */
export async function joinByInvitation(system: System, owner: ApiClient, member: BenchUser, groupId: string) {
	const invited = await owner.post(`/api/groups/${groupId}/members`, { email: member.email });
	if (invited.status !== 202) throw new Error(`invite failed: ${invited.status} ${JSON.stringify(invited.body)}`);
	const invitee = clientFor(system, member);
	const invitation = await invitee.invitationTo(groupId);
	if (!invitation) throw new Error(`${member.email} has no invitation to ${groupId}`);
	return invitee.post(`/api/invitations/${invitation.id}/accept`);
}

/** Runs `fn` over `items` with at most `limit` in flight; results in order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
	const results = new Array<R>(items.length);
	let next = 0;
	await Promise.all(
		Array.from({ length: Math.min(limit, items.length) }, async () => {
			while (next < items.length) {
				const index = next++;
				results[index] = await fn(items[index]!, index);
			}
		}),
	);
	return results;
}

/**
 * Groups of `size` consecutive users, created through the API by their first member (so every
 * projection hears of them); the others are invited and accept (nobody joins without consent).
 */
export async function createGroups(system: System, users: BenchUser[], size: number): Promise<{ groupId: string; members: BenchUser[] }[]> {
	const chunks: BenchUser[][] = [];
	for (let i = 0; i < users.length; i += size) chunks.push(users.slice(i, i + size));
	return mapLimit(chunks, 4, async (members, index) =>
		retrying(async () => {
			const owner = clientFor(system, members[0]!);
			const group = await owner.createGroup(`Bench group ${index}`);
			for (const member of members.slice(1)) await joinByInvitation(system, owner, member, group.id);
			return { groupId: group.id, members };
		}),
	);
}

/** Set-up calls are retried a few times on 503 (a slow database under the set-up burst), never the measured ones. */
async function retrying<T>(fn: () => Promise<T>, attempts = 4): Promise<T> {
	for (let i = 1; ; i++) {
		try {
			return await fn();
		} catch (err) {
			if (i >= attempts || !/\b503\b/.test((err as Error).message)) throw err;
			await sleep(1_000 * i);
		}
	}
}

/** Every member starts sharing in their group (through the API, as a client would). */
export async function startSharing(system: System, groups: { groupId: string; members: BenchUser[] }[]): Promise<void> {
	const pairs = groups.flatMap(g => g.members.map(member => ({ groupId: g.groupId, member })));
	await mapLimit(pairs, 16, ({ groupId, member }) =>
		retrying(async () => {
			const res = await clientFor(system, member).post(`/api/groups/${groupId}/sharing`);
			// 409 "already on": an earlier attempt answered 503 (timed out) but went through.
			if (res.status !== 200 && !(res.status === 409 && (res.body as { data?: { state?: string } })?.data?.state === "ACTIVE"))
				throw new Error(`start sharing failed: ${res.status} ${JSON.stringify(res.body)}`);
		}),
	);
}

export const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/**
 * Waits until the cluster has worked off its set-up (creating groups sends membership events that
 * every projection, the chat and the notification inboxes process for a while): the processes'
 * summed CPU stays under `maxCpuPercent` for two seconds in a row, or `timeoutMs` passes.
 * Returns how long it waited.
 */
export async function waitQuiet(pids: Map<string, number>, { maxCpuPercent = 40, timeoutMs = 90_000 } = {}): Promise<number> {
	const { readProc } = await import("./procs.js");
	const watched = [...pids.entries()].filter(([name]) => name !== "load generator" && name !== "nats-server");
	const total = () => watched.reduce((n, [, pid]) => n + (readProc(pid)?.cpuMs ?? 0), 0);
	const t0 = performance.now();
	let quietFor = 0;
	let last = total();
	while (performance.now() - t0 < timeoutMs && quietFor < 2) {
		await sleep(1_000);
		const now = total();
		quietFor = (now - last) / 10 < maxCpuPercent ? quietFor + 1 : 0;
		last = now;
	}
	return (performance.now() - t0) / 1000;
}
