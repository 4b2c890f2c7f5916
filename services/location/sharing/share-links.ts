import { createHash, randomBytes } from "node:crypto";
import { Schema, type Connection, type Model } from "mongoose";
import { conflict, forbidden, invalidState } from "../../../events/errors.js";
import type { Journey, Point, Session, SessionState, UserRef } from "../../../events/types.js";

/**
 * Share links (API.md §6.5): an expiring, revocable, read-only view of ONE session (its creator's, in
 * one group) for people without an account. The token is 256 random bits shown once; only its SHA-256
 * is stored, so a copy of the database opens no link. A link ends when the first of these comes:
 * `expiresAt`; its deletion; its creator stops sharing in that group, leaves it (or the group or the
 * account goes); and, for `untilArrival`, the end of the journey it was made during. The rule is
 * `shareEndReason`, decided on every read, so nothing needs to be written when a link ends by itself.
 */

/** Durations a link may have, in seconds (API.md §6.5), and the default. */
export const SHARE_DURATION_S = { min: 300, max: 86_400, default: 3_600 } as const;
/** Links one user may have running at once (409 beyond). */
export const MAX_ACTIVE_SHARE_LINKS = 20;

/** 32 random bytes, base64url: 43 characters, 256 bits (≥ 128 asked by API.md §6.5). */
export const newShareToken = (): string => randomBytes(32).toString("base64url");
export const isShareToken = (text: unknown): text is string => typeof text === "string" && /^[A-Za-z0-9_-]{43}$/.test(text);
/** What is stored of a token (a token of 256 random bits needs no slow hash: see devices/credentials.ts). */
export const shareTokenHash = (token: string): string => createHash("sha256").update(token, "utf8").digest("base64url");
export const newShareLinkId = (): string => randomBytes(12).toString("base64url");

/** The name a link shows: the first name and the surname's initial ("Ada L."), never the email or the id. */
export function sharedName(person: Pick<UserRef, "name" | "surname">): string {
	const initial = [...person.surname.trim()][0];
	return initial ? `${person.name} ${initial.toUpperCase()}.` : person.name;
}

export interface ShareLinkDoc {
	_id: string;
	tokenHash: string;
	userId: string;
	groupId: string;
	/** The creator's name as the link shows it, taken when the link was made. */
	name: string;
	createdAt: Date;
	expiresAt: Date;
	untilArrival: boolean;
	/** untilArrival: the journey (its `startedAt`) the link follows; the link ends with it. */
	journeyStartedAt: string | null;
}

export function shareLinkModel(connection: Connection): Model<ShareLinkDoc> {
	return connection.model<ShareLinkDoc>(
		"ShareLink",
		new Schema<ShareLinkDoc>(
			{
				_id: String,
				tokenHash: { type: String, required: true, unique: true },
				userId: { type: String, required: true, index: true },
				groupId: { type: String, required: true },
				name: String,
				createdAt: Date,
				expiresAt: { type: Date, index: true },
				untilArrival: Boolean,
				journeyStartedAt: { type: String, default: null },
			},
			{ versionKey: false },
		),
	);
}

/** What decides whether a link still shows its session (the gateway holds it for each share socket). */
export interface ShareTerms {
	expiresAt: number;
	untilArrival: boolean;
	journeyStartedAt: string | null;
}

export type ShareEnd = "expired" | "stopped sharing" | "journey ended";

/**
 * Why a link no longer shows the session, or null while it does. (Deletion and the creator leaving the
 * group are decided by whoever holds that fact: a deleted link is not found, membership is checked apart.)
 */
export function shareEndReason(terms: ShareTerms, session: Pick<Session, "journey"> & { sharing?: boolean }, now: number): ShareEnd | null {
	if (now >= terms.expiresAt) return "expired";
	if (session.sharing === false) return "stopped sharing";
	if (terms.untilArrival && session.journey?.startedAt !== terms.journeyStartedAt) return "journey ended";
	return null;
}

