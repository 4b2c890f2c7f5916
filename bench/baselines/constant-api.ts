import { ServiceBroker, type BrokerOptions, type Context } from "moleculer";
import ApiGateway from "moleculer-web";
import { hashPassword, verifyPassword } from "../../services/users/passwords.js";
import { CONSTANT } from "./constant.js";

/**
 * Baseline for the REST and auth-flow benchmarks: a bare moleculer-web gateway in one process,
 * no transporter, no database.
 * - `GET /api/constant` returns a constant list shaped like `GET /api/groups` (the REST baseline).
 * - `POST /api/auth/register`, `POST /api/auth/login`, `POST /api/groups` do only the password
 *   work of the real flow (one scrypt hash at register, one verify at login, nothing at create):
 *   the floor the real flow cannot go below on this machine.
 * With BASELINE_REMOTE_NAMESPACE set, `baseline.constant` is not in this process but in
 * bench/baselines/constant-service.ts, reached over NATS (TRANSPORTER) in that namespace: the floor
 * of any route that crosses the broker once, as every PositionPal route does.
 * Prints `LISTENING <port>`.
 */

const hashes = new Map<string, string>();

const remoteNamespace = process.env.BASELINE_REMOTE_NAMESPACE;
const broker = new ServiceBroker({
	nodeID: `baseline-${process.pid}`,
	namespace: remoteNamespace,
	transporter: (remoteNamespace ? (process.env.TRANSPORTER ?? "nats://127.0.0.1:4222") : null) as BrokerOptions["transporter"],
	logger: false,
	metrics: false,
	tracing: false,
});
broker.createService({
	name: remoteNamespace ? "baselineLocal" : "baseline",
	actions: {
		...(remoteNamespace ? {} : { constant: () => CONSTANT }),
		async register(ctx: Context<{ email: string; password: string }, { $statusCode?: number }>) {
			hashes.set(ctx.params.email, await hashPassword(ctx.params.password));
			ctx.meta.$statusCode = 201;
			return { id: ctx.params.email, email: ctx.params.email };
		},
		async login(ctx: Context<{ email: string; password: string }>) {
			const ok = await verifyPassword(ctx.params.password, hashes.get(ctx.params.email) ?? "");
			return { ok, token: "t" };
		},
		createGroup(ctx: Context<unknown, { $statusCode?: number }>) {
			ctx.meta.$statusCode = 201;
			return CONSTANT[0];
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
		routes: [
			{
				path: "/api",
				mappingPolicy: "restrict",
				bodyParsers: { json: true },
				aliases: {
					"GET /constant": "baseline.constant",
					"POST /auth/register": "baseline.register",
					"POST /auth/login": "baseline.login",
					"POST /groups": "baseline.createGroup",
				},
			},
		],
	},
	started(this: { server: { address(): { port: number } } }) {
		console.log(`LISTENING ${this.server.address().port}`);
	},
});
await broker.start();
process.on("SIGTERM", () => void broker.stop().then(() => process.exit(0)));
