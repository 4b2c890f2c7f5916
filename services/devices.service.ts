import type { Context, ServiceSchema } from "moleculer";
import { MongooseMixin } from "../mixins/mongoose.mixin.js";
import { newEnvelope, OutboxRelay } from "../mixins/outbox-relay.mixin.js";
import { IdempotentConsumer } from "../mixins/idempotent-consumer.mixin.js";
import { config } from "../lib/config.js";
import { MongoAttempts } from "../lib/attempt-limits.js";
import { callerOf, rules, strict } from "../lib/params.js";
import { notFound, rateLimited } from "../events/errors.js";
import { DomainEvents } from "../events/domain.js";
import type { MembershipAnswer } from "../events/membership.js";
import { Subscriptions } from "../events/streams.js";
import { LiveEvents, type LiveLocate } from "../events/live.js";
import { DeviceProtocols, type DeviceProtocol, type Meta, type User } from "../events/types.js";
import { devicesModels, type DevicesModels } from "./devices/models.js";
import { credentialsOf, publicBaseUrl, toDevice, type Device, type DeviceCredentials } from "./devices/registry.js";
import { DeviceCache, devicesNodes, loadKnownDevice, OWNED_BY_DEVICE, type KnownDevice } from "./devices/device-cache.js";
import type { DevicesMethods, DevicesThis, DevicesVars } from "./devices/service-types.js";
import { reportActions } from "./devices/report-actions.js";
import { DeviceStore } from "./devices/device-store.js";
import { ATTEMPT_PURGE_EVERY_MS, FailedLogins } from "./devices/failed-logins.js";
import { LastSeen } from "./devices/last-seen.js";
import { placeTransition, type PlacesOfUser } from "./devices/commands.js";
import { PhoneReports, type Call } from "./devices/phone-reports.js";
import { locateKey, locateNotification, locateParties, locateWaitMs } from "./devices/locate.js";
import { repeatable } from "../lib/repeatable.js";

/**
 * Phones (API.md §6.2, §6.3): the devices users register for OwnTracks and OsmAnd/Traccar apps, their
 * reports (devices/phone-reports.ts: authenticated by split-token credentials, devices/credentials.ts,
 * and passed on to the location service as samples of their owner), and "where are you now?".
 *
 * A device's reports and its removal go to one instance (Shard strategy on the device id), which holds
 * the device in memory (devices/device-cache.ts) and writes its lastSeenAt at most once a minute
 * (devices/last-seen.ts); a removal also tells every other instance, so a removed device is refused at
 * once wherever its next report lands.
 *
 * The phone routes' actions (reports, failed logins) are in devices/report-actions.ts; `this` is typed
 * by devices/service-types.ts, storage is devices/device-store.ts.
 */

// ---- params

const createParams = { ...strict, name: rules.name, protocol: { type: "enum", values: [...DeviceProtocols] } };
interface CreateParams {
	name: string;
	protocol: DeviceProtocol;
}

const removeParams = { ...strict, id: rules.id };
interface RemoveParams {
	id: string;
}

const locateParams = { ...strict, groupId: rules.id, userId: rules.id };
interface LocateParams {
	groupId: string;
	userId: string;
}

const ofUserParams = { ...strict, userId: rules.id };

/** Broadcast to every devices instance: forget these devices (removed, or given a command to send). */
const FORGET_EVENT = "devices.forget";
interface Forget {
	deviceIds: string[];
}

/** Owners are re-read this often (a renamed user's name, an account deleted while its event is on its way). */
const DEVICE_CACHE_TTL_MS = 60_000;

