import { Schema, type Connection, type Model } from "mongoose";
import type { NotificationData, NotificationKind } from "../../events/types.js";

/** One notification in one recipient's inbox. */
export interface NotificationDoc {
	/** Derived from the command's envelope id and the recipient: a redelivered command stores nothing new. */
	_id: string;
	userId: string;
	kind: NotificationKind;
	title: string;
	body: string;
	groupId?: string;
	subjectUserId?: string;
	data?: NotificationData;
	createdAt: Date;
	/** createdAt + id: a total order for paging, stable for notifications of the same millisecond. */
	sortKey: string;
	read: boolean;
	/** Live and push delivery were done; false after a crash between storing and delivering. */
	delivered: boolean;
	/** When a consumer took on delivering it: a duplicate handled meanwhile leaves it alone. */
	claimedAt: Date;
}

/** A browser PushSubscription registered by a user. */
export interface PushSubscriptionDoc {
	/** Derived from the endpoint: one endpoint belongs to one user (the one who registered it, until it is unsubscribed or gone). */
	_id: string;
	userId: string;
	endpoint: string;
	keys: { p256dh: string; auth: string };
	createdAt: Date;
}

/** A Web Push message still to be sent: durable, so retries survive a restart. */
export interface PushJobDoc {
	/** Derived from the notification and the subscription: enqueueing twice is harmless. */
	_id: string;
	userId: string;
	subscriptionId: string;
	endpoint: string;
	keys: { p256dh: string; auth: string };
	payload: string;
	attempts: number;
	/** Due time; a worker that claims the job moves it into the future (a lease) while sending. */
	nextAttemptAt: Date;
	createdAt: Date;
}

/** A deleted account: commands still in flight for it (e.g. its own leave) store nothing. */
export interface DeletedUserDoc {
	_id: string; // userId
	at: Date;
}

/**
 * The members of a group at one version, as announced by a group event (or the users service).
 * A command names the version it was written at; its recipients are the members at that version,
 * whatever changed since and in whatever order the two streams arrive.
 */
export interface GroupVersionDoc {
	_id: string; // groupVersionId(groupId, version)
	groupId: string;
	version: number;
	memberIds: string[];
	deleted: boolean;
	at: Date;
}

export function notificationModels(connection: Connection) {
	const Notification = connection.model<NotificationDoc>(
		"Notification",
		new Schema<NotificationDoc>(
			{
				_id: String,
				userId: { type: String, required: true },
				kind: String,
				title: String,
				body: String,
				groupId: String,
				subjectUserId: String,
				data: { type: Schema.Types.Mixed, default: undefined },
				createdAt: Date,
				sortKey: String,
				read: { type: Boolean, default: false },
				delivered: { type: Boolean, default: false },
				claimedAt: Date,
			},
			{ versionKey: false },
		).index({ userId: 1, sortKey: -1 }),
	);
	const PushSubscription = connection.model<PushSubscriptionDoc>(
		"PushSubscription",
		new Schema<PushSubscriptionDoc>(
			{
				_id: String,
				userId: { type: String, index: true },
				endpoint: String,
				keys: { p256dh: String, auth: String },
				createdAt: Date,
			},
			{ versionKey: false },
		),
	);
	const PushJob = connection.model<PushJobDoc>(
		"PushJob",
		new Schema<PushJobDoc>(
			{
				_id: String,
				userId: { type: String, index: true },
				subscriptionId: String,
				endpoint: String,
				keys: { p256dh: String, auth: String },
				payload: String,
				attempts: { type: Number, default: 0 },
				nextAttemptAt: { type: Date, index: true },
				createdAt: Date,
			},
			{ versionKey: false },
		),
	);
	const DeletedUser = connection.model<DeletedUserDoc>("DeletedUser", new Schema<DeletedUserDoc>({ _id: String, at: Date }, { versionKey: false }));
	const GroupVersion = connection.model<GroupVersionDoc>(
		"GroupVersion",
		new Schema<GroupVersionDoc>(
			{ _id: String, groupId: String, version: Number, memberIds: [String], deleted: Boolean, at: { type: Date, index: true } },
			{ versionKey: false },
		),
	);
	return { Notification, PushSubscription, PushJob, DeletedUser, GroupVersion } as {
		Notification: Model<NotificationDoc>;
		PushSubscription: Model<PushSubscriptionDoc>;
		PushJob: Model<PushJobDoc>;
		DeletedUser: Model<DeletedUserDoc>;
		GroupVersion: Model<GroupVersionDoc>;
	};
}
export type NotificationModels = ReturnType<typeof notificationModels>;
