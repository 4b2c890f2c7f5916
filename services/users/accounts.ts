import { randomUUID } from "node:crypto";
import { invalidCredentials, notFound, unauthorized, validationError } from "../../events/errors.js";
import { DomainEvents } from "../../events/domain.js";
import { newEnvelope } from "../../mixins/outbox-relay.mixin.js";
import { assertEmailFree, findActiveByEmail, releaseClaim, writeClaimingEmail } from "./email-index.js";
import type { LoginThrottle } from "./login-throttle.js";
import type { UserDoc, UsersModels } from "./models.js";
import { decoyPasswordHash, hashPassword, passwordNeedsRehash, verifyPassword } from "./passwords.js";

/**
 * Accounts: creating one, opening one with a password, changing one's profile. Emails are held
 * through claims (email-index.ts); passwords are hashed by passwords.ts, whose limiter answers
 * 429 when hashing is saturated.
 */

export interface AccountsDeps {
	models: Pick<UsersModels, "User" | "UserEmail">;
	throttle: LoginThrottle;
	warn(message: string, detail?: string): void;
	/** Publishes a document's pending outbox events soon (the service's OutboxRelay); the periodic relay otherwise. */
	kickOutbox?(modelName: string, docId: string): void;
}

export interface NewAccount {
	name: string;
	surname: string;
	email: string;
	password: string;
}

export interface ProfileChange {
	name?: string;
	surname?: string;
	email?: string;
	/** A phone number for the groups; "" or null removes it. */
	phone?: string | null;
	password?: string;
	currentPassword?: string;
}

/**
 * A phone number as stored: international (E.164) form, from what people type ("+39 333 123-4567",
 * "(+1) 555.010.9999"); null for "" (removed). Anything else is a 422 on `phone`.
 */
export function normalizePhone(raw: string | null): string | null {
	if (raw === null) return null;
	const compact = raw.replace(/[\s().\-\u00a0]/g, "");
	if (compact === "") return null;
	const phone = compact.startsWith("00") ? `+${compact.slice(2)}` : compact;
	if (!/^\+[1-9]\d{6,14}$/.test(phone))
		throw validationError("The phone number must be in international form, like +39 333 123 4567", [
			{ field: "phone", message: "an international number starting with + and the country code, 7 to 15 digits", type: "phone" },
		]);
	return phone;
}

export interface PasswordCheckStats {
	/** Passwords hashed to check a login (a refused attempt costs none). */
	loginChecks: number;
	/** Passwords hashed to re-check a `currentPassword`. */
	rechecks: number;
}

export class Accounts {
	readonly stats: PasswordCheckStats = { loginChecks: 0, rechecks: 0 };

	constructor(private readonly deps: AccountsDeps) {}

	/** The active account `id`; a deleted or unknown one no longer exists for its tokens. */
	async active(id: string): Promise<UserDoc> {
		const user = await this.deps.models.User.findById(id).lean();
		if (!user || user.deletedAt) throw unauthorized("This account no longer exists");
		return user;
	}

	/**
	 * Refuses a wrong password for `user` (to confirm a sensitive change). Guesses are limited per
	 * user (login-throttle.ts): a stolen token is not a way to find the password.
	 */
	async checkPassword(user: UserDoc, password: string): Promise<void> {
		const attempt = await this.deps.throttle.admitRecheck(user._id);
		this.stats.rechecks++;
		if (!(await verifyPassword(password, user.passwordHash))) throw invalidCredentials();
		await attempt.succeeded();
	}

	/** Creates an account; the email must not be taken. */
	async register({ name, surname, email, password }: NewAccount): Promise<UserDoc> {
		const { models, warn } = this.deps;
		await assertEmailFree(models, email);
		const doc: Partial<UserDoc> & { _id: string } = {
			_id: randomUUID(),
			name,
			surname,
			email,
			passwordHash: await hashPassword(password),
			tokensValidAfter: 0,
			createdAt: new Date(),
			groupIds: [],
			groupIdsIndexed: true,
		};
		// The unique email index decides between concurrent registers: exactly one insert succeeds.
		return writeClaimingEmail(models, { userId: doc._id, email }, async () => (await models.User.create(doc)).toObject(), warn);
	}

