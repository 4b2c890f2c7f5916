import type { Connection, Model } from "mongoose";
import type { Context, Service, ServiceSchema } from "moleculer";
import { MongooseMixin } from "../mixins/mongoose.mixin.js";
import { newEnvelope, OutboxRelay } from "../mixins/outbox-relay.mixin.js";
import { IdempotentConsumer } from "../mixins/idempotent-consumer.mixin.js";
import { MembershipConsumers, MembershipProjection, type GroupProjectionDoc, type MembershipChange } from "../mixins/membership.mixin.js";
import { Subscriptions } from "../events/streams.js";
import { config } from "../lib/config.js";
import { BatchedLookups } from "../lib/batched-lookups.js";
import { SingleFlight } from "../lib/single-flight.js";
import { callerOf, rules, strict } from "../lib/params.js";
import { conflict, ErrorTypes, invalidState, notFound, validationError } from "../events/errors.js";
import { DomainEvents, type Envelope } from "../events/domain.js";
import { LiveEvents, type LiveGroup, type LiveLocation, type LiveLocationBatch } from "../events/live.js";
import { JourneyModes, type JourneyMode, type Meta, type Point, type Session, type User, type UserRef } from "../events/types.js";
import { locationModels, sessionFields, sessionId, toSessionData, type LocationModels, type SessionDoc, type SessionRow } from "./location/models.js";
import { notificationCommand } from "./location/notices.js";
import { BLANK_SESSION_STATE, capRoute, MAX_ROUTE_POINTS, newSession, recordsRoute, toApiSession, type SessionData, type Thresholds } from "./location/session.js";
import { decide, promoteSosLead, type LocationEvent, type Notice, type Transition } from "./location/state-machine.js";
import { etaProblem, sampleTimestampProblem } from "./location/validation.js";
import { LiveBatcher } from "./location/live-batch.js";
import { canDefer, carryOver, priorityWindowMs, KeyedLock, LocalMembership, OwnedSessions, ownedEntry, sessionKey, SessionViews, type OwnedSession } from "./location/owned-sessions.js";

/**
 * Location tracking (SPEC §5): sharing, position samples, journeys and SOS per (user, group)
 * session, the alerts that watch journeys, and the live updates and notifications they cause.
 *
 * Commands of one user are routed to one instance (Shard strategy on the caller's id), so that
 * user's samples are applied in order; every write is still conditional on the session's
 * `version`, so concurrent writers (another instance during a rebalance, the periodic check)
 * can never both win. The periodic check derives what is due from the persisted `nextCheckAt`,
 * so alerts fire while the user is silent and after a restart.
 */

// ---- params (the validator's schema and the handler's type side by side)

const groupParams = { ...strict, groupId: rules.id };
interface GroupParams {
	groupId: string;
}

const memberParams = { ...strict, groupId: rules.id, userId: rules.id };
interface MemberParams {
	groupId: string;
	userId: string;
}

const sampleParams = {
	...strict,
	latitude: rules.latitude,
	longitude: rules.longitude,
	accuracy: { type: "number", min: 0, max: 1_000_000, finite: true, optional: true },
	timestamp: { ...rules.isoDate, optional: true },
};
interface SampleParams {
	latitude: number;
	longitude: number;
	accuracy?: number;
	timestamp?: string;
}

const journeyParams = {
	...strict,
	groupId: rules.id,
	destination: {
		type: "object",
		strict: "remove",
		props: { name: rules.name, latitude: rules.latitude, longitude: rules.longitude },
	},
	eta: rules.isoDate,
	mode: { type: "enum", values: [...JourneyModes] },
};
interface JourneyParams {
	groupId: string;
	destination: { name: string; latitude: number; longitude: number };
	eta: string;
	mode: JourneyMode;
}

const sosParams = { ...strict, latitude: rules.latitude, longitude: rules.longitude };
interface SosParams {
	latitude: number;
	longitude: number;
}

/** Every command of a user goes to the instance owning that user (consistent hashing on `meta.user.id`). */
const OWNED_BY_CALLER = { strategy: "Shard", strategyOptions: { shardKey: "#user.id" } };

const MAX_VERSION_RETRIES = 8;
/** Due sessions handled per periodic check and instance; the rest wait for the next round. */
const CHECK_BATCH = 200;
const TOMBSTONE_PURGE_EVERY_MS = 60_000;
/**
 * Write-behind (see location/owned-sessions.ts): a position-only change is stored about
 * PERSIST_AFTER_MS after it was applied, coalesced with the samples that follow (later when the
 * database is the bottleneck). Sessions whose STORED timers come due within half the offline
 * threshold (at most PRIORITY_WITHIN_MS; see `priorityWindowMs`) are written first, so the stored
 * timers move on long before they are due; a sample on a session whose stored timer is due
 * within WRITE_THROUGH_WITHIN_MS is written through at once.
 * (This instance's own periodic check always decides on its in-memory copy; the margins are for
 * the checks of other instances, which read the stored one.)
 */
const PERSIST_AFTER_MS = 5_000;
const PRIORITY_WITHIN_MS = 60_000;
const WRITE_THROUGH_WITHIN_MS = 5_000;
const FLUSH_TICK_MS = 250;
/** Writes behind in flight at once: leaves the database to the commands that write through. */
const FLUSH_CONCURRENCY = 1;
/** First samples of many users arriving together are looked up in one query, this long after the first. */
const LOOKUP_BATCH_MS = 5;
/** Clean cached sessions unused for this long are dropped. */
const EVICT_IDLE_MS = 10 * 60_000;

/** What a removed member's session becomes until its pending notifications are published. */
const TOMBSTONE = { ...BLANK_SESSION_STATE, removed: true, route: [] };

// ---- this

interface LocationSettings {
	thresholds: Thresholds;
	checkEveryMs: number;
}

