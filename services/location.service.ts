import type { Model } from "mongoose";
import type { Context, Service, ServiceSchema } from "moleculer";
import { MongooseMixin } from "../mixins/mongoose.mixin.js";
import { OutboxRelay } from "../mixins/outbox-relay.mixin.js";
import { IdempotentConsumer } from "../mixins/idempotent-consumer.mixin.js";
import { MembershipConsumers, MembershipProjection, type GroupProjectionDoc, type MembershipChange } from "../mixins/membership.mixin.js";
import { Subscriptions } from "../events/streams.js";
import { isMember } from "../events/membership.js";
import { config } from "../lib/config.js";
import { callerOf, rules, strict } from "../lib/params.js";
import { ErrorTypes, invalidState, notFound, validationError } from "../events/errors.js";
import { LiveEvents, type LiveGroup, type LiveShareEnded } from "../events/live.js";
import { type Meta, type Point, type Session, type User } from "../events/types.js";
import {
	groupParams,
	type GroupParams,
	memberParams,
	type MemberParams,
	sampleParams,
	type SampleParams,
	journeyParams,
	type JourneyParams,
	journeyUpdateParams,
	type JourneyUpdateParams,
	transitionParams,
	type TransitionParams,
	sosParams,
	type SosParams,
	shareLinkParams,
	type ShareLinkParams,
	shareTokenParams,
	type ShareTokenParams,
	precisionParams,
	type PrecisionParams,
	historyParams,
	type HistoryParams,
} from "./location/params.js";
import type { LocationModels } from "./location/models.js";
import { locationDatabase, type LocationDatabase } from "./location/database.js";
import { SampleJournal } from "./location/sample-journal.js";
import { handOverOrphans, type JournalNode } from "./location/hand-over-replay.js";
import { JournalStore } from "./location/journal-store.js";
import { Ownership, runningNodes } from "./location/ownership.js";
import { Erasure } from "./location/erasure.js";
import { newSession, recordsRoute, toApiSession, toOperatorSession, type SessionData, type Thresholds } from "./location/session.js";
import { MongoSessionRepository, type SessionRepository } from "./location/session-repository.js";
import { createTracking, type Tracking } from "./location/tracking.js";
import type { LocationEvent } from "./location/state-machine.js";
import { etaProblem, samplePoint, sampleTimestampProblem } from "./location/validation.js";
import { GroupLists, shownPositions, visiblePeople, type GroupView, type VisiblePerson } from "./location/visible-people.js";
import { sosGroupsOf } from "./location/sos.js";
import { applyInEach, sharingGroupsNow } from "./location/sharing-groups.js";
import { liveLocations } from "./location/live-batch.js";
import { SampleLimit } from "./location/sample-limit.js";
import { PlaceStore, toPlace, type CachedPlace } from "./location/places/place-store.js";
import {
	createPlaceParams,
	groupPlacesParams,
	normalizePlaceName,
	patchPlaceParams,
	placeChanges,
	placeParams,
	type CreatePlaceParams,
	type PatchPlaceParams,
	type Place,
} from "./location/places/place-rules.js";
import { placesVersion, type PlacesOfUser } from "./location/places/user-places.js";
import { resolveDestination } from "./location/places/destination.js";
import { announcePlaceChange, PLACES_CHANGED, type PlacesChanged } from "./location/places/place-events.js";
import { withOccupants } from "./location/places/session-places.js";
import { PRECISION_CHANGED_EVENT, PrecisionStore, sessionFor, type PrecisionChanged } from "./location/precision-settings.js";
import { routeFor } from "./location/precision.js";
import { History, historyWindow, TOO_MANY_POINTS } from "./location/history/store.js";
import { historyDownload } from "./location/history/export.js";
import {
	SHARE_DURATION_S,
	ShareLinks,
	sharedName,
	sharedViewOf,
	shareUrl,
	termsOf,
	type ResolvedShareLink,
	type ShareLinkListing,
	type SharedView,
} from "./location/sharing/share-links.js";
import { repeatable } from "../lib/repeatable.js";

/**
 * Location tracking (SPEC §5): sharing, position samples, journeys and SOS per (user, group)
 * session, the alerts that watch journeys, and the live updates and notifications they cause.
 *
 * Commands of one user are routed to one instance (Shard strategy on the caller's id), so that
 * user's samples are applied in order by its SessionStore (location/session-store.ts), which keeps
 * them in memory and writes every change conditionally on the session's `version`: concurrent
 * writers (another instance during a rebalance, the periodic check) can never both win. The
 * periodic check (location/periodic-check.ts) derives what is due from the persisted `nextCheckAt`,
 * so alerts fire while the user is silent and after a restart.
 */

/** How often queued history points are written, and expired ones (and ended share links) purged. */
const HISTORY_FLUSH_MS = 1_000;
const HISTORY_PURGE_EVERY_MS = 10 * 60_000;

/** Every command of a user goes to the instance owning that user (consistent hashing on `meta.user.id`). */
const OWNED_BY_CALLER = { strategy: "Shard", strategyOptions: { shardKey: "#user.id" } };

/** How long a read of a user's groups waits for the users service before taking this service's projection. */
const USERS_LOOKUP_TIMEOUT_MS = 1_000;

