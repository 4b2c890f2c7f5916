import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import mongoose, { type Connection } from "mongoose";
import { ErrorTypes } from "../../events/errors.js";
import { usersModels, type UsersModels } from "../../services/users/models.js";
import { GroupStore } from "../../services/users/group-store.js";
import { Accounts } from "../../services/users/accounts.js";
import { Revocations } from "../../services/users/revocations.js";
import { Members } from "../../services/users/members.js";
import { MemberCache } from "../../services/users/member-cache.js";
import { LoginThrottle } from "../../services/users/login-throttle.js";
import { MemoryAttempts } from "../../lib/attempt-limits.js";
import { findActiveByEmail } from "../../services/users/email-index.js";
import type { GroupState } from "../../services/users/groups.js";

/**
 * The users service's domain modules without a broker: group writes (optimistic concurrency,
 * events in the outbox, the per-user lists) and accounts, against the real Mongo-wire server.
 */

let connection: Connection;
let models: UsersModels;

before(async () => {
	connection = await mongoose
		.createConnection(process.env.MONGO_URL ?? "mongodb://127.0.0.1:27017", {
			dbName: `tunit${randomBytes(4).toString("hex")}_users`,
		})
		.asPromise();
	models = usersModels(connection);
	for (const model of Object.values(models)) await model.createIndexes();
});

after(async () => {
	await connection?.dropDatabase().catch(() => undefined);
	await connection?.close();
});

const accounts = () =>
	new Accounts({
		models,
		throttle: new LoginThrottle(new MemoryAttempts()),
		warn: () => undefined,
	});
const newAccount = (name: string) =>
	accounts().register({
		name,
		surname: "Test",
		email: `${name.toLowerCase()}.${randomUUID()}@example.com`,
		password: "correct horse",
	});

test("a command that loses the race for the group's version is decided again on the newer group", async () => {
	const [ann, bob, cy] = [await newAccount("Ann"), await newAccount("Bob"), await newAccount("Cy")];
	const members = new Members(models, new MemberCache());
	const kicked: string[] = [];
	let interfere: (() => Promise<void>) | undefined;
	const store = new GroupStore({
		models,
		// Another writer changes the group between this writer's read and its conditional write.
		snapshot: async (state: GroupState) => {
			const other = interfere;
			interfere = undefined;
			await other?.();
			return members.snapshot(state);
		},
		kickOutbox: (_model, id) => kicked.push(id),
	});
	const { doc: created, outcomes } = await store.create(ann._id, "Trip");
	assert.deepEqual(
		outcomes.map(o => o.change),
		["created"],
	);
	await store.apply(bob._id, created._id, {
		kind: "join",
		invitedBy: ann._id,
		via: "invitation",
	});
	interfere = async () => {
		await models.Group.updateOne({ _id: created._id }, { $set: { name: "Renamed meanwhile", version: 3 } });
	};
	const { doc } = await store.apply(cy._id, created._id, {
		kind: "join",
		invitedBy: bob._id,
		via: "link",
	});
	assert.equal(doc.version, 4, "applied on top of the other writer's version");
	assert.equal(doc.name, "Renamed meanwhile");
	assert.deepEqual(doc.memberIds, [ann._id, bob._id, cy._id]);
	const stored = (await models.Group.findById(created._id).lean())!;
	assert.deepEqual(
		stored.outbox.map(e => e.type),
		// Bob accepted Ann's invitation (MEMBER_ADDED, INVITATION_ACCEPTED); Cy came by Bob's link (MEMBER_ADDED).
		["groups.created", "groups.memberAdded", "notifications.send", "notifications.send", "groups.memberAdded", "notifications.send"],
		"the events of the lost attempt were never written",
	);
	assert.deepEqual(kicked, [created._id, created._id, created._id]);
	assert.ok((await models.User.findById(cy._id).lean())!.groupIds!.includes(created._id), "the new member's list names the group");
});

test("a command on a group the actor does not belong to changes nothing", async () => {
	const [ann, bob] = [await newAccount("Ann"), await newAccount("Bob")];
	const members = new Members(models, new MemberCache());
	const store = new GroupStore({
		models,
		snapshot: state => members.snapshot(state),
		kickOutbox: () => undefined,
	});
	const { doc } = await store.create(ann._id, "Private");
	await assert.rejects(store.apply(bob._id, doc._id, { kind: "rename", name: "Mine" }), { type: ErrorTypes.FORBIDDEN, code: 403 });
	assert.equal((await models.Group.findById(doc._id).lean())!.version, 1);
});

