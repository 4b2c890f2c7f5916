// @test-solo: waits on heartbeat timeouts after a SIGKILL; run alone (scripts/lib/run-tests.mjs).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { ServiceBroker, type Context, type ServiceSchema } from "moleculer";
import { brokerOptions } from "../../moleculer.config.js";
import type { Envelope, NotificationSend } from "../../events/domain.js";
import type { Group, Session, User } from "../../events/types.js";
import { startSystem, type System } from "../support/system.js";
import { ApiClient } from "../support/client.js";
import { waitFor } from "../support/wait.js";

// The location service for real: its own processes on NATS and FerretDB, short thresholds, and a
// probe that reads the `notifications.send` commands it publishes on JetStream.

const OFFLINE_AFTER_S = 2;
let system: System;
let probe: ServiceBroker;
const commands: Envelope<NotificationSend>[] = [];

before(async () => {
	system = await startSystem({
		services: ["users", "location", "gateway"],
		env: { OFFLINE_AFTER: String(OFFLINE_AFTER_S), TRACKING_CHECK_EVERY: "0.2", STUCK_AFTER: "600" },
	});
	probe = new ServiceBroker(brokerOptions({ namespace: system.env.NAMESPACE, nodeID: `probe-${randomBytes(3).toString("hex")}`, logger: false }));
	probe.createService({
		name: "probe",
		channels: {
			"notifications.send": {
				group: "probe",
				context: true,
				handler(ctx: Context<Envelope<NotificationSend>>) {
					commands.push(ctx.params);
				},
			},
		},
	} as ServiceSchema);
	await probe.start();
});

after(async () => {
	await probe?.stop();
	await system?.stopAll();
});

/** Two members in one group: Ada travels, Bob watches. */
async function travellers(): Promise<{ ada: ApiClient; bob: ApiClient; group: Group }> {
	const ada = new ApiClient(system.url);
	const bob = new ApiClient(system.url);
	await ada.signUp("Ada", "Lovelace");
	await bob.signUp("Bob", "Noyce");
	const group = await ada.createGroup(`trip-${randomBytes(2).toString("hex")}`, [bob.user!.email]);
	return { ada, bob, group };
}

const commandsFor = (user: User, kind: string) => commands.filter(c => c.payload.kind === kind && c.payload.subjectUserId === user.id);
const distinctIds = (list: Envelope[]) => new Set(list.map(c => c.id)).size;
/** Node ids of the location instances the probe currently sees. */
const locationNodes = () => [
	...new Set(
		probe.registry
			.getServiceList({ onlyAvailable: true })
			.filter(s => s.name === "location")
			.map(s => s.nodeID ?? ""),
	),
];

async function sessionOf(viewer: ApiClient, groupId: string, userId: string): Promise<Session> {
	const res = await viewer.get(`/api/groups/${groupId}/sessions/${userId}`);
	assert.equal(res.status, 200, JSON.stringify(res.body));
	return res.body;
}

function startJourney(client: ApiClient, groupId: string, etaInMs: number) {
	return client.post(`/api/groups/${groupId}/journey`, {
		destination: { name: "Library", latitude: 51.5, longitude: -0.12 },
		eta: new Date(Date.now() + etaInMs).toISOString(),
		mode: "walking",
	});
}