/** How often dirty sessions are looked at for writing behind (see WRITE_BEHIND in location/session-store.ts). */
const FLUSH_TICK_MS = 250;
/** How often the sample journal retries a refused append and deletes what has been written behind. */
const JOURNAL_TICK_MS = 1_000;
/** A graceful stop waits this long for a running periodic check, then this long to write everything. */
const STOP_CHECK_WAIT_MS = 3_000;
const STOP_WRITE_WAIT_MS = 8_000;

// ---- this

interface LocationSettings {
	thresholds: Thresholds;
	checkEveryMs: number;
	/** HISTORY_DAYS: how long each user's own positions are kept (0: not kept). */
	historyDays: number;
}

/** `store`, `sos`, `membership`, `checks`: the domain parts (location/tracking.ts). */
interface LocationVars extends Tracking {
	models: LocationDatabase;
	sessions: SessionRepository;
	/** The ids of users' groups, for the people a phone's answer shows (location/visible-people.ts). */
	groupLists: GroupLists;
	/** SAMPLE_RATE_LIMIT, per user, in this instance (it owns the users whose samples it gets). */
	sampleLimit: SampleLimit;
	/** Groups' places (location/places/place-store.ts). */
	places: PlaceStore;
	checkTimer?: NodeJS.Timeout;
	flushTimer?: NodeJS.Timeout;
	/** Which location instances run; their change moves users (location/ownership.ts). */
	ownership: Ownership;
	/** Acknowledged samples not written behind yet (location/sample-journal.ts), and their collection. */
	journal: SampleJournal;
	journalStore: JournalStore;
	journalTimer?: NodeJS.Timeout;
	/** Who shares an approximate position where (location/precision-settings.ts). */
	precisions: PrecisionStore;
	/** Each user's own positions (location/history/store.ts). */
	history: History;
	/** Share links (location/sharing/share-links.ts). */
	shareLinks: ShareLinks;
	/** What a departure erases, and what expires (location/erasure.ts). */
	erasure: Erasure;
	historyTimer?: NodeJS.Timeout;
	purgeTimer?: NodeJS.Timeout;
	/** Pushes a changed session to the group's members (live.location). */
	publishLive: (session: SessionData, origin: Context | null) => Promise<void>;
}

interface LocationMethods {
	// From the mixins.
	kickOutbox(modelName?: string, docId?: string): void;
	requireMember(ctx: Context<unknown, Meta>, groupId: string, userId?: string): Promise<GroupProjectionDoc>;
	groupProjection(): Model<GroupProjectionDoc>;
	groupsOfUser(userId: string): Promise<GroupProjectionDoc[]>;
	// Own.
	pointOf(ctx: Context<SampleParams, Meta>, now: number): Point;
	applyInGroup(ctx: Context<unknown, Meta>, groupId: string, event: LocationEvent, options?: { admit?: boolean }): Promise<Session>;
	readableGroup(ctx: Context<unknown, Meta>, groupId: string): Promise<GroupProjectionDoc>;
	groupView(ctx: Context<unknown, Meta>, groupId: string): Promise<GroupView | null>;
	requireTargetMember(ctx: Context<unknown, Meta>, group: GroupProjectionDoc, userId: string): Promise<void>;
	sosGroups(ctx: Context<unknown, Meta>, caller: User): Promise<string[]>;
	runningLocationNodes(): string[];
	groupIdsOf(userId: string, ctx?: Context): Promise<string[]>;
	placesOfGroups(ctx: Context<unknown, Meta>, userId: string): Promise<CachedPlace[]>;
	onMembershipChange(change: MembershipChange, ctx: Context): Promise<void>;
	shownTo(viewerId: string, session: SessionData): Session;
}

type LocationThis = Service<LocationSettings> & LocationVars & LocationMethods;