interface TrackingStats {
	/** Periodic checks run by this instance. */
	checks: number;
	/** Due sessions this instance updated. */
	claimed: number;
	/** Due sessions another writer updated first (the conditional write lost): nothing fired twice. */
	lost: number;
	/** Notifications written to the outbox by this instance. */
	notices: number;
	/** Samples applied in memory and written behind. */
	deferred: number;
	/** Writes behind (each one stores every sample deferred since the last write of that session). */
	flushed: number;
	/** Pending samples applied again because another writer changed the stored session first. */
	rebased: number;
	/** Sessions of owned users read from the database (once per session, then kept in memory). */
	sessionReads: number;
	/** Group projections read to check a sample's membership (one at a time per group). */
	groupReads: number;
}

interface LocationVars {
	models: LocationModels;
	connection: Connection;
	stats: TrackingStats;
	checkTimer?: NodeJS.Timeout;
	checking?: boolean;
	lastPurgeAt?: number;
	owned: OwnedSessions;
	memberships: LocalMembership;
	views: SessionViews<SessionData>;
	locks: KeyedLock;
	flushTimer?: NodeJS.Timeout;
	flushing?: boolean;
	/** The location instances last seen (a change moves the ownership of users between instances). */
	locationNodes?: string;
	/** Live updates waiting for the end of this event-loop turn, to go out as one broadcast. */
	live: LiveBatcher<LiveLocation, Context>;
	/** Users' session lookups, batched and never two at once for a user (see ownedSessionsOf). */
	sessionLookups: BatchedLookups<string>;
	/** One projection read per group at a time (every member's first sample after a start asks for it). */
	groupReads: SingleFlight<string, GroupProjectionDoc | null>;
}

interface LocationMethods {
	// From the mixins.
	kickOutbox(modelName?: string, docId?: string): void;
	requireMember(ctx: Context<unknown, Meta>, groupId: string, userId?: string): Promise<GroupProjectionDoc>;
	groupProjection(): Model<GroupProjectionDoc>;
	groupsOfUser(userId: string): Promise<GroupProjectionDoc[]>;
	groupMembers(groupId: string): Promise<UserRef[]>;
	// Own.
	loadSession(groupId: string, userId: string): Promise<SessionData>;
	freshest(doc: SessionRow): SessionData;
	ownedSession(groupId: string, userId: string): Promise<OwnedSession>;
	ownedSessionsOf(userId: string): Promise<OwnedSession[]>;
	lookupSessions(userIds: string[]): Promise<void>;
	isMemberNow(groupId: string, userId: string): Promise<boolean>;
	readableGroup(ctx: Context<unknown, Meta>, groupId: string): Promise<GroupProjectionDoc>;
	applyToSession(ctx: Context<unknown, Meta> | null, groupId: string, userId: string, event: LocationEvent, caller?: User): Promise<SessionData>;
	applyLocked(ctx: Context<unknown, Meta> | null, groupId: string, userId: string, event: LocationEvent, caller?: User): Promise<SessionData>;
	sampleDuringWrite(ctx: Context<unknown, Meta> | null, groupId: string, userId: string, point: Point & { accuracy?: number }): Promise<SessionData> | undefined;
	deferSample(ctx: Context<unknown, Meta> | null, entry: OwnedSession, outcome: Transition, point: Point & { accuracy?: number }, now: number): Promise<SessionData>;
	tryApply(ctx: Context<unknown, Meta>, groupId: string, userId: string, event: LocationEvent, caller?: User): Promise<SessionData | null>;
	commit(before: SessionData, outcome: Transition, caller?: User, entry?: OwnedSession): Promise<SessionData | null>;
	rebase(groupId: string, userId: string): Promise<void>;
	flushOne(groupId: string, userId: string): Promise<void>;
	flushDirty(all?: boolean): Promise<void>;
	forgetOwned(entries: OwnedSession[]): void;
	checkOwnership(): Promise<void>;
	noticeEnvelopes(session: SessionData, notices: Notice[], now: number, caller?: User): Promise<Envelope[]>;
	publish(ctx: Context | null, session: SessionData): Promise<void>;
	requireTargetMember(ctx: Context<unknown, Meta>, group: GroupProjectionDoc, userId: string): Promise<void>;
	runChecks(): Promise<void>;
	ensureSosLead(userId: string): Promise<void>;
	onMembershipChange(change: MembershipChange, ctx: Context): Promise<void>;
}

type LocationThis = Service<LocationSettings> & LocationVars & LocationMethods;

const isInvalidState = (err: unknown) => (err as { type?: string }).type === ErrorTypes.INVALID_STATE;
const notRemoved = { removed: { $ne: true } };
const withoutBulk = { route: 0, outbox: 0 };

