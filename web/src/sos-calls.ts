import type { Notification } from "./types.js";

/**
 * The SOS calls still open in a newest-first notification list: per person, the newest of their SOS
 * and SOS_ENDED decides. A page opened (or reloaded) during someone's SOS shows its banner at once.
 */
export function openSosCalls(newestFirst: readonly Notification[], meId: string): Notification[] {
	const decided = new Set<string>();
	const open: Notification[] = [];
	for (const n of newestFirst) {
		const who = n.subjectUserId;
		if ((n.kind !== "SOS" && n.kind !== "SOS_ENDED") || !who || who === meId || decided.has(who)) continue;
		decided.add(who);
		if (n.kind === "SOS") open.push(n);
	}
	return open;
}