const LocationService: ServiceSchema<LocationSettings, LocationMethods, LocationVars, LocationThis> = {
	name: "location",
	mixins: [
		MongooseMixin({
			db: "location",
			models: locationDatabase,
		}),
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
		historyDays: config.historyDays(),
	},

	actions: {
		/** Starts sharing the caller's location with one group. */
		startSharing: {
			...OWNED_BY_CALLER,
			params: groupParams,
			handler(ctx: Context<GroupParams, Meta>): Promise<Session> {
				return this.applyInGroup(ctx, ctx.params.groupId, { type: "sharingStarted" }, { admit: true });
			},
		},

		/** Stops sharing with one group (ending a journey there); the last position stays visible. */
		stopSharing: {
			...OWNED_BY_CALLER,
			params: groupParams,
			handler(ctx: Context<GroupParams, Meta>): Promise<Session> {
				return this.applyInGroup(ctx, ctx.params.groupId, { type: "sharingStopped" });
			},
		},

		/**
		 * The caller's device may not read their location (the browser's permission was denied): every
		 * group where they share is told at once (`locationBlocked` on the session; an ACTIVE session
		 * goes INACTIVE, still sharing), instead of seeing "Sharing" with an old position. Their next
		 * sample clears it. 200 `{ sessions }`; 409 INVALID_STATE when they share nowhere.
		 */
		reportBlocked: {
			...OWNED_BY_CALLER,
			params: { ...strict },
			async handler(ctx: Context<Record<string, never>, Meta>): Promise<{ sessions: Session[] }> {
				const caller = callerOf(ctx);
				const groupIds = await sharingGroupsNow(this.store, this.membership, caller.id);
				const sessions = await applyInEach(this.store, groupIds, caller.id, { type: "locationBlocked" }, { origin: ctx, caller });
				return { sessions: sessions.map(toApiSession) };
			},
		},

		/**
		 * Records the caller's position in every group where they share (every group during an SOS).
		 * A phone's report (`meta.device`, set by the devices service) is stored before the answer.
		 * At most SAMPLE_RATE_LIMIT a minute per user from all sources (429), none refused during an SOS.
		 */
		addSample: {
			// Safe to run twice: the same fix again is a resend and is recorded once (rules.ts).
			...repeatable(),
			...OWNED_BY_CALLER,
			params: sampleParams(),
			async handler(ctx: Context<SampleParams, Meta>): Promise<{ sessions: Session[] }> {
				const caller = callerOf(ctx);
				const now = Date.now();
				const sample = { type: "sample", point: this.pointOf(ctx, now) } as const;
				const groupIds = await sharingGroupsNow(this.store, this.membership, caller.id);
				const inSos = async () => (await Promise.all(groupIds.map(groupId => this.store.get(groupId, caller.id)))).some(session => session.state === "SOS");
				await this.sampleLimit.admit(caller.id, inSos);
				const sessions = await applyInEach(this.store, groupIds, caller.id, sample, { origin: ctx, caller });
				// Acknowledged means durable: a phone's report is written with its session; anything else
				// written behind is journaled first (location/sample-journal.ts).
				if (ctx.meta.device) await Promise.all(groupIds.map(groupId => this.store.persist(groupId, caller.id)));
				else await Promise.all(groupIds.map(groupId => this.store.durable(groupId, caller.id)));
				// The caller's own history (API.md §6.6): queued, written with the others within a second.
				this.history.buffer.add(caller.id, sample.point);
				ctx.meta.$statusCode = 202;
				return { sessions: sessions.map(toApiSession) };
			},
		},

		/** Starts a journey in one group: the group watches for arrival, lateness, standstill and silence. */
		startJourney: {
			...OWNED_BY_CALLER,
			params: journeyParams,
			async handler(ctx: Context<JourneyParams, Meta>): Promise<Session> {
				callerOf(ctx); // an anonymous call is refused (401) before its ETA is checked (422)
				const { groupId, eta, mode } = ctx.params;
				const problem = etaProblem(eta, Date.now());
				if (problem) throw validationError("Parameters validation error!", [problem]);
				const destination = await resolveDestination(groupId, ctx.params.destination, placeId => this.places.findById(placeId));
				const journey = { destination, eta: new Date(eta).toISOString(), mode };
				const session = await this.applyInGroup(ctx, groupId, { type: "journeyStarted", journey }, { admit: true });
				ctx.meta.$statusCode = 201;
				return session;
			},
		},

		/** Moves the ETA of the caller's running journey in one group; a LATE alert clears when the new ETA is ahead; the group hears it. */
		updateJourney: {
			...OWNED_BY_CALLER,
			params: journeyUpdateParams,
			handler(ctx: Context<JourneyUpdateParams, Meta>): Promise<Session> {
				callerOf(ctx);
				const problem = etaProblem(ctx.params.eta, Date.now());
				if (problem) throw validationError("Parameters validation error!", [problem]);
				return this.applyInGroup(ctx, ctx.params.groupId, { type: "etaChanged", eta: new Date(ctx.params.eta).toISOString() });
			},
		},

		/** Ends the caller's journey in one group before arrival. */
		stopJourney: {
			...OWNED_BY_CALLER,
			params: groupParams,
			handler(ctx: Context<GroupParams, Meta>): Promise<Session> {
				return this.applyInGroup(ctx, ctx.params.groupId, { type: "journeyStopped" });
			},
		},

		/** Raises an SOS in every group of the caller; everyone sharing a group with them is alerted once. */
		startSos: {
			...OWNED_BY_CALLER,
			params: sosParams(),
			async handler(ctx: Context<SosParams, Meta>): Promise<{ sessions: Session[] }> {
				const caller = callerOf(ctx);
				const groupIds = await this.sosGroups(ctx, caller);
				if (!groupIds.length) throw invalidState("You are in no group: there is nobody to alert");
				const point = this.pointOf(ctx, Date.now());
				const sessions = await this.sos.raise(groupIds, caller, point, ctx);
				this.history.buffer.add(caller.id, point);
				ctx.meta.$statusCode = 201;
				return { sessions: sessions.map(toApiSession) };
			},
		},

		/** Ends the caller's SOS in every group; everyone who was alerted hears it is over, once. */
		stopSos: {
			...OWNED_BY_CALLER,
			params: { ...strict },
			async handler(ctx: Context<Record<string, never>, Meta>): Promise<{ sessions: Session[] }> {
				const sessions = await this.sos.stop(callerOf(ctx), ctx);
				return { sessions: sessions.map(toApiSession) };
			},
		},

		/**
		 * The people the caller may see now, the caller included, each at their newest visible position
		 * (who counts is decided in location/visible-people.ts): the friends an OwnTracks answer puts on
		 * the phone's map. Runs where the caller's own sessions are held, so their own position is the newest.
		 */
		visiblePeople: {
			...repeatable(),
			...OWNED_BY_CALLER,
			visibility: "public",
			params: { ...strict },
			async handler(ctx: Context<Record<string, never>, Meta>): Promise<VisiblePerson[]> {
				const caller = callerOf(ctx);
				const groupIds = await this.membership.groupsWithMember(await this.groupLists.of(caller.id), caller.id);
				const groups = await Promise.all(groupIds.map(groupId => this.groupView(ctx, groupId)));
				return visiblePeople(
					caller.id,
					groups.filter((group): group is GroupView => group !== null),
				);
			},
		},

		/** A group's places, oldest first (members only). */
		listPlaces: {
			...repeatable(),
			params: groupPlacesParams,
			async handler(ctx: Context<{ groupId: string }, Meta>): Promise<Place[]> {
				await this.requireMember(ctx, ctx.params.groupId);
				return this.places.list(ctx.params.groupId);
			},
		},

		/** Adds a place to a group (any member): the other members hear when someone arrives there or leaves. */
		createPlace: {
			params: createPlaceParams,
			async handler(ctx: Context<CreatePlaceParams, Meta>): Promise<Place> {
				const caller = callerOf(ctx);
				const { groupId, latitude, longitude, radius } = ctx.params;
				const name = normalizePlaceName(ctx.params.name);
				const group = await this.requireMember(ctx, groupId);
				const place = await this.places.create({ groupId, name, latitude, longitude, radius, createdBy: caller.id }, new Date());
				await announcePlaceChange(ctx, group, "created", place, this.logger);
				ctx.meta.$statusCode = 201;
				return place;
			},
		},

		/** Renames, moves or resizes a place (any member); whoever stands in it is not announced as arriving or leaving. */
		updatePlace: {
			params: patchPlaceParams,
			async handler(ctx: Context<PatchPlaceParams, Meta>): Promise<Place> {
				callerOf(ctx);
				const changes = placeChanges(ctx.params);
				const group = await this.requireMember(ctx, ctx.params.groupId);
				const place = await this.places.update(ctx.params.groupId, ctx.params.placeId, changes);
				if (Object.keys(changes).length) await announcePlaceChange(ctx, group, "updated", place, this.logger);
				return place;
			},
		},

		/** Deletes a place (any member); nobody is announced as leaving it. */
		removePlace: {
			params: placeParams,
			async handler(ctx: Context<{ groupId: string; placeId: string }, Meta>): Promise<null> {
				callerOf(ctx);
				const group = await this.requireMember(ctx, ctx.params.groupId);
				const place = toPlace(await this.places.get(ctx.params.groupId, ctx.params.placeId));
				await this.places.remove(ctx.params.groupId, ctx.params.placeId);
				await announcePlaceChange(ctx, group, "deleted", place, this.logger);
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		/** Operators (`journal`): acknowledged samples not written behind yet, per location instance, running or gone. */
		journalStatus: {
			...repeatable(),
			visibility: "public",
			params: { ...strict },
			async handler(): Promise<{ nodes: JournalNode[] }> {
				return { nodes: await this.journalStore.byNode(this.runningLocationNodes()) };
			},
		},

		/** On a user's new owner: the samples a crashed owner acknowledged and had not written, applied again (location/hand-over-replay.ts). */
		adoptSamples: {
			strategy: "Shard",
			strategyOptions: { shardKey: "userId" },
			visibility: "public",
			params: { ...strict, userId: rules.id, liveNodes: { type: "array", items: "string" } },
			async handler(ctx: Context<{ userId: string; liveNodes: string[] }, Meta>): Promise<void> {
				const { byGroup, ids } = await this.journalStore.orphansOf(ctx.params.userId, ctx.params.liveNodes);
				for (const [groupId, points] of byGroup) await this.store.adopt(groupId, ctx.params.userId, points);
				await Promise.all([...byGroup.keys()].map(groupId => this.store.durable(groupId, ctx.params.userId)));
				await this.journalStore.remove(ids);
			},
		},

		/**
		 * After a change of a group's places, on the instance owning the member: Session.place decided
		 * again from their last position (silently), and shown live when it changed.
		 */
		rebasePlaces: {
			strategy: "Shard",
			strategyOptions: { shardKey: "userId" },
			visibility: "public",
			params: { ...strict, groupId: rules.id, userId: rules.id },
			async handler(ctx: Context<{ groupId: string; userId: string }, Meta>): Promise<void> {
				const { groupId, userId } = ctx.params;
				this.places.invalidate(groupId);
				const places = await this.places.of(groupId);
				await this.store.tryApply(groupId, userId, { type: "placesChanged", places }, { origin: ctx });
			},
		},

		/**
		 * An OwnTracks transition (API.md §6.2, §6.4): the caller's phone saw them enter or leave one of
		 * their places. Counts as the crossing, once: the server's own detection shares the inside-set.
		 */
		placeTransition: {
			...OWNED_BY_CALLER,
			visibility: "public",
			params: transitionParams,
			async handler(ctx: Context<TransitionParams, Meta>): Promise<Session> {
				const caller = callerOf(ctx);
				const found = await this.places.findById(ctx.params.placeId);
				if (!found) throw notFound("Place", { placeId: ctx.params.placeId });
				await this.requireMember(ctx, found.groupId);
				const places = await this.places.ofWith(found);
				const event = { type: "placeTransition", places, placeId: found._id, event: ctx.params.event } as const;
				return toApiSession(await this.store.apply(found.groupId, caller.id, event, { origin: ctx, caller }));
			},
		},

		/** A user's places in every group they are in, and a version that changes whenever they do: an OwnTracks device's waypoints. */
		placesOfUser: {
			...repeatable(),
			visibility: "public",
			params: { ...strict, userId: rules.id },
			async handler(ctx: Context<{ userId: string }, Meta>): Promise<PlacesOfUser> {
				const places = await this.placesOfGroups(ctx, ctx.params.userId);
				return { version: placesVersion(places), places };
			},
		},

		/** Operators: a group's places, with how many members are in each now. */
		groupPlaces: {
			...repeatable(),
			visibility: "public",
			params: groupParams,
			async handler(ctx: Context<GroupParams>) {
				const group = await this.groupProjection().findById(ctx.params.groupId).lean();
				if (!group || group.deleted) throw notFound("Group");
				const [places, byUser] = await Promise.all([this.places.list(group._id), this.store.inGroup(group._id)]);
				return withOccupants(
					places,
					group.members.map(member => member.id),
					userId => byUser.get(userId)?.geofence,
				);
			},
		},

		/** Every member's session in a group (never-seen members are INACTIVE with no position). */
		groupSessions: {
			...repeatable(),
			params: groupParams,
			async handler(ctx: Context<GroupParams, Meta>): Promise<Session[]> {
				const group = await this.readableGroup(ctx, ctx.params.groupId);
				// By primary key, one lookup per member: the only query a Mongo-wire server without
				// secondary-index pushdown (FerretDB's SQLite back end) answers without a collection scan.
				const viewerId = callerOf(ctx).id;
				return Promise.all(group.members.map(async member => this.shownTo(viewerId, await this.store.get(group._id, member.id))));
			},
		},

		/** One member's session in a group. */
		memberSession: {
			...repeatable(),
			params: memberParams,
			async handler(ctx: Context<MemberParams, Meta>): Promise<Session> {
				const group = await this.readableGroup(ctx, ctx.params.groupId);
				await this.requireTargetMember(ctx, group, ctx.params.userId);
				return this.shownTo(callerOf(ctx).id, await this.store.get(group._id, ctx.params.userId));
			},
		},

		/** The route a member recorded since their journey or SOS began, oldest first. */
		memberRoute: {
			...repeatable(),
			params: memberParams,
			async handler(ctx: Context<MemberParams, Meta>): Promise<{ points: Point[] }> {
				const group = await this.requireMember(ctx, ctx.params.groupId);
				await this.requireTargetMember(ctx, group, ctx.params.userId);
				const { userId } = ctx.params;
				const { state } = await this.store.get(group._id, userId);
				const view = { viewerId: callerOf(ctx).id, subjectId: userId, precision: this.precisions.of(group._id, userId), state };
				return { points: [...routeFor(view, await this.store.route(group._id, userId))] };
			},
		},

		/** Chooses what the other members of a group see of the caller's position: exact, or snapped to a ~1 km grid without a route. */
		setPrecision: {
			...OWNED_BY_CALLER,
			params: precisionParams,
			async handler(ctx: Context<PrecisionParams, Meta>) {
				const caller = callerOf(ctx);
				const { groupId, precision } = ctx.params;
				await this.requireMember(ctx, groupId);
				const change: PrecisionChanged = { groupId, userId: caller.id, precision };
				await this.precisions.save(change);
				await ctx.broadcast(PRECISION_CHANGED_EVENT, change, { groups: ["location"] });
				// The members' maps switch at once: the session again, as each side is now to see it.
				const session = await this.store.get(groupId, caller.id);
				if (session.version > 0) await this.publishLive(session, ctx);
				return change;
			},
		},

		/** Creates a link showing the caller's session in one group, read-only, to anyone holding it, until it ends. */
		createShareLink: {
			...OWNED_BY_CALLER,
			params: shareLinkParams,
			async handler(ctx: Context<ShareLinkParams, Meta>) {
				const caller = callerOf(ctx);
				const { groupId, duration = SHARE_DURATION_S.default, untilArrival = false } = ctx.params;
				const group = await this.requireMember(ctx, groupId);
				const name = sharedName(group.members.find(member => member.id === caller.id) ?? caller);
				const { doc, token } = await this.shareLinks.open(await this.store.get(groupId, caller.id), {
					userId: caller.id,
					groupId,
					name,
					durationS: duration,
					untilArrival,
				});
				ctx.meta.$statusCode = 201;
				return { id: doc._id, token, url: shareUrl(config.publicUrl(), ctx.meta.origin, token), expiresAt: doc.expiresAt.toISOString(), groupId, untilArrival };
			},
		},

		/** The caller's share links that still show something (without their tokens, which are not stored). */
		shareLinks: {
			...repeatable(),
			params: { ...strict },
			handler(ctx: Context<Record<string, never>, Meta>): Promise<ShareLinkListing[]> {
				return this.shareLinks.listOf(callerOf(ctx).id);
			},
		},

		/** Ends one of the caller's share links now: the page shows "ended" and its live sockets are closed. */
		deleteShareLink: {
			params: { ...strict, id: rules.id },
			async handler(ctx: Context<{ id: string }, Meta>) {
				if (!(await this.shareLinks.remove(callerOf(ctx).id, ctx.params.id))) throw notFound("Share link");
				await ctx.broadcast(LiveEvents.shareEnded, { linkIds: [ctx.params.id] } satisfies LiveShareEnded);
				ctx.meta.$statusCode = 204;
			},
		},

		/** A share link's view, for anyone holding its token (no account): 404 for an unknown or ended link alike. */
		sharedView: {
			...repeatable(),
			params: shareTokenParams,
			async handler(ctx: Context<ShareTokenParams, Meta>): Promise<SharedView> {
				const link = await this.shareLinks.live(ctx.params.token);
				if (!link) throw notFound("Share link");
				const session = toApiSession(await this.store.get(link.groupId, link.userId));
				return sharedViewOf(link, session, recordsRoute(session.state) ? await this.store.route(link.groupId, link.userId) : []);
			},
		},

		/** The gateway's question when a socket connects with a share token: which session it follows, until when. */
		resolveShareLink: {
			...repeatable(),
			visibility: "public",
			params: shareTokenParams,
			async handler(ctx: Context<ShareTokenParams>): Promise<ResolvedShareLink> {
				const link = await this.shareLinks.live(ctx.params.token);
				if (!link) throw notFound("Share link");
				return { linkId: link._id, groupId: link.groupId, userId: link.userId, ...termsOf(link) };
			},
		},

		/** The caller's own positions between `from` and `to` (default: the last 24 h), as JSON, GPX 1.1 or GeoJSON. */
		history: {
			...repeatable(),
			...OWNED_BY_CALLER,
			params: historyParams,
			async handler(ctx: Context<HistoryParams, Meta & { $responseType?: string; $responseHeaders?: Record<string, string> }>) {
				const caller = callerOf(ctx);
				const now = Date.now();
				const window = historyWindow(ctx.params, now);
				if ("field" in window) throw validationError("Parameters validation error!", [window]);
				const points = await this.history.read(caller.id, window, now);
				if (!points) throw validationError("Parameters validation error!", [TOO_MANY_POINTS]);
				const download = historyDownload(points, ctx.params.format ?? "json", window);
				if ("contentType" in download) {
					ctx.meta.$responseType = download.contentType;
					ctx.meta.$responseHeaders = { "Content-Disposition": `attachment; filename="${download.filename}"` };
				}
				return download.body;
			},
		},

		/** Deletes all of the caller's history, including the points not yet written. */
		deleteHistory: {
			...OWNED_BY_CALLER,
			params: { ...strict },
			async handler(ctx: Context<Record<string, never>, Meta>) {
				await this.history.erase(callerOf(ctx).id);
				ctx.meta.$statusCode = 204;
			},
		},

		/** Operators: a user's share links that have not expired (no tokens: they are not stored). */
		shareLinksOf: {
			...repeatable(),
			visibility: "public",
			params: { ...strict, userId: rules.id },
			handler(ctx: Context<{ userId: string }>) {
				return this.shareLinks.ofUser(ctx.params.userId);
			},
		},

		/** Operators: how much history a user has (count, oldest, newest), and the retention. */
		historyStats: {
			...repeatable(),
			visibility: "public",
			params: { ...strict, userId: rules.id },
			handler(ctx: Context<{ userId: string }>) {
				return this.history.stats(ctx.params.userId);
			},
		},

		/** Operators: every member's session in a group, with the timers' next due time (no caller needed). */
		groupStates: {
			...repeatable(),
			visibility: "public",
			params: groupParams,
			async handler(ctx: Context<GroupParams>) {
				const group = await this.groupProjection().findById(ctx.params.groupId).lean();
				if (!group || group.deleted) throw notFound("Group");
				const byUser = await this.store.inGroup(group._id);
				return group.members.map(member => toOperatorSession(byUser.get(member.id) ?? newSession(group._id, member.id), member));
			},
		},

		/** Operators: this instance's periodic-check counters and how many sessions are due now. */
		trackingStats: {
			...repeatable(),
			visibility: "public",
			params: { ...strict },
			async handler() {
				const due = await this.sessions.countDue(Date.now());
				return {
					nodeID: this.broker.nodeID,
					checkEveryMs: this.settings.checkEveryMs,
					...this.store.stats,
					due,
					ownedSessions: this.store.ownedCount,
					unwritten: this.store.unwrittenCount,
				};
			},
		},
	},

	events: {
		/** Another instance changed a group's places: the copy held here is dropped. */
		[PLACES_CHANGED](ctx: Context<PlacesChanged>) {
			this.places.invalidate(ctx.params.groupId);
		},
		/** A member who left (or whose group went) is no longer admitted from memory; their sessions here are dropped. */
		[LiveEvents.group](ctx: Context<LiveGroup>) {
			this.membership.broadcast(ctx.params);
			this.groupLists.broadcast(ctx.params);
		},
		// A reconnect to NATS may have missed membership broadcasts: read the projection again.
		"$transporter.connected"() {
			this.membership?.reconnected();
			this.groupLists?.clear();
			this.places?.clear();
			if (this.models) void this.precisions.reload().catch(err => this.logger.warn("Reading the precision choices again failed:", (err as Error).message));
		},
		/** Another instance (or this one) stored a member's precision: every instance's live updates follow it. */
		[PRECISION_CHANGED_EVENT]: {
			group: "location",
			handler(ctx: Context<PrecisionChanged>) {
				this.precisions.set(ctx.params);
			},
		},
		// Another location instance came or went: users may have changed owner.
		"$services.changed"() {
			void this.ownership.check();
		},
	},

	methods: {
		/** The position a sample or an SOS carries: its time checked (422 when in the future), its source the device it came from, else the web. */
		pointOf(ctx: Context<SampleParams, Meta>, now: number): Point {
			const problem = ctx.params.timestamp === undefined ? null : sampleTimestampProblem(ctx.params.timestamp, now);
			if (problem) throw validationError("Parameters validation error!", [problem]);
			return samplePoint(ctx.params, now, ctx.meta.device?.protocol ?? "web");
		},

		/** The caller's command in one of their groups: the member check, then the store; `admit` records the confirmed membership for their samples. */
		async applyInGroup(ctx: Context<unknown, Meta>, groupId: string, event: LocationEvent, { admit = false } = {}) {
			const caller = callerOf(ctx);
			await this.requireMember(ctx, groupId);
			if (admit) this.membership.confirm(groupId, caller.id);
			return toApiSession(await this.store.apply(groupId, caller.id, event, { origin: ctx, caller }));
		},

		/** The group, for a read by one of its members (from memory when recently confirmed). */
		readableGroup(ctx: Context<unknown, Meta>, groupId: string) {
			return this.membership.readableGroup(groupId, callerOf(ctx).id, () => this.requireMember(ctx, groupId));
		},

		/** A group's members and their sessions, for a read by one of them; null when the caller is no longer in it. */
		async groupView(ctx: Context<unknown, Meta>, groupId: string): Promise<GroupView | null> {
			let group: GroupProjectionDoc;
			try {
				group = await this.readableGroup(ctx, groupId);
			} catch (err) {
				const type = (err as { type?: string }).type;
				if (type === ErrorTypes.FORBIDDEN || type === ErrorTypes.NOT_FOUND) return null;
				throw err;
			}
			const members = group.members.filter(member => isMember(group, member.id));
			const viewerId = callerOf(ctx).id;
			const sessions = await Promise.all(members.map(member => this.store.get(group._id, member.id)));
			return { members, sessions: shownPositions(viewerId, sessions, userId => this.precisions.of(group._id, userId)) };
		},

		/** 404 unless `userId` is a member of the group (asking the users service when our copy may be behind). */
		async requireTargetMember(ctx: Context<unknown, Meta>, group: GroupProjectionDoc, userId: string) {
			if (isMember(group, userId)) return;
			try {
				await this.requireMember(ctx, group._id, userId);
			} catch (err) {
				if ((err as { type?: string }).type === ErrorTypes.FORBIDDEN) throw notFound("Member", { userId });
				throw err;
			}
		},

		/** The caller's groups, sorted, as the users service lists them (read your own writes: a group joined a moment ago counts). */
		async sosGroups(ctx: Context<unknown, Meta>, caller: User) {
			const listed = (await this.groupIdsOf(caller.id, ctx)).sort();
			const known = new Set((await this.groupsOfUser(caller.id)).map(group => group._id));
			// A group the projection does not know yet is taught to it (names for the texts, samples during the SOS).
			const admit = (groupId: string) =>
				this.requireMember(ctx, groupId).then(
					() => true,
					() => false,
				);
			return sosGroupsOf(listed, known, admit);
		},

		/** A session as `viewerId` is shown it (approximate sharing, API.md §6.6). */
		shownTo(viewerId: string, session: SessionData): Session {
			return sessionFor(viewerId, toApiSession(session), this.precisions.of(session.groupId, session.userId));
		},

		/**
		 * The user's groups as the users service lists them (a group joined a moment ago counts), within
		 * USERS_LOOKUP_TIMEOUT_MS; past that (a users instance slow or just killed) as this service's
		 * projection has them, so nothing here waits the whole request timeout on users.
		 */
		async groupIdsOf(userId: string, ctx?: Context) {
			const opts = { timeout: USERS_LOOKUP_TIMEOUT_MS };
			try {
				return (await (ctx ? ctx.call("users.groupIdsOf", { userId }, opts) : this.broker.call("users.groupIdsOf", { userId }, opts))) as string[];
			} catch (err) {
				this.logger.debug("users.groupIdsOf did not answer in time, the projection's groups instead:", (err as Error).message);
				return (await this.groupsOfUser(userId)).map(group => group._id);
			}
		},

		/** The location instances the registry knows as running now (each once). */
		runningLocationNodes(): string[] {
			return runningNodes(this.broker.registry.getServiceList({ onlyAvailable: true }) as { name: string; nodeID: string }[], "location");
		},

		/** Membership projection hook (durable events): sessions of members who left become tombstones; a deleted group's places go. */
		async onMembershipChange(change: MembershipChange, ctx: Context) {
			await this.membership.changed(change);
			// A deleted account takes its history, its links and its choices with it; a member who left, their links there.
			const linkIds = await this.erasure.after(change);
			if (linkIds.length) await ctx.broadcast(LiveEvents.shareEnded, { linkIds } satisfies LiveShareEnded);
		},

		/** The places of every group the user is in now. */
		async placesOfGroups(_ctx: Context<unknown, Meta>, userId: string) {
			const groupIds = await this.membership.groupsWithMember(await this.groupLists.of(userId), userId);
			return (await Promise.all(groupIds.map(groupId => this.places.of(groupId)))).flat();
		},
	},

	created() {
		this.sessions = new MongoSessionRepository(() => this.models?.Session);
		this.journalStore = new JournalStore(() => this.models.SampleJournal);
		({
			store: this.store,
			sos: this.sos,
			membership: this.membership,
			checks: this.checks,
		} = createTracking({
			repository: this.sessions,
			loadGroup: groupId => this.groupProjection().findById(groupId).lean<GroupProjectionDoc>().exec(),
			precisionOf: (groupId, userId) => this.precisions.of(groupId, userId),
			now: Date.now,
			thresholds: this.settings.thresholds,
			publish: (session, origin) => this.publishLive(session, origin),
			kickOutbox: id => this.kickOutbox("Session", id),
			// From this service's membership projection, never the users service: a sample must not wait
			// on a users instance that is slow or just died. Every group a session was started in is in
			// the projection (requireMember stores what the users service says when the copy is behind).
			groupIdsOf: async userId => (await this.groupsOfUser(userId)).map(group => group._id),
			places: { peek: groupId => this.places.peek(groupId), of: groupId => this.places.of(groupId) },
			journal: (this.journal = new SampleJournal({
				node: this.broker.nodeID,
				insert: docs => this.journalStore.insert(docs),
				trim: (node, before) => this.journalStore.trim(node, before),
				now: Date.now,
				logger: this.logger,
			})),
			logger: this.logger,
		}));
		this.places = new PlaceStore(() => this.models.Place);
		this.precisions = new PrecisionStore(() => this.models.Precision);
		this.publishLive = liveLocations(this.broker, (groupId, userId) => this.precisions.of(groupId, userId));
		this.history = History.over(() => this.models.HistoryPoint, { historyDays: this.settings.historyDays, now: Date.now, logger: this.logger });
		this.shareLinks = new ShareLinks({
			model: () => this.models.ShareLink,
			isMemberNow: (groupId, userId) => this.membership.isMemberNow(groupId, userId),
			session: async (groupId, userId) => toApiSession(await this.store.get(groupId, userId)),
			now: Date.now,
		});
		this.erasure = new Erasure({
			history: this.history,
			precisions: this.precisions,
			shareLinks: this.shareLinks,
			places: this.places,
			now: Date.now,
			logger: this.logger,
		});
		this.groupLists = new GroupLists(userId => this.groupIdsOf(userId));
		this.sampleLimit = new SampleLimit(config.sampleRateLimit());
		this.ownership = new Ownership({
			running: () => this.runningLocationNodes(),
			holdAlerts: until => this.checks.holdUntil(until),
			ownersSeen: key => this.store.ownersSeen(key),
			handOver: liveNodes =>
				handOverOrphans(
					this.journalStore,
					this.broker.nodeID,
					liveNodes,
					userId => this.broker.call("location.adoptSamples", { userId, liveNodes }),
					this.logger,
				),
			now: Date.now,
		});
	},

	async started() {
		await this.precisions.reload();
		this.historyTimer = setInterval(() => void this.history.buffer.flush(), HISTORY_FLUSH_MS);
		const purge = () => void (this.models && this.erasure.purge());
		this.purgeTimer = setInterval(purge, HISTORY_PURGE_EVERY_MS);
		purge();
		// Timers live in the database (`nextCheckAt`); this only decides how often we look.
		this.checkTimer = setInterval(() => void this.checks.run(), this.settings.checkEveryMs);
		this.flushTimer = setInterval(() => void this.store.flush(), FLUSH_TICK_MS);
		this.journalTimer = setInterval(() => void this.journal.tick(), JOURNAL_TICK_MS);
		void this.checks.run();
		void this.ownership.check();
	},

	async stopped() {
		clearInterval(this.checkTimer);
		clearInterval(this.flushTimer);
		clearInterval(this.journalTimer);
		clearInterval(this.historyTimer);
		clearInterval(this.purgeTimer);
		await this.history.buffer.close();
		await this.checks.idle(STOP_CHECK_WAIT_MS);
		// Runs before the database mixin closes the connection: nothing applied in memory is lost on a graceful stop.
		await this.store.close(STOP_WRITE_WAIT_MS);
		await this.journal.close();
		await this.journal.tick();
	},
};

export default LocationService;
