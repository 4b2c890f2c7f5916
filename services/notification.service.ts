import type { Context, Service, ServiceSchema } from "moleculer";
import { MongooseMixin, type MongooseVars } from "../mixins/mongoose.mixin.js";
import { IdempotentConsumer, RetryLater, type Delivery } from "../mixins/idempotent-consumer.mixin.js";
import { MembershipConsumers, MembershipProjection, type MembershipChange, type MembershipMethods } from "../mixins/membership.mixin.js";
import { config, isProduction } from "../lib/config.js";
import { isDuplicateKey } from "../lib/mongo-errors.js";
import { callerOf, rules, strict } from "../lib/params.js";
import { conflict, notFound, validationError } from "../events/errors.js";
import { DomainEvents, type Envelope, type GroupSnapshot, type NotificationSend } from "../events/domain.js";
import { memberIdsOf } from "../events/membership.js";
import { OUTLIVES_STREAMS_MS, Subscriptions } from "../events/streams.js";
import { LiveEvents, type LiveNotification, type LiveNotificationsRead } from "../events/live.js";
import type { Meta, Notification } from "../events/types.js";
import { notificationModels, type NotificationDoc, type NotificationModels } from "./notification/models.js";
import {
	decideMembers,
	DEFAULT_PAGE,
	groupVersionId,
	MAX_PAGE,
	notificationFor,
	resolveRecipients,
	subscriptionId,
	targetGroupOf,
	toNotification,
} from "./notification/inbox.js";
import { pushConfigFrom, subscriptionProblems, type EndpointPolicy, type PushConfig, type SubscriptionInput } from "./notification/push.js";
import { resolveAll } from "./notification/endpoint-policy.js";
import { PushQueue } from "./notification/push-queue.js";
import { InboxStore } from "./notification/inbox-store.js";
import { repeatable } from "../lib/repeatable.js";

// ---- this

type NotificationSettings = object;

interface NotificationVars {
	push: PushConfig;
	/** Public https endpoints only (production), or any http(s) URL (PUSH_ALLOW_PRIVATE_ENDPOINTS). */
	endpointPolicy: EndpointPolicy;
	pushTimer?: NodeJS.Timeout;
	versionPurgeTimer?: NodeJS.Timeout;
	/** Web Push jobs (notification/push-queue.ts). */
	pushQueue: PushQueue;
	/** The inbox the API reads and marks (notification/inbox-store.ts). */
	inbox: InboxStore;
}

interface NotificationMethods {
	handleNotificationSend(envelope: Envelope<NotificationSend>, ctx: Context, delivery: Delivery): Promise<void>;
	membersForCommand(ctx: Context, groupId: string, command: NotificationSend, attempt: number): Promise<string[]>;
	recordGroupVersion(groupId: string, snapshot: GroupSnapshot): Promise<void>;
	onMembershipChange(change: MembershipChange): Promise<void>;
	deliver(ctx: Context, doc: NotificationDoc): Promise<void>;
}

type NotificationThis = Service<NotificationSettings> & NotificationVars & NotificationMethods & MembershipMethods & MongooseVars<NotificationModels>;