test("an email or password change needs the current password; a new password revokes older tokens", async () => {
	const ann = await newAccount("Ann");
	const newEmail = `ann.new.${randomUUID()}@example.com`;
	await assert.rejects(accounts().update(ann, { email: newEmail }), {
		type: ErrorTypes.VALIDATION_ERROR,
		code: 422,
	});
	await assert.rejects(
		accounts().update(ann, {
			email: newEmail,
			currentPassword: "wrong password",
		}),
		{ type: ErrorTypes.INVALID_CREDENTIALS, code: 401 },
	);
	assert.equal(await findActiveByEmail(models, newEmail), null, "nothing was written");
	const renamed = await accounts().update(ann, { name: "Annie" });
	assert.equal(renamed.updated.name, "Annie");
	assert.equal(renamed.tokensValidAfter, undefined, "a name change revokes nothing");
	const moved = await accounts().update(ann, {
		email: newEmail,
		password: "battery staple",
		currentPassword: "correct horse",
	});
	assert.equal(moved.updated.email, newEmail);
	assert.ok(moved.tokensValidAfter && moved.tokensValidAfter > 0);
	assert.equal((await findActiveByEmail(models, newEmail))?._id, ann._id);
	assert.equal(await findActiveByEmail(models, ann.email), null, "the old email is free");
	assert.equal((await accounts().login(newEmail, "battery staple"))._id, ann._id);
	await assert.rejects(accounts().login(newEmail, "correct horse"), {
		type: ErrorTypes.INVALID_CREDENTIALS,
	});
});

test("a second account with a taken email is refused", async () => {
	const ann = await newAccount("Ann");
	await assert.rejects(
		accounts().register({
			name: "Other",
			surname: "Ann",
			email: ann.email,
			password: "another password",
		}),
		{
			type: ErrorTypes.CONFLICT,
			code: 409,
			message: "An account with this email already exists",
		},
	);
});

test("a deleted account frees its email, revokes its tokens and queues users.deleted", async () => {
	const kicked: string[] = [];
	const store = new Accounts({ models, throttle: new LoginThrottle(new MemoryAttempts()), warn: () => undefined, kickOutbox: (_model, id) => kicked.push(id) });
	const ann = await newAccount("Ann");
	const now = Date.now();
	assert.equal(await store.remove(ann, now), now + 1);
	const tombstone = await models.User.findById(ann._id).lean();
	assert.equal(tombstone?.email, `deleted:${ann._id}`);
	assert.equal(tombstone?.tokensValidAfter, now + 1);
	assert.deepEqual(
		tombstone?.outbox.map(event => [event.type, event.payload]),
		[["users.deleted", { userId: ann._id }]],
	);
	assert.deepEqual(kicked, [ann._id]);
	assert.equal(await findActiveByEmail(models, ann.email), null);
	await assert.rejects(store.active(ann._id), (err: { type?: string }) => err.type === ErrorTypes.UNAUTHORIZED);
});

test("a logged-out token, or one issued before its user's revocation, no longer counts", async () => {
	const revocations = new Revocations(models);
	const ann = await newAccount("Ann");
	const now = Date.now();
	const token = (jti: string, issuedAt = now) => ({ userId: ann._id, jti, issuedAt, expiresAt: now + 60_000 });
	assert.equal((await revocations.holderOf(token("t1")))._id, ann._id);
	await revocations.revoke(ann._id, token("t1"));
	const revoked = (err: { type?: string; message?: string }) => err.type === ErrorTypes.UNAUTHORIZED && err.message === "Token revoked";
	await assert.rejects(revocations.holderOf(token("t1")), revoked);
	assert.equal((await revocations.holderOf(token("t2"))).email, ann.email);
	assert.equal(await revocations.revokeAllOf(ann._id, now + 5), now + 5);
	await assert.rejects(revocations.holderOf(token("t2")), revoked);
	assert.equal((await revocations.holderOf(token("t3", now + 5))).email, ann.email);
	await assert.rejects(revocations.revokeAllOf(randomUUID()), (err: { type?: string }) => err.type === ErrorTypes.NOT_FOUND);
	// Kept until the token would have expired anyway.
	await revocations.purgeExpired(now);
	assert.ok(await models.RevokedToken.exists({ _id: "t1" }));
	await revocations.purgeExpired(now + 60_001);
	assert.equal(await models.RevokedToken.exists({ _id: "t1" }), null);
});
