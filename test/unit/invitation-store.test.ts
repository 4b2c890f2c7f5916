import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import mongoose, { type Connection } from "mongoose";
import { ErrorTypes } from "../../events/errors.js";
import type { Envelope, NotificationSend } from "../../events/domain.js";
import type { Invitation } from "../../events/types.js";
import { MemoryAttempts } from "../../lib/attempt-limits.js";
import { usersModels, type UsersModels } from "../../services/users/models.js";
import { GroupStore } from "../../services/users/group-store.js";
import { Accounts } from "../../services/users/accounts.js";
import { Members } from "../../services/users/members.js";
import { MemberCache } from "../../services/users/member-cache.js";
import { LoginThrottle } from "../../services/users/login-throttle.js";
import { InvitationStore } from "../../services/users/invitation-store.js";
import { inviteCodeHash, type InviteLimits } from "../../services/users/invitations.js";

/**
 * Consent stored (users/invitation-store.ts) without a broker, against the real Mongo-wire
 * server: what an invitation reads before its answer, its delivery once and only once, blocks,
 * the limits under concurrency, invite-link uses, and an accept finished after a crash.
 */

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

const accounts = () => new Accounts({ models, throttle: new LoginThrottle(new MemoryAttempts()), warn: () => undefined });
const newAccount = (name: string) =>
	accounts().register({ name, surname: "Test", email: `${name.toLowerCase()}.${randomUUID()}@example.com`, password: "correct horse" });
const freshEmail = () => `nobody.${randomUUID()}@example.com`;

const defaults: InviteLimits = { maxGroupMembers: 50, maxGroupsPerUser: 100, invitesPerHour: 0, invitationTtlMs: 7 * 86_400_000 };

/** A store whose reads of accounts by email are counted, with the live announcements it makes. */
function setUp(limits: Partial<InviteLimits> = {}) {
	const members = new Members(models, new MemberCache());
	const groups = new GroupStore({ models, snapshot: state => members.snapshot(state), kickOutbox: () => undefined });
	const emailReads: string[] = [];
	// Every account lookup by email goes through a claim read: count them.
	const counted = {
		...models,
		UserEmail: new Proxy(models.UserEmail, {
			get(target, prop, receiver) {
				const value = Reflect.get(target, prop, receiver) as unknown;
				if (prop === "findById" && typeof value === "function")
					return (id: string, ...rest: unknown[]) => (emailReads.push(id), (value as (...a: unknown[]) => unknown).call(target, id, ...rest));
				return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
			},
		}),
	} as UsersModels;
	const announced: { userId: string; invitation: Invitation }[] = [];
	const store = new InvitationStore({
		models: counted,
		groups,
		membersByIds: ids => members.membersByIds(ids),
		attempts: new MemoryAttempts(),
		limits: { ...defaults, ...limits },
		kickOutbox: () => undefined,
		announce: async (userId, invitation) => void announced.push({ userId, invitation }),
		warn: () => undefined,
	});
	return { store, groups, emailReads, announced };
}

const outboxOf = async (invitationId: string) => ((await models.Invitation.findById(invitationId).lean())?.outbox ?? []) as Envelope<NotificationSend>[];
const typeOf = async (promise: Promise<unknown>) =>
	promise.then(
		() => "ok",
		(err: { code: number; type: string }) => `${err.code} ${err.type}`,
	);

