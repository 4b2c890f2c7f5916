import type { Point } from "../../events/types.js";
import { mapLimit } from "../../lib/concurrency.js";
import type { JournalDoc } from "./sample-journal.js";

/**
 * The hand-over of samples a crashed location instance had acknowledged but not written behind
 * (sample-journal.ts; stored by journal-store.ts). When the location instances change, one survivor (the first by node id) lists
 * the users with samples journaled by instances that are gone, and asks each user's new owner to
 * adopt them (`adoptSamples`, sharded by user id like every command of theirs): the owner applies
 * them again, in order, on the stored session, as samples (so they are written behind, pushed live,
 * journaled again under the new owner), then deletes the orphans.
 */

const sameFix = (a: Point, b: Point) => a.timestamp === b.timestamp && a.latitude === b.latitude && a.longitude === b.longitude;

/**
 * The journaled samples of one session still to apply on `position` (the stored one): those after the
 * stored position when it is one of them (it was written behind before the crash), else all of them
 * (the state machine ignores the ones older than the stored position anyway).
 */
export function replayable(journaled: Point[], position: Point | null): Point[] {
	if (!position) return journaled;
	for (let i = journaled.length - 1; i >= 0; i--) if (sameFix(journaled[i]!, position)) return journaled.slice(i + 1);
	return journaled;
}

/** Whether this instance is the one that lists the orphans (one survivor is enough; adopting twice is harmless). */
export const listsOrphans = (self: string, liveNodes: string[]) => [...liveNodes].sort()[0] === self;

/** On the survivor that lists them: each orphaned user handed to their owner, a few at a time. */
export async function handOverOrphans(
	journal: { orphanedUsers(liveNodes: string[]): Promise<string[]> },
	self: string,
	liveNodes: string[],
	adopt: (userId: string) => Promise<unknown>,
	logger: { warn(...args: unknown[]): void; info(...args: unknown[]): void },
): Promise<void> {
	if (!listsOrphans(self, liveNodes)) return;
	const users = await journal.orphanedUsers(liveNodes);
	if (!users.length) return;
	logger.info(`Handing over the unwritten samples of ${users.length} users from location instances that are gone`);
	await mapLimit(users, 8, async userId => {
		try {
			await adopt(userId);
		} catch (err) {
			logger.warn("Handing over a user's unwritten samples failed (tried again at the next change of instances):", (err as Error).message);
		}
	});
}

export interface JournalNode {
	/** The location instance (node id) that journaled the samples. */
	node: string;
	/** Running now; a gone node's samples wait for the hand-over (handOverOrphans). */
	alive: boolean;
	/** Acknowledged samples it holds unwritten. */
	samples: number;
	/** The oldest of them (ISO), null when none. */
	oldestAt: string | null;
}

/** The operators' view of the journal: every running instance (with 0 when it holds nothing), and every gone one that left samples. */
export function journalByNode(docs: Pick<JournalDoc, "node" | "at">[], liveNodes: string[]): JournalNode[] {
	const byNode = new Map<string, JournalNode>(liveNodes.map(node => [node, { node, alive: true, samples: 0, oldestAt: null }]));
	for (const { node, at } of docs) {
		const entry = byNode.get(node) ?? { node, alive: false, samples: 0, oldestAt: null };
		entry.samples += 1;
		const iso = new Date(at).toISOString();
		if (entry.oldestAt === null || iso < entry.oldestAt) entry.oldestAt = iso;
		byNode.set(node, entry);
	}
	return [...byNode.values()].sort((a, b) => Number(a.alive) - Number(b.alive) || a.node.localeCompare(b.node));
}
