import { Schema, type Connection, type Model } from "mongoose";
import { outboxField } from "../../mixins/outbox-relay.mixin.js";
import type { Envelope } from "../../events/domain.js";
import type { InvitationState } from "./invitations.js";

export interface UserDoc {
	_id: string;
	name: string;
	surname: string;
	email: string;
	/** A phone number the user chose to give their groups (E.164, e.g. "+393331234567"); absent: none. */
	phone?: string | null;
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
	/** Inviters this user declined with `block: true`: their later invitations are never shown (API.md §6.1). */
	blockedInviters?: string[];
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
	/** Grows with every invitation sent: invitations to one group are decided one at a time (invitation-store.ts). */
	invitesRev?: number;
	outbox: Envelope[];
}

/**
 * An invitation by email (API.md §6.1): the state its rules decide on (invitations.ts), under `_id`.
 * The addressee is an email, not an account: the inviter's answer never depends on whether one holds
 * it. The account is looked up after that answer (`deliveryDue`), and told through the outbox;
 * answered and revoked invitations are deleted.
 */
export interface InvitationDoc extends Omit<InvitationState, "id"> {
	_id: string;
	/** The addressee is still to be looked up and told (INVITED); cleared in the same write that queues the notification. */
	deliveryDue: boolean;
	/** The account it was delivered to, once looked up. */
	inviteeId?: string | null;
	outbox: Envelope[];
}

/** An invite link, stored under the hash of its code: the code itself is never stored. */
export interface InviteLinkDoc {
	_id: string; // inviteCodeHash(code)
	/** The id members use to list and revoke it. */
	linkId: string;
	groupId: string;
	createdBy: string;
	createdAt: Date;
	expiresAt: Date;
	maxUses: number;
	uses: number;
	/** maxUses - uses, kept so a join takes a use with one conditional update (no field-to-field comparison needed). */
	usesLeft: number;
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
				phone: { type: String, default: undefined },
				passwordHash: String,
				tokensValidAfter: { type: Number, default: 0 },
				createdAt: Date,
				deletedAt: { type: Date, default: null },
				groupIds: { type: [String], default: undefined },
				groupIdsIndexed: Boolean,
				blockedInviters: { type: [String], default: undefined },
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
				invitesRev: Number,
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
	const invitationSchema = new Schema<InvitationDoc>(
		{
			_id: String,
			groupId: { type: String, index: true },
			email: String,
			invitedBy: String,
			createdAt: Date,
			expiresAt: Date,
			suppressed: { type: Boolean, default: false },
			deliveryDue: { type: Boolean, default: false, index: true },
			inviteeId: { type: String, default: null },
			...outboxField,
		},
		{ versionKey: false },
	);
	// The addressee's list: their email's invitations not yet expired.
	invitationSchema.index({ email: 1, expiresAt: 1 });
	const Invitation = connection.model<InvitationDoc>("Invitation", invitationSchema);
	const InviteLink = connection.model<InviteLinkDoc>(
		"InviteLink",
		new Schema<InviteLinkDoc>(
			{
				_id: String,
				linkId: { type: String, unique: true },
				groupId: { type: String, index: true },
				createdBy: String,
				createdAt: Date,
				expiresAt: Date,
				maxUses: Number,
				uses: Number,
				usesLeft: Number,
			},
			{ versionKey: false },
		),
	);
	return { User, Group, UserEmail, RevokedToken, Invitation, InviteLink } as {
		User: Model<UserDoc>;
		Group: Model<GroupDoc>;
		UserEmail: Model<UserEmailDoc>;
		RevokedToken: Model<RevokedTokenDoc>;
		Invitation: Model<InvitationDoc>;
		InviteLink: Model<InviteLinkDoc>;
	};
}
export type UsersModels = ReturnType<typeof usersModels>;
