import type { BrokerOptions, Middleware, ServiceBroker } from "moleculer";
import Channels from "@moleculer/channels";
import { AllDomainEvents } from "./events/domain.js";
import { STREAM_KEEP_MS, streamOfSubject } from "./events/streams.js";
import { CoalescedSends } from "./lib/coalesced-sends.js";

/**
 * Broker options for every PositionPal process. Each option can be overridden from the
 * environment (TRANSPORTER, NAMESPACE, LOG_LEVEL, LOG_FORMAT, METRICS_PORT, ...), so the same
 * file serves `npm start`, the tests and the Docker stack.
 */

const env = (name: string, fallback: string) => process.env[name]?.trim() || fallback;

interface NatsChannelAdapter {
	connected: boolean;
	addPrefixTopic(topic: string): string;
	createStream(name: string, subjects: string[], opts: Record<string, unknown>): Promise<unknown>;
}

/** JetStream keeps domain events for a week: consumers that were down catch up, storage stays bounded. */
const STREAM_MAX_AGE_NS = STREAM_KEEP_MS * 1e6;
/** Copies of each stream in a NATS cluster (JETSTREAM_REPLICAS=3 in the Swarm stack), so losing a node loses no event. */
const streamReplicas = () => Math.max(1, Number(process.env.JETSTREAM_REPLICAS ?? 1) || 1);

/**
 * Creates every domain-event stream when the broker starts, so a producer can publish before any
 * consumer ever subscribed (otherwise JetStream has no stream for the subject and the event is lost).
 */
const EnsureDomainStreams: Middleware = {
	name: "EnsureDomainStreams",
	async started(broker: ServiceBroker) {
		const adapter = (broker as unknown as { channelAdapter?: NatsChannelAdapter }).channelAdapter;
		if (!adapter) return;
		for (const type of AllDomainEvents) {
			const subject = adapter.addPrefixTopic(type);
			await adapter.createStream(streamOfSubject(subject), [subject], { max_age: STREAM_MAX_AGE_NS, num_replicas: streamReplicas() });
		}
	},
} as Middleware;

export function channelsMiddleware(transporter: string) {
	return Channels.Middleware({
		adapter: {
			type: "NATS",
			options: {
				nats: {
					url: transporter,
					connectionOptions: { maxReconnectAttempts: -1, reconnectTimeWait: 500 },
					streamConfig: { max_age: STREAM_MAX_AGE_NS, num_replicas: streamReplicas() },
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

export function brokerOptions(overrides: Partial<BrokerOptions> = {}): BrokerOptions {
	const transporter = env("TRANSPORTER", "nats://127.0.0.1:4222");
	const metricsPort = Number(env("METRICS_PORT", "0"));
	const logFormat = env("LOG_FORMAT", "short");
	return {
		namespace: env("NAMESPACE", "positionpal"),
		nodeID: process.env.NODE_ID || undefined,
		transporter: transporter as BrokerOptions["transporter"],
		serializer: "JSON",
		requestTimeout: 10_000,
		retryPolicy: { enabled: false },
		// Request-id, caller and node in every log line; JSON when LOG_FORMAT=json (production).
		logger: {
			type: "Console",
			options: {
				level: env("LOG_LEVEL", "info"),
				formatter: logFormat === "json" ? "json" : "short",
				moduleColors: false,
				colors: logFormat !== "json",
			},
		},
		registry: { strategy: "RoundRobin", preferLocal: true },
		// A crashed node is noticed within HEARTBEAT_TIMEOUT seconds (Moleculer's default is 30):
		// until then calls could still be routed to it.
		heartbeatInterval: Number(env("HEARTBEAT_INTERVAL", "5")),
		heartbeatTimeout: Number(env("HEARTBEAT_TIMEOUT", "15")),
		circuitBreaker: { enabled: false },
		bulkhead: { enabled: false },
		validator: true,
		errorHandler: undefined,
		metrics: {
			enabled: metricsPort > 0,
			reporter: metricsPort > 0 ? [{ type: "Prometheus", options: { port: metricsPort, path: "/metrics" } }] : [],
		},
		// Spans follow every call across nodes once TRACING_EXPORTER (Console, Zipkin, Jaeger...) names
		// where they go; without one they would be built and dropped on every call (request ids
		// still follow each call either way).
		tracing: {
			enabled: Boolean(process.env.TRACING_EXPORTER),
			exporter: (process.env.TRACING_EXPORTER ? [process.env.TRACING_EXPORTER] : []) as never,
		},
		// Stop gracefully: finish in-flight requests before closing connections.
		tracking: { enabled: true, shutdownTimeout: 10_000 },
		middlewares: [channelsMiddleware(transporter), EnsureDomainStreams, CoalescedSends()],
		...overrides,
	};
}

export default brokerOptions();