	/**
	 * The account that `email` and `password` open, for a client at `address`. Each attempt is
	 * counted before its password is checked: failures slow the account's later attempts down and
	 * finally refuse that address (login-throttle.ts). An unknown email is counted and costs the
	 * same hashing as a wrong password, so neither timing nor the limits tell which emails exist.
	 */
	async login(email: string, password: string, address?: string): Promise<UserDoc> {
		const { models, throttle, warn } = this.deps;
		const attempt = await throttle.admitLogin(email, address);
		const user = await findActiveByEmail(models, email);
		this.stats.loginChecks++;
		const ok = await verifyPassword(password, user?.passwordHash ?? (await decoyPasswordHash()));
		if (!user || !ok) throw invalidCredentials();
		await attempt.succeeded();
		// Hashes stored with older settings (scrypt) are upgraded while the password is at hand;
		// conditional on the old hash so a password changed meanwhile is never overwritten.
		if (passwordNeedsRehash(user.passwordHash))
			await hashPassword(password)
				.then(passwordHash => models.User.updateOne({ _id: user._id, passwordHash: user.passwordHash }, { $set: { passwordHash } }))
				.catch((err: Error) => warn(`Password hash upgrade for ${user._id} deferred: ${err.message}`));
		return user;
	}

	/**
	 * Changes `user`'s profile; email and password changes need the current password. A new
	 * password revokes every token issued before it: `tokensValidAfter` says from when.
	 */
	async update(
		user: UserDoc,
		{ name, surname, email, phone, password, currentPassword }: ProfileChange,
	): Promise<{ updated: UserDoc; tokensValidAfter?: number }> {
		const { models, warn } = this.deps;
		const changes: Partial<UserDoc> = {};
		if (name !== undefined) changes.name = name;
		if (surname !== undefined) changes.surname = surname;
		if (phone !== undefined) changes.phone = normalizePhone(phone);
		const emailChanges = email !== undefined && email !== user.email;
		if (emailChanges || password !== undefined) {
			if (!currentPassword)
				throw validationError("The current password is required to change email or password", [
					{ field: "currentPassword", message: "required to change email or password", type: "required" },
				]);
			await this.checkPassword(user, currentPassword);
		}
		if (emailChanges) {
			await assertEmailFree(models, email);
			changes.email = email;
		}
		if (password !== undefined) {
			changes.passwordHash = await hashPassword(password);
			changes.tokensValidAfter = Date.now();
		}
		// Sending the current email again claims it too (it may have been left unclaimed).
		const updated = await writeClaimingEmail(
			models,
			email === undefined ? undefined : { userId: user._id, email, previous: user.email },
			async () => {
				const doc = await models.User.findOneAndUpdate({ _id: user._id }, { $set: changes }, { returnDocument: "after" }).lean();
				if (!doc) throw notFound("User");
				return doc;
			},
			warn,
		);
		return { updated, tokensValidAfter: changes.tokensValidAfter };
	}

	/**
	 * Deletes `user`'s account: a tombstone frees the email, revokes every token and keeps the
	 * `users.deleted` event until it is published. Returns when tokens stop counting (`tokensValidAfter`).
	 */
	async remove(user: UserDoc, now = Date.now()): Promise<number> {
		const { models, kickOutbox } = this.deps;
		const tokensValidAfter = now + 1;
		await models.User.updateOne(
			{ _id: user._id },
			{
				$set: { deletedAt: new Date(now), email: `deleted:${user._id}`, passwordHash: "", tokensValidAfter },
				$push: { outbox: newEnvelope(DomainEvents.userDeleted, { userId: user._id }) },
			},
		);
		kickOutbox?.("User", user._id);
		// After the tombstone: a crash before this leaves an orphan claim, which blocks nobody.
		await releaseClaim(models, user.email, user._id);
		return tokensValidAfter;
	}
}
