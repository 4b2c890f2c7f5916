import { randomUUID } from "node:crypto";
import type { Model } from "mongoose";
import { conflict, notFound } from "../../../events/errors.js";
import { SingleFlight } from "../../../lib/single-flight.js";
import { TtlCache } from "../../../lib/ttl-cache.js";
import type { PlaceDoc } from "../models.js";
import { geometryChanged } from "./geofence.js";
import { canAddPlace, PLACE_LIMIT_MESSAGE, type Place, type PlaceChanges } from "./place-rules.js";
import type { VersionedPlace } from "./session-places.js";

/**
 * A group's places in the location service's `places` collection, and the copy every location
 * instance keeps of them for the detection run on every sample.
 *
 * The copy is dropped on change: the instance that changes a place drops its own at once and
 * broadcasts `location.placesChanged` so every other instance drops its own; a copy also expires after
 * PLACES_CACHE_TTL_MS, which bounds how long a missed broadcast (a NATS reconnect) can leave an
 * instance on old places. An old copy only delays an arrival: a place it does not know yet, or
 * knows in an older version, is decided afresh when it becomes known (session-places.ts).
 */

/** How long a group's places are used from memory without asking the database again. */
export const PLACES_CACHE_TTL_MS = 30_000;
const MAX_CACHED_GROUPS = 10_000;

export const toPlace = (doc: PlaceDoc): Place => ({
	id: doc._id,
	groupId: doc.groupId,
	name: doc.name,
	latitude: doc.latitude,
	longitude: doc.longitude,
	radius: doc.radius,
	createdBy: doc.createdBy,
	createdAt: new Date(doc.createdAt).toISOString(),
});

const toVersioned = (doc: PlaceDoc): VersionedPlace & { createdAt: string } => ({
	id: doc._id,
	name: doc.name,
	latitude: doc.latitude,
	longitude: doc.longitude,
	radius: doc.radius,
	version: doc.version ?? 1,
	createdAt: new Date(doc.createdAt).toISOString(),
});

/** Oldest first, then by id: the order of the list, of the waypoints and of the inside-sets. */
const byAge = (a: PlaceDoc, b: PlaceDoc) => new Date(a.createdAt).getTime() - new Date(b.createdAt).getTime() || (a._id < b._id ? -1 : 1);

export type CachedPlace = VersionedPlace & { createdAt: string };

export class PlaceStore {
	private readonly cache: TtlCache<string, CachedPlace[]>;
	private readonly loads = new SingleFlight<string, CachedPlace[]>();

	constructor(
		private readonly model: () => Model<PlaceDoc>,
		now: () => number = Date.now,
		ttlMs = PLACES_CACHE_TTL_MS,
	) {
		this.cache = new TtlCache(ttlMs, MAX_CACHED_GROUPS, now);
	}

	// ---- the copy detection uses

	/** The group's places from memory, when held and fresh. */
	peek(groupId: string): CachedPlace[] | undefined {
		return this.cache.get(groupId);
	}

	/** The group's places for detection: from memory, else read (one read for concurrent callers). */
	async of(groupId: string): Promise<CachedPlace[]> {
		const held = this.cache.get(groupId);
		if (held) return held;
		const generation = this.cache.generation;
		const places = await this.loads.run(groupId, async () => (await this.model().find({ groupId }).lean<PlaceDoc[]>()).sort(byAge).map(toVersioned));
		// A change dropped the copy while this read ran: the answer may predate it, so it is not kept.
		this.cache.setIfUnchanged(groupId, places, generation);
		return places;
	}

	/**
	 * The group's places for detection, at least as new as `place` (just read from the collection): a
	 * copy that lacks it, or holds an older version of it, is read again.
	 */
	async ofWith(place: PlaceDoc): Promise<CachedPlace[]> {
		const places = await this.of(place.groupId);
		if (places.some(held => held.id === place._id && held.version === (place.version ?? 1))) return places;
		this.invalidate(place.groupId);
		return this.of(place.groupId);
	}

	/** A change was made here or announced by another instance. */
	invalidate(groupId: string): void {
		this.cache.delete(groupId);
	}

	clear(): void {
		this.cache.clear();
	}

	// ---- the collection

	async list(groupId: string): Promise<Place[]> {
		return (await this.model().find({ groupId }).lean<PlaceDoc[]>()).sort(byAge).map(toPlace);
	}

	/** One place of the group; 404 when the group has none by that id. */
	async get(groupId: string, placeId: string): Promise<PlaceDoc> {
		const doc = await this.model().findById(placeId).lean<PlaceDoc>();
		if (!doc || doc.groupId !== groupId) throw notFound("Place", { placeId });
		return doc;
	}

	/** A place by id alone (a journey's destination, an OwnTracks transition), or null. */
	findById(placeId: string): Promise<PlaceDoc | null> {
		return this.model().findById(placeId).lean<PlaceDoc>().exec();
	}

	/**
	 * Adds a place; 409 at MAX_PLACES_PER_GROUP. Two creations at once may both count 49: the later
	 * one (by creation time, then id) removes itself again, so the limit holds and nothing is left half-made.
	 */
	async create(fields: Omit<Place, "id" | "createdAt">, now: Date): Promise<Place> {
		const Place = this.model();
		if (!canAddPlace(await Place.countDocuments({ groupId: fields.groupId }))) throw conflict(PLACE_LIMIT_MESSAGE);
		const doc: PlaceDoc = { _id: randomUUID(), ...fields, createdAt: now, version: 1 };
		await Place.create(doc);
		const all = (await Place.find({ groupId: fields.groupId }, { _id: 1, createdAt: 1 }).lean<PlaceDoc[]>()).sort(byAge);
		if (!canAddPlace(all.findIndex(p => p._id === doc._id))) {
			await Place.deleteOne({ _id: doc._id });
			throw conflict(PLACE_LIMIT_MESSAGE);
		}
		this.invalidate(fields.groupId);
		return toPlace(doc);
	}

	/** Changes a place; a move or resize gives it a new version (sessions decide it afresh, silently). */
	async update(groupId: string, placeId: string, changes: PlaceChanges): Promise<Place> {
		const before = await this.get(groupId, placeId);
		const after = { ...before, ...changes };
		const moved = geometryChanged({ ...before, id: before._id }, { ...after, id: after._id });
		if (!Object.keys(changes).length) return toPlace(before);
		const updated = await this.model()
			.findOneAndUpdate({ _id: placeId, groupId }, { $set: changes, ...(moved ? { $inc: { version: 1 } } : {}) }, { new: true })
			.lean<PlaceDoc>();
		if (!updated) throw notFound("Place", { placeId });
		this.invalidate(groupId);
		return toPlace(updated);
	}

	async remove(groupId: string, placeId: string): Promise<void> {
		const { deletedCount } = await this.model().deleteOne({ _id: placeId, groupId });
		if (!deletedCount) throw notFound("Place", { placeId });
		this.invalidate(groupId);
	}

	/** The group is gone: its places go with it. */
	async removeGroup(groupId: string): Promise<void> {
		await this.model().deleteMany({ groupId });
		this.invalidate(groupId);
	}
}
