import { Transporters, type BrokerOptions, type Middleware, type ServiceBroker } from "moleculer";
import Channels from "@moleculer/channels";
import { AllDomainEvents } from "./events/domain.js";
import { STREAM_KEEP_MS, streamOfSubject } from "./events/streams.js";
import { CoalescedSends } from "./lib/coalesced-sends.js";
import { DeadNodeProbe } from "./lib/dead-node-probe.js";
import { retryPolicy } from "./lib/repeatable.js";
import { anonymousNatsRefusal, ConfigError, loadConfig, type Config } from "./lib/config.js";

/**
 * Broker options for every PositionPal process, from the configuration of lib/config.ts
 * (TRANSPORTER, NATS_USER, NAMESPACE, LOG_LEVEL, LOG_FORMAT, METRICS_PORT, ...), so the same
 * file serves `npm start`, the tests and the Docker stack. moleculer-runner calls the default
 * export first: a bad variable stops the process there, before anything connects.
 */

/** sysexits' EX_CONFIG: the process was started with a bad configuration. */
export const EXIT_CONFIG = 78;

interface NatsChannelAdapter {
	connected: boolean;
	addPrefixTopic(topic: string): string;
	createStream(name: string, subjects: string[], opts: Record<string, unknown>): Promise<unknown>;
}

/** JetStream keeps domain events for a week: consumers that were down catch up, storage stays bounded. */
const STREAM_MAX_AGE_NS = STREAM_KEEP_MS * 1e6;

/**
 * Creates every domain-event stream when the broker starts, so a producer can publish before any
 * consumer ever subscribed (otherwise JetStream has no stream for the subject and the event is lost).
 * `replicas`: copies of each stream in a NATS cluster (JETSTREAM_REPLICAS=3 in the Swarm stack), so
 * losing a node loses no event.
 */
const EnsureDomainStreams = (replicas: number): Middleware =>
	({
		name: "EnsureDomainStreams",
		async started(broker: ServiceBroker) {
			const adapter = (broker as unknown as { channelAdapter?: NatsChannelAdapter }).channelAdapter;
			if (!adapter) return;
			for (const type of AllDomainEvents) {
				const subject = adapter.addPrefixTopic(type);
				await adapter.createStream(streamOfSubject(subject), [subject], { max_age: STREAM_MAX_AGE_NS, num_replicas: replicas });
			}
		},
	}) as Middleware;

/** Every node of a TRANSPORTER list as host:port, the form the NATS client takes. */
const natsServers = (transporter: string) => transporter.split(",").map(url => new URL(url.trim()).host);

/**
 * In production, refuses to connect to NATS without credentials (see anonymousNatsRefusal).
 * Checked as the broker starts, after the services were created, so a service's own missing
 * secret (JWT_SECRET) is reported first.
 */
const RequireNatsCredentials = (settings: Config): Middleware =>
	({
		name: "RequireNatsCredentials",
		starting(broker: ServiceBroker) {
			const refusal = broker.transit?.tx instanceof Transporters.NATS ? anonymousNatsRefusal(settings) : undefined;
			if (refusal) broker.fatal(refusal);
		},
	}) as Middleware;

/**
 * Gives the broker's NATS transporter the credentials. Not through the `transporter` option:
 * moleculer-runner replaces that with the TRANSPORTER variable (it overrides every option named
 * like a variable), and the NATS transporter takes user and password from its URL, overwriting
 * any given beside it. So the URL becomes a server list and the credentials go beside it.
 */
function useNatsCredentials(broker: ServiceBroker, credentials: Config["natsCredentials"]) {
	const tx = broker.transit?.tx;
	if (!credentials || !(tx instanceof Transporters.NATS)) return;
	const { url, ...opts } = tx.opts;
	tx.opts = { ...opts, ...(url ? { servers: natsServers(url) } : {}), user: credentials.user, pass: credentials.pass };
}

