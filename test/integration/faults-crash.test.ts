// @test-solo: SIGKILLs services under a timed workload; run alone (scripts/lib/run-tests.mjs).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { ServiceBroker } from "moleculer";
import { connect, type NatsConnection } from "nats";
import { startSystem, type ServiceName, type System } from "../support/system.js";
import type { NotificationSend } from "../../events/domain.js";
import type { ApiClient } from "../support/client.js";
import { startProbe } from "../support/faults/servers.js";
import { createCrews, type Crew } from "../support/faults/workload.js";
import { readPublished } from "../support/faults/jetstream.js";
import { inboxOf } from "../support/faults/invariants.js";
import { assertNothingLost, startWorkload } from "../support/faults/scenario.js";
import { waitFor } from "../support/wait.js";

/**
 * SPEC §8–§9 under crashes: every service process is killed with SIGKILL while a scripted
 * workload runs (membership changes, journeys, chat, the notifications they cause) and started
 * again. Afterwards nothing acknowledged is lost and nothing is applied twice.
 */

let system: System;
let probe: ServiceBroker;
let nats: NatsConnection;

before(async () => {
	system = await startSystem({
		services: ["users", "location", "chat", "notification", "gateway"],
		env: {
			// A killed node is noticed in 3 s instead of 15 s.
			HEARTBEAT_INTERVAL: "1",
			HEARTBEAT_TIMEOUT: "3",
			// Journeys of the workload may turn late, stuck or silent, above all while location is down.
			OFFLINE_AFTER: "6",
			STUCK_AFTER: "3",
			TRACKING_CHECK_EVERY: "0.25",
			// The workload chats and reports positions as fast as the system answers: a load generator, not a user.
			CHAT_RATE_LIMIT: "0",
			SAMPLE_RATE_LIMIT: "0",
		},
	});
	probe = await startProbe(system);
	nats = await connect({ servers: (system.env.TRANSPORTER ?? process.env.TRANSPORTER ?? "nats://127.0.0.1:4222").replace("nats://", "") });
});

after(async () => {
	await nats?.close();
	await probe?.stop();
	await system?.stopAll();
});

/** Whether `userId` shows online in the group's presence, as its owner sees it. */
async function onlineIn(viewer: ApiClient, groupId: string, userId: string): Promise<boolean | undefined> {
	const res = await viewer.get(`/api/groups/${groupId}/presence`);
	if (res.status !== 200) return undefined;
	return (res.body as { userId: string; online: boolean }[]).find(p => p.userId === userId)?.online;
}

test("SIGKILL of each service during the workload: projections, notifications, chat and presence lose nothing", async t => {
	// Owners keep a socket open: chat's presence must follow what is really open.
	const { crews, workload, sockets } = await startWorkload(system.url, 3, { journeyEtaMs: 1_500 });
	const [c0, c1] = crews as [Crew, Crew, Crew];
	try {
		await workload.progress(1);
		// Consumers first, so their last crash is long past (JetStream redelivers an unacknowledged
		// message after ack_wait, 30 s) when the end state is checked.
		for (const name of ["notification", "chat", "location", "users", "gateway"] as ServiceName[]) {
			const requestsBefore = workload.requests;
			await system.stop(name, "SIGKILL");
			// Started again at once: the workload runs against the hole while the new process boots.
			const restarted = system.start(name);
			if (name === "chat") {
				// A socket opens and another closes while chat is away: presence must still come right.
				await sockets.connect(c0.traveller);
				sockets.close(c1.owner);
			}
			await waitFor(() => workload.requests >= requestsBefore + 20, { timeoutMs: 20_000, what: "workload requests while down" });
			await restarted;
			await system.waitHealthy();
			if (name === "chat") {
				await waitFor(async () => (await onlineIn(c0.owner, c0.group.id, c0.traveller.user!.id)) === true, {
					timeoutMs: 20_000,
					what: "a socket opened while chat was down to count as online",
				});
				await waitFor(async () => (await onlineIn(c1.traveller, c1.group.id, c1.owner.user!.id)) === false, {
					timeoutMs: 20_000,
					what: "a socket closed while chat was down to count as offline",
				});
			}
			// Its sockets died with it; clients reconnect to the new one.
			if (name === "gateway") await sockets.reconnectAll();
			await workload.progress(1, 60_000);
			t.diagnostic(`${name} killed and restarted; ${workload.summary()}`);
		}
	} finally {
		await workload.stop();
	}

	await assertNothingLost({
		system,
		probe,
		nats,
		mongoUrl: system.env.MONGO_URL ?? process.env.MONGO_URL ?? "mongodb://127.0.0.1:27017",
		crews,
		workload,
		sockets,
		report: line => t.diagnostic(line),
	});
});