export const termsOf = (doc: Pick<ShareLinkDoc, "expiresAt" | "untilArrival" | "journeyStartedAt">): ShareTerms => ({
	expiresAt: doc.expiresAt.getTime(),
	untilArrival: Boolean(doc.untilArrival),
	journeyStartedAt: doc.journeyStartedAt ?? null,
});

/** A link as its creator lists it (`GET /share-links`): never the token (not stored). */
export interface ShareLinkListing {
	id: string;
	groupId: string;
	createdAt: string;
	expiresAt: string;
	untilArrival: boolean;
}

export const toListing = (doc: ShareLinkDoc): ShareLinkListing => ({
	id: doc._id,
	groupId: doc.groupId,
	createdAt: doc.createdAt.toISOString(),
	expiresAt: doc.expiresAt.toISOString(),
	untilArrival: Boolean(doc.untilArrival),
});

/** What `GET /api/shared/:token` answers (API.md §6.5). */
export interface SharedView {
	name: string;
	state: SessionState;
	position: Point | null;
	journey: Journey | null;
	route: Point[];
	expiresAt: string;
	/** The link ends with the journey (extra field): the page can tell an arrival from a deleted link. */
	untilArrival: boolean;
}

/** The view of `link`: its creator's session exactly as members see it (whatever the group's precision: they chose to show this link exactly). */
export function sharedViewOf(link: ShareLinkDoc, session: Pick<Session, "state" | "position" | "journey">, route: Point[]): SharedView {
	const { state, position, journey } = session;
	return { name: link.name, state, position, journey, route, expiresAt: link.expiresAt.toISOString(), untilArrival: Boolean(link.untilArrival) };
}

/** What the gateway needs to hold a share socket (`location.resolveShareLink`). */
export interface ResolvedShareLink extends ShareTerms {
	linkId: string;
	groupId: string;
	userId: string;
}

/**
 * The link's address: the web client's `/s/<token>` page at PUBLIC_URL when the deployer set it
 * (behind a proxy only they know the public address), else at the origin the request came to.
 */
export function shareUrl(publicUrl: string | undefined, requestOrigin: string | undefined, token: string): string {
	return `${(publicUrl ?? requestOrigin ?? "http://localhost:3000").replace(/\/+$/, "")}/s/${token}`;
}

export interface ShareLinkStoreDeps {
	/** Read at each call: the connection opens after the service is created. */
	model: () => Model<ShareLinkDoc>;
	isMemberNow(groupId: string, userId: string): Promise<boolean>;
	/** The session as members read it now. */
	session(groupId: string, userId: string): Promise<Pick<Session, "journey"> & { sharing?: boolean; version?: number }>;
	now: () => number;
}

export interface NewShareLink {
	userId: string;
	groupId: string;
	name: string;
	durationS: number;
	/** The journey (its `startedAt`) an untilArrival link follows; null otherwise. */
	journeyStartedAt: string | null;
}

/**
 * The ShareLink collection, and the only code that talks to it. Whether a link still shows its
 * session is decided on every read (`live`, `listOf`) by `shareEndReason` and the membership, so a
 * link that ends by itself needs no write; deletions are the creator's, or follow a departure.
 */
export class ShareLinks {
	constructor(private readonly deps: ShareLinkStoreDeps) {}

	private get links(): Model<ShareLinkDoc> {
		return this.deps.model();
	}

	/** Links of the user that have not expired (whether or not they still show anything). */
	countRunning(userId: string): Promise<number> {
		return this.links.countDocuments({ userId, expiresAt: { $gt: new Date(this.deps.now()) } }).exec();
	}

