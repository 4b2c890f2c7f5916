import { notFound } from "../../events/errors.js";
import type { NotificationDoc, NotificationModels } from "./models.js";

/**
 * A user's inbox as the API reads it: pages newest first by sortKey, read marks, the unread count, and the account's removal.
 * Only the owner's notifications are ever read or marked: every query is scoped by `userId`.
 */

type InboxModels = Pick<NotificationModels, "Notification" | "PushSubscription" | "PushJob" | "DeletedUser">;

export class InboxStore {
	constructor(
		/** The models once the database is connected (made in the service's `started`). */
		private readonly models: () => InboxModels,
	) {}

	/** Up to `limit` of the user's notifications, newest first, all older than their notification `before` when given (404 if unknown). */
	async page(userId: string, limit: number, before?: string): Promise<NotificationDoc[]> {
		const { Notification } = this.models();
		const query: Record<string, unknown> = { userId };
		if (before) {
			const cursor = await Notification.findOne({ _id: before, userId }, { sortKey: 1 }).lean();
			if (!cursor) throw notFound("Notification", { before });
			query.sortKey = { $lt: cursor.sortKey };
		}
		return Notification.find(query).sort({ sortKey: -1 }).limit(limit).lean();
	}

	/** Marks the user's unread notifications among `ids` (every one when `ids` is "all") read; ids of others are ignored. */
	async markRead(userId: string, ids: string[] | "all"): Promise<void> {
		const filter = ids === "all" ? { userId, read: false } : { userId, _id: { $in: ids }, read: false };
		await this.models().Notification.updateMany(filter, { $set: { read: true } });
	}

	unread(userId: string): Promise<number> {
		return this.models().Notification.countDocuments({ userId, read: false });
	}

	/** A deleted account's inbox and push subscriptions; the tombstone first, so a command handled concurrently either sees it or is deleted here. */
	async forgetUser(userId: string): Promise<void> {
		const { Notification, PushSubscription, PushJob, DeletedUser } = this.models();
		await DeletedUser.updateOne({ _id: userId }, { $set: { at: new Date() } }, { upsert: true });
		await Notification.deleteMany({ userId });
		await PushSubscription.deleteMany({ userId });
		await PushJob.deleteMany({ userId });
	}
}
