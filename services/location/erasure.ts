import type { MembershipChange } from "../../mixins/membership.mixin.js";
import type { History } from "./history/store.js";
import type { PlaceStore } from "./places/place-store.js";
import type { PrecisionStore } from "./precision-settings.js";
import type { ShareLinks } from "./sharing/share-links.js";

/**
 * What leaves with a person or a group (beyond sessions, which membership.ts tombstones): a deleted
 * account's history, choices and links; a member's links and choices in a group they left; a deleted group's places too.
 */

/** A share link that ended is kept this long (its creator's list no longer shows it), then deleted. */
export const ENDED_LINKS_KEPT_MS = 86_400_000;

export interface ErasureDeps {
	history: History;
	precisions: PrecisionStore;
	shareLinks: ShareLinks;
	places: PlaceStore;
	now: () => number;
	logger: { info(...args: unknown[]): void; warn(...args: unknown[]): void };
}

export class Erasure {
	constructor(private readonly deps: ErasureDeps) {}

	/** Erases what `change` takes away; the ids of the share links it ended (their sockets are to be closed). */
	async after(change: MembershipChange): Promise<string[]> {
		const { history, precisions, shareLinks, places } = this.deps;
		if (change.deletedUserId) {
			const userId = change.deletedUserId;
			await history.erase(userId);
			await precisions.eraseUser(userId);
			return shareLinks.endWhere({ userId });
		}
		if (change.deleted) {
			await places.removeGroup(change.groupId);
			await precisions.eraseGroup(change.groupId);
			return shareLinks.endWhere({ groupId: change.groupId });
		}
		if (change.removed.length) {
			const userIds = change.removed.map(member => member.id);
			await precisions.eraseMembers(change.groupId, userIds);
			return shareLinks.endWhere({ groupId: change.groupId, userId: { $in: userIds } });
		}
		return [];
	}

	/** Expired history points (HISTORY_DAYS) and share links ended a day ago, in bounded batches; a failure waits for the next round. */
	async purge(): Promise<void> {
		try {
			const purged = await this.deps.history.purge(this.deps.now());
			if (purged) this.deps.logger.info(`Purged ${purged} expired history points`);
			await this.deps.shareLinks.purgeExpired(new Date(this.deps.now() - ENDED_LINKS_KEPT_MS));
		} catch (err) {
			this.deps.logger.warn("Purging expired history failed (tried again later):", (err as Error).message);
		}
	}
}
