import type { Model } from "mongoose";
import type { Envelope } from "../../events/domain.js";
import type { Point } from "../../events/types.js";
import { isDuplicateKey } from "../../lib/mongo-errors.js";
import { sessionFields, type SessionDoc, type SessionRow } from "./models.js";
import { BLANK_SESSION_STATE, sessionId, type SessionData } from "./session.js";

/**
 * The Session collection, and the only code that talks to it. Every write of a session is
 * conditional on the version it replaces (an insert for a session never stored) and carries the
 * notifications announcing it (its outbox) in the same statement, so the two cannot drift apart.
 */

/** One write of a session: its new state, its route and its notifications, in ONE statement. */
export interface SessionWrite {
	/** The session as stored after the write (`version` is `expectedVersion + 1`). */
	session: SessionData;
	/** The stored version this write replaces; 0: the session was never stored (an insert). */
	expectedVersion: number;
	/** The route replaced whole (a reset, a thinned route), or points appended to it. */
	route?: { set: Point[] } | { push: Point[] };
	/** Envelopes to publish, appended to the outbox. */
	outbox: Envelope[];
}

/** Whose sessions a membership change turns into tombstones. */
export type TombstoneScope = { userId: string } | { groupId: string; userIds?: string[] };

/** What `memberRoute` reads: the recorded route and what decides whether it is shown. */
export type RouteRow = Pick<SessionDoc, "state" | "route" | "removed" | "version">;

export interface SessionRepository {
	/** False until the database is connected (timers may tick before). */
	readonly ready: boolean;
	find(groupId: string, userId: string): Promise<SessionRow | null>;
	/** The live (not removed) sessions of these users. */
	findOfUsers(userIds: string[]): Promise<SessionRow[]>;
	findInGroup(groupId: string): Promise<SessionRow[]>;
	/** A user's live SOS sessions, by group id. */
	findSos(userId: string): Promise<SessionRow[]>;
	/** Sessions whose `nextCheckAt` has come, soonest first. */
	findDue(now: number, limit: number): Promise<SessionRow[]>;
	countDue(now: number): Promise<number>;
	route(groupId: string, userId: string): Promise<RouteRow | null>;
	/** True when written; false when the stored version moved on (or another insert won). */
	write(write: SessionWrite): Promise<boolean>;
	/** Makes `row` the SOS lead, conditionally on its version. */
	setSosLead(row: SessionRow, promoted: SessionData): Promise<boolean>;
	/** Blanks the live sessions in scope (outboxes kept for the relay); the users affected. */
	tombstone(scope: TombstoneScope): Promise<string[]>;
	/** Deletes tombstones whose outbox has been published. */
	purgeTombstones(): Promise<void>;
}

/** What a removed member's session becomes until its pending notifications are published. */
const TOMBSTONE = { ...BLANK_SESSION_STATE, removed: true, route: [] };
const notRemoved = { removed: { $ne: true } };
/** Commands and checks never read the route or the outbox. */
const withoutBulk = { route: 0, outbox: 0 };

/** The document a first write inserts. */
export function insertOf(write: SessionWrite): SessionDoc {
	const { session, route, outbox } = write;
	const points = route ? ("set" in route ? route.set : route.push) : [];
	return { _id: sessionId(session.groupId, session.userId), ...session, route: points, removed: false, outbox };
}

/** The conditional update of a later write: `$set` the fields, `$inc` the version, `$push` route points and outbox. */
export function updateOf(write: SessionWrite) {
	const { session, expectedVersion, route, outbox } = write;
	const push: Record<string, { $each: unknown[] }> = {};
	if (outbox.length) push.outbox = { $each: outbox };
	if (route && "push" in route) push.route = { $each: route.push };
	return {
		filter: { _id: sessionId(session.groupId, session.userId), version: expectedVersion },
		update: {
			$set: { ...sessionFields(session), removed: false, ...(route && "set" in route ? { route: route.set } : {}) },
			$inc: { version: 1 },
			...(Object.keys(push).length ? { $push: push } : {}),
		},
	};
}

function scopeFilter(scope: TombstoneScope): Record<string, unknown> {
	if ("userId" in scope) return { userId: scope.userId };
	return scope.userIds ? { groupId: scope.groupId, userId: { $in: scope.userIds } } : { groupId: scope.groupId };
}

export class MongoSessionRepository implements SessionRepository {
	/** `model` is read at each call: the connection opens after the service is created. */
	constructor(private readonly model: () => Model<SessionDoc> | undefined) {}

	get ready(): boolean {
		return this.model() !== undefined;
	}

	private get sessions(): Model<SessionDoc> {
		const model = this.model();
		if (!model) throw new Error("The location database is not connected");
		return model;
	}

	find(groupId: string, userId: string) {
		return this.sessions.findById(sessionId(groupId, userId), withoutBulk).lean<SessionRow>().exec();
	}

	findOfUsers(userIds: string[]) {
		return this.sessions
			.find({ userId: { $in: userIds }, ...notRemoved }, withoutBulk)
			.lean<SessionRow[]>()
			.exec();
	}

	findInGroup(groupId: string) {
		return this.sessions
			.find({ groupId, ...notRemoved }, withoutBulk)
			.lean<SessionRow[]>()
			.exec();
	}

	findSos(userId: string) {
		return this.sessions
			.find({ userId, state: "SOS", ...notRemoved }, withoutBulk)
			.sort({ groupId: 1 })
			.lean<SessionRow[]>()
			.exec();
	}

	findDue(now: number, limit: number) {
		return this.sessions
			.find({ nextCheckAt: { $lte: now } }, withoutBulk)
			.sort({ nextCheckAt: 1 })
			.limit(limit)
			.lean<SessionRow[]>()
			.exec();
	}

	countDue(now: number) {
		return this.sessions.countDocuments({ nextCheckAt: { $lte: now } }).exec();
	}

	route(groupId: string, userId: string) {
		return this.sessions.findById(sessionId(groupId, userId), { state: 1, route: 1, removed: 1, version: 1 }).lean<RouteRow>().exec();
	}

	async write(write: SessionWrite): Promise<boolean> {
		if (write.expectedVersion === 0) {
			try {
				await this.sessions.create(insertOf(write));
				return true;
			} catch (err) {
				if (isDuplicateKey(err)) return false;
				throw err;
			}
		}
		const { filter, update } = updateOf(write);
		return (await this.sessions.updateOne(filter, update)).matchedCount === 1;
	}

	async setSosLead(row: SessionRow, promoted: SessionData): Promise<boolean> {
		const result = await this.sessions.updateOne(
			{ _id: row._id, version: row.version },
			{ $set: { sos: promoted.sos, nextCheckAt: promoted.nextCheckAt }, $inc: { version: 1 } },
		);
		return result.matchedCount === 1;
	}

	async tombstone(scope: TombstoneScope): Promise<string[]> {
		const filter = { ...scopeFilter(scope), ...notRemoved };
		const affected = await this.sessions.find(filter, { userId: 1 }).lean<Pick<SessionRow, "userId">[]>();
		if (!affected.length) return [];
		await this.sessions.updateMany(filter, { $set: TOMBSTONE, $inc: { version: 1 } });
		return [...new Set(affected.map(doc => doc.userId))];
	}

	async purgeTombstones(): Promise<void> {
		await this.sessions.deleteMany({ removed: true, "outbox.0": { $exists: false } });
	}
}
