import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import mongoose, { type Connection } from "mongoose";
import { MemoryAttempts, MongoAttempts, type AttemptStore } from "../../lib/attempt-limits.js";
import { freePort, startSystem, type ProcessName, type System } from "../support/system.js";
import { ApiClient } from "../support/client.js";
import { SHARED_RATE_LIMIT } from "../../services/gateway/routes.js";

/**
 * Attempt limits count an attempt before the work it guards, so parallel guesses cannot slip
 * past; in the database they hold across instances (two stores on two connections here) and restarts.
 */
let conn: Connection;
let other: Connection;
before(async () => {
	const dbName = `attempts_${randomBytes(4).toString("hex")}`;
	const url = process.env.MONGO_URL ?? "mongodb://127.0.0.1:27017";
	conn = await mongoose.createConnection(url, { dbName }).asPromise();
	other = await mongoose.createConnection(url, { dbName }).asPromise();
});
after(async () => {
	await conn.db!.dropDatabase();
	await Promise.all([conn.close(), other.close()]);
});

for (const [kind, make] of [
	["in memory", () => [new MemoryAttempts()]],
	["in the database, two instances", () => [new MongoAttempts(conn), new MongoAttempts(other)]],
] as [string, () => AttemptStore[]][]) {
	describe(`attempt limits ${kind}`, () => {
		test("60 parallel attempts with a limit of 10: exactly 10 get through, the rest learn the true wait", async () => {
			const stores = make();
			const key = `login:${randomBytes(4).toString("hex")}`;
			const now = Date.now();
			const verdicts = await Promise.all(Array.from({ length: 60 }, (_, i) => stores[i % stores.length]!.reserve(key, 10, 60_000, now)));
			assert.equal(verdicts.filter(v => v.allowed).length, 10);
			for (const refused of verdicts.filter(v => !v.allowed)) {
				assert.ok(refused.retryAfterMs > 59_000 && refused.retryAfterMs <= 60_000, String(refused.retryAfterMs));
			}
			assert.equal(await stores[0]!.peek(key, now), 10);
		});

		test("a new window starts when the old one ends, and a reset forgets the attempts", async () => {
			const [store] = make();
			const key = `pw:${randomBytes(4).toString("hex")}`;
			const t0 = Date.now();
			for (let i = 0; i < 3; i++) assert.equal((await store!.reserve(key, 3, 1_000, t0)).allowed, true);
			assert.deepEqual(await store!.reserve(key, 3, 1_000, t0 + 400), { allowed: false, count: 3, retryAfterMs: 600 });
			assert.deepEqual(await store!.reserve(key, 3, 1_000, t0 + 1_000), { allowed: true, count: 1, retryAfterMs: 1_000 });
			await store!.reset(key);
			assert.equal(await store!.peek(key, t0 + 1_000), 0);
		});
	});
}

test("ended windows are purged from the database", async () => {
	const store = new MongoAttempts(conn);
	const now = Date.now();
	await store.reserve("old", 5, 1_000, now - 5_000);
	await store.reserve("live", 5, 60_000, now);
	assert.ok((await store.purge(now)) >= 1);
	assert.equal(await store.peek("old", now - 4_500), 0);
	assert.equal(await store.peek("live", now), 1);
});

/**
 * Two gateways and two users instances on one NATS and one database (as the Swarm stack runs them):
 * the auth routes' and share-link views' per-address limits and the failed-login lock are counted
 * once for the whole cluster, and a restart of every instance forgets none of it.
 */
