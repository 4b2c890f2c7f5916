import type { LiveGroup } from "../../events/live.js";
import type { Point, UserRef } from "../../events/types.js";
import { TtlCache } from "../../lib/ttl-cache.js";
import { positionFor, type Precision } from "./precision.js";
import type { SessionData } from "./session.js";

/**
 * Who a user may see on a phone's map now (the people of an OwnTracks answer, API.md §6.2), and where.
 *
 * "May see now" is chosen here as: every member of a group the user is in whose session in that group
 * is not INACTIVE — sharing (ACTIVE), on a journey (ROUTING, WARNING) or in an SOS — at the position of
 * that session; and the user, always, at their own newest position. Members read a stopped or silent
 * sharer's last position on the web too (SPEC §5 keeps it), but a phone's map shows live friends: a
 * marker that stays put after someone stopped sharing would read as "they are still there". A person
 * in several groups with the user appears once, at the newest of the positions they share with them.
 * Approximate sharing (API.md §6.6) is applied before: the sessions handed in are as the viewer is shown them.
 */

export interface VisiblePerson {
	userId: string;
	name: string;
	surname: string;
	position: Point;
}

export interface GroupView {
	members: readonly UserRef[];
	/** The members' sessions in that group (missing: never seen). */
	sessions: readonly SessionData[];
}

/** The sessions with the position `viewerId` is shown of each (approximate sharing applies on a phone's map as on the web). */
export function shownPositions(viewerId: string, sessions: readonly SessionData[], precisionOf: (userId: string) => Precision): SessionData[] {
	return sessions.map(session => {
		const view = { viewerId, subjectId: session.userId, precision: precisionOf(session.userId), state: session.state };
		return view.precision === "exact" ? session : { ...session, position: positionFor(view, session.position) };
	});
}

const newer = (a: Point, b: Point) => Date.parse(a.timestamp) > Date.parse(b.timestamp);

export function visiblePeople(viewerId: string, groups: readonly GroupView[]): VisiblePerson[] {
	const people = new Map<string, VisiblePerson>();
	for (const { members, sessions } of groups) {
		const names = new Map(members.map(member => [member.id, member]));
		for (const session of sessions) {
			const member = names.get(session.userId);
			if (!member || !session.position) continue;
			if (session.userId !== viewerId && session.state === "INACTIVE") continue;
			const known = people.get(session.userId);
			if (known && !newer(session.position, known.position)) continue;
			people.set(session.userId, { userId: session.userId, name: member.name, surname: member.surname, position: session.position });
		}
	}
	return [...people.values()];
}

/**
 * The ids of a user's groups, asked of the users service and kept `ttlMs`: a phone reporting every few
 * seconds should not cost the users service a read each time. A membership broadcast about the user
 * (joined, left, removed) or a deleted group forgets what it changes; callers still check each group
 * against the membership as this service knows it now, so a departure hides a group at once.
 */
export class GroupLists {
	private readonly lists: TtlCache<string, string[]>;

	constructor(
		private readonly load: (userId: string) => Promise<string[]>,
		ttlMs = 30_000,
		maxEntries = 50_000,
	) {
		this.lists = new TtlCache(ttlMs, maxEntries);
	}

	async of(userId: string): Promise<string[]> {
		const cached = this.lists.get(userId);
		if (cached) return cached;
		const generation = this.lists.generation;
		const loaded = await this.load(userId);
		this.lists.setIfUnchanged(userId, loaded, generation);
		return loaded;
	}

	broadcast({ change, userId }: LiveGroup): void {
		if (change === "deleted") this.lists.clear();
		else if (userId && change !== "renamed") this.lists.delete(userId);
	}

	clear(): void {
		this.lists.clear();
	}
}
