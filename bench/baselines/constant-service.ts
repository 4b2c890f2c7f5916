import { ServiceBroker, type BrokerOptions } from "moleculer";
import { CONSTANT } from "./constant.js";

/**
 * The remote half of the "one broker hop" REST baseline (see constant-api.ts): `baseline.constant`
 * in its own process, over NATS (TRANSPORTER) in BASELINE_REMOTE_NAMESPACE. Prints `LISTENING 0`
 * once it is registered.
 */
const broker = new ServiceBroker({
	nodeID: `baseline-service-${process.pid}`,
	namespace: process.env.BASELINE_REMOTE_NAMESPACE,
	transporter: (process.env.TRANSPORTER ?? "nats://127.0.0.1:4222") as BrokerOptions["transporter"],
	logger: false,
	metrics: false,
	tracing: false,
});
broker.createService({ name: "baseline", actions: { constant: () => CONSTANT } });
await broker.start();
console.log("LISTENING 0");
process.on("SIGTERM", () => void broker.stop().then(() => process.exit(0)));
