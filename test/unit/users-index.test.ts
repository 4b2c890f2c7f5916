import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import mongoose, { type Connection } from "mongoose";
import { usersModels, type GroupDoc, type UsersModels } from "../../services/users/models.js";
import {
	memberGroupsOf,
	membershipDelta,
	groupsOfUser,
	listGroupFor,
	confirmListed,
	unlistGroupFor,
	listedGroupIds,
} from "../../services/users/group-index.js";
import { backfillClaims, findActiveByEmail, holdsEmail, pointClaimAt, releaseClaim, writeClaimingEmail } from "../../services/users/email-index.js";
import { isDuplicateKey } from "../../lib/mongo-errors.js";
import { ErrorTypes } from "../../events/errors.js";

/**
 * The users service's lookup documents (email claims, per-user group lists), checked against the
 * real Mongo-wire server with the interleavings that concurrent requests or a crash can produce.
 */

const group = (id: string, memberIds: string[], overrides: Partial<GroupDoc> = {}): GroupDoc => ({
	_id: id,
	name: id,
	createdBy: memberIds[0] ?? "x",
	createdAt: new Date("2026-01-01T00:00:00Z"),
	memberIds,
	version: 1,
	deleted: false,
	outbox: [],
	...overrides,
});

test("only groups whose own document lists the user are kept, oldest first, once each", () => {
	const at = (s: string) => new Date(`2026-01-0${s}T00:00:00Z`);
	const groups = [
		group("late", ["u"], { createdAt: at("3") }),
		group("left", ["v"]),
		null,
		group("deleted", ["u"], { deleted: true }),
		group("early", ["u", "v"], { createdAt: at("1") }),
		group("late", ["u"], { createdAt: at("3") }),
	];
	assert.deepEqual(
		memberGroupsOf("u", groups).map(g => g._id),
		["early", "late"],
	);
});

test("a membership change lists who joins and who goes; a deletion removes everyone", () => {
	assert.deepEqual(membershipDelta(["a", "b"], ["b", "c"]), { added: ["c"], removed: ["a"] });
	assert.deepEqual(membershipDelta(["a", "b"], []), { added: [], removed: ["a", "b"] });
});

test("a duplicate key is recognised as MongoDB and FerretDB report it", () => {
	assert.ok(isDuplicateKey({ code: 11000 }));
	assert.ok(isDuplicateKey({ code: 1, message: "constraint failed: UNIQUE constraint failed: index 'users_email_1' (2067)" }));
	assert.ok(!isDuplicateKey({ code: 1, message: "something else" }));
	assert.ok(!isDuplicateKey(undefined));
	assert.ok(holdsEmail({ email: "a@x", deletedAt: null }, "a@x"));
	assert.ok(!holdsEmail({ email: "a@x", deletedAt: new Date() }, "a@x"));
	assert.ok(!holdsEmail({ email: "b@x", deletedAt: null }, "a@x"));
});

let connection: Connection;
let models: UsersModels;

before(async () => {
	connection = await mongoose
		.createConnection(process.env.MONGO_URL ?? "mongodb://127.0.0.1:27017", { dbName: `tunit${randomBytes(4).toString("hex")}_users` })
		.asPromise();
	models = usersModels(connection);
	for (const model of Object.values(models)) await model.createIndexes();
});

after(async () => {
	await connection?.dropDatabase().catch(() => undefined);
	await connection?.close();
});

const newUser = async (overrides: Record<string, unknown> = {}) => {
	const id = randomUUID();
	await models.User.create({
		_id: id,
		name: "N",
		surname: "S",
		email: `${id}@example.com`,
		passwordHash: "",
		createdAt: new Date(),
		groupIds: [],
		groupIdsIndexed: true,
		...overrides,
	});
	return id;
};
const listed = async (userId: string) => (await models.User.findById(userId).lean())!.groupIds ?? [];
const visible = async (userId: string) => (await groupsOfUser(models, (await models.User.findById(userId).lean())!)).map(g => g._id);

