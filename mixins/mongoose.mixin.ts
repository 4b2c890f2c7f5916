import mongoose, { type Connection, type Model } from "mongoose";
import type { ServiceSchema } from "moleculer";
import { config } from "../lib/config.js";
import { serviceUnavailable } from "../events/errors.js";

/**
 * Gives a service its own mongoose connection to its own database, `positionpal_<db>`.
 * MONGO_DB_PREFIX changes the `positionpal` part (tests use it to isolate runs).
 * Models are built on that connection; indexes are created once at start; the connection closes at stop.
 */
export function databaseName(db: string): string {
	return `${process.env.MONGO_DB_PREFIX?.trim() || "positionpal"}_${db}`;
}

export interface MongooseMethods<TModels> {
	/** The service's models, bound to its own connection. */
	models: TModels;
	connection: Connection;
}

export function MongooseMixin<TModels extends Record<string, Model<any>>>(opts: {
	db: string;
	models: (connection: Connection) => TModels;
}): Partial<ServiceSchema> {
	return {
		async started() {
			const url = config.mongoUrl();
			const connection = mongoose.createConnection(url, {
				dbName: databaseName(opts.db),
				serverSelectionTimeoutMS: 5_000,
				// Fail a query quickly while the database is down instead of queueing it forever.
				bufferCommands: false,
			});
			await connection.asPromise();
			this.connection = connection;
			this.models = opts.models(connection);
			for (const model of Object.values(this.models)) await (model as Model<any>).createIndexes();
			this.logger.info(`Connected to database ${databaseName(opts.db)}`);
		},
		async stopped() {
			if (this.connection) await (this.connection as Connection).close();
		},
		actions: {
			/** Reports whether this service reaches its database, for the gateway's readiness check. */
			health: {
				visibility: "public",
				async handler() {
					const connection = this.connection as Connection | undefined;
					if (!connection || connection.readyState !== 1) throw serviceUnavailable("database disconnected");
					await connection.db!.command({ ping: 1 });
					return { status: "ok" };
				},
			},
		},
	} as Partial<ServiceSchema>;
}
