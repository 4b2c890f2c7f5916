import { ServiceBroker, type Context } from "moleculer";
import ApiGateway from "moleculer-web";
import { hashPassword, verifyPassword } from "../../services/users/passwords.js";

/**
 * Baseline for the REST and auth-flow benchmarks: a bare moleculer-web gateway in one process,
 * no transporter, no database.
 * - `GET /api/constant` returns a constant list shaped like `GET /api/groups` (the REST baseline).
 * - `POST /api/auth/register`, `POST /api/auth/login`, `POST /api/groups` do only the password
 *   work of the real flow (one scrypt hash at register, one verify at login, nothing at create):
 *   the floor the real flow cannot go below on this machine.
 * Prints `LISTENING <port>`.
 */

const CONSTANT = Array.from({ length: 2 }, (_, g) => ({
	id: `00000000-0000-4000-8000-00000000000${g}`,
	name: `Group ${g}`,
	createdBy: "00000000-0000-4000-8000-000000000000",
	createdAt: new Date(0).toISOString(),
	members: Array.from({ length: 10 }, (_, m) => ({ id: `00000000-0000-4000-8000-0000000000${10 + m}`, name: `Member${m}`, surname: "Bench" })),
}));

const hashes = new Map<string, string>();

const broker = new ServiceBroker({ nodeID: `baseline-${process.pid}`, transporter: null, logger: false, metrics: false, tracing: false });
broker.createService({
	name: "baseline",
	actions: {
		constant: () => CONSTANT,
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
