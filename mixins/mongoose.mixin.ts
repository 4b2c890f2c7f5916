import mongoose, { type Connection } from "mongoose";
import type { Context, Service, ServiceSchema } from "moleculer";
import { config } from "../lib/config.js";
import { serviceUnavailable } from "../events/errors.js";
import { profileDatabase } from "./db-profile.js";

/**
 * Gives a service its own mongoose connection to its own database, `positionpal_<db>`.
 * MONGO_DB_PREFIX changes the `positionpal` part (tests use it to isolate runs).
 * Models are built on that connection; indexes are created once at start; the connection closes at stop.
 */
export function databaseName(db: string, prefix = config.mongoDbPrefix()): string {
	return `${prefix}_${db}`;
}

/** Socket errors of a database connection that went away mid-request (e.g. EPIPE "socket has been ended by the other party"). */
const NETWORK_CODES = new Set(["EPIPE", "ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH"]);

/**
 * Whether an error means "the database cannot be reached right now" (a retry later may work)
 * rather than a bug: the driver's network and server-selection errors, raw socket errors that
 * escape it, and errors the server labels retryable (it is shutting down).
 */
export function isDatabaseUnavailable(error: unknown): boolean {
	const err = (error ?? {}) as { name?: unknown; code?: unknown; errorLabels?: unknown; errorLabelSet?: unknown };
	if (typeof err.name === "string" && /^Mongo(ose)?(Network|NetworkTimeout|ServerSelection|NotConnected|TopologyClosed|PoolCleared)Error$/.test(err.name))
		return true;
	if (typeof err.code === "string" && NETWORK_CODES.has(err.code)) return true;
	const labels = err.errorLabelSet instanceof Set ? [...err.errorLabelSet] : Array.isArray(err.errorLabels) ? err.errorLabels : [];
	return labels.includes("RetryableWriteError") || labels.includes("ResetPool");
}

/** What the mixin gives a service: its connection, and its models bound to it (once started). */
export interface MongooseVars<TModels> {
	models: TModels;
	connection: Connection;
}

interface MongooseInternals {
	stopDbProfile?: () => void;
}

/** Models as the mixin handles them: only their indexes are its business. */
interface IndexedModel {
	createIndexes(): Promise<unknown>;
}

type MongooseThis<TModels> = Service & MongooseVars<TModels> & MongooseInternals;

export function MongooseMixin<TModels extends Record<string, IndexedModel>>(opts: {
	db: string;
	models: (connection: Connection) => TModels;
}): Partial<ServiceSchema> {
	const schema: Partial<ServiceSchema<object, object, MongooseVars<TModels> & MongooseInternals, MongooseThis<TModels>>> = {
		hooks: {
			error: {
				// The database went away: the client gets a clean 503 to retry, never a 500 (SPEC §9).
				"*"(_ctx: Context, err: Error) {
					if (isDatabaseUnavailable(err)) throw serviceUnavailable("database unavailable");
					throw err;
				},
			},
		},
		async started() {
			const connection = mongoose.createConnection(config.mongoUrl(), {
				dbName: databaseName(opts.db),
				serverSelectionTimeoutMS: 5_000,
				// Fail a query quickly while the database is down instead of queueing it forever.
				bufferCommands: false,
				...(config.dbProfile() ? { monitorCommands: true } : {}),
			});
			await connection.asPromise();
			this.connection = connection;
			if (config.dbProfile()) this.stopDbProfile = profileDatabase(connection, line => this.logger.info(line));
			this.models = opts.models(connection);
			for (const model of Object.values(this.models)) await model.createIndexes();
			this.logger.info(`Connected to database ${databaseName(opts.db)}`);
		},
		async stopped() {
			this.stopDbProfile?.();
			// Not connected when `started` failed.
			if (this.connection) await this.connection.close();
		},
		actions: {
			/** Reports whether this service reaches its database, for the gateway's readiness check. */
			health: {
				visibility: "public",
				params: { $$strict: "remove", gatewayNodeID: { type: "string", min: 1, max: 200, optional: true } },
				async handler(ctx: Context<{ gatewayNodeID?: string }>) {
					const connection = this.connection;
					if (!connection || connection.readyState !== 1 || !connection.db) throw serviceUnavailable("database disconnected");
					await connection.db.command({ ping: 1 });
					// A node learns of a new gateway a moment after the gateway has started; until then its
					// broadcasts (live updates) would not reach that gateway's sockets, so it is not ready yet.
					const gateway = ctx.params.gatewayNodeID;
					if (gateway && !this.broker.registry.nodes.get(gateway)?.available) return { status: "discovering" };
					return { status: "ok" };
				},
			},
		},
	};
	return schema as Partial<ServiceSchema>;
}