test("commands handled after a crash reach the members of the group version they were written at", async () => {
	const [crew] = await createCrews(system.url, 1, 2);
	const { owner, traveller, group } = crew!;
	const [stayer, latecomer] = crew!.guests as [ApiClient, ApiClient];
	await owner.addMember(group.id, stayer.user!.email);
	await waitFor(async () => (await inboxOf(stayer)).some(n => n.kind === "MEMBER_ADDED"), { what: "the notification service to have caught up" });

	await system.stop("notification", "SIGKILL");
	// While it is down: the traveller sets off, then the group changes under the pending commands.
	assert.equal(
		(
			await traveller.post(`/api/groups/${group.id}/journey`, {
				destination: { name: "Home", latitude: 45, longitude: 9 },
				eta: new Date(Date.now() + 3600_000).toISOString(),
				mode: "walking",
			})
		).status,
		201,
	);
	assert.equal((await owner.delete(`/api/groups/${group.id}/members/${stayer.user!.id}`)).status, 200);
	await owner.addMember(group.id, latecomer.user!.email);
	await system.start("notification");

	// The stayer was a member when the journey started: told. The latecomer joined after: not told.
	const started = (n: { kind: string }) => n.kind === "JOURNEY_STARTED";
	await waitFor(async () => (await inboxOf(owner)).some(started), { timeoutMs: 30_000, what: "the journey in the owner's inbox" });
	await waitFor(async () => (await inboxOf(stayer)).some(started), { timeoutMs: 30_000, what: "the journey in the removed member's inbox" });
	await waitFor(async () => (await inboxOf(latecomer)).some(n => n.kind === "MEMBER_ADDED"), { timeoutMs: 30_000, what: "the latecomer told they were added" });
	assert.equal((await inboxOf(latecomer)).filter(started).length, 0, "a member who joined later is not told of an earlier journey");
	// The removal reached the removed member and the traveller; not the owner, who removed them, nor
	// the latecomer (added after).
	const removed = (n: { kind: string }) => n.kind === "MEMBER_REMOVED";
	for (const client of [traveller, stayer])
		await waitFor(async () => (await inboxOf(client)).filter(removed).length === 1, { what: `${client.user!.surname} told of the removal` });
	assert.equal((await inboxOf(owner)).filter(removed).length, 0, "the owner removed them: their own action");
	assert.equal((await inboxOf(latecomer)).filter(removed).length, 0);
});

/** The notifications.send commands about `userId` in a group, oldest first, split into journeys. */
async function journeysOf(groupId: string, userId: string): Promise<string[][]> {
	const log = await readPublished(nats, system.env.NAMESPACE!);
	const mine = [...log.byId.values()]
		.filter(e => e.type === "notifications.send")
		.map(e => ({ at: e.occurredAt, ...(e.payload as NotificationSend) }))
		.filter(c => c.groupId === groupId && c.subjectUserId === userId)
		.sort((a, b) => a.at.localeCompare(b.at));
	const journeys: string[][] = [];
	for (const c of mine) {
		if (c.kind === "JOURNEY_STARTED") journeys.push([]);
		journeys.at(-1)?.push(c.kind);
	}
	return journeys;
}

test("location killed mid-journey: late, stuck and offline alerts fire once after the restart", async () => {
	const [crew] = await createCrews(system.url, 1, 0);
	const { owner, traveller, group } = crew!;
	const t = traveller.user!.id;
	const destination = { name: "Home", latitude: 45, longitude: 9 };
	const alertsOf = async () => {
		const res = await owner.get(`/api/groups/${group.id}/sessions/${t}`);
		return res.status === 200 ? ((res.body.journey?.alerts ?? []) as string[]) : [];
	};
	const alertCount = (journey: string[] | undefined, kind: string) => (journey ?? []).filter(k => k === kind).length;

	// Journey 1: every alert comes due while the location service is down or starting.
	assert.equal(
		(await traveller.post(`/api/groups/${group.id}/journey`, { destination, eta: new Date(Date.now() + 3_000).toISOString(), mode: "walking" })).status,
		201,
	);
	assert.equal((await traveller.post("/api/location/samples", { latitude: 44, longitude: 8 })).status, 202);
	await system.stop("location", "SIGKILL");
	assert.deepEqual(
		(await journeysOf(group.id, t)).flat().filter(k => k !== "JOURNEY_STARTED"),
		[],
		"no alert before the crash",
	);
	await system.start("location");
	await waitFor(
		async () => {
			const alerts = await alertsOf();
			return ["LATE", "STUCK", "OFFLINE"].every(k => alerts.includes(k));
		},
		{ timeoutMs: 30_000, what: "late, stuck and offline after the restart" },
	);

	// Journey 2: late before the crash; stuck and offline after it. Nothing fires twice.
	assert.equal((await traveller.delete(`/api/groups/${group.id}/journey`)).status, 200);
	assert.equal(
		(await traveller.post(`/api/groups/${group.id}/journey`, { destination, eta: new Date(Date.now() + 1_000).toISOString(), mode: "walking" })).status,
		201,
	);
	assert.equal((await traveller.post("/api/location/samples", { latitude: 44, longitude: 8 })).status, 202);
	await waitFor(async () => alertCount((await journeysOf(group.id, t)).at(-1), "LATE") === 1, { timeoutMs: 10_000, what: "the second journey late" });
	await system.stop("location", "SIGKILL");
	await system.start("location");
	await waitFor(async () => (await alertsOf()).length === 3, { timeoutMs: 30_000, what: "stuck and offline after the second restart" });

	// Let the restarted service check many more times before counting.
	const checks = async () => ((await probe.call("location.trackingStats")) as { checks: number }).checks;
	const checksThen = await waitFor(() => checks(), { what: "tracking stats" });
	await waitFor(async () => (await checks()) > checksThen + 12, { timeoutMs: 15_000, what: "more periodic checks" });

	const journeys = await journeysOf(group.id, t);
	assert.equal(journeys.length, 2);
	for (const [i, journey] of journeys.entries()) {
		for (const kind of ["LATE", "STUCK", "OFFLINE"]) assert.equal(alertCount(journey, kind), 1, `journey ${i + 1}: ${kind} once (${journey.join(",")})`);
	}
	// And each reached the watching member's inbox exactly once.
	await waitFor(async () => (await inboxOf(owner)).filter(n => ["LATE", "STUCK", "OFFLINE"].includes(n.kind)).length === 6, {
		timeoutMs: 15_000,
		what: "six alerts in the owner's inbox",
	});
	const inbox = await inboxOf(owner);
	for (const kind of ["LATE", "STUCK", "OFFLINE"]) assert.equal(inbox.filter(n => n.kind === kind).length, 2, `${kind}: one per journey in the inbox`);
});
