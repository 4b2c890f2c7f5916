/**
 * Keeps a user's presence flips in order on the sockets. Two chat instances can flip one user at
 * the same moment (a socket closing on one gateway, another opening on a second) and their
 * broadcasts may reach a gateway in either order; forwarding the older one last would show the
 * user in the state they just left. Each flip carries the user's flip count, and only a count
 * above the last one forwarded goes through.
 */
export class PresenceOrder {
	/** userId → last forwarded count and when; oldest first (an update moves its entry to the end). */
	private readonly forwarded = new Map<string, { version: number; at: number }>();

	/** Races last milliseconds; a user's count is forgotten after `rememberMs` without a flip. */
	constructor(private readonly rememberMs = 60_000) {}

	/** Whether a flip with this count is the newest seen for the user (and so is to be forwarded). */
	isNewest(userId: string, version: number | undefined, now = Date.now()): boolean {
		this.forget(now);
		if (version === undefined) return true;
		const last = this.forwarded.get(userId);
		if (last && version <= last.version) return false;
		this.forwarded.delete(userId);
		this.forwarded.set(userId, { version, at: now });
		return true;
	}

	private forget(now: number): void {
		for (const [userId, { at }] of this.forwarded) {
			if (now - at < this.rememberMs) return;
			this.forwarded.delete(userId);
		}
	}
}