	/**
	 * A new link to the creator's `session` in its group, after the rules: 403 unless they share there,
	 * 409 for `untilArrival` without a journey (INVALID_STATE) and beyond MAX_ACTIVE_SHARE_LINKS (CONFLICT).
	 */
	async open(
		session: Pick<Session, "journey"> & { sharing: boolean },
		link: Omit<NewShareLink, "journeyStartedAt"> & { untilArrival: boolean },
	): Promise<{ doc: ShareLinkDoc; token: string }> {
		if (!session.sharing) throw forbidden("Share your location in this group first: a share link shows your session there");
		if (link.untilArrival && !session.journey) throw invalidState("untilArrival needs a journey in progress in this group");
		if ((await this.countRunning(link.userId)) >= MAX_ACTIVE_SHARE_LINKS)
			throw conflict(`At most ${MAX_ACTIVE_SHARE_LINKS} share links at once: delete one first`);
		const { untilArrival, ...fields } = link;
		return this.create({ ...fields, journeyStartedAt: untilArrival ? session.journey!.startedAt : null });
	}

	/** Stores a new link; the token is in the answer only. */
	async create(link: NewShareLink): Promise<{ doc: ShareLinkDoc; token: string }> {
		const now = this.deps.now();
		const token = newShareToken();
		const doc: ShareLinkDoc = {
			_id: newShareLinkId(),
			tokenHash: shareTokenHash(token),
			userId: link.userId,
			groupId: link.groupId,
			name: link.name,
			createdAt: new Date(now),
			// untilArrival: whichever comes first, the end of the journey or this.
			expiresAt: new Date(now + link.durationS * 1000),
			untilArrival: link.journeyStartedAt !== null,
			journeyStartedAt: link.journeyStartedAt,
		};
		await this.links.create(doc);
		return { doc, token };
	}

	/** The user's links that still show something, oldest first. */
	async listOf(userId: string): Promise<ShareLinkListing[]> {
		const docs = await this.running({ userId });
		const shown = await Promise.all(docs.map(doc => this.shows(doc)));
		return docs.filter((_, i) => shown[i]).map(toListing);
	}

	/** Operators: the user's links that have not expired, as stored (no token: none is). */
	async ofUser(userId: string) {
		return (await this.running({ userId })).map(doc => ({ ...toListing(doc), name: doc.name, journeyStartedAt: doc.journeyStartedAt }));
	}

	/** Deletes one of the user's links; false when they have none by that id. */
	async remove(userId: string, id: string): Promise<boolean> {
		return ((await this.links.deleteOne({ _id: id, userId })).deletedCount ?? 0) > 0;
	}

	/** The link of a token while it shows its session; null otherwise (unknown, deleted and ended alike). */
	async live(token: string): Promise<ShareLinkDoc | null> {
		// Not one of ours by its shape: refused without a lookup.
		if (!isShareToken(token)) return null;
		const link = await this.links.findOne({ tokenHash: shareTokenHash(token) }).lean<ShareLinkDoc>();
		return link && (await this.shows(link)) ? link : null;
	}

	/** Deletes the links in `filter` (their creator left, the group or the account went); their ids. */
	async endWhere(filter: { userId?: string | { $in: string[] }; groupId?: string }): Promise<string[]> {
		const ids = (await this.links.find(filter, { _id: 1 }).lean<Pick<ShareLinkDoc, "_id">[]>()).map(link => link._id);
		if (ids.length) await this.links.deleteMany({ _id: { $in: ids } });
		return ids;
	}

	/** Deletes links that expired before `before` (their creators' lists stopped showing them then). */
	async purgeExpired(before: Date): Promise<void> {
		await this.links.deleteMany({ expiresAt: { $lt: before } });
	}

	private running(filter: { userId: string }): Promise<ShareLinkDoc[]> {
		return this.links
			.find({ ...filter, expiresAt: { $gt: new Date(this.deps.now()) } })
			.sort({ createdAt: 1 })
			.lean<ShareLinkDoc[]>()
			.exec();
	}

	private async shows(link: ShareLinkDoc): Promise<boolean> {
		if (link.expiresAt.getTime() <= this.deps.now()) return false;
		if (!(await this.deps.isMemberNow(link.groupId, link.userId))) return false;
		return shareEndReason(termsOf(link), await this.deps.session(link.groupId, link.userId), this.deps.now()) === null;
	}
}