describe("location service", () => {
	test("a journey past its ETA turns WARNING while the user sends nothing, and notifies the group once", async () => {
		const { ada, bob, group } = await travellers();
		const started = await startJourney(ada, group.id, 1500);
		assert.equal(started.status, 201, JSON.stringify(started.body));
		assert.equal(started.body.state, "ROUTING");

		const late = await waitFor(
			async () => {
				const s = await sessionOf(bob, group.id, ada.user!.id);
				return s.journey?.alerts.includes("LATE") ? s : null;
			},
			{ timeoutMs: 10_000, what: "Ada's session to turn late" },
		);
		assert.equal(late.state, "WARNING");

		// Silence keeps the checks running: once the later offline alert is out too, a duplicate LATE would have shown.
		await waitFor(() => commandsFor(ada.user!, "OFFLINE").length > 0 && commandsFor(ada.user!, "LATE").length > 0, {
			timeoutMs: 15_000,
			what: "LATE and OFFLINE commands on JetStream",
		});
		const lateCommands = commandsFor(ada.user!, "LATE");
		assert.equal(lateCommands.length, 1, "exactly one LATE command");
		const command = lateCommands[0].payload;
		assert.deepEqual(command.target, { groupId: group.id });
		assert.equal(command.groupId, group.id);
		assert.equal(command.title, "Ada Lovelace is late");
		assert.match(command.body, /Library/);
		assert.match(command.body, /expected by \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/);
		assert.equal(commandsFor(ada.user!, "JOURNEY_STARTED").length, 1);
		assert.equal(commandsFor(ada.user!, "JOURNEY_STARTED")[0].payload.title, "Ada Lovelace started a journey");
	});

	test("a silent sharer turns INACTIVE quietly and the next sample revives them; a silent SOS is announced once", async () => {
		const { ada, bob, group } = await travellers();
		const other = await ada.createGroup("second", [bob.user!.email]);
		assert.equal((await ada.post(`/api/groups/${group.id}/sharing`)).status, 200);
		assert.equal((await ada.post("/api/location/samples", { latitude: 1, longitude: 1 })).status, 202);
		await waitFor(async () => (await sessionOf(bob, group.id, ada.user!.id)).state === "INACTIVE", { timeoutMs: 10_000, what: "silence" });
		const revived = await ada.post("/api/location/samples", { latitude: 1.001, longitude: 1 });
		assert.equal(revived.body.sessions[0].state, "ACTIVE");

		const raised = await ada.post("/api/sos", { latitude: 1.002, longitude: 1 });
		assert.equal(raised.status, 201);
		assert.equal(raised.body.sessions.length, 2);
		await waitFor(() => commandsFor(ada.user!, "OFFLINE").length > 0, { timeoutMs: 10_000, what: "the SOS offline command" });
		const checksThen = ((await probe.call("location.trackingStats")) as { checks: number }).checks;
		await waitFor(async () => ((await probe.call("location.trackingStats")) as { checks: number }).checks > checksThen + 5, { timeoutMs: 10_000 });
		const offline = commandsFor(ada.user!, "OFFLINE");
		assert.equal(distinctIds(offline), 1, "one notification for the SOS, not one per group");
		assert.deepEqual(offline[0].payload.target, { coMembersOf: ada.user!.id });
		assert.equal(offline[0].payload.title, "Ada Lovelace went offline during an SOS");
		// Going silent does not change an SOS, and quiet sharers were never announced (INVITED: Ada invited Bob, from users).
		assert.equal((await sessionOf(bob, other.id, ada.user!.id)).state, "SOS");
		assert.equal(commands.filter(c => c.payload.subjectUserId === ada.user!.id && !["OFFLINE", "SOS", "INVITED"].includes(c.payload.kind)).length, 0);
		assert.equal((await ada.delete("/api/sos")).status, 200);
	});

	test("a member who leaves a group loses their session there; rejoining starts blank", async () => {
		const { ada, bob, group } = await travellers();
		assert.equal((await bob.post(`/api/groups/${group.id}/sharing`)).status, 200);
		assert.equal((await bob.post("/api/location/samples", { latitude: 10, longitude: 10 })).status, 202);
		assert.equal((await bob.post(`/api/groups/${group.id}/leave`)).status, 204);
		// Not a member any more: the sample has nowhere to go.
		const refused = await bob.post("/api/location/samples", { latitude: 10.1, longitude: 10 });
		assert.equal(refused.status, 409);
		assert.equal(refused.body.type, "INVALID_STATE");
		assert.equal((await bob.get(`/api/groups/${group.id}/sessions`)).status, 403);

		// Once the departure event is consumed the session is gone: rejoined, Bob starts INACTIVE and nowhere.
		await waitFor(
			async () => {
				const states = (await probe.call("location.groupStates", { groupId: group.id })) as { userId: string }[];
				return !states.some(s => s.userId === bob.user!.id);
			},
			{ what: "the projection to drop Bob" },
		);
		await ada.addMember(group.id, bob.user!.email);
		const session = await waitFor(async () => {
			const res = await ada.get(`/api/groups/${group.id}/sessions/${bob.user!.id}`);
			return res.status === 200 ? (res.body as Session) : null;
		});
		assert.equal(session.state, "INACTIVE");
		assert.equal(session.position, null);
	});

	test("validation: coordinates, future timestamps, ETAs and modes are refused with 422", async () => {
		const { ada, group } = await travellers();
		assert.equal((await ada.post(`/api/groups/${group.id}/sharing`)).status, 200);
		for (const body of [
			{ latitude: 91, longitude: 0 },
			{ latitude: 0, longitude: -180.5 },
			{ latitude: "1", longitude: 0 },
			{ latitude: 1, longitude: 1, timestamp: new Date(Date.now() + 120_000).toISOString() },
			{ latitude: 1, longitude: 1, timestamp: "yesterday" },
		]) {
			const res = await ada.post("/api/location/samples", body);
			assert.equal(res.status, 422, JSON.stringify(body));
			assert.equal(res.body.type, "VALIDATION_ERROR");
		}
		const past = await startJourney(ada, group.id, -1000);
		assert.equal(past.status, 422);
		assert.equal(past.body.data[0].field, "eta");
		const badMode = await ada.post(`/api/groups/${group.id}/journey`, {
			destination: { name: "X", latitude: 0, longitude: 0 },
			eta: new Date(Date.now() + 60_000).toISOString(),
			mode: "flying",
		});
		assert.equal(badMode.status, 422);
		// A little clock skew is tolerated; an older sample does not move the session back.
		const t0 = Date.now();
		const fresh = await ada.post("/api/location/samples", { latitude: 1, longitude: 1, timestamp: new Date(t0 + 10_000).toISOString() });
		assert.equal(fresh.status, 202);
		const stale = await ada.post("/api/location/samples", { latitude: 2, longitude: 2, timestamp: new Date(t0 - 10_000).toISOString() });
		assert.equal(stale.status, 202);
		assert.deepEqual(stale.body.sessions[0].position, fresh.body.sessions[0].position);
	});

	test("two location instances never fire an alert twice", async t => {
		await system.start("location#2");
		await waitFor(() => locationNodes().length === 2, { what: "two location instances" });

		// Commands are sharded by caller: every node that calls them (the probe here, gateways in production)
		// learned the Shard strategy from the service's announcement, and picks one owner per user.
		const endpoints = (
			probe.registry as unknown as { getActionEndpoints(name: string): { strategy: object; next(ctx: unknown): { id: string } } }
		).getActionEndpoints("location.addSample");
		assert.equal(endpoints.strategy.constructor.name, "ShardStrategy");
		const ownerOf = (userId: string) => endpoints.next({ meta: { user: { id: userId } }, params: {} }).id;
		const owners = new Set<string>();
		for (let i = 0; i < 40; i++) {
			const userId = `user-${i}`;
			const owner = ownerOf(userId);
			assert.equal(ownerOf(userId), owner, "the same user always goes to the same instance");
			owners.add(owner);
		}
		assert.equal(owners.size, 2, "users are spread over both instances");
		const trips = await Promise.all([travellers(), travellers(), travellers(), travellers()]);
		for (const { ada, group } of trips) {
			const res = await startJourney(ada, group.id, 1500);
			assert.equal(res.status, 201, JSON.stringify(res.body));
		}
		for (const { ada, bob, group } of trips) {
			await waitFor(
				async () => {
					const s = await sessionOf(bob, group.id, ada.user!.id);
					return s.journey?.alerts.includes("LATE") && s.journey.alerts.includes("OFFLINE");
				},
				{ timeoutMs: 15_000, what: "LATE and OFFLINE alerts" },
			);
			await waitFor(() => commandsFor(ada.user!, "LATE").length > 0 && commandsFor(ada.user!, "OFFLINE").length > 0, { timeoutMs: 10_000 });
		}
		// Let both instances scan many more times before counting.
		const nodes = locationNodes();
		const statsOf = () =>
			Promise.all(nodes.map(nodeID => probe.call("location.trackingStats", {}, { nodeID }) as Promise<{ checks: number; claimed: number; lost: number }>));
		const before = await statsOf();
		await waitFor(async () => (await statsOf()).every((s, i) => s.checks >= before[i].checks + 10), {
			timeoutMs: 15_000,
			what: "more checks on both instances",
		});
		const stats = await statsOf();
		for (const { ada } of trips) {
			// Each alert is one command (one envelope id); a relay re-publishing the same id would be absorbed by consumers.
			assert.equal(distinctIds(commandsFor(ada.user!, "LATE")), 1, `LATE for ${ada.user!.id}`);
			assert.equal(distinctIds(commandsFor(ada.user!, "OFFLINE")), 1, `OFFLINE for ${ada.user!.id}`);
		}
		assert.equal(stats.length, 2);
		assert.ok(stats.every(s => s.checks > 0));
		t.diagnostic(`tracking stats: ${JSON.stringify(stats)}`);
		await system.stop("location#2");
	});
	// Last: a SIGKILLed node stays in the others' registries until its heartbeat times out (30 s), so
	// the gateway may still route to it; this test talks to the restarted instance directly.
	test("the offline alert still fires after the location service is killed mid-journey", async () => {
		const { ada, group } = await travellers();
		assert.equal((await startJourney(ada, group.id, 3600_000)).status, 201);
		const sampled = await ada.post("/api/location/samples", { latitude: 51.49, longitude: -0.12 });
		assert.equal(sampled.status, 202, JSON.stringify(sampled.body));
		const lastSign = Date.now();
		const oldNodes = locationNodes();

		await system.stop("location", "SIGKILL");
		assert.ok(Date.now() - lastSign < OFFLINE_AFTER_S * 1000, "killed before the alert was due");
		assert.equal(commandsFor(ada.user!, "OFFLINE").length, 0);

		await system.start("location");
		const nodeID = await waitFor(() => locationNodes().find(id => !oldNodes.includes(id)), { what: "the restarted instance" });
		const adaOn = async () => {
			const states = (await probe.call("location.groupStates", { groupId: group.id }, { nodeID })) as (Session & { name: string })[];
			return states.find(s => s.userId === ada.user!.id)!;
		};
		const offline = await waitFor(async () => ((await adaOn()).journey?.alerts.includes("OFFLINE") ? adaOn() : null), {
			timeoutMs: 10_000,
			what: "the restarted service to raise the offline alert",
		});
		assert.equal(offline.state, "WARNING");
		await waitFor(() => commandsFor(ada.user!, "OFFLINE").length > 0, { timeoutMs: 10_000, what: "the OFFLINE command" });
		assert.equal(distinctIds(commandsFor(ada.user!, "OFFLINE")), 1);
		const command = commandsFor(ada.user!, "OFFLINE")[0].payload;
		assert.equal(command.title, "Ada Lovelace went offline");
		assert.deepEqual(command.target, { groupId: group.id });

		// A sample brings the journey back to ROUTING; a second silence re-raises the alert without a second notification.
		const meta = { user: ada.user };
		const back = (await probe.call("location.addSample", { latitude: 51.491, longitude: -0.12 }, { nodeID, meta })) as { sessions: Session[] };
		assert.equal(back.sessions[0].state, "ROUTING");
		await waitFor(async () => (await adaOn()).state === "WARNING", { timeoutMs: 10_000, what: "silent again" });
		const checksThen = ((await probe.call("location.trackingStats", {}, { nodeID })) as { checks: number }).checks;
		await waitFor(async () => ((await probe.call("location.trackingStats", {}, { nodeID })) as { checks: number }).checks > checksThen + 5, {
			timeoutMs: 10_000,
		});
		assert.equal(distinctIds(commandsFor(ada.user!, "OFFLINE")), 1, "offline notifies once per journey");
	});
});
