import { isDuplicateKey } from "../../lib/mongo-errors.js";
import { notFound } from "../../events/errors.js";
import type { ChatModels, MessageDoc } from "./models.js";

/**
 * Chat's messages in the database: each id stored once (a resend answers the first copy), pages in sortKey order.
 * A deleted group keeps a marker, so a message written while (or after) it was deleted goes with it.
 */

type MessageModels = Pick<ChatModels, "Message" | "DeletedGroup">;

export class MessageStore {
	constructor(
		/** The models once the database is connected (made in the service's `started`). */
		private readonly models: () => MessageModels,
	) {}

	/** Up to `limit` messages of a group, oldest to newest, all before the message `before` when given (404 if unknown). */
	async page(groupId: string, limit: number, before?: string): Promise<MessageDoc[]> {
		const { Message } = this.models();
		const query: Record<string, unknown> = { groupId };
		if (before) {
			const cursor = await Message.findOne({ _id: before, groupId }, { sortKey: 1 }).lean();
			if (!cursor) throw notFound("Message", { before });
			query.sortKey = { $lt: cursor.sortKey };
		}
		const newestFirst: MessageDoc[] = await Message.find(query).sort({ sortKey: -1 }).limit(limit).lean();
		return newestFirst.reverse();
	}

	byId(_id: string): Promise<MessageDoc | null> {
		return this.models().Message.findById(_id).lean();
	}

	/** Stores a message once; for an id already stored (a resend), answers the stored one. 404 when its group is gone. */
	async insert(doc: MessageDoc): Promise<{ message: MessageDoc; created: boolean }> {
		const { Message, DeletedGroup } = this.models();
		try {
			await Message.create(doc);
		} catch (err) {
			if (!isDuplicateKey(err)) throw err;
			const existing = await Message.findById(doc._id).lean();
			if (!existing) throw err;
			return { message: existing, created: false };
		}
		// Written after (or while) the group was deleted: the history goes with the group.
		if (await DeletedGroup.exists({ _id: doc.groupId })) {
			await Message.deleteMany({ groupId: doc.groupId });
			throw notFound("Group");
		}
		return { message: doc, created: true };
	}

	/** A deleted group: marked, and its history removed. */
	async deleteGroup(groupId: string): Promise<void> {
		const { Message, DeletedGroup } = this.models();
		await DeletedGroup.updateOne({ _id: groupId }, { $set: { at: new Date() } }, { upsert: true });
		await Message.deleteMany({ groupId });
	}

	async groupDeleted(groupId: string): Promise<boolean> {
		return Boolean(await this.models().DeletedGroup.exists({ _id: groupId }));
	}
}
