import { Schema, type Connection, type Model } from "mongoose";
import type { Session } from "../../events/types.js";
import { approximatePoint, seesExact, type Precision } from "./precision.js";
import { sessionId } from "./session.js";

/**
 * Who shares an approximate position where (API.md §6.6), and what each viewer is shown of a session.
 * Only "approximate" choices are stored (exact is the default, and a return to exact deletes the
 * record); every location instance holds them all in memory, loaded at start and kept current by the
 * `location.precisionChanged` broadcast, so a live update decides without a read.
 */

export interface PrecisionDoc {
	/** `${groupId}:${userId}`. */
	_id: string;
	groupId: string;
	userId: string;
	precision: Precision;
}

export function precisionModel(connection: Connection): Model<PrecisionDoc> {
	return connection.model<PrecisionDoc>(
		"Precision",
		new Schema<PrecisionDoc>({ _id: String, groupId: String, userId: { type: String, index: true }, precision: String }, { versionKey: false }),
	);
}

/** Broadcast to every location instance when someone changes their precision in a group. */
export const PRECISION_CHANGED_EVENT = "location.precisionChanged";
export interface PrecisionChanged {
	groupId: string;
	userId: string;
	precision: Precision;
}

export class PrecisionSettings {
	private readonly approximate = new Set<string>();

	of(groupId: string, userId: string): Precision {
		return this.approximate.has(sessionId(groupId, userId)) ? "approximate" : "exact";
	}

	set({ groupId, userId, precision }: PrecisionChanged): void {
		if (precision === "approximate") this.approximate.add(sessionId(groupId, userId));
		else this.approximate.delete(sessionId(groupId, userId));
	}

	/** Everything stored (at start, and after a reconnect may have missed broadcasts). */
	load(docs: Pick<PrecisionDoc, "groupId" | "userId" | "precision">[]): void {
		this.approximate.clear();
		for (const doc of docs) this.set(doc);
	}

	forgetUser(userId: string): void {
		for (const key of this.approximate) if (key.endsWith(`:${userId}`)) this.approximate.delete(key);
	}

	forgetGroup(groupId: string): void {
		for (const key of this.approximate) if (key.startsWith(`${groupId}:`)) this.approximate.delete(key);
	}
}

/**
 * The choices in this service's database and in this instance's memory together, so a change is
 * never written to one and forgotten in the other. Other instances follow through the broadcast
 * (`set`), and everything is read again at start and after a reconnect (`reload`).
 */
export class PrecisionStore {
	constructor(
		/** Read at each call: the connection opens after the service is created. */
		private readonly model: () => Model<PrecisionDoc>,
		private readonly settings = new PrecisionSettings(),
	) {}

	of(groupId: string, userId: string): Precision {
		return this.settings.of(groupId, userId);
	}

	/** A change another instance (or this one) stored. */
	set(change: PrecisionChanged): void {
		this.settings.set(change);
	}

	/** Stores a member's choice (only "approximate" has a record) and applies it here. */
	async save(change: PrecisionChanged): Promise<void> {
		const { groupId, userId, precision } = change;
		const key = { _id: sessionId(groupId, userId) };
		if (precision === "approximate") await this.model().updateOne(key, { $set: { groupId, userId, precision } }, { upsert: true });
		else await this.model().deleteOne(key);
		this.settings.set(change);
	}

	async reload(): Promise<void> {
		this.settings.load(await this.model().find({}).lean<PrecisionDoc[]>());
	}

	/** A deleted account's choices. */
	async eraseUser(userId: string): Promise<void> {
		await this.model().deleteMany({ userId });
		this.settings.forgetUser(userId);
	}

	/** A deleted group's choices. */
	async eraseGroup(groupId: string): Promise<void> {
		await this.model().deleteMany({ groupId });
		this.settings.forgetGroup(groupId);
	}

	/** Members who left a group: back to exact should they ever return. */
	async eraseMembers(groupId: string, userIds: string[]): Promise<void> {
		await this.model().deleteMany({ groupId, userId: { $in: userIds } });
		for (const userId of userIds) this.settings.set({ groupId, userId, precision: "exact" });
	}
}

/** A session as the API shows it, with the `precision` its subject chose there when approximate. */
export type ShownSession = Session & { sharing?: boolean; precision?: Precision };

/**
 * The session `viewerId` is shown: exact for its subject, in an exact group and during an SOS;
 * otherwise the position snapped to its ~1 km cell (precision.ts). `precision: "approximate"` marks
 * the choice either way (absent: exact), so the subject's own client can show it.
 */
export function sessionFor<S extends ShownSession>(viewerId: string | null, session: S, precision: Precision): S & { precision?: Precision } {
	if (precision === "exact") return session;
	const marked = { ...session, precision };
	// viewerId null: anyone but the subject (a broadcast to the other members).
	const exact = seesExact({ viewerId: viewerId ?? "", subjectId: session.userId, precision, state: session.state });
	if (exact || !session.position) return marked;
	// A place can be 25 m across: naming it would give the position away.
	const place = "place" in session && session.place ? { place: null } : {};
	return { ...marked, ...place, position: approximatePoint(session.position) };
}
