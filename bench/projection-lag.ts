import { ServiceBroker, type Context } from "moleculer";
import { brokerOptions } from "../moleculer.config.js";
import { testNamespace } from "../test/support/system.js";
import { clientFor, clusterPids, createGroups, joinByInvitation, provisionUsers, sleep, startCluster, waitQuiet, type BenchUser } from "./lib/cluster.js";
import { isMain, numberOption } from "./lib/options.js";
import { heading, saveFigures, type BenchResult } from "./lib/report.js";
import { fmtMs, fmtRatio, Histogram, table, type LatencySummary } from "./lib/stats.js";

/**
 * Benchmark 5 — domain-event lag: a membership change (add or remove a member, through the API)
 * until it is visible in the location, chat and notification projections, read with each
 * service's public `<service>.projectedGroup` action from an in-process probe broker, polled
 * every `--poll-ms`. Many changes, on a few groups at once (each group changes again once the
 * previous change is everywhere). Baseline: the bare transport — an event through the same
 * NATS JetStream and @moleculer/channels, from one broker to another, no database.
 *
 *   tsx bench/projection-lag.ts [--changes=100] [--parallel=2] [--poll-ms=5]
 */

export interface LagOptions {
	changes: number;
	parallel: number;
	pollMs: number;
}

export function lagOptions(): LagOptions {
	return { changes: numberOption("changes", 100), parallel: numberOption("parallel", 2), pollMs: numberOption("poll-ms", 5) };
}

const PROJECTIONS = ["location", "chat", "notification"] as const;

interface Projected {
	version: number;
	memberIds: string[];
}

const sameMembers = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join() === [...b].sort().join();

async function measureSystem(opts: LagOptions) {
	const system = await startCluster();
	const probe = new ServiceBroker(brokerOptions({ namespace: system.env.NAMESPACE, nodeID: `probe-lag-${process.pid}`, logger: false }));
	await probe.start();
	const perService = Object.fromEntries(PROJECTIONS.map(s => [s, new Histogram()])) as Record<(typeof PROJECTIONS)[number], Histogram>;
	const all = new Histogram();
	let timeouts = 0;
	try {
		await probe.waitForServices([...PROJECTIONS, "users"], 30_000);
		// Each parallel lane: a group of creator + member, and a spare account that joins and leaves.
		const { users } = await provisionUsers(system, opts.parallel * 3);
		const lanes = await createGroups(
			system,
			users.filter((_, i) => i % 3 !== 2),
			2,
		);
		const spares = users.filter((_, i) => i % 3 === 2);
		await waitQuiet(clusterPids(system));
		let remaining = opts.changes;
		const projected = (service: string, groupId: string) => probe.call(`${service}.projectedGroup`, { groupId }) as Promise<Projected | null>;
		await Promise.all(
			lanes.map(async ({ groupId, members }, lane) => {
				const owner = clientFor(system, members[0]!);
				const spare: BenchUser = spares[lane]!;
				// Start from a state every projection has seen.
				let lastVersion = 0;
				for (const service of PROJECTIONS) {
					const start = performance.now();
					for (;;) {
						const doc = await projected(service, groupId);
						if (doc) {
							lastVersion = Math.max(lastVersion, doc.version);
							break;
						}
						if (performance.now() - start > 10_000) throw new Error(`${service} never saw group ${groupId}`);
						await sleep(20);
					}
				}
				let inGroup = false;
				while (remaining > 0) {
					remaining--;
					// Joining is an invitation and its acceptance; the lag is measured from the accept's answer.
					const res = inGroup ? await owner.delete(`/api/groups/${groupId}/members/${spare.id}`) : await joinByInvitation(system, owner, spare, groupId);
					const t0 = performance.now();
					if (res.status !== 200) throw new Error(`membership change failed: ${res.status} ${JSON.stringify(res.body)}`);
					inGroup = !inGroup;
					const expected = (res.body.members as { id: string }[]).map(m => m.id);
					const pending = new Set<string>(PROJECTIONS);
					let newest = lastVersion;
					while (pending.size && performance.now() - t0 < 10_000) {
						await Promise.all(
							[...pending].map(async service => {
								const doc = await projected(service, groupId);
								if (doc && doc.version > lastVersion && sameMembers(doc.memberIds, expected)) {
									const lag = performance.now() - t0;
									perService[service as (typeof PROJECTIONS)[number]].record(lag);
									all.record(lag);
									pending.delete(service);
									newest = Math.max(newest, doc.version);
								}
							}),
						);
						if (pending.size) await sleep(opts.pollMs);
					}
					timeouts += pending.size;
					lastVersion = newest;
				}
			}),
		);
	} finally {
		await probe.stop();
		await system.stopAll();
	}
	return {
		perService: Object.fromEntries(Object.entries(perService).map(([k, h]) => [k, h.summary()])) as Record<string, LatencySummary>,
		all: all.summary(),
		timeouts,
	};
}

