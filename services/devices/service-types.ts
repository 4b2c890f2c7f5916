/**
 * What `this` is inside the devices service: the stores and caches it builds when it is created, and its
 * methods. The service file and its action group of phone reports (report-actions.ts) share it.
 */
import type { ActionSchema, Context, Service } from "moleculer";
import type { MongooseVars } from "../../mixins/mongoose.mixin.js";
import type { DeviceCache, KnownDevice } from "./device-cache.js";
import type { DeviceStore } from "./device-store.js";
import type { FailedLogins } from "./failed-logins.js";
import type { LastSeen } from "./last-seen.js";
import type { DevicesModels } from "./models.js";
import type { Call, PhoneReports } from "./phone-reports.js";

export interface DevicesVars extends MongooseVars<DevicesModels> {
	store: DeviceStore;
	cache: DeviceCache;
	lastSeen: LastSeen;
	reports: PhoneReports;
	/** Failed device logins per client address (the gateways' DEVICE_AUTH_RATE_LIMIT), in this database. */
	failedLogins: FailedLogins;
	attemptPurgeTimer?: NodeJS.Timeout;
	/** The devices instances last seen (a change moves devices to another owner). */
	owners?: string;
}

export interface DevicesMethods {
	kickOutbox(modelName?: string, docId?: string): void;
	loadDevice(deviceId: string): Promise<KnownDevice | null>;
	callAs(ctx: Context): Call;
	forget(ctx: Context | null, deviceIds: string[]): Promise<void>;
	removeDevicesOf(ctx: Context, userId: string): Promise<void>;
}

export type DevicesThis = Service & DevicesVars & DevicesMethods;

/** An action group of the service, spread into its `actions`: handlers see the same typed `this`. */
export type DevicesActions = Record<string, ActionSchema<DevicesThis>>;
