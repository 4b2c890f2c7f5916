import { conflict } from "../../events/errors.js";
import { isDuplicateKey } from "../../lib/mongo-errors.js";
import type { UserDoc, UsersModels } from "./models.js";

/**
 * Email lookups by `_id`: one `UserEmail` claim `{_id: email, userId}` per email in use.
 *
 * There are no transactions, so the claims are an index that may be briefly wrong, never the
 * truth: the user document is (its unique email index decides who holds an email). Hence:
 * - a lookup believes a claim only when the user it names is active and still has that email;
 * - a claim is pointed at a user only AFTER the user document holds the email, and is taken from
 *   another user only conditionally and only when that user does not hold the email (an orphan:
 *   a crash between the two writes, a deleted account, an email changed away);
 * - a user holding an email without a claim (a crash right after the user write, or an account
 *   older than the claims) is found by the start-up backfill or, on a register that collides with
 *   it, by a one-off query: never on an ordinary lookup, so an unknown email costs two reads by id.
 */

type ClaimModels = Pick<UsersModels, "User" | "UserEmail">;

const MAX_CLAIM_RETRIES = 8;

/** Whether `user` holds `email` right now. */
export const holdsEmail = (user: Pick<UserDoc, "email" | "deletedAt"> | null | undefined, email: string): user is UserDoc =>
	Boolean(user && !user.deletedAt && user.email === email);

/** The active account that holds `email`, read by `_id` only. */
export async function findActiveByEmail(models: ClaimModels, email: string): Promise<UserDoc | null> {
	const claim = await models.UserEmail.findById(email).lean();
	if (!claim) return null;
	const user = await models.User.findById(claim.userId).lean();
	return holdsEmail(user, email) ? user : null;
}

/**
 * Points the claim of `email` at `userId`, whose user document already holds that email.
 * A claim naming another user who holds the email is left alone: then `userId` has given the
 * email up since (this writer is stale), as the unique index lets only one user hold it.
 */
export async function pointClaimAt(models: ClaimModels, email: string, userId: string): Promise<void> {
	for (let attempt = 0; attempt < MAX_CLAIM_RETRIES; attempt++) {
		const claim = await models.UserEmail.findById(email).lean();
		if (claim?.userId === userId) return;
		if (!claim) {
			try {
				await models.UserEmail.create({ _id: email, userId });
				return;
			} catch (err) {
				if (isDuplicateKey(err)) continue; // someone claimed it meanwhile: look again
				throw err;
			}
		}
		const owner = await models.User.findById(claim.userId).lean();
		if (holdsEmail(owner, email)) return;
		// An orphan: taken over only if it still names the same user (nobody took it meanwhile).
		const taken = await models.UserEmail.updateOne({ _id: email, userId: claim.userId }, { $set: { userId } });
		if (taken.matchedCount === 1) return;
	}
	throw conflict("The account is changing too fast, try again");
}

/**
 * Frees the claim of an email `userId` no longer holds (email changed, account deleted). Only
 * that user's claim: a new holder's is never removed. Best left undone than wrong: an orphan
 * claim blocks nobody, since its user does not hold the email.
 */
export async function releaseClaim(models: ClaimModels, email: string, userId: string): Promise<void> {
	const claim = await models.UserEmail.findById(email).lean();
	if (claim?.userId !== userId) return;
	await models.UserEmail.deleteOne({ _id: email, userId });
}

/**
 * After a write collided with the unique email index, makes sure the holder can be found by its
 * claim. The one query by email of this module: only reached when the claim did not name the
 * holder (a crash between a user write and its claim, or an account older than the claims).
 */
export async function repairClaim(models: ClaimModels, email: string): Promise<void> {
	if (await findActiveByEmail(models, email)) return;
	const holder = await models.User.findOne({ email, deletedAt: null }, { _id: 1 }).lean();
	if (holder) await pointClaimAt(models, email, holder._id);
}

/**
 * Claims every active account's email that no claim names yet (accounts older than the claims,
 * crashes between a user write and its claim). One pass over both collections at start, then
 * reads by `_id` for the few that need it; idempotent and safe beside running instances.
 */
export async function backfillClaims(models: ClaimModels): Promise<number> {
	const claims = new Map<string, string>();
	for (const claim of await models.UserEmail.find({}).lean()) claims.set(claim._id, claim.userId);
	let fixed = 0;
	const users = await models.User.find({ deletedAt: null }, { _id: 1, email: 1 }).lean();
	for (const user of users) {
		if (typeof user.email !== "string" || claims.get(user.email) === user._id) continue;
		await pointClaimAt(models, user.email, user._id);
		fixed++;
	}
	return fixed;
}

/** The one answer to an email another account holds (register and profile update alike). */
export const emailTaken = () => conflict("An account with this email already exists");

/** Refuses an email that another active account holds, before any costly work for a doomed write. */
export async function assertEmailFree(models: ClaimModels, email: string): Promise<void> {
	if (await findActiveByEmail(models, email)) throw emailTaken();
}

/** A user write that gives `userId` the email `email`; `previous` is the one it gives up (if any). */
export interface EmailChange {
	userId: string;
	email: string;
	previous?: string;
}

/**
 * Runs a user write that may take an email, then moves the claim along: the unique email index
 * decides between concurrent writers, and a write that loses is refused with `emailTaken` after
 * making sure the holder can be found (its claim may be missing). Without `change`, a write that
 * changes no email. The claim follows the user document only after the write (header above); a
 * crash in between leaves an orphan old claim (harmless) and the new email unclaimed until the
 * start-up backfill, or until the same email is sent again.
 */
export async function writeClaimingEmail<T>(
	models: ClaimModels,
	change: EmailChange | undefined,
	write: () => Promise<T>,
	warn: (message: string, detail: string) => void,
): Promise<T> {
	let written: T;
	try {
		written = await write();
	} catch (err) {
		if (!isDuplicateKey(err)) throw err;
		if (change) await repairClaim(models, change.email).catch((e: Error) => warn("Repairing an email claim failed:", e.message));
		throw emailTaken();
	}
	if (!change) return written;
	await pointClaimAt(models, change.email, change.userId);
	if (change.previous !== undefined && change.previous !== change.email) await releaseClaim(models, change.previous, change.userId);
	return written;
}