describe("limits across two gateways, two users instances and restarts", () => {
	const AUTH_LIMIT = 6;
	const LOCK_AFTER = 4;
	const DEVICE_LIMIT = 4;
	let system: System;
	let ports: Record<"gateway" | "gateway#2", number>;
	const gateways = () => [new ApiClient(`http://127.0.0.1:${ports.gateway}`), new ApiClient(`http://127.0.0.1:${ports["gateway#2"]}`)] as const;
	const from = (address: string) => ({ headers: { "x-forwarded-for": address } });
	const address = () => `203.0.113.${1 + (randomBytes(1)[0]! % 250)}`;

	/** A gateway on its own port (the system's env gives every gateway the first one). */
	async function startGateway(name: "gateway" | "gateway#2") {
		system.serviceEnv.gateway = { PORT: String(ports[name]) };
		await system.start(name);
	}

	before(async () => {
		system = await startSystem({
			// location answers the share-link views.
			services: ["users", "devices", "location", "gateway"],
			env: { AUTH_RATE_LIMIT: String(AUTH_LIMIT), LOGIN_LOCK_AFTER: String(LOCK_AFTER), DEVICE_AUTH_RATE_LIMIT: String(DEVICE_LIMIT), TRUST_PROXY: "1" },
		});
		ports = { gateway: system.port, "gateway#2": await freePort() };
		await Promise.all([system.start("users#2"), startGateway("gateway#2")]);
	});
	after(() => system?.stopAll());

	async function restart(...names: ProcessName[]) {
		for (const name of names) {
			await system.stop(name);
			if (name === "gateway" || name === "gateway#2") await startGateway(name);
			else await system.start(name);
		}
	}

	test("an address gets AUTH_RATE_LIMIT auth requests and DEVICE_AUTH_RATE_LIMIT failed device logins over both gateways in all, and restarting them gives it none back", async () => {
		const [one, two] = gateways();
		const me = address();
		const login = (client: ApiClient) =>
			client.post("/api/auth/login", { email: `nobody-${randomBytes(4).toString("hex")}@example.com`, password: "wrong-password" }, from(me));
		for (let i = 0; i < AUTH_LIMIT; i++) assert.equal((await login(i % 2 ? two : one)).status, 401, `attempt ${i + 1}`);
		for (const client of [one, two]) {
			const refused = await login(client);
			assert.equal(refused.status, 429);
			assert.ok(Number(refused.headers.get("retry-after")) > 0, "Retry-After");
		}
		// Device logins are checked in each gateway's memory (the phones' hot path): a gateway learns of the
		// cluster's count with its next failure, so each lets at most one more through before refusing.
		const device = (client: ApiClient) => client.get(`/api/osmand?id=guess${randomBytes(6).toString("hex")}&lat=1&lon=2`, from(me));
		for (let i = 0; i < DEVICE_LIMIT; i++) assert.equal((await device(i % 2 ? two : one)).status, 401, `device guess ${i + 1}`);
		const refusedAfterOneMore = async (client: ApiClient, what: string) => {
			const first = await device(client);
			assert.ok(first.status === 401 || first.status === 429, `${what}: ${first.status}`);
			const second = first.status === 429 ? first : await device(client);
			assert.equal(second.status, 429, what);
			assert.ok(Number(second.headers.get("retry-after")) > 0, "Retry-After");
		};
		for (const client of [one, two]) await refusedAfterOneMore(client, client.baseUrl);
		await restart("gateway", "gateway#2");
		for (const client of [one, two]) assert.equal((await login(client)).status, 429, `${client.baseUrl} after the restart`);
		for (const client of [one, two]) await refusedAfterOneMore(client, `${client.baseUrl} after the restart`);
		// Another address is not affected.
		assert.equal(
			(await one.post("/api/auth/login", { email: "nobody@example.com", password: "wrong-password" }, from(`198.51.100.${randomBytes(1)[0]}`))).status,
			401,
		);
	});

	test("an address gets SHARED_RATE_LIMIT share-link views a minute over both gateways in all", async () => {
		const [one, two] = gateways();
		const me = address();
		const view = (client: ApiClient) => client.get(`/api/shared/${randomBytes(32).toString("base64url")}`, from(me));
		for (let i = 0; i < SHARED_RATE_LIMIT; i++) assert.equal((await view(i % 2 ? two : one)).status, 404, `view ${i + 1}`);
		for (const client of [one, two]) {
			const refused = await view(client);
			assert.equal(refused.status, 429, client.baseUrl);
			assert.ok(Number(refused.headers.get("retry-after")) > 0, "Retry-After");
		}
	});

	test("LOGIN_LOCK_AFTER failed logins lock the account for that address over both users instances, and restarting them does not unlock it", async () => {
		const [one, two] = gateways();
		const owner = new ApiClient(one.baseUrl);
		const email = `lock-${randomBytes(4).toString("hex")}@example.com`;
		assert.equal((await owner.post("/api/auth/register", { name: "Lock", surname: "Test", email, password: "right-password-1" }, from(address()))).status, 201);
		const guesser = address();
		// Alternating gateways, each balancing over both users instances.
		for (let i = 0; i < LOCK_AFTER; i++)
			assert.equal((await (i % 2 ? two : one).post("/api/auth/login", { email, password: `guess-${i}` }, from(guesser))).status, 401, `guess ${i + 1}`);
		const locked = await two.post("/api/auth/login", { email, password: "right-password-1" }, from(guesser));
		assert.equal(locked.status, 429, JSON.stringify(locked.body));
		await restart("users", "users#2");
		await system.waitHealthy();
		for (const client of [one, two])
			assert.equal(
				(await client.post("/api/auth/login", { email, password: "right-password-1" }, from(guesser))).status,
				429,
				`${client.baseUrl} after the restart`,
			);
		// The owner, from anywhere else, still logs in.
		assert.equal((await one.post("/api/auth/login", { email, password: "right-password-1" }, from(`198.51.100.${randomBytes(1)[0]}`))).status, 200);
	});
});
