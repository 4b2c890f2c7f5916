import { ServiceBroker, type Context } from "moleculer";
import ApiGateway from "moleculer-web";
import { parseOwnTracks } from "../../services/devices/protocol/owntracks.js";

/**
 * Baseline for the OwnTracks benchmark: a bare moleculer-web gateway in one process, no transporter,
 * no database, with `POST /api/owntracks` parsing the same body (JSON, then the same protocol
 * translation) and answering `[]`. No credentials are checked and nothing is stored or sent on: the
 * floor any OwnTracks endpoint on this machine and this framework cannot go below.
 * Prints `LISTENING <port>`.
 */

const broker = new ServiceBroker({ nodeID: `owntracks-bare-${process.pid}`, transporter: null, logger: false, metrics: false, tracing: false });
broker.createService({
	name: "bare",
	actions: {
		owntracks(ctx: Context<Record<string, unknown>>) {
			const inbound = parseOwnTracks(ctx.params);
			if (inbound.kind === "invalid") throw new Error("invalid");
			return [];
		},
	},
});
broker.createService({
	name: "api",
	mixins: [ApiGateway],
	settings: {
		port: 0,
		ip: "127.0.0.1",
		logRequest: null,
		logResponse: null,
		routes: [{ path: "/api", mappingPolicy: "restrict", bodyParsers: { json: true }, aliases: { "POST /owntracks": "bare.owntracks" } }],
	},
	started(this: { server: { address(): { port: number } } }) {
		console.log(`LISTENING ${this.server.address().port}`);
	},
});
await broker.start();
process.on("SIGTERM", () => void broker.stop().then(() => process.exit(0)));