test("a stale id in a user's list never shows the group; a deleted group's id is dropped, a not-yet-written one kept", async () => {
	const [u, v] = [await newUser(), await newUser()];
	const [member, left, deleted, creating] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
	await models.Group.create([group(member, [v, u]), group(left, [v]), group(deleted, [], { deleted: true })]);
	await listGroupFor(models, [u], member);
	await listGroupFor(models, [u], left);
	await listGroupFor(models, [u], deleted);
	await listGroupFor(models, [u], creating);
	assert.deepEqual(await visible(u), [member]);
	// The prune is best-effort and asynchronous.
	for (let i = 0; i < 50 && (await listed(u)).includes(deleted); i++) await new Promise(r => setImmediate(r));
	assert.deepEqual((await listed(u)).sort(), [member, left, creating].sort());
});

test("a remover that unlists after an adder wrote the group again lists the id back", async () => {
	const [u, v] = [await newUser(), await newUser()];
	const g = randomUUID();
	await models.Group.create(group(g, [v, u]));
	await listGroupFor(models, [v, u], g);
	// Remover: the group write that removes u ...
	await models.Group.updateOne({ _id: g }, { $set: { memberIds: [v], version: 2 } });
	// ... then an adder, finding the id still listed, adds u back, all before the remover unlists.
	await listGroupFor(models, [u], g);
	await models.Group.updateOne({ _id: g }, { $set: { memberIds: [v, u], version: 3 } });
	await confirmListed(models, [u], g);
	await unlistGroupFor(models, [u], g);
	assert.deepEqual(await listed(u), [g]);
	assert.deepEqual(await visible(u), [g]);
});

test("an adder whose id was unlisted between its listing and its group write lists it again", async () => {
	const [u, v] = [await newUser(), await newUser()];
	const g = randomUUID();
	await models.Group.create(group(g, [v]));
	await listGroupFor(models, [v, u], g); // u's id still listed from an earlier membership
	await listGroupFor(models, [u], g); // the adder: already there
	await unlistGroupFor(models, [u], g); // the earlier remover: u is no member (yet), so unlisted
	await models.Group.updateOne({ _id: g }, { $set: { memberIds: [v, u], version: 2 } });
	await confirmListed(models, [u], g);
	assert.deepEqual(await visible(u), [g]);
});

test("an account older than the lists gets its groups worked out once, merged with ids listed meanwhile", async () => {
	const legacy = randomUUID();
	await connection.db!.collection("users").insertOne({
		_id: legacy as never,
		name: "Old",
		surname: "Timer",
		email: `${legacy}@example.com`,
		passwordHash: "",
		tokensValidAfter: 0,
		createdAt: new Date(),
		deletedAt: null,
		outbox: [],
	});
	const [old, gone, fresh] = [randomUUID(), randomUUID(), randomUUID()];
	await models.Group.create([
		group(old, [legacy], { createdAt: new Date("2025-01-01T00:00:00Z") }),
		group(gone, [], { deleted: true }),
		group(fresh, [legacy], { createdAt: new Date("2026-02-01T00:00:00Z") }),
	]);
	// An adder listed `fresh` before the account was ever read: that must not pass for the whole list.
	await models.User.updateOne({ _id: legacy }, { $addToSet: { groupIds: fresh } });
	assert.deepEqual(await visible(legacy), [old, fresh]);
	const stored = (await models.User.findById(legacy).lean())!;
	assert.equal(stored.groupIdsIndexed, true);
	assert.deepEqual([...stored.groupIds!].sort(), [old, fresh].sort());
	assert.deepEqual((await listedGroupIds(models, stored)).sort(), [old, fresh].sort());
});