/** Shorter than JetStream's redelivery wait (ack_wait 30 s), longer than a delivery takes. */
const DELIVERY_LEASE_MS = 15_000;
const PUSH_POLL_MS = 1_000;
/** Versions are needed while commands written at them may still arrive: as long as the streams keep events. */
const GROUP_VERSION_KEEP_MS = OUTLIVES_STREAMS_MS;
const NotificationService: ServiceSchema<NotificationSettings, NotificationMethods, NotificationVars, NotificationThis> = {
	name: "notification",
	mixins: [
		MongooseMixin({ db: "notification", models: notificationModels }),
		MembershipProjection<NotificationThis>({
			onChange(change) {
				return this.onMembershipChange(change);
			},
			onSnapshot(groupId, snapshot) {
				return this.recordGroupVersion(groupId, snapshot);
			},
		}),
		IdempotentConsumer<NotificationThis>({
			events: Subscriptions.notification,
			consume: {
				...MembershipConsumers,
				[DomainEvents.notificationSend](envelope, ctx, delivery) {
					return this.handleNotificationSend(envelope, ctx, delivery);
				},
			},
		}),
	],

	actions: {
		/** The caller's inbox, newest first, with the number of unread notifications. */
		list: {
			...repeatable(),
			params: {
				...strict,
				limit: { type: "number", integer: true, min: 1, max: MAX_PAGE, convert: true, optional: true },
				before: { ...rules.id, optional: true },
			},
			async handler(ctx: Context<{ limit?: number; before?: string }, Meta>) {
				const caller = callerOf(ctx);
				const docs = await this.inbox.page(caller.id, ctx.params.limit ?? DEFAULT_PAGE, ctx.params.before);
				return { notifications: docs.map(toNotification), unread: await this.inbox.unread(caller.id) };
			},
		},

		/** Marks some (`ids`) or all (`all: true`) of the caller's notifications read; returns the unread count. */
		markRead: {
			...repeatable(),
			params: {
				...strict,
				ids: { type: "array", items: rules.id, max: MAX_PAGE, optional: true },
				all: { type: "equal", value: true, strict: true, optional: true },
			},
			async handler(ctx: Context<{ ids?: string[]; all?: true }, Meta>) {
				const caller = callerOf(ctx);
				const { ids, all } = ctx.params;
				if (!all && ids === undefined)
					throw validationError("Give the ids to mark read, or all: true", [{ field: "ids", message: "ids or all is required", type: "required" }]);
				// Only the caller's own notifications: ids of others are silently ignored.
				await this.inbox.markRead(caller.id, all ? "all" : ids!);
				const unread = await this.inbox.unread(caller.id);
				// The user's other devices show the same count.
				await ctx.broadcast(LiveEvents.notificationsRead, { userId: caller.id, unread, ...(all ? {} : { ids }) } satisfies LiveNotificationsRead);
				return { unread };
			},
		},

		/** The server's VAPID public key, for the browser's pushManager.subscribe; 404 when push is off. */
		pushKey: {
			...repeatable(),
			params: { ...strict },
			handler(ctx: Context<unknown, Meta>) {
				callerOf(ctx);
				if (!this.push.enabled) throw notFound("Push key", { reason: "Web Push is not configured on this server" });
				return { publicKey: this.push.vapid.publicKey };
			},
		},

		/**
		 * Registers a browser PushSubscription for the caller; registering it again refreshes its keys.
		 * An endpoint registered by another account stays theirs: 409, without saying whose.
		 */
		subscribe: {
			params: {
				...strict,
				endpoint: { type: "string", min: 1, max: 2048, trim: true },
				keys: {
					type: "object",
					strict: "remove",
					props: { p256dh: { type: "string", min: 1, max: 200 }, auth: { type: "string", min: 1, max: 100 } },
				},
			},
			async handler(ctx: Context<SubscriptionInput, Meta>) {
				const caller = callerOf(ctx);
				const { endpoint, keys } = ctx.params;
				// The server will POST to this URL: under the policy, an https URL of a public host only.
				const errors = await subscriptionProblems({ endpoint, keys }, this.endpointPolicy);
				if (errors.length) throw validationError("Invalid push subscription", errors);
				const _id = subscriptionId(endpoint);
				try {
					// Matches only the caller's own record: another account's makes the upsert's insert a duplicate.
					await this.models.PushSubscription.updateOne(
						{ _id, userId: caller.id },
						{ $set: { endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth }, createdAt: new Date() } },
						{ upsert: true },
					);
				} catch (err) {
					if (!isDuplicateKey(err)) throw err;
					// Moving it would let anyone who learns an endpoint silence its owner's alerts and push into their browser.
					throw conflict("This push subscription is registered to another account: unsubscribe it in the browser and subscribe again");
				}
				// Messages queued for an earlier owner (their unsubscribe racing a send) must not follow the endpoint.
				await this.models.PushJob.deleteMany({ subscriptionId: _id, userId: { $ne: caller.id } });
				ctx.meta.$statusCode = 201;
				return { endpoint };
			},
		},

		/** Removes one of the caller's push subscriptions (idempotent). */
		unsubscribe: {
			params: { ...strict, endpoint: { type: "string", min: 1, max: 2048, trim: true } },
			async handler(ctx: Context<{ endpoint: string }, Meta>) {
				const caller = callerOf(ctx);
				const _id = subscriptionId(ctx.params.endpoint);
				const removed = await this.models.PushSubscription.deleteOne({ _id, userId: caller.id });
				if (removed.deletedCount) await this.models.PushJob.deleteMany({ subscriptionId: _id });
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		/** Counts for operators: push on or off, messages waiting, and (with `userId`) one user's inbox and subscriptions. */
		stats: {
			...repeatable(),
			visibility: "public",
			params: { ...strict, userId: { ...rules.id, optional: true } },
			async handler(ctx: Context<{ userId?: string }>) {
				const filter = ctx.params.userId ? { userId: ctx.params.userId } : {};
				const [pendingPushes, subscriptions, notifications, unread] = await Promise.all([
					this.models.PushJob.countDocuments(filter),
					this.models.PushSubscription.countDocuments(filter),
					this.models.Notification.countDocuments(filter),
					this.models.Notification.countDocuments({ ...filter, read: false }),
				]);
				const push = this.push.enabled ? { enabled: true } : { enabled: false, reason: this.push.reason };
				return { push, pendingPushes, subscriptions, notifications, unread };
			},
		},
	},

	methods: {
		/**
		 * A `notifications.send` command: one notification per recipient, stored, pushed live and
		 * queued for Web Push. Redelivery (same envelope id) finds the stored notifications and only
		 * finishes deliveries a crash interrupted.
		 */
		async handleNotificationSend(envelope: Envelope<NotificationSend>, ctx: Context, delivery: Delivery) {
			const command = envelope.payload;
			if (!command?.target || !command.kind || typeof command.title !== "string") {
				this.logger.warn(`Dropping malformed ${envelope.type} ${envelope.id}`);
				return;
			}
			const groupId = targetGroupOf(command);
			const members = groupId ? await this.membersForCommand(ctx, groupId, command, delivery.attempt) : [];
			const recipients = await resolveRecipients(command, {
				groupMembers: async () => members,
				coMembersOf: async id => (await this.coMembersOf(id)).map(m => m.id),
			});
			const deleted = new Set((await this.models.DeletedUser.find({ _id: { $in: recipients } }, { _id: 1 }).lean()).map(d => d._id));
			for (const userId of recipients) {
				if (deleted.has(userId)) continue;
				const doc = notificationFor(envelope, command, userId);
				let stored: NotificationDoc = doc;
				try {
					await this.models.Notification.create(doc);
				} catch (err) {
					if (!isDuplicateKey(err)) throw err;
					// Stored before: finish its delivery only if a crash interrupted it, not while a
					// concurrent copy of this command is delivering it.
					const now = new Date();
					const reclaimed = await this.models.Notification.findOneAndUpdate(
						{ _id: doc._id, delivered: false, claimedAt: { $lt: new Date(now.getTime() - DELIVERY_LEASE_MS) } },
						{ $set: { claimedAt: now } },
						{ returnDocument: "after" },
					).lean();
					if (!reclaimed) continue;
					stored = reclaimed;
				}
				// The account was deleted while this was being written: its inbox is gone, and so is this.
				if (await this.models.DeletedUser.exists({ _id: userId })) {
					await this.models.Notification.deleteMany({ userId });
					continue;
				}
				await this.deliver(ctx, stored);
			}
		},

		/**
		 * The members a group command goes to: those of the group version it was written at (a
		 * member who left since still hears of it, one who joined later does not), however late
		 * this service handles it and whichever stream arrived first. A version not seen yet is
		 * asked of the users service; when the group has moved on since, the command waits for
		 * the event announcing its version (it is on its way).
		 */
		async membersForCommand(ctx: Context, groupId: string, command: NotificationSend, attempt: number): Promise<string[]> {
			const version = typeof command.groupVersion === "number" && command.groupVersion > 0 ? command.groupVersion : undefined;
			if (version !== undefined) {
				const known = await this.models.GroupVersion.findById(groupVersionId(groupId, version)).lean();
				if (known) return memberIdsOf(known);
			} else {
				// A command without a version: the members as this service knows them now.
				const local = await this.groupProjection().findById(groupId).lean();
				if (local) return memberIdsOf(local);
			}
			// The group as the users service has it now (any user will do: only the snapshot is read).
			const current = (await this.askUsers(ctx, groupId, command.subjectUserId ?? command.alsoUserIds?.[0] ?? "-")).group;
			const decision = decideMembers(version, current?.version, attempt);
			switch (decision.use) {
				case "exact":
				case "current":
					return current && !current.deleted ? current.members.map(m => m.id) : [];
				case "wait":
					throw new RetryLater(`group ${groupId} version ${version} not seen yet (the users service is at ${current?.version})`);
				case "fallback":
					this.logger.warn(`Group ${groupId} version ${version} never arrived; sending ${command.kind} to the newest members known`);
					return (await this.groupMembers(groupId)).map(m => m.id);
			}
		},

		/** Membership projection hook: every snapshot learnt, kept by version (immutable, so an upsert is idempotent). */
		async recordGroupVersion(groupId: string, snapshot: GroupSnapshot) {
			// A version's members never change once written: an insert (cheaper than an upsert), and
			// a duplicate (two events of one version, or a redelivery) is the same content.
			await this.models.GroupVersion.create({
				_id: groupVersionId(groupId, snapshot.version),
				groupId,
				version: snapshot.version,
				memberIds: snapshot.deleted ? [] : snapshot.members.map(m => m.id),
				deleted: Boolean(snapshot.deleted),
				at: new Date(),
			}).catch((err: unknown) => {
				if (!isDuplicateKey(err)) throw err;
			});
		},

		/** Live to every open socket of the recipient, then Web Push; neither can fail the inbox. */
		async deliver(ctx: Context, doc: NotificationDoc) {
			const notification: Notification = toNotification(doc);
			try {
				await ctx.broadcast(LiveEvents.notification, { userId: doc.userId, notification } satisfies LiveNotification);
			} catch (err) {
				this.logger.warn(`Live notification to ${doc.userId} failed:`, (err as Error).message);
			}
			try {
				await this.pushQueue.enqueue(doc);
				await this.models.Notification.updateOne({ _id: doc._id }, { $set: { delivered: true } });
			} catch (err) {
				// Release the claim so the retry of this command finishes the delivery.
				await this.models.Notification.updateOne({ _id: doc._id }, { $set: { claimedAt: new Date(0) } }).catch(() => undefined);
				throw err;
			}
		},

		/** A deleted account takes its inbox and push subscriptions with it. */
		async onMembershipChange(change: MembershipChange) {
			const userId = change.deletedUserId;
			if (!userId) return;
			await this.inbox.forgetUser(userId);
		},
	},

	created() {
		this.inbox = new InboxStore(() => this.models);
		this.endpointPolicy = config.pushAllowPrivateEndpoints() ? null : { resolve: resolveAll };
		if (this.endpointPolicy === null && isProduction())
			this.logger.warn("PUSH_ALLOW_PRIVATE_ENDPOINTS=1: push endpoints may be http URLs and private addresses, which this server will POST to.");
		this.push = pushConfigFrom(config.vapid());
		if (!this.push.enabled) {
			const partial = Object.values(config.vapid()).some(Boolean);
			// Half-configured or invalid keys are a deployment mistake, not a choice to run without push.
			if (partial && isProduction()) {
				this.broker.fatal(`Web Push: ${this.push.reason}; refusing to start.`);
				return;
			}
			this.logger.info(`Web Push is off: ${this.push.reason}`);
		}
		this.pushQueue = new PushQueue({ models: () => this.models, push: this.push, endpointPolicy: this.endpointPolicy, logger: this.logger });
	},

	started() {
		this.versionPurgeTimer = setInterval(() => {
			this.models.GroupVersion.deleteMany({ at: { $lt: new Date(Date.now() - GROUP_VERSION_KEEP_MS) } }).catch(() => undefined);
		}, 3600_000);
		this.versionPurgeTimer.unref?.();
		if (!this.push.enabled) return;
		this.pushTimer = setInterval(() => this.pushQueue.kick(), PUSH_POLL_MS);
		this.pushTimer.unref?.();
	},

	async stopped() {
		clearInterval(this.pushTimer);
		clearInterval(this.versionPurgeTimer);
		await this.pushQueue.idle(3_000);
	},
};

export default NotificationService;
