import { Schema, type Connection, type Model } from "mongoose";
import { outboxField } from "../../mixins/outbox-relay.mixin.js";
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
	/**
	 * Ids of the groups this user may belong to: a SUPERSET of the real memberships (an id is added
	 * before the group write that adds the member and removed after the one that removes them), so
	 * readers keep only the groups whose own document lists the user. Read by `_id` instead of
	 * querying groups by `memberIds`, which the Mongo-wire server here cannot answer from an index.
	 */
	groupIds?: string[];
	/** Set once `groupIds` covers every membership (accounts older than the list get it on first use). */
	groupIdsIndexed?: boolean;
	outbox: Envelope[];
}

/**
 * Points an email at the account that holds it, so email lookups read by `_id`. The user document
 * stays the truth (its unique email index arbitrates who holds an email): a claim is believed only
 * when the user it names is active and still has that email, and any other claim is an orphan
 * that the email's next holder takes over.
 */
export interface UserEmailDoc {
	_id: string; // the normalised email
	userId: string;
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
				groupIds: { type: [String], default: undefined },
				groupIdsIndexed: Boolean,
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
	const UserEmail = connection.model<UserEmailDoc>("UserEmail", new Schema<UserEmailDoc>({ _id: String, userId: String }, { versionKey: false }));
	const RevokedToken = connection.model<RevokedTokenDoc>(
		"RevokedToken",
		// FerretDB has no TTL indexes: expired revocations are purged by the service.
		new Schema<RevokedTokenDoc>({ _id: String, userId: String, expiresAt: { type: Date, index: true } }, { versionKey: false }),
	);
	return { User, Group, UserEmail, RevokedToken } as {
		User: Model<UserDoc>;
		Group: Model<GroupDoc>;
		UserEmail: Model<UserEmailDoc>;
		RevokedToken: Model<RevokedTokenDoc>;
	};
}
export type UsersModels = ReturnType<typeof usersModels>;
