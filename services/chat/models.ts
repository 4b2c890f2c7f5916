import { Schema, type Connection, type Model, type mongo } from "mongoose";
import type { MessageKind } from "../../events/types.js";

/** One chat message, a member's or a system line ("Ada Lovelace joined the group"). */
export interface MessageDoc {
	_id: string;
	groupId: string;
	/** The sender, or for system messages the member the line is about. */
	userId: string;
	text: string;
	kind: MessageKind;
	createdAt: Date;
	/** createdAt, a per-instance sequence and the id: a total order, stable within one millisecond. */
	sortKey: string;
	clientMessageId?: string;
}

/**
 * One socket a gateway reported. A disconnect marks the record closed instead of deleting it, so
 * a disconnect that overtakes its connect (they are separate calls) cannot leave a ghost socket.
 */
export interface SocketDoc {
	/** `<gatewayNodeID>/<socketId>` */
	_id: string;
	userId: string;
	gatewayNodeID: string;
	/** The gateway process's broker instanceID when known: a restarted gateway keeps its nodeID but not this. */
	gatewayInstanceID?: string;
	connectedAt: Date;
	closed: boolean;
	closedAt?: Date;
}

/** Whether a user was last announced online, and when that last changed. */
export interface PresenceDoc {
	_id: string; // userId
	online: boolean;
	lastSeenAt: Date;
	/** How many times the flag flipped: orders announcements that race each other (see LivePresence). */
	version?: number;
}

/** A deleted group: messages written concurrently with the deletion are removed after the fact. */
export interface DeletedGroupDoc {
	_id: string; // groupId
	at: Date;
}

/** Named as mongoose would name it from the model, but stated, for the driver-level access below. */
const SOCKETS_COLLECTION = "sockets";

export function chatModels(connection: Connection) {
	const Message = connection.model<MessageDoc>(
		"Message",
		new Schema<MessageDoc>(
			{
				_id: String,
				groupId: { type: String, required: true },
				userId: String,
				text: String,
				kind: String,
				createdAt: Date,
				sortKey: String,
				clientMessageId: String,
			},
			{ versionKey: false },
		).index({ groupId: 1, sortKey: -1 }),
	);
	const Socket = connection.model<SocketDoc>(
		"Socket",
		new Schema<SocketDoc>(
			{
				_id: String,
				userId: { type: String, index: true },
				gatewayNodeID: { type: String, index: true },
				gatewayInstanceID: String,
				connectedAt: Date,
				closed: { type: Boolean, default: false },
				closedAt: Date,
			},
			{ versionKey: false, collection: SOCKETS_COLLECTION },
		),
	);
	const Presence = connection.model<PresenceDoc>(
		"Presence",
		new Schema<PresenceDoc>({ _id: String, online: Boolean, lastSeenAt: Date, version: Number }, { versionKey: false }),
	);
	const DeletedGroup = connection.model<DeletedGroupDoc>("DeletedGroup", new Schema<DeletedGroupDoc>({ _id: String, at: Date }, { versionKey: false }));
	return { Message, Socket, Presence, DeletedGroup } as {
		Message: Model<MessageDoc>;
		Socket: Model<SocketDoc>;
		Presence: Model<PresenceDoc>;
		DeletedGroup: Model<DeletedGroupDoc>;
	};
}
export type ChatModels = ReturnType<typeof chatModels>;

/** The sockets' collection through the driver (no mongoose casting), for inserting reports in bulk. */
export function socketsCollection(connection: Connection): mongo.Collection<SocketDoc> {
	if (!connection.db) throw new Error("The chat database is not connected");
	return connection.db.collection<SocketDoc>(SOCKETS_COLLECTION);
}