test("an invitation is answered without reading any account; the holder of the email is looked up and told once, afterwards", async () => {
	const { store, groups, emailReads, announced } = setUp();
	const [ann, bob] = [await newAccount("Ann"), await newAccount("Bob")];
	const { doc: group } = await groups.create(ann._id, "Family");
	const ghost = freshEmail();

	const toBob = await store.invite(ann._id, group._id, bob.email);
	const toGhost = await store.invite(ann._id, group._id, ghost);
	assert.deepEqual(emailReads, [], "sending reads no account by email");
	assert.deepEqual(Object.keys(toBob).sort(), Object.keys(toGhost).sort(), "the same shape either way");

	// Three deliveries at once (the answer's, the sweep's, an accept's): one notice.
	await Promise.all([store.deliver(toBob.id), store.deliver(toBob.id), store.deliver(toBob.id)]);
	await store.deliver(toGhost.id);
	const notices = await outboxOf(toBob.id);
	assert.equal(notices.length, 1);
	assert.deepEqual(notices[0]!.payload.target, { userIds: [bob._id] });
	assert.equal(notices[0]!.payload.kind, "INVITED");
	assert.equal(notices[0]!.payload.title, "Ann Test invited you to Family");
	assert.deepEqual(await outboxOf(toGhost.id), [], "nobody to tell yet");
	assert.deepEqual(
		announced.map(a => [a.userId, a.invitation.id, a.invitation.groupName]),
		[[bob._id, toBob.id, "Family"]],
	);
	assert.equal(await store.deliverDue(), 0, "nothing left for the sweep");

	// The email registers: the invitation is its holder's now, and told.
	const ghostUser = await accounts().register({ name: "Gus", surname: "Late", email: ghost, password: "correct horse" });
	const due = await store.addressedTo(ghost, ghostUser._id);
	assert.deepEqual(due, [toGhost.id]);
	await store.deliverDue();
	assert.deepEqual(
		(await outboxOf(toGhost.id)).map(e => e.payload.target),
		[{ userIds: [ghostUser._id] }],
	);
	assert.deepEqual(
		(await store.listForUser(ghostUser)).map(i => i.id),
		[toGhost.id],
	);
	assert.equal(await store.pendingCount(group._id), 2);
});

test("decline with block: later invitations from that inviter are stored and shown to members, never to the invitee", async () => {
	const { store, groups, announced } = setUp();
	const [ann, bob] = [await newAccount("Ann"), await newAccount("Bob")];
	const first = (await groups.create(ann._id, "First")).doc;
	const second = (await groups.create(ann._id, "Second")).doc;
	const invitation = await store.invite(ann._id, first._id, bob.email);
	await store.decline(bob, invitation.id, true);
	const bobNow = (await models.User.findById(bob._id).lean())!;
	assert.deepEqual(bobNow.blockedInviters, [ann._id]);

	const later = await store.invite(ann._id, second._id, bob.email);
	await store.deliver(later.id);
	assert.deepEqual(await outboxOf(later.id), [], "no INVITED");
	assert.equal((await models.Invitation.findById(later.id).lean())!.suppressed, true);
	assert.deepEqual(await store.listForUser(bobNow), []);
	assert.equal(await typeOf(store.accept(bobNow, later.id)), "404 NOT_FOUND");
	assert.deepEqual(
		(await store.listForGroup(ann._id, second._id)).map(i => i.id),
		[later.id],
		"pending for the members",
	);
	assert.ok(!announced.some(a => a.invitation.id === later.id));
});

test("members plus pending invitations never pass the limit, however many invitations race", async () => {
	const { store, groups } = setUp({ maxGroupMembers: 4 });
	const ann = await newAccount("Ann");
	const { doc: group } = await groups.create(ann._id, "Small");
	const answers = await Promise.all(Array.from({ length: 8 }, () => typeOf(store.invite(ann._id, group._id, freshEmail()))));
	assert.equal(answers.filter(a => a === "ok").length, 3, answers.join(", "));
	assert.ok(
		answers.filter(a => a !== "ok").every(a => a === "409 CONFLICT"),
		answers.join(", "),
	);
	assert.equal(await store.pendingCount(group._id), 3);
});

