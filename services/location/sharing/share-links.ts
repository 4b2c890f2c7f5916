import { createHash, randomBytes } from "node:crypto";
import { Schema, type Connection, type Model } from "mongoose";
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
