import type { GroupSnapshot } from "../../events/domain.js";
import type { Group, User, UserRef } from "../../events/types.js";
import { mapLimit } from "../../lib/concurrency.js";
import type { GroupState } from "./groups.js";
import type { MemberCache, MemberFields } from "./member-cache.js";
import type { GroupDoc, UserDoc, UsersModels } from "./models.js";

/**
 * Who the members of a group are, as answers and events show them: read by `_id`, shared between
 * the groups of one answer, and kept briefly in the member cache (names only, never membership).
 */

/** Reads started for one answer: a member of several groups is read once (each a real promise, awaited by every group that shares it). */
export type SharedReads = Map<string, Promise<UserDoc | null>>;

/** A group's snapshot for its events, with the ref of every member read (removed ones too, whom the events name). */
export interface NamedSnapshot extends GroupSnapshot {
	refs: Map<string, UserRef>;
}

/** The account as its owner sees it. */
export const toUser = (doc: MemberFields): User => ({
	id: doc._id,
	name: doc.name,
	surname: doc.surname,
	email: doc.email,
	...(doc.phone ? { phone: doc.phone } : {}),
});

/** A user as other services see them (names only). */
export const toRef = (doc: MemberFields): UserRef => ({ id: doc._id, name: doc.name, surname: doc.surname });

/** A user as other members see them: the phone number too, when they gave one. */
export const toMember = (doc: MemberFields): UserRef & { phone?: string } => ({ ...toRef(doc), ...(doc.phone ? { phone: doc.phone } : {}) });

/** Parallel reads by `_id` when resolving a group's members (up to ~100 of them). */
const READ_CONCURRENCY = 16;

export class Members {
	constructor(
		private readonly models: Pick<UsersModels, "User">,
		private readonly cache: MemberCache,
	) {}

	/**
	 * Users by id, each read by `_id` (a `$in` query is not answered from the index by the
	 * Mongo-wire server here). `known` shares the reads between the groups of one answer.
	 */
	async usersByIds(ids: readonly string[], known: SharedReads = new Map()): Promise<Map<string, UserDoc>> {
		const wanted = [...new Set(ids)];
		const users = await mapLimit(wanted, READ_CONCURRENCY, id => {
			let read = known.get(id);
			if (!read) {
				read = this.models.User.findById(id).lean().exec() as Promise<UserDoc | null>;
				known.set(id, read);
			}
			return read;
		});
		return new Map(users.filter((user): user is UserDoc => Boolean(user)).map(user => [user._id, user]));
	}

	/** Members to show in an answer: from the member cache, else read by id (and cached). */
	async membersByIds(ids: readonly string[], known?: SharedReads): Promise<Map<string, MemberFields>> {
		const found = new Map<string, MemberFields>();
		const missing: string[] = [];
		for (const id of ids) {
			const member = this.cache.get(id);
			if (member) found.set(id, member);
			else missing.push(id);
		}
		if (!missing.length) return found;
		const readSince = this.cache.mark();
		for (const [id, user] of await this.usersByIds(missing, known)) {
			if (user.deletedAt) continue;
			found.set(id, user);
			this.cache.set(user, readSince);
		}
		return found;
	}

	/** The API's Group: members in join order; emails only for the viewer themself (everyone's without a viewer: operators). */
	async toGroup(doc: GroupDoc, viewerId?: string, known?: SharedReads): Promise<Group> {
		const byId = await this.membersByIds(doc.memberIds, known);
		const members = doc.memberIds
			.map(id => byId.get(id))
			.filter((user): user is MemberFields => Boolean(user))
			.map(user => (user._id === viewerId || viewerId === undefined ? toUser(user) : toMember(user)));
		return { id: doc._id, name: doc.name, createdBy: doc.createdBy, createdAt: new Date(doc.createdAt).toISOString(), members };
	}

	/** The snapshot a group's events carry: members read now, not taken from the cache (the events feed other services' projections). */
	async snapshot(state: GroupState): Promise<NamedSnapshot> {
		const users = await this.usersByIds(state.memberIds);
		const refs = new Map<string, UserRef>([...users.values()].map(user => [user._id, toRef(user)]));
		const members = state.memberIds.map(id => refs.get(id)).filter((ref): ref is UserRef => Boolean(ref));
		return { version: state.version, name: state.name, members, deleted: state.deleted || undefined, refs };
	}
}