/** The floor: one event at a time through JetStream (@moleculer/channels), publish → handler, same count. */
async function measureTransport(opts: LagOptions) {
	const namespace = testNamespace();
	let resolveNext: (() => void) | undefined;
	const consumer = new ServiceBroker(brokerOptions({ namespace, nodeID: `lag-consumer-${process.pid}`, logger: false }));
	consumer.createService({
		name: "lagConsumer",
		channels: {
			"bench.lag": {
				group: "lag",
				context: true,
				handler(_ctx: Context<{ sentAt: number }>) {
					resolveNext?.();
				},
			},
		},
	} as never);
	const producer = new ServiceBroker(brokerOptions({ namespace, nodeID: `lag-producer-${process.pid}`, logger: false }));
	await consumer.start();
	await producer.start();
	try {
		const send = (producer as unknown as { sendToChannel(name: string, payload: unknown): Promise<void> }).sendToChannel.bind(producer);
		await send("bench.lag", { sentAt: performance.now() }); // warm-up (stream and consumer in place)
		await sleep(1_000);
		const measured = new Histogram();
		for (let i = 0; i < opts.changes; i++) {
			const t0 = performance.now();
			const delivered = new Promise<void>(resolve => (resolveNext = resolve));
			await send("bench.lag", { sentAt: t0 });
			await Promise.race([delivered, sleep(5_000)]);
			measured.record(performance.now() - t0);
		}
		return measured.summary();
	} finally {
		await producer.stop();
		await consumer.stop();
	}
}

export async function runProjectionLag(opts: LagOptions = lagOptions()): Promise<BenchResult> {
	heading(`Domain-event lag: ${opts.changes} membership changes → location, chat and notification projections`);
	const system = await measureSystem(opts);
	const transport = await measureTransport(opts);
	console.log(
		table([
			["projection", "p50 ms", "p95 ms", "p99 ms", "max ms", "changes"],
			...Object.entries(system.perService).map(([service, s]) => [service, fmtMs(s.p50), fmtMs(s.p95), fmtMs(s.p99), fmtMs(s.max), String(s.count)]),
			["all three", fmtMs(system.all.p50), fmtMs(system.all.p95), fmtMs(system.all.p99), fmtMs(system.all.max), String(system.all.count)],
			["bare JetStream event", fmtMs(transport.p50), fmtMs(transport.p95), fmtMs(transport.p99), fmtMs(transport.max), String(transport.count)],
		]),
	);
	if (system.timeouts) console.log(`${system.timeouts} projection updates not seen within 10 s`);
	const rows = [
		{
			bench: "projection lag",
			metric: "membership change → projections p50 / p99",
			system: `${fmtMs(system.all.p50)} / ${fmtMs(system.all.p99)} ms`,
			baseline: `${fmtMs(transport.p50)} / ${fmtMs(transport.p99)} ms`,
			ratio: fmtRatio(transport.p99 / system.all.p99),
			target: "p99 < 200 ms",
			pass: system.all.p99 < 200 && system.timeouts === 0,
		},
	];
	const result: BenchResult = { name: "projection-lag", rows, figures: { options: opts, system, transport } };
	console.log(`figures: ${saveFigures(result)}`);
	return result;
}

if (isMain(import.meta.url)) {
	runProjectionLag().then(
		() => process.exit(0),
		err => {
			console.error(err);
			process.exit(1);
		},
	);
}