const LocationService: ServiceSchema<LocationSettings, LocationMethods, LocationVars, LocationThis> = {
	name: "location",
	mixins: [
		MongooseMixin({ db: "location", models: locationModels }),
		OutboxRelay<LocationModels>({ models: ["Session"] }),
		IdempotentConsumer({ events: Subscriptions.location, consume: MembershipConsumers }),
		MembershipProjection<LocationThis>({
			onChange(change, ctx) {
				return this.onMembershipChange(change, ctx);
			},
		}),
	],
	settings: {
		thresholds: {
			offlineAfterMs: config.offlineAfterMs(),
			stuckAfterMs: config.stuckAfterMs(),
			stuckRadiusM: config.stuckRadiusM(),
			arrivalRadiusM: config.arrivalRadiusM(),
		},
		checkEveryMs: config.trackingCheckEveryMs(),
	},

	actions: {
		/** Starts sharing the caller's location with one group. */
		startSharing: {
			...OWNED_BY_CALLER,
			params: groupParams,
			async handler(ctx: Context<GroupParams, Meta>): Promise<Session> {
				const caller = callerOf(ctx);
				await this.requireMember(ctx, ctx.params.groupId);
				this.memberships.confirm(ctx.params.groupId, caller.id);
				return toApiSession(await this.applyToSession(ctx, ctx.params.groupId, caller.id, { type: "sharingStarted" }, caller));
			},
		},

		/** Stops sharing with one group (ending a journey there); the last position stays visible. */
		stopSharing: {
			...OWNED_BY_CALLER,
			params: groupParams,
			async handler(ctx: Context<GroupParams, Meta>): Promise<Session> {
				const caller = callerOf(ctx);
				await this.requireMember(ctx, ctx.params.groupId);
				return toApiSession(await this.applyToSession(ctx, ctx.params.groupId, caller.id, { type: "sharingStopped" }, caller));
			},
		},

		/** Records the caller's position in every group where they share (every group during an SOS). */
		addSample: {
			...OWNED_BY_CALLER,
			params: sampleParams,
			async handler(ctx: Context<SampleParams, Meta>): Promise<{ sessions: Session[] }> {
				const caller = callerOf(ctx);
				const { latitude, longitude, accuracy, timestamp } = ctx.params;
				const now = Date.now();
				if (timestamp !== undefined) {
					const problem = sampleTimestampProblem(timestamp, now);
					if (problem) throw validationError("Parameters validation error!", [problem]);
				}
				// Stored in UTC whatever offset the device used (API.md: all times in UTC).
				const point: Point & { accuracy?: number } = {
					latitude,
					longitude,
					timestamp: new Date(timestamp === undefined ? now : Date.parse(timestamp)).toISOString(),
					...(accuracy !== undefined ? { accuracy } : {}),
				};
				// The caller's sessions are owned by this instance and kept in memory: no query per sample.
				const sharing = (await this.ownedSessionsOf(caller.id)).filter(entry => entry.data.sharing || entry.data.state === "SOS");
				// Only groups the user is in now: a session may outlive a departure until its durable event
				// arrives, and a departed member's position must not leak (see LocalMembership).
				const member = await Promise.all(sharing.map(entry => this.isMemberNow(entry.data.groupId, caller.id)));
				const groupIds = sharing.filter((_, i) => member[i]).map(entry => entry.data.groupId).sort();
				if (!groupIds.length) throw invalidState("You are not sharing your location in any group");
				const sessions = await Promise.all(
					groupIds.map(
						async groupId =>
							// Sharing stopped in between: the sample simply does not apply there.
							(await this.tryApply(ctx, groupId, caller.id, { type: "sample", point }, caller)) ?? this.loadSession(groupId, caller.id),
					),
				);
				ctx.meta.$statusCode = 202;
				return { sessions: sessions.map(toApiSession) };
			},
		},

		/** Starts a journey in one group: the group watches for arrival, lateness, standstill and silence. */
		startJourney: {
			...OWNED_BY_CALLER,
			params: journeyParams,
			async handler(ctx: Context<JourneyParams, Meta>): Promise<Session> {
				const caller = callerOf(ctx);
				const { groupId, destination, eta, mode } = ctx.params;
				const problem = etaProblem(eta, Date.now());
				if (problem) throw validationError("Parameters validation error!", [problem]);
				await this.requireMember(ctx, groupId);
				this.memberships.confirm(groupId, caller.id);
				const journey = { destination: { name: destination.name, latitude: destination.latitude, longitude: destination.longitude }, eta: new Date(eta).toISOString(), mode };
				const session = await this.applyToSession(ctx, groupId, caller.id, { type: "journeyStarted", journey }, caller);
				ctx.meta.$statusCode = 201;
				return toApiSession(session);
			},
		},

		/** Ends the caller's journey in one group before arrival. */
		stopJourney: {
			...OWNED_BY_CALLER,
			params: groupParams,
			async handler(ctx: Context<GroupParams, Meta>): Promise<Session> {
				const caller = callerOf(ctx);
				await this.requireMember(ctx, ctx.params.groupId);
				return toApiSession(await this.applyToSession(ctx, ctx.params.groupId, caller.id, { type: "journeyStopped" }, caller));
			},
		},

		/** Raises an SOS in every group of the caller; everyone sharing a group with them is alerted once. */
		startSos: {
			...OWNED_BY_CALLER,
			params: sosParams,
			async handler(ctx: Context<SosParams, Meta>): Promise<{ sessions: Session[] }> {
				const caller = callerOf(ctx);
				// The authoritative list (read your own writes): a group joined a moment ago counts.
				const listed = ((await ctx.call("users.groupIdsOf", { userId: caller.id })) as string[]).sort();
				const known = new Set((await this.groupsOfUser(caller.id)).map(group => group._id));
				const groupIds: string[] = [];
				for (const groupId of listed) {
					if (known.has(groupId)) groupIds.push(groupId);
					// Teach the projection about the group (names for the texts, samples during the SOS).
					else if (await this.requireMember(ctx, groupId).then(() => true, () => false)) groupIds.push(groupId);
				}
				if (!groupIds.length) throw invalidState("You are in no group: there is nobody to alert");

				const current = await Promise.all(groupIds.map(groupId => this.loadSession(groupId, caller.id)));
				const pending = current.filter(session => session.state !== "SOS");
				if (!pending.length) throw invalidState("An SOS is already on");
				const point: Point = { latitude: ctx.params.latitude, longitude: ctx.params.longitude, timestamp: new Date().toISOString() };
				// One session leads the SOS and carries its single notification: written first, it is the one that matters most.
				const hasLead = current.some(session => session.state === "SOS" && session.sos?.lead);
				const [first, ...rest] = pending;
				const raised: SessionData[] = [];
				const lead = await this.tryApply(ctx, first.groupId, caller.id, { type: "sosRaised", point, lead: !hasLead }, caller);
				if (lead) raised.push(lead);
				for (const session of await Promise.all(rest.map(s => this.tryApply(ctx, s.groupId, caller.id, { type: "sosRaised", point, lead: false }, caller))))
					if (session) raised.push(session);
				if (!raised.length) throw invalidState("An SOS is already on");
				ctx.meta.$statusCode = 201;
				const already = current.filter(session => session.state === "SOS" && !raised.some(r => r.groupId === session.groupId));
				return { sessions: [...raised, ...already].map(toApiSession) };
			},
		},

		/** Ends the caller's SOS in every group; everyone who was alerted hears it is over, once. */
		stopSos: {
			...OWNED_BY_CALLER,
			params: { ...strict },
			async handler(ctx: Context<Record<string, never>, Meta>): Promise<{ sessions: Session[] }> {
				const caller = callerOf(ctx);
				const docs = await this.models.Session.find({ userId: caller.id, state: "SOS", ...notRemoved }, withoutBulk).lean<SessionRow[]>();
				if (!docs.length) throw invalidState("There is no SOS to stop");
				const sessions = docs
					.map(toSessionData)
					.sort((a, b) => Number(Boolean(b.sos?.lead)) - Number(Boolean(a.sos?.lead)) || a.groupId.localeCompare(b.groupId));
				const [first, ...rest] = sessions;
				const stopped: SessionData[] = [];
				const announced = await this.tryApply(ctx, first.groupId, caller.id, { type: "sosStopped", announce: true }, caller);
				if (announced) stopped.push(announced);
				for (const session of await Promise.all(rest.map(s => this.tryApply(ctx, s.groupId, caller.id, { type: "sosStopped", announce: false }, caller))))
					if (session) stopped.push(session);
				if (!stopped.length) throw invalidState("There is no SOS to stop");
				return { sessions: stopped.map(toApiSession) };
			},
		},

		/** Every member's session in a group (never-seen members are INACTIVE with no position). */
		groupSessions: {
			params: groupParams,
			async handler(ctx: Context<GroupParams, Meta>): Promise<Session[]> {
				const group = await this.readableGroup(ctx, ctx.params.groupId);
				// By primary key, one lookup per member: the only query a Mongo-wire server without
				// secondary-index pushdown (FerretDB's SQLite back end) answers without a collection scan.
				return Promise.all(group.members.map(async member => toApiSession(await this.loadSession(group._id, member.id))));
			},
		},

		/** One member's session in a group. */
		memberSession: {
			params: memberParams,
			async handler(ctx: Context<MemberParams, Meta>): Promise<Session> {
				const group = await this.readableGroup(ctx, ctx.params.groupId);
				await this.requireTargetMember(ctx, group, ctx.params.userId);
				return toApiSession(await this.loadSession(group._id, ctx.params.userId));
			},
		},

		/** The route a member recorded since their journey or SOS began, oldest first. */
		memberRoute: {
			params: memberParams,
			async handler(ctx: Context<MemberParams, Meta>): Promise<{ points: Point[] }> {
				const group = await this.requireMember(ctx, ctx.params.groupId);
				await this.requireTargetMember(ctx, group, ctx.params.userId);
				const doc = await this.models.Session.findById(sessionId(group._id, ctx.params.userId), { state: 1, route: 1, removed: 1, version: 1 }).lean();
				if (!doc || doc.removed || !recordsRoute(doc.state)) return { points: [] };
				// Points applied here but not yet written behind belong to the route too.
				const owned = this.owned.get(group._id, ctx.params.userId);
				const pending = owned && owned.data.version === doc.version && recordsRoute(owned.data.state) ? owned.pendingRoute : [];
				return { points: [...(doc.route ?? []), ...pending].map(({ latitude, longitude, timestamp }) => ({ latitude, longitude, timestamp })) };
			},
		},

		/** Operators: every member's session in a group, with the timers' next due time (no caller needed). */
		groupStates: {
			visibility: "public",
			params: groupParams,
			async handler(ctx: Context<GroupParams>) {
				const group = await this.groupProjection().findById(ctx.params.groupId).lean();
				if (!group || group.deleted) throw notFound("Group");
				const docs = await this.models.Session.find({ groupId: group._id, ...notRemoved }, withoutBulk).lean<SessionRow[]>();
				const byUser = new Map(docs.map(doc => [doc.userId, this.freshest(doc)]));
				return group.members.map(member => {
					const session = byUser.get(member.id) ?? newSession(group._id, member.id);
					return {
						...toApiSession(session),
						name: `${member.name} ${member.surname}`.trim(),
						sos: session.sos,
						lastSeenAt: session.lastSeenAt === null ? null : new Date(session.lastSeenAt).toISOString(),
						nextCheckAt: session.nextCheckAt === null ? null : new Date(session.nextCheckAt).toISOString(),
					};
				});
			},
		},

		/** Operators: this instance's periodic-check counters and how many sessions are due now. */
		trackingStats: {
			visibility: "public",
			params: { ...strict },
			async handler() {
				const due = await this.models.Session.countDocuments({ nextCheckAt: { $lte: Date.now() } });
				return { nodeID: this.broker.nodeID, checkEveryMs: this.settings.checkEveryMs, ...this.stats, due, ownedSessions: this.owned.size, unwritten: this.owned.dirty().length };
			},
		},
	},

	events: {
		/**
		 * The users service broadcasts every membership change before it answers: a member who left
		 * (or whose group went) is no longer admitted from our memory, and their sessions here are
		 * dropped with anything not yet written (the durable event turns them into tombstones).
		 */
		[LiveEvents.group](ctx: Context<LiveGroup>) {
			const { groupId, change, userId } = ctx.params;
			if (change === "deleted") {
				this.memberships.deleted(groupId);
				this.views.drop(groupId);
				this.forgetOwned(this.owned.inGroup(groupId));
			} else if (change === "memberRemoved" && userId) {
				this.memberships.removed(groupId, userId);
				this.views.drop(groupId, userId);
				const entry = this.owned.get(groupId, userId);
				if (entry) this.forgetOwned([entry]);
			} else if ((change === "memberAdded" || change === "created") && userId) {
				this.memberships.added(groupId, userId);
			}
		},
		// A reconnect to NATS may have missed membership broadcasts: read the projection again.
		"$transporter.connected"() {
			this.memberships?.clear();
		},
		// Another location instance came or went: users may have changed owner.
		"$services.changed"() {
			void this.checkOwnership();
		},
	},

	methods: {
		/**
		 * A session as members read it: this instance's copy when it holds changes not yet written
		 * (newer than the stored one), else a copy read in the last few seconds, else the stored one.
		 * (A clean owned copy is not trusted blindly: another instance's periodic check may have
		 * changed the stored session.)
		 */
		async loadSession(groupId: string, userId: string): Promise<SessionData> {
			const owned = this.owned.get(groupId, userId);
			if (owned && owned.dirtySince !== null) return owned.data;
			const seen = this.views.get(groupId, userId);
			if (seen) return seen;
			const doc = await this.models.Session.findById(sessionId(groupId, userId), withoutBulk).lean<SessionRow>();
			const session = doc ? this.freshest(doc) : (owned?.data ?? newSession(groupId, userId));
			this.views.set(groupId, userId, session);
			return session;
		},

		/** The stored session, or this instance's copy when it is of the same stored version (it may hold newer positions). */
		freshest(doc: SessionRow): SessionData {
			const owned = doc.removed ? undefined : this.owned.get(doc.groupId, doc.userId);
			return owned && owned.data.version >= doc.version ? owned.data : toSessionData(doc);
		},

		/** A session of a user this instance owns: from memory, else read once and kept. */
		async ownedSession(groupId: string, userId: string): Promise<OwnedSession> {
			const cached = this.owned.get(groupId, userId);
			if (cached) {
				cached.usedAt = Date.now();
				return cached;
			}
			this.stats.sessionReads++;
			const doc = await this.models.Session.findById(sessionId(groupId, userId), withoutBulk).lean<SessionRow>();
			const again = this.owned.get(groupId, userId);
			if (again) return again;
			const entry = ownedEntry(doc ? toSessionData(doc) : newSession(groupId, userId), Date.now());
			this.owned.set(entry);
			return entry;
		},

		/**
		 * Every session of a user this instance owns: read once, then from memory. The users whose
		 * first sample arrives within LOOKUP_BATCH_MS are looked up together, and a user's samples
		 * that arrive while their lookup runs wait for it (after a restart every client sends at once).
		 */
		async ownedSessionsOf(userId: string): Promise<OwnedSession[]> {
			const known = this.owned.ofUser(userId);
			if (known) return known;
			await this.sessionLookups.wait(userId);
			return this.owned.ofUser(userId) ?? [];
		},

		/**
		 * Reads the sessions of these users and keeps them (a copy we already hold of the same or a
		 * newer version wins). By primary key: the users service lists each user's groups, and a
		 * session's id is its group's and user's. (A query by `userId` scans the collection on the
		 * Mongo-wire server used here; after a restart hundreds of users send their first samples in
		 * the same second, and as many scans queued behind one another for seconds.)
		 */
		async lookupSessions(userIds: string[]): Promise<void> {
			let docs: SessionRow[];
			try {
				const found = await Promise.all(
					userIds.map(async userId => {
						const groupIds = (await this.broker.call("users.groupIdsOf", { userId })) as string[];
						// A session held here is as new as any stored one (this instance owns the user; a
						// newer stored version shows at its next write, which then reloads it).
						const unheld = groupIds.filter(groupId => !this.owned.get(groupId, userId));
						this.stats.sessionReads += unheld.length;
						return Promise.all(unheld.map(groupId => this.models.Session.findById(sessionId(groupId, userId), withoutBulk).lean<SessionRow>()));
					}),
				);
				docs = found.flat().filter((doc): doc is SessionRow => Boolean(doc) && !doc!.removed);
			} catch (err) {
				// Samples must not depend on the users service being up: the slow way then.
				this.logger.debug("Looking sessions up by group failed, by user instead:", (err as Error).message);
				docs = await this.models.Session.find({ userId: { $in: userIds }, ...notRemoved }, withoutBulk).lean<SessionRow[]>();
			}
			for (const doc of docs) {
				const cached = this.owned.get(doc.groupId, doc.userId);
				if (!cached || cached.data.version < doc.version) this.owned.set(ownedEntry(toSessionData(doc), Date.now()));
			}
			for (const userId of userIds) this.owned.markComplete(userId);
		},

		/** Whether the user is in the group now (projection by primary key, corrected by membership broadcasts). */
		async isMemberNow(groupId: string, userId: string): Promise<boolean> {
			const known = this.memberships.isMember(groupId, userId);
			if (known !== undefined) return known;
			const group = await this.groupReads.run(groupId, () => {
				this.stats.groupReads++;
				return this.groupProjection().findById(groupId).lean<GroupProjectionDoc>().exec();
			});
			this.memberships.load(groupId, group?.memberIds ?? [], !group || group.deleted, group ?? undefined);
			return this.memberships.isMember(groupId, userId) ?? false;
		},

		/**
		 * The group, for a read by one of its members: from memory when the projection said so
		 * recently (and no broadcast has said otherwise since); anything else — a refusal, a member
		 * the copy does not know yet — is decided by `requireMember` as before.
		 */
		async readableGroup(ctx: Context<unknown, Meta>, groupId: string): Promise<GroupProjectionDoc> {
			const caller = callerOf(ctx);
			if ((await this.isMemberNow(groupId, caller.id)) === true) {
				const group = this.memberships.groupFor(groupId, caller.id);
				if (group) return group;
			}
			const group = await this.requireMember(ctx, groupId);
			// requireMember's answer is the projection or the users service's current snapshot: keep it.
			this.memberships.confirm(groupId, caller.id);
			this.memberships.load(groupId, group.memberIds, false, group);
			return group;
		},

		/** One change at a time per session on this instance; the version check guards against the others. */
		applyToSession(ctx: Context<unknown, Meta> | null, groupId: string, userId: string, event: LocationEvent, caller?: User): Promise<SessionData> {
			if (event.type === "sample") {
				const applied = this.sampleDuringWrite(ctx, groupId, userId, event.point);
				if (applied) return applied;
			}
			return this.locks.run(sessionKey(groupId, userId), () => this.applyLocked(ctx, groupId, userId, event, caller));
		},

		/**
		 * A sample arriving while the session's only locked operation is a write behind waiting for
		 * the database: when it can be deferred, it is applied on top of the entry in memory and
		 * pushed live at once, instead of waiting for the write (a slow database would otherwise add
		 * its latency to every sample that meets a write behind — the tail of the live updates). The
		 * write keeps it pending (see `carryOver`). Undefined: take the lock as usual.
		 */
		sampleDuringWrite(ctx: Context<unknown, Meta> | null, groupId: string, userId: string, point: Point & { accuracy?: number }): Promise<SessionData> | undefined {
			const entry = this.owned.get(groupId, userId);
			// Anything queued behind the write (a command, another sample) keeps its turn: order is preserved.
			if (!entry?.writing || this.locks.inFlight(sessionKey(groupId, userId)) !== 1) return undefined;
			const now = Date.now();
			const outcome = decide(entry.data, { type: "sample", point }, now, this.settings.thresholds);
			if (!canDefer(entry.data, outcome, entry.storedNextCheckAt, now, WRITE_THROUGH_WITHIN_MS)) return undefined;
			entry.usedAt = now;
			return this.deferSample(ctx, entry, outcome, point, now);
		},

		/** Applies a deferrable sample's outcome to the owned entry (written behind later) and pushes it live. */
		async deferSample(ctx: Context<unknown, Meta> | null, entry: OwnedSession, outcome: Transition, point: Point & { accuracy?: number }, now: number): Promise<SessionData> {
			const before = entry.data;
			// A stale sample changes nothing at all.
			if (outcome.session === before) return before;
			const appended = outcome.route.kind === "append" ? outcome.route.points : [];
			entry.data = { ...outcome.session, routeLength: before.routeLength + appended.length };
			entry.pendingRoute.push(...appended);
			entry.pendingSamples.push(point);
			entry.dirtySince ??= now;
			this.stats.deferred++;
			if (outcome.changed) await this.publish(ctx, entry.data);
			return entry.data;
		},

		/**
		 * Decide on the session as this instance holds it; apply a position-only change in memory
		 * (written behind), write anything else through, conditionally on the stored version; when
		 * another writer got there first, reload and try again.
		 */
		async applyLocked(ctx: Context<unknown, Meta> | null, groupId: string, userId: string, event: LocationEvent, caller?: User): Promise<SessionData> {
			for (let attempt = 0; attempt < MAX_VERSION_RETRIES; attempt++) {
				const entry = await this.ownedSession(groupId, userId);
				const before = entry.data;
				const now = Date.now();
				const outcome = decide(before, event, now, this.settings.thresholds);
				if (event.type === "sample" && canDefer(before, outcome, entry.storedNextCheckAt, now, WRITE_THROUGH_WITHIN_MS)) {
					return this.deferSample(ctx, entry, outcome, event.point, now);
				}
				const after = await this.commit(before, outcome, caller, entry);
				if (after) {
					if (outcome.changed) await this.publish(ctx, after);
					return after;
				}
				await this.rebase(groupId, userId);
			}
			throw conflict("Your session is changing too fast, try again");
		},

		/** Like applyToSession, but null when the event no longer applies (for commands spanning several groups). */
		async tryApply(ctx: Context<unknown, Meta>, groupId: string, userId: string, event: LocationEvent, caller?: User): Promise<SessionData | null> {
			try {
				return await this.applyToSession(ctx, groupId, userId, event, caller);
			} catch (err) {
				if (isInvalidState(err)) return null;
				throw err;
			}
		},

		/**
		 * Writes a transition in ONE conditional update: the session, its route and the notifications
		 * announcing it (outbox). Returns the stored session, or null when the version moved on.
		 */
		async commit(before: SessionData, outcome: Transition, caller?: User, entry?: OwnedSession): Promise<SessionData | null> {
			const { session, route, notices } = outcome;
			// Changes applied in memory since the last write (only when `before` is the owned copy) go with this write.
			const pending = entry && entry.data === before ? [...entry.pendingRoute] : [];
			const pendingSampleCount = entry && entry.data === before ? entry.pendingSamples.length : 0;
			const unwritten = Boolean(entry && entry.data === before && entry.dirtySince !== null);
			const needsWrite = unwritten || outcome.changed || notices.length > 0 || route.kind !== "keep" || session.nextCheckAt !== before.nextCheckAt;
			if (!needsWrite) return before;
			const now = Date.now();
			const id = sessionId(session.groupId, session.userId);

			let routeSet: Point[] | undefined;
			let routePush: Point[] | undefined;
			// `before.routeLength` counts the pending points; the stored route does not have them yet.
			const storedLength = before.routeLength - pending.length;
			let routeLength = before.routeLength;
			if (route.kind === "reset") {
				routeSet = capRoute(route.points);
				routeLength = routeSet.length;
			} else {
				const added = [...pending, ...(route.kind === "append" ? route.points : [])];
				if (storedLength + added.length > MAX_ROUTE_POINTS) {
					// FerretDB ignores `$push: { $slice }`, so a full route is thinned here and rewritten (rarely).
					const stored = await this.models.Session.findById(id, { route: 1 }).lean();
					routeSet = capRoute([...(stored?.route ?? []), ...added]);
					routeLength = routeSet.length;
				} else if (added.length) {
					routePush = added;
					routeLength = storedLength + added.length;
				}
			}

			const outbox = await this.noticeEnvelopes(session, notices, now, caller);
			const next: SessionData = { ...session, routeLength, version: before.version + 1 };
			if (before.version === 0) {
				try {
					await this.models.Session.create({ _id: id, ...next, route: routeSet ?? routePush ?? [], removed: false, outbox } as SessionDoc);
				} catch (err) {
					if ((err as { code?: number }).code === 11000) return null;
					throw err;
				}
			} else {
				const push: Record<string, { $each: unknown[] }> = {};
				if (outbox.length) push.outbox = { $each: outbox };
				if (routePush) push.route = { $each: routePush };
				const result = await this.models.Session.updateOne(
					{ _id: id, version: before.version },
					{
						$set: { ...sessionFields(next), removed: false, ...(routeSet ? { route: routeSet } : {}) },
						$inc: { version: 1 },
						...(Object.keys(push).length ? { $push: push } : {}),
					},
				);
				if (result.matchedCount !== 1) return null;
			}
			if (outbox.length) {
				this.stats.notices += outbox.length;
				this.kickOutbox("Session", id);
			}
			// The owned copy is now exactly what is stored, plus any sample applied on top of it while
			// a write behind waited for the database (still pending).
			if (entry) this.owned.set(this.owned.get(session.groupId, session.userId) === entry ? carryOver(entry, before, next, pending.length, pendingSampleCount, now) : ownedEntry(next, now));
			this.views.drop(session.groupId, session.userId);
			return next;
		},

		/**
		 * Another writer changed the stored session first (the periodic check of another instance, a
		 * departure, a previous owner): forget our copy, and apply the samples it still held on the
		 * stored session (stale ones are ignored by the state machine as usual). Lock held by the caller.
		 */
		async rebase(groupId: string, userId: string) {
			const entry = this.owned.delete(groupId, userId);
			if (!entry?.pendingSamples.length) return;
			this.stats.rebased += entry.pendingSamples.length;
			for (const point of entry.pendingSamples) {
				try {
					await this.applyLocked(null, groupId, userId, { type: "sample", point });
				} catch (err) {
					if (!isInvalidState(err)) this.logger.warn("A pending sample could not be applied again:", (err as Error).message);
				}
			}
		},

		/** Writes one session's pending changes (lock taken here). */
		flushOne(groupId: string, userId: string) {
			return this.locks.run(sessionKey(groupId, userId), async () => {
				const entry = this.owned.get(groupId, userId);
				if (!entry || entry.dirtySince === null) return;
				let after: SessionData | null;
				entry.writing = true;
				try {
					after = await this.commit(entry.data, { session: entry.data, changed: false, route: { kind: "keep" }, notices: [] }, undefined, entry);
				} finally {
					entry.writing = false;
				}
				if (after) this.stats.flushed++;
				else await this.rebase(groupId, userId);
			});
		},

		/**
		 * Writes behind what has waited PERSIST_AFTER_MS, and first what has stored timers coming
		 * due soon (everything with `all`), a few writes at a time; drops idle copies.
		 */
		async flushDirty(all = false) {
			if (this.flushing || !this.models) return;
			this.flushing = true;
			try {
				const now = Date.now();
				const due = all ? this.owned.dirty() : this.owned.toWrite(now - PERSIST_AFTER_MS, now + priorityWindowMs(this.settings.thresholds.offlineAfterMs, PRIORITY_WITHIN_MS));
				let next = 0;
				await Promise.all(
					Array.from({ length: Math.min(FLUSH_CONCURRENCY, due.length) }, async () => {
						while (next < due.length) {
							const { groupId, userId } = due[next++]!.data;
							try {
								await this.flushOne(groupId, userId);
							} catch (err) {
								this.logger.warn("Writing a session behind failed (retried on the next round):", (err as Error).message);
							}
						}
					}),
				);
				for (const entry of this.owned.idle(Date.now() - EVICT_IDLE_MS)) this.owned.delete(entry.data.groupId, entry.data.userId);
			} finally {
				this.flushing = false;
			}
		},

		/** Drops owned copies with whatever they had not written (their sessions are going away). */
		forgetOwned(entries: OwnedSession[]) {
			for (const entry of entries) this.owned.delete(entry.data.groupId, entry.data.userId);
		},

		/** When the set of location instances changes, users may move to another owner: write everything and forget. */
		async checkOwnership() {
			const services = this.broker.registry.getServiceList({ onlyAvailable: true }) as { name: string; nodeID: string }[];
			const nodes = services
				.filter(service => service.name === "location")
				.map(service => service.nodeID)
				.sort()
				.join(",");
			if (this.locationNodes === undefined || nodes === this.locationNodes) {
				this.locationNodes = nodes;
				return;
			}
			this.locationNodes = nodes;
			while (this.flushing) await new Promise(resolve => setTimeout(resolve, 20));
			await this.flushDirty(true);
			this.owned.clear();
		},

		/** The `notifications.send` commands for a transition's notices, naming the user as the group knows them. */
		async noticeEnvelopes(session: SessionData, notices: Notice[], now: number, caller?: User): Promise<Envelope[]> {
			if (!notices.length) return [];
			const group = await this.groupProjection().findById(session.groupId).lean();
			const member = group?.members.find(m => m.id === session.userId);
			const user = member ?? (caller?.id === session.userId ? caller : null);
			const subject = { userId: session.userId, user, groupId: session.groupId, groupVersion: group?.version };
			return notices.map(notice => newEnvelope(DomainEvents.notificationSend, notificationCommand(notice, subject, this.settings.thresholds), new Date(now)));
		},

		/**
		 * Pushes the session to every connected member of its group (through every gateway), in one
		 * broadcast with the other updates of this event-loop turn (see LiveBatcher); resolves once sent.
		 */
		async publish(ctx: Context | null, session: SessionData) {
			await this.live.add({ groupId: session.groupId, session: toApiSession(session) }, ctx);
		},

		/** 404 unless `userId` is a member of the group (asking the users service when our copy may be behind). */
		async requireTargetMember(ctx: Context<unknown, Meta>, group: GroupProjectionDoc, userId: string) {
			if (group.memberIds.includes(userId)) return;
			try {
				await this.requireMember(ctx, group._id, userId);
			} catch (err) {
				if ((err as { type?: string }).type === ErrorTypes.FORBIDDEN) throw notFound("Member", { userId });
				throw err;
			}
		},

		/**
		 * The periodic check: applies the time-based rules to every session whose `nextCheckAt` has
		 * come. Every instance runs it; each session is claimed by a conditional write on its version,
		 * together with the alert's notification, so an alert fires once however many instances look.
		 */
		async runChecks() {
			if (this.checking || !this.models) return;
			this.checking = true;
			try {
				this.stats.checks++;
				const due = await this.models.Session.find({ nextCheckAt: { $lte: Date.now() } }, withoutBulk)
					.sort({ nextCheckAt: 1 })
					.limit(CHECK_BATCH)
					.lean<SessionRow[]>();
				for (const doc of due) {
					await this.locks.run(sessionKey(doc.groupId, doc.userId), async () => {
						// A session owned here is checked as held in memory (with its unwritten samples).
						const entry = doc.removed ? undefined : this.owned.get(doc.groupId, doc.userId);
						if (entry && entry.data.version !== doc.version) {
							await this.rebase(doc.groupId, doc.userId);
							return; // checked again next round, on the fresh copy
						}
						const before = entry ? entry.data : toSessionData(doc);
						const outcome = decide(before, { type: "timer" }, Date.now(), this.settings.thresholds);
						const after = await this.commit(before, outcome, undefined, entry);
						if (!after) {
							this.stats.lost++;
							if (entry) await this.rebase(doc.groupId, doc.userId);
							return;
						}
						this.stats.claimed++;
						if (outcome.changed) await this.publish(null, after);
					});
				}
				if (Date.now() - (this.lastPurgeAt ?? 0) > TOMBSTONE_PURGE_EVERY_MS) {
					this.lastPurgeAt = Date.now();
					await this.models.Session.deleteMany({ removed: true, "outbox.0": { $exists: false } });
				}
			} catch (err) {
				this.logger.warn("Periodic tracking check failed:", (err as Error).message);
			} finally {
				this.checking = false;
			}
		},

		/** The user's SOS keeps a lead session (the one announcing it going offline) after the lead's group is gone. */
		async ensureSosLead(userId: string) {
			const docs = await this.models.Session.find({ userId, state: "SOS", ...notRemoved }, withoutBulk).sort({ groupId: 1 }).lean<SessionRow[]>();
			if (!docs.length || docs.some(doc => doc.sos?.lead)) return;
			const promoted = promoteSosLead(toSessionData(docs[0]), this.settings.thresholds);
			await this.models.Session.updateOne(
				{ _id: docs[0]._id, version: docs[0].version },
				{ $set: { sos: promoted.sos, nextCheckAt: promoted.nextCheckAt }, $inc: { version: 1 } },
			);
		},

		/**
		 * Membership projection hook: sessions of members who left, of deleted users and of deleted
		 * groups go. They become blank tombstones (not deleted) so notifications still in their
		 * outbox are published; the periodic check purges them afterwards. Idempotent.
		 */
		async onMembershipChange(change: MembershipChange) {
			if (change.deletedUserId) {
				this.views.dropUser(change.deletedUserId);
				this.forgetOwned(this.owned.ofUserAll(change.deletedUserId));
			} else if (change.deleted) {
				this.memberships.deleted(change.groupId);
				this.views.drop(change.groupId);
				this.forgetOwned(this.owned.inGroup(change.groupId));
			} else {
				// Joins are not taken from here: a late redelivery of an old join must not readmit someone
				// who has left since (a re-added member's next start of sharing confirms them).
				this.memberships.changed(change.groupId);
				for (const member of change.removed) {
					this.memberships.removed(change.groupId, member.id);
					this.views.drop(change.groupId, member.id);
					const entry = this.owned.get(change.groupId, member.id);
					if (entry) this.forgetOwned([entry]);
				}
			}
			let filter: Record<string, unknown>;
			if (change.deletedUserId) filter = { userId: change.deletedUserId };
			else if (change.deleted) filter = { groupId: change.groupId };
			else if (change.removed.length) filter = { groupId: change.groupId, userId: { $in: change.removed.map(member => member.id) } };
			else return;
			const affected = await this.models.Session.find({ ...filter, ...notRemoved }, { userId: 1 }).lean();
			if (!affected.length) return;
			await this.models.Session.updateMany({ ...filter, ...notRemoved }, { $set: TOMBSTONE, $inc: { version: 1 } });
			if (change.deletedUserId) return;
			for (const userId of new Set(affected.map(doc => doc.userId))) await this.ensureSosLead(userId);
		},
	},

	created() {
		this.stats = { checks: 0, claimed: 0, lost: 0, notices: 0, deferred: 0, flushed: 0, rebased: 0, sessionReads: 0, groupReads: 0 };
		this.owned = new OwnedSessions();
		this.memberships = new LocalMembership();
		this.sessionLookups = new BatchedLookups(LOOKUP_BATCH_MS, userIds => this.lookupSessions(userIds));
		this.groupReads = new SingleFlight();
		this.views = new SessionViews();
		this.locks = new KeyedLock();
		this.live = new LiveBatcher<LiveLocation, Context>(
			(payload, ctx) => (ctx ? ctx.broadcast(LiveEvents.location, payload) : this.broker.broadcast(LiveEvents.location, payload)),
			// A batch answers several requests: it is nobody's child, and carries no caller's meta.
			updates => this.broker.broadcast(LiveEvents.location, { updates } satisfies LiveLocationBatch),
		);
	},

	started() {
		// Timers live in the database (`nextCheckAt`); this only decides how often we look.
		this.checkTimer = setInterval(() => void this.runChecks(), this.settings.checkEveryMs);
		this.flushTimer = setInterval(() => void this.flushDirty(), FLUSH_TICK_MS);
		void this.runChecks();
		void this.checkOwnership();
	},

	async stopped() {
		clearInterval(this.checkTimer);
		clearInterval(this.flushTimer);
		const deadline = Date.now() + 3_000;
		while (this.checking && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20));
		// Runs before the database mixin closes the connection: nothing applied in memory is lost on a graceful stop.
		const writeBy = Date.now() + 8_000;
		while (this.owned.dirty().length && Date.now() < writeBy) {
			if (this.flushing) await new Promise(resolve => setTimeout(resolve, 20));
			else await this.flushDirty(true);
		}
	},
};

export default LocationService;
