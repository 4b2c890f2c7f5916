import { Schema, type Connection, type Model } from "mongoose";
import { outboxField } from "../../mixins/durable-events.mixin.js";
import type { Envelope } from "../../events/domain.js";

export interface UserDoc {
	_id: string;
	name: string;
	surname: string;
	email: string;
	passwordHash: string;
	/** Tokens issued (in ms) before this instant are revoked: password change, deletion, operator. */
	tokensValidAfter: number;
	createdAt: Date;
	deletedAt?: Date | null;
	outbox: Envelope[];
}

export interface GroupDoc {
	_id: string;
	name: string;
	createdBy: string;
	createdAt: Date;
	memberIds: string[];
	version: number;
	/** Deleted groups stay as tombstones until their events are published. */
	deleted: boolean;
	outbox: Envelope[];
}

export interface RevokedTokenDoc {
	_id: string; // jti
	userId: string;
	expiresAt: Date;
}

export function usersModels(connection: Connection) {
	const User = connection.model<UserDoc>(
		"User",
		new Schema<UserDoc>(
			{
				_id: String,
				name: String,
				surname: String,
				email: { type: String, unique: true },
				passwordHash: String,
				tokensValidAfter: { type: Number, default: 0 },
				createdAt: Date,
				deletedAt: { type: Date, default: null },
				...outboxField,
			},
			{ versionKey: false },
		),
	);
	const Group = connection.model<GroupDoc>(
		"Group",
		new Schema<GroupDoc>(
			{
				_id: String,
				name: String,
				createdBy: String,
				createdAt: Date,
				memberIds: { type: [String], index: true },
				version: Number,
				deleted: { type: Boolean, default: false },
				...outboxField,
			},
			{ versionKey: false },
		),
	);
	const RevokedToken = connection.model<RevokedTokenDoc>(
		"RevokedToken",
		// FerretDB has no TTL indexes: expired revocations are purged by the service.
		new Schema<RevokedTokenDoc>({ _id: String, userId: String, expiresAt: { type: Date, index: true } }, { versionKey: false }),
	);
	return { User, Group, RevokedToken } as { User: Model<UserDoc>; Group: Model<GroupDoc>; RevokedToken: Model<RevokedTokenDoc> };
}
export type UsersModels = ReturnType<typeof usersModels>;
