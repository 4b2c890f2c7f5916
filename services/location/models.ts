import { Schema, type Connection, type Model } from "mongoose";
import { outboxField } from "../../mixins/outbox-relay.mixin.js";
import type { Envelope } from "../../events/domain.js";
import type { Place, Point } from "../../events/types.js";
import { newSession, type SessionData } from "./session.js";

/**
 * One document per (group, user): the session, its recorded route and its pending events
 * (outbox), so a state change and its notification are written together.
 */
export interface SessionDoc extends SessionData {
	/** `${groupId}:${userId}`: one session per user and group, enforced by the primary key. */
	_id: string;
	route: Point[];
	/** The user left the group: a blank tombstone kept until its outbox is published, then purged. */
	removed: boolean;
	outbox: Envelope[];
}

/**
 * A group's place (API.md §6.4), in the `places` collection. `version` counts its geometry (1 when
 * created, +1 on each move or resize): a session whose inside-set was decided against another
 * version decides that place afresh, silently (places/session-places.ts).
 */
export interface PlaceDoc extends Omit<Place, "id" | "createdAt"> {
	_id: string;
	createdAt: Date;
	version: number;
}

/** A session read without its bulky parts (route and outbox), as commands and checks read it. */
export type SessionRow = Omit<SessionDoc, "route" | "outbox">;

export function locationModels(connection: Connection) {
	const Session = connection.model<SessionDoc>(
		"Session",
		new Schema<SessionDoc>(
			{
				_id: String,
				groupId: { type: String, index: true },
				userId: { type: String, index: true },
				state: String,
				sharing: Boolean,
				blocked: { type: Boolean, default: false },
				// Mixed: stored exactly as the domain builds them (no casting, no empty sub-documents).
				position: { type: Schema.Types.Mixed, default: null },
				lastSeenAt: { type: Number, default: null },
				journey: { type: Schema.Types.Mixed, default: null },
				anchor: { type: Schema.Types.Mixed, default: null },
				sos: { type: Schema.Types.Mixed, default: null },
				route: { type: Schema.Types.Mixed, default: () => [] },
				routeLength: { type: Number, default: 0 },
				geofence: { type: Schema.Types.Mixed, default: null },
				place: { type: Schema.Types.Mixed, default: null },
				// The periodic check finds due sessions by this field.
				nextCheckAt: { type: Number, default: null, index: true },
				updatedAt: String,
				version: Number,
				removed: { type: Boolean, default: false },
				...outboxField,
			},
			{ versionKey: false },
		),
	);
	const Place = connection.model<PlaceDoc>(
		"Place",
		new Schema<PlaceDoc>(
			{
				_id: String,
				// Every read is "the places of one group" (a sample's detection, the list, a member's phones).
				groupId: { type: String, index: true },
				name: String,
				latitude: Number,
				longitude: Number,
				radius: Number,
				createdBy: String,
				createdAt: Date,
				version: Number,
			},
			{ versionKey: false },
		),
	);
	return { Session, Place } as { Session: Model<SessionDoc>; Place: Model<PlaceDoc> };
}
export type LocationModels = ReturnType<typeof locationModels>;

/** The fields of the domain session, from a stored document (a tombstone reads as a blank session). */
export function toSessionData(doc: SessionRow): SessionData {
	if (doc.removed) return blank(doc);
	return {
		groupId: doc.groupId,
		userId: doc.userId,
		state: doc.state,
		sharing: Boolean(doc.sharing),
		blocked: Boolean(doc.blocked),
		position: doc.position ?? null,
		lastSeenAt: doc.lastSeenAt ?? null,
		journey: doc.journey ?? null,
		anchor: doc.anchor ?? null,
		sos: doc.sos ?? null,
		routeLength: doc.routeLength ?? 0,
		geofence: doc.geofence ?? null,
		place: doc.place ?? null,
		nextCheckAt: doc.nextCheckAt ?? null,
		updatedAt: doc.updatedAt,
		version: doc.version,
	};
}

function blank(doc: SessionRow): SessionData {
	return newSession(doc.groupId, doc.userId, doc.version);
}

/** The stored fields of a session (everything but its identity, route and outbox). */
export function sessionFields(session: SessionData) {
	const { groupId: _g, userId: _u, version: _v, ...fields } = session;
	return fields;
}
