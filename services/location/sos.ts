import { invalidState } from "../../events/errors.js";
import type { Point, User } from "../../events/types.js";
import { toSessionData } from "./models.js";
import type { SessionData, Thresholds } from "./session.js";
import type { SessionRepository } from "./session-repository.js";
import type { Origin, SessionStore } from "./session-store.js";
import { promoteSosLead } from "./state-machine.js";

/**
 * An SOS spans every group of the user: one session per group turns SOS, and ONE of them — the
 * lead — carries the notification to everyone sharing a group with the user, and later the one
 * "went offline" alert. The lead is written first (it matters most); when the lead's group goes
 * away during an SOS, another session of the SOS becomes the lead.
 */
export class Sos {
	constructor(
		private readonly store: SessionStore,
		private readonly repository: SessionRepository,
		private readonly thresholds: Thresholds,
	) {}

	/** Raises the SOS in these groups (sorted); the sessions now in SOS. Throws INVALID_STATE when it already is on everywhere. */
	async raise(groupIds: string[], caller: User, point: Point, origin: Origin): Promise<SessionData[]> {
		const current = await Promise.all(groupIds.map(groupId => this.store.get(groupId, caller.id)));
		const pending = current.filter(session => session.state !== "SOS");
		if (!pending.length) throw invalidState("An SOS is already on");
		const hasLead = current.some(session => session.state === "SOS" && session.sos?.lead);
		const [first, ...rest] = pending;
		const options = { origin, caller };
		const lead = await this.store.tryApply(first.groupId, caller.id, { type: "sosRaised", point, lead: !hasLead }, options);
		const others = await Promise.all(rest.map(s => this.store.tryApply(s.groupId, caller.id, { type: "sosRaised", point, lead: false }, options)));
		const raised = [lead, ...others].filter((session): session is SessionData => session !== null);
		if (!raised.length) throw invalidState("An SOS is already on");
		const already = current.filter(session => session.state === "SOS" && !raised.some(r => r.groupId === session.groupId));
		return [...raised, ...already];
	}

	/** Ends the user's SOS everywhere; the lead's session announces it, once. Throws INVALID_STATE when there is none. */
	async stop(caller: User, origin: Origin): Promise<SessionData[]> {
		const rows = await this.repository.findSos(caller.id);
		if (!rows.length) throw invalidState("There is no SOS to stop");
		const sessions = rows.map(toSessionData).sort((a, b) => Number(Boolean(b.sos?.lead)) - Number(Boolean(a.sos?.lead)) || a.groupId.localeCompare(b.groupId));
		const [first, ...rest] = sessions;
		const options = { origin, caller };
		const announced = await this.store.tryApply(first.groupId, caller.id, { type: "sosStopped", announce: true }, options);
		const others = await Promise.all(rest.map(s => this.store.tryApply(s.groupId, caller.id, { type: "sosStopped", announce: false }, options)));
		const stopped = [announced, ...others].filter((session): session is SessionData => session !== null);
		if (!stopped.length) throw invalidState("There is no SOS to stop");
		return stopped;
	}

	/** The user's SOS keeps a lead session (the one announcing it going offline) after the lead's group is gone. */
	async ensureLead(userId: string): Promise<void> {
		const rows = await this.repository.findSos(userId);
		if (!rows.length || rows.some(row => row.sos?.lead)) return;
		await this.repository.setSosLead(rows[0], promoteSosLead(toSessionData(rows[0]), this.thresholds));
	}
}

/**
 * The groups an SOS alerts: the caller's groups as the users service lists them (`listed`, sorted), those
 * this service's projection knows, and the others once `admit` taught it about them (names for the texts).
 */
export async function sosGroupsOf(listed: readonly string[], known: ReadonlySet<string>, admit: (groupId: string) => Promise<boolean>): Promise<string[]> {
	const groupIds: string[] = [];
	for (const groupId of listed) if (known.has(groupId) || (await admit(groupId))) groupIds.push(groupId);
	return groupIds;
}