test("an orphan email claim (no such user, another email, a deleted account) is believed by nobody and taken over", async () => {
	for (const owner of [randomUUID(), await newUser(), await newUser({ deletedAt: new Date() })]) {
		const email = `orphan.${randomUUID()}@example.com`;
		await models.UserEmail.create({ _id: email, userId: owner });
		assert.equal(await findActiveByEmail(models, email), null);
		const holder = await newUser({ email });
		await pointClaimAt(models, email, holder);
		assert.equal((await findActiveByEmail(models, email))?._id, holder);
	}
});

test("a stale claim writer never takes an email from the user who holds it, and frees only its own claim", async () => {
	const email = `held.${randomUUID()}@example.com`;
	const holder = await newUser({ email });
	await pointClaimAt(models, email, holder);
	const stale = await newUser(); // once had the email, gave it up
	await pointClaimAt(models, email, stale);
	await releaseClaim(models, email, stale);
	assert.equal((await findActiveByEmail(models, email))?._id, holder);
	await releaseClaim(models, email, holder);
	assert.equal(await models.UserEmail.findById(email).lean(), null);
});

test("the start-up backfill claims every unclaimed account and corrects a claim naming the wrong user", async () => {
	const [a, b] = [randomUUID(), randomUUID()];
	const raw = (id: string) => ({
		_id: id as never,
		name: "Raw",
		surname: "User",
		email: `${id}@example.com`,
		passwordHash: "",
		tokensValidAfter: 0,
		createdAt: new Date(),
		deletedAt: null,
		outbox: [],
	});
	await connection.db!.collection("users").insertMany([raw(a), raw(b)]);
	await models.UserEmail.create({ _id: `${b}@example.com`, userId: a });
	assert.equal(await findActiveByEmail(models, `${a}@example.com`), null);
	assert.ok((await backfillClaims(models)) >= 2);
	assert.equal((await findActiveByEmail(models, `${a}@example.com`))?._id, a);
	assert.equal((await findActiveByEmail(models, `${b}@example.com`))?._id, b);
	assert.equal(await backfillClaims(models), 0, "a second pass has nothing to do");
});

test("a write that loses an email to the account holding it is refused as taken, and leaves the holder findable", async () => {
	const email = `contested.${randomUUID()}@example.com`;
	const holder = await newUser({ email }); // holds the email, but a crash left it unclaimed
	const loser = await newUser();
	const warnings: string[] = [];
	await assert.rejects(
		writeClaimingEmail(
			models,
			{ userId: loser, email },
			() => models.User.updateOne({ _id: loser }, { $set: { email } }),
			(m, d) => warnings.push(`${m} ${d}`),
		),
		(err: { code?: number; type?: string; message?: string }) =>
			err.code === 409 && err.type === ErrorTypes.CONFLICT && err.message === "An account with this email already exists",
	);
	assert.deepEqual(warnings, []);
	assert.equal((await findActiveByEmail(models, email))?._id, holder, "the holder got its claim back");
	assert.notEqual((await models.User.findById(loser).lean())!.email, email);
});

test("an email change moves the claim: the new email finds the user, the old one nobody", async () => {
	const before = `before.${randomUUID()}@example.com`;
	const after = `after.${randomUUID()}@example.com`;
	const user = await newUser({ email: before });
	await pointClaimAt(models, before, user);
	const written = await writeClaimingEmail(
		models,
		{ userId: user, email: after, previous: before },
		() => models.User.findOneAndUpdate({ _id: user }, { $set: { email: after } }, { returnDocument: "after" }).lean(),
		() => assert.fail("nothing to repair"),
	);
	assert.equal(written?.email, after);
	assert.equal((await findActiveByEmail(models, after))?._id, user);
	assert.equal(await findActiveByEmail(models, before), null);
	assert.equal(await models.UserEmail.findById(before).lean(), null, "the old claim is freed");
	// A write that changes no email leaves the claims alone and still refuses nothing.
	await writeClaimingEmail(
		models,
		undefined,
		() => models.User.updateOne({ _id: user }, { $set: { name: "Renamed" } }),
		() => assert.fail("nothing to repair"),
	);
	assert.equal((await findActiveByEmail(models, after))?.name, "Renamed");
});
