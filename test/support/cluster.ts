import type { ServiceBroker } from "moleculer";
import { freePort, serviceOf, System, systemEnv, type ProcessName, type ServiceName } from "./system.js";

/**
 * The scaled-out topology of the Swarm stack on one machine: two processes of every service and two
 * gateways (each its own port), on one NATS and one database server (the test script's, or the
 * TRANSPORTER and MONGO_URL given). Processes are System's (test/support/system.ts), so a test
 * kills, restarts and reads the logs of any instance by name ("location", "location#2").
 */

export const CLUSTER_SERVICES: ServiceName[] = ["users", "location", "chat", "notification", "gateway"];

export class Cluster extends System {
	/** The gateways' base URLs, in instance order ("gateway", "gateway#2"). */
	urls: string[] = [];

	/** Every instance of a service, by process name. */
	instancesOf(service: ServiceName): ProcessName[] {
		return this.processNames.filter(name => serviceOf(name) === service);
	}

	/** The process names started, in order (kept across a kill, so a killed instance can be started again). */
	processNames: ProcessName[] = [];

	/** The process name behind a Moleculer node id (NODE_ID is `<namespace>-<name>-<random>`, see System.start). */
	processOf(nodeID: string): ProcessName | undefined {
		const label = nodeID.slice(this.env.NAMESPACE!.length + 1).replace(/-[0-9a-f]{6}$/, "");
		return this.processNames.find(name => name.replace("#", "-") === label);
	}

	/**
	 * Starts a killed instance again, as the Swarm's restart policy would: a second time when the
	 * first start fails (seen: a notification instance exiting with JetStream's "consumer name
	 * already in use" while its twin holds the consumer); `report` says so.
	 */
	async respawn(name: ProcessName, report: (line: string) => void = () => undefined): Promise<void> {
		try {
			await this.start(name);
		} catch (err) {
			report(`${name} failed to start once, started again: ${(err as Error).message.split("\n").slice(0, 2).join(" ")}`);
			await this.start(name);
		}
	}

	/** The instance of `action` (a sharded one: Shard on `#user.id`) that owns `userId` now, as the probe's registry routes it. */
	ownerOf(probe: ServiceBroker, action: string, userId: string): ProcessName | undefined {
		const ctx = probe.ContextFactory.create(probe, null as never, {}, { meta: { user: { id: userId } } });
		const endpoint = probe.registry.getActionEndpoints(action)?.next(ctx);
		return endpoint ? this.processOf(endpoint.id) : undefined;
	}
}

/** Starts `instances` processes of each service (backends first, concurrently; then the gateways). */
export async function startCluster(opts: { env?: Record<string, string>; services?: ServiceName[]; instances?: number } = {}): Promise<Cluster> {
	const services = opts.services ?? CLUSTER_SERVICES;
	const instances = opts.instances ?? 2;
	const ports = await Promise.all(Array.from({ length: instances }, () => freePort()));
	const cluster = new Cluster(services, systemEnv(services, ports[0]!, opts.env));
	const names = (service: ServiceName) => Array.from({ length: instances }, (_, i) => (i === 0 ? service : (`${service}#${i + 1}` as ProcessName)));
	for (const [i, name] of names("gateway").entries()) cluster.processEnv.set(name, { PORT: String(ports[i]) });
	cluster.urls = ports.map(port => `http://127.0.0.1:${port}`);
	cluster.url = cluster.urls[0]!;
	const backend = services.filter(s => s !== "gateway").flatMap(names);
	const gateways = services.includes("gateway") ? names("gateway") : [];
	cluster.processNames = [...backend, ...gateways];
	try {
		// In waves, one instance of each service at a time: ten processes compiling at once on a
		// small machine take longer than the start timeout; later waves reuse tsx's compile cache.
		for (let i = 0; i < instances; i++) await Promise.all(backend.filter((_, k) => k % instances === i).map(name => cluster.start(name)));
		await Promise.all(gateways.map(name => cluster.start(name)));
		if (gateways.length) await cluster.waitHealthy();
	} catch (err) {
		await cluster.stopAll();
		throw err;
	}
	return cluster;
}