const DevicesService: ServiceSchema<object, DevicesMethods, DevicesVars, DevicesThis> = {
	name: "devices",
	mixins: [
		MongooseMixin({ db: "devices", models: devicesModels }),
		OutboxRelay<DevicesModels>({ models: ["LocateRequest"] }),
		IdempotentConsumer<DevicesThis>({
			events: Subscriptions.devices,
			consume: {
				[DomainEvents.userDeleted](envelope, ctx) {
					return this.removeDevicesOf(ctx, envelope.payload.userId);
				},
			},
		}),
	],

	actions: {
		...reportActions,

		/** Registers a phone for the caller; its credentials are in this answer only (API.md §6.2). */
		create: {
			params: createParams,
			async handler(ctx: Context<CreateParams, Meta>): Promise<Device & { credentials: DeviceCredentials }> {
				const caller = callerOf(ctx);
				const { doc, secret } = await this.store.create(caller.id, ctx.params.name, ctx.params.protocol);
				ctx.meta.$statusCode = 201;
				return { ...toDevice(doc), credentials: credentialsOf(doc, secret, publicBaseUrl(config.publicUrl(), ctx.meta.origin), caller) };
			},
		},

		/** The caller's devices, oldest first, without secrets; lastSeenAt is at most a minute behind. */
		list: {
			...repeatable(),
			params: { ...strict },
			async handler(ctx: Context<unknown, Meta>): Promise<Device[]> {
				return (await this.store.listOldestFirst(callerOf(ctx).id)).map(toDevice);
			},
		},

		/** Removes one of the caller's devices: its next report is refused (401), on every instance. */
		remove: {
			...OWNED_BY_DEVICE("id"),
			params: removeParams,
			async handler(ctx: Context<RemoveParams, Meta>) {
				if (!(await this.store.remove(ctx.params.id, callerOf(ctx).id))) throw notFound("Device");
				await this.forget(ctx, [ctx.params.id]);
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		/**
		 * "Where are you now?" (API.md §6.3): the member's OwnTracks devices get `reportLocation` in their
		 * next answer, their open sockets `location:request`, and they a notification. Members of the group
		 * only, about a member of it; once a minute per asker and member.
		 */
		locate: {
			params: locateParams,
			async handler(ctx: Context<LocateParams, Meta>) {
				const caller = callerOf(ctx);
				const { groupId, userId } = ctx.params;
				const answer = (await ctx.call("users.membership", { groupId, userId: caller.id })) as MembershipAnswer;
				const parties = locateParties(answer, caller.id, userId);
				const now = Date.now();
				const notification = locateNotification(groupId, parties);
				const outbox = notification ? [newEnvelope(DomainEvents.notificationSend, notification)] : [];
				const key = locateKey(caller.id, userId);
				const claim = await this.store.claimLocate(key, caller.id, userId, now, outbox);
				if (!claim.claimed) {
					const retryAfter = Math.max(1, Math.ceil(locateWaitMs(claim.lastAskedAt, now) / 1000));
					throw rateLimited("You asked where this member is less than a minute ago", { retryAfter });
				}
				if (outbox.length) this.kickOutbox("LocateRequest", key);
				const deviceIds = await this.store.requestReports(userId, now);
				if (deviceIds.length) await this.forget(ctx, deviceIds);
				await ctx.broadcast(LiveEvents.locate, { userId, groupId, byUserId: caller.id } satisfies LiveLocate);
				ctx.meta.$statusCode = 202;
				return { groupId, userId, devices: deviceIds.length };
			},
		},

		/** Operators: a user's devices with when each was last seen (no secrets). */
		ofUser: {
			...repeatable(),
			visibility: "public",
			params: ofUserParams,
			async handler(ctx: Context<{ userId: string }>) {
				const docs = await this.store.listOf(ctx.params.userId);
				return docs.map(doc => ({ ...toDevice(doc), reportRequested: doc.reportRequestedAt !== null }));
			},
		},
	},

	events: {
		[FORGET_EVENT](ctx: Context<Forget>) {
			for (const deviceId of ctx.params.deviceIds) {
				this.cache.forget(deviceId);
				this.lastSeen.forget(deviceId);
			}
		},
		// A reconnect to NATS may have missed a removal: read every device again.
		"$transporter.connected"() {
			this.cache?.clear();
		},
		// Another devices instance came or went: devices may have changed owner, and the new owner's copy is the one kept current.
		"$services.changed"() {
			const owners = devicesNodes(this.broker.registry.getServiceList({ onlyAvailable: true }) as { name: string; nodeID: string }[]);
			if (this.owners !== undefined && owners !== this.owners) this.cache.clear();
			this.owners = owners;
		},
	},

	methods: {
		/** A device and its owner, as reports need them; null when there is no such device or its owner is gone. */
		async loadDevice(deviceId: string): Promise<KnownDevice | null> {
			const readOwner = async (userId: string) => (await this.broker.call("users.me", {}, { meta: { user: { id: userId } } })) as User;
			return loadKnownDevice(await this.store.find(deviceId), readOwner);
		},

		/** Calls made for a report: as the device's owner, children of the gateway's request. */
		callAs(ctx: Context): Call {
			return (action, params, meta) => ctx.call(action, params, { meta });
		},

		/** Devices forgotten here at once, and on every other instance. */
		async forget(ctx: Context | null, deviceIds: string[]) {
			for (const deviceId of deviceIds) {
				this.cache.forget(deviceId);
				this.lastSeen.forget(deviceId);
			}
			const payload: Forget = { deviceIds };
			await (ctx ? ctx.broadcast(FORGET_EVENT, payload, { groups: ["devices"] }) : this.broker.broadcast(FORGET_EVENT, payload, { groups: ["devices"] }));
		},

		/** users.deleted: the account's devices go, and its "where are you now?" records. */
		async removeDevicesOf(ctx: Context, userId: string) {
			const deviceIds = await this.store.removeAllOf(userId);
			if (deviceIds.length) await this.forget(ctx, deviceIds);
			// Records still carrying a notification stay until it is relayed (the next deletion or the purge takes them).
			await this.store.removeLocateRequestsOf(userId);
		},
	},

	created() {
		this.store = new DeviceStore(() => this.models);
		this.failedLogins = new FailedLogins(() => new MongoAttempts(this.connection));
		this.cache = new DeviceCache(deviceId => this.loadDevice(deviceId), DEVICE_CACHE_TTL_MS);
		this.lastSeen = new LastSeen();
		this.reports = new PhoneReports({
			devices: this.cache,
			lastSeen: this.lastSeen,
			writeLastSeen: (deviceId, at) => this.store.writeLastSeen(deviceId, at),
			writeSent: (deviceId, sent) => this.store.writeSent(deviceId, sent),
			// The user's places as waypoints (sent again when their version changes), and what a transition means.
			places: async userId => (await this.broker.call("location.placesOfUser", { userId })) as PlacesOfUser,
			transition: placeTransition,
			now: Date.now,
			logger: this.logger,
		});
	},

	started() {
		this.attemptPurgeTimer = setInterval(() => this.failedLogins.purge(), ATTEMPT_PURGE_EVERY_MS);
		this.attemptPurgeTimer.unref();
	},

	async stopped() {
		clearInterval(this.attemptPurgeTimer);
		// A graceful stop writes the lastSeenAt values held back (one write per device at most a minute behind
		// otherwise), before MongooseMixin closes the connection (a service's own `stopped` runs first).
		await this.store.writeUnwrittenLastSeen(this.lastSeen.takeUnwritten());
	},
};

export default DevicesService;