test("the hourly invitation budget is counted before sending: 429 with a retry hint", async () => {
	const { store, groups } = setUp({ invitesPerHour: 2 });
	const ann = await newAccount("Ann");
	const { doc: group } = await groups.create(ann._id, "Busy");
	await store.invite(ann._id, group._id, freshEmail());
	await store.invite(ann._id, group._id, freshEmail());
	await assert.rejects(store.invite(ann._id, group._id, freshEmail()), (err: { code: number; type: string; data: { retryAfter: number } }) => {
		assert.equal(err.type, ErrorTypes.RATE_LIMITED);
		assert.ok(err.data.retryAfter > 3000 && err.data.retryAfter <= 3600, String(err.data.retryAfter));
		return true;
	});
	// A refusal by the group (here: not a member) costs the sender nothing.
	const bob = await newAccount("Bob");
	assert.equal(await typeOf(store.invite(bob._id, group._id, freshEmail())), "403 FORBIDDEN");
});

test("an accept cut short after the membership write finishes when repeated: a member, the invitation gone, no second join", async () => {
	const { store, groups } = setUp();
	const [ann, bob] = [await newAccount("Ann"), await newAccount("Bob")];
	const { doc: group } = await groups.create(ann._id, "Crash");
	const invitation = await store.invite(ann._id, group._id, bob.email);
	// As if the service died between the group write and the invitation's deletion.
	await groups.apply(bob._id, group._id, { kind: "join", invitedBy: ann._id, via: "invitation" });
	const outcome = await store.accept(bob, invitation.id);
	assert.equal(outcome.outcomes, undefined, "nothing new to announce");
	assert.deepEqual(outcome.doc.memberIds, [ann._id, bob._id]);
	assert.equal((await models.Group.findById(group._id).lean())!.version, 2, "joined once");
	assert.equal(await typeOf(store.accept(bob, invitation.id)), "404 NOT_FOUND", "an answered invitation is no longer pending");
	assert.equal(await store.pendingCount(group._id), 0);
	// Answered before its delivery had run: delivered by the accept, and kept (expired) until the relay has sent the notice.
	assert.deepEqual(
		(await outboxOf(invitation.id)).map(e => e.payload.kind),
		["INVITED"],
	);
	await models.Invitation.updateOne({ _id: invitation.id }, { $set: { outbox: [] } });
	assert.equal(await store.purgeExpired(), 1);
	assert.equal(await models.Invitation.findById(invitation.id).lean(), null, "purged once sent");
});

test("an invite link's uses hold however many join at once; a member following it again takes none", async () => {
	const { store, groups } = setUp();
	const ann = await newAccount("Ann");
	const { doc: group } = await groups.create(ann._id, "Linked");
	const link = await store.createLink(ann._id, group._id, { maxUses: 2 });
	assert.match(link.code, /^[A-Za-z0-9_-]{22}$/);
	assert.equal(link.url, `/join/${link.code}`);
	assert.equal(await models.InviteLink.findById(link.code).lean(), null, "the code is not a key");
	assert.ok(await models.InviteLink.findById(inviteCodeHash(link.code)).lean(), "its hash is");

	// Signed up one after another: what runs at once here is the joining (five password hashes at
	// once can meet the hashing limiter's "too many password checks at once" on a loaded machine).
	const joiners = [];
	for (let i = 0; i < 5; i++) joiners.push(await newAccount(`J${i}`));
	const answers = await Promise.all(joiners.map(user => typeOf(store.joinByLink(user, link.code))));
	assert.deepEqual(answers.sort(), ["404 NOT_FOUND", "404 NOT_FOUND", "404 NOT_FOUND", "ok", "ok"]);
	const members = (await models.Group.findById(group._id).lean())!.memberIds;
	assert.equal(members.length, 3);
	const stored = (await models.InviteLink.findById(inviteCodeHash(link.code)).lean())!;
	assert.deepEqual({ uses: stored.uses, usesLeft: stored.usesLeft }, { uses: 2, usesLeft: 0 });
	assert.equal(await typeOf(store.preview(link.code)), "404 NOT_FOUND", "used up");
	assert.deepEqual(await store.listLinks(ann._id, group._id), [], "used-up links are not listed");
});