export function channelsMiddleware(settings: Pick<Config, "transporter" | "natsCredentials" | "jetstreamReplicas">) {
	const streamReplicas = settings.jetstreamReplicas;
	return Channels.Middleware({
		adapter: {
			type: "NATS",
			options: {
				nats: {
					url: settings.transporter,
					connectionOptions: { maxReconnectAttempts: -1, reconnectTimeWait: 500, ...settings.natsCredentials },
					streamConfig: { max_age: STREAM_MAX_AGE_NS, num_replicas: streamReplicas },
					consumerOptions: {
						// A consumer group seen for the first time reads the stream from the start:
						// events published before it subscribed are not lost.
						config: { deliver_policy: "all", ack_wait: 30e9 },
					},
				},
				maxInFlight: 10,
				// A handler that keeps failing (database down) is retried many times with backoff
				// (see mixins/durable-events) before the message is parked in the dead-letter stream.
				maxRetries: 100,
				deadLettering: { enabled: true, queueName: "DEAD_LETTER" },
			} as never,
		},
		context: true,
	} as never) as unknown as Middleware;
}

/**
 * Broker options from `env` (process.env by default); throws a ConfigError naming every bad
 * variable. `overrides` replace options (tests: namespace, nodeID, logger).
 */
export function brokerOptions(overrides: Partial<BrokerOptions> = {}, env: NodeJS.ProcessEnv = process.env): BrokerOptions {
	const settings = loadConfig(env);
	const json = settings.logFormat === "json";
	return {
		namespace: settings.namespace,
		nodeID: settings.nodeId,
		transporter: settings.transporter as BrokerOptions["transporter"],
		serializer: "JSON",
		requestTimeout: 10_000,
		// A call whose node was given up before it answered is sent again to another instance only for
		// actions that are safe to run twice (lib/repeatable.ts); the rest answer 503.
		retryPolicy,
		// Request-id, caller and node in every log line; JSON when LOG_FORMAT=json (production).
		logger: {
			type: "Console",
			options: { level: settings.logLevel, formatter: json ? "json" : "short", moduleColors: false, colors: !json },
		},
		registry: { strategy: "RoundRobin", preferLocal: true },
		// A node whose heartbeats stop is given up after HEARTBEAT_TIMEOUT seconds (Moleculer's default
		// is 30): until then calls could still be routed to it. A crashed process is noticed sooner, by
		// DeadNodeProbe (below), which asks NATS as soon as a heartbeat is late or a call waits.
		heartbeatInterval: settings.heartbeatInterval,
		heartbeatTimeout: settings.heartbeatTimeout,
		circuitBreaker: { enabled: false },
		bulkhead: { enabled: false },
		validator: true,
		errorHandler: undefined,
		metrics: {
			enabled: settings.metricsPort > 0,
			reporter: settings.metricsPort > 0 ? [{ type: "Prometheus", options: { port: settings.metricsPort, path: "/metrics" } }] : [],
		},
		// Spans follow every call across nodes once TRACING_EXPORTER (Console, Zipkin, Jaeger...) names
		// where they go; without one they would be built and dropped on every call (request ids
		// still follow each call either way).
		tracing: {
			enabled: Boolean(settings.tracingExporter),
			exporter: (settings.tracingExporter ? [settings.tracingExporter] : []) as never,
		},
		// Stop gracefully: finish in-flight requests before closing connections.
		tracking: { enabled: true, shutdownTimeout: 10_000 },
		middlewares: [
			RequireNatsCredentials(settings),
			channelsMiddleware(settings),
			EnsureDomainStreams(settings.jetstreamReplicas),
			CoalescedSends(),
			DeadNodeProbe({ checkEveryMs: settings.deadNodeProbeMs, slowCallMs: settings.deadNodeProbeMs }),
		],
		created: broker => useNatsCredentials(broker, settings.natsCredentials),
		...overrides,
	};
}

/**
 * What moleculer-runner loads. A bad configuration ends the process here with one message
 * naming every bad variable (no stack trace: nothing is wrong with the code) and EXIT_CONFIG.
 */
export default function runnerOptions(): BrokerOptions {
	try {
		return brokerOptions();
	} catch (err) {
		if (!(err instanceof ConfigError)) throw err;
		console.error(err.message);
		process.exit(EXIT_CONFIG);
	}
}
