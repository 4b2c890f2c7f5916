import type { Model } from "mongoose";
import type { Point } from "../../events/types.js";
import { journalByNode, type JournalNode } from "./hand-over-replay.js";
import type { JournalDoc } from "./sample-journal.js";

/**
 * The SampleJournal collection (sample-journal.ts), and the only code that talks to it: the appends and
 * trims of this instance, the operators' view, and the orphans a gone instance left for the hand-over.
 */

export class JournalStore {
	/** Read at each call: the connection opens after the service is created. */
	constructor(private readonly model: () => Model<JournalDoc>) {}

	/** Stores appended samples (throws when the database refuses them). */
	async insert(docs: JournalDoc[]): Promise<void> {
		await this.model().insertMany(docs, { ordered: false, lean: true });
	}

	/** Deletes what `node` appended before `before` (its sessions are written). */
	async trim(node: string, before: Date): Promise<void> {
		await this.model().deleteMany({ node, at: { $lt: before } });
	}

	/** Operators: the unwritten samples per instance, running (`liveNodes`) or gone. */
	async byNode(liveNodes: string[]): Promise<JournalNode[]> {
		const docs = await this.model().find({}, { node: 1, at: 1 }).lean<Pick<JournalDoc, "node" | "at">[]>();
		return journalByNode(docs, liveNodes);
	}

	/** Users with samples journaled by location instances no longer running. */
	async orphanedUsers(liveNodes: string[]): Promise<string[]> {
		const docs = await this.model()
			.find({ node: { $nin: liveNodes } }, { userId: 1 })
			.lean<Pick<JournalDoc, "userId">[]>();
		return [...new Set(docs.map(doc => doc.userId))];
	}

	/** The orphaned samples of one user by group, oldest first, with the ids to delete once applied. */
	async orphansOf(userId: string, liveNodes: string[]): Promise<{ byGroup: Map<string, Point[]>; ids: unknown[] }> {
		const docs = await this.model()
			.find({ userId, node: { $nin: liveNodes } })
			.sort({ at: 1, _id: 1 })
			.lean<(JournalDoc & { _id: unknown })[]>();
		const byGroup = new Map<string, Point[]>();
		for (const doc of docs) {
			const points = byGroup.get(doc.groupId);
			if (points) points.push(doc.point);
			else byGroup.set(doc.groupId, [doc.point]);
		}
		return { byGroup, ids: docs.map(doc => doc._id) };
	}

	/** Deletes orphans once applied again by their new owner. */
	async remove(ids: unknown[]): Promise<void> {
		if (ids.length) await this.model().deleteMany({ _id: { $in: ids } });
	}
}
