import { mapLimit } from "../../lib/concurrency.js";
import type { GroupDoc, UserDoc, UsersModels } from "./models.js";

/**
 * Each user's list of group ids (`UserDoc.groupIds`), so "the groups of a user" is one read of the
 * user and one read per group, all by `_id`, instead of a query by `memberIds`.
 *
 * Without transactions the list cannot always equal the memberships, so it is kept a SUPERSET of
 * them and the group documents decide: an id is listed before the group write that adds the
 * member and unlisted after the one that removes them; readers keep only the groups whose own
 * document lists the user. A stale extra id (a crash in between, a lost race) costs one read and
 * never shows a group the user is not in.
 *
 * Two writers can interleave on one user and group: a remover unlisting after its write while an
 * adder (who found the id still listed) writes the group again. Both check after their write so
 * the last word is right: the remover re-reads the group and lists the id again if the user is a
 * member by then; the adder re-reads the user and lists the id again if it is missing.
 */

type IndexModels = Pick<UsersModels, "User" | "Group">;

/** Writes at a time when one change touches many users (a group of up to ~100 members). */
const WRITE_CONCURRENCY = 8;

/** The groups among `groups` that really have `userId` as a member, oldest first (as the API lists them). */
export function memberGroupsOf(userId: string, groups: readonly (GroupDoc | null | undefined)[]): GroupDoc[] {
	const seen = new Set<string>();
	return groups
		.filter((group): group is GroupDoc => {
			if (!group || group.deleted || !group.memberIds.includes(userId) || seen.has(group._id)) return false;
			seen.add(group._id);
			return true;
		})
		.sort((a, b) => new Date(a.createdAt).getTime() - new Date(b.createdAt).getTime() || (a._id < b._id ? -1 : a._id > b._id ? 1 : 0));
}

/** Who a membership change adds and removes (a deleted group removes everyone it had). */
export function membershipDelta(before: readonly string[], after: readonly string[]): { added: string[]; removed: string[] } {
	return { added: after.filter(id => !before.includes(id)), removed: before.filter(id => !after.includes(id)) };
}

/**
 * The group ids listed for `user`. An account older than the list gets it worked out once from
 * the groups (a query, only this once) and stored, merged with any ids listed meanwhile.
 */
export async function listedGroupIds(models: IndexModels, user: Pick<UserDoc, "_id" | "groupIds" | "groupIdsIndexed">): Promise<string[]> {
	if (user.groupIdsIndexed) return user.groupIds ?? [];
	const groups = await models.Group.find({ memberIds: user._id, deleted: false }, { _id: 1 }).lean();
	const ids = groups.map(group => group._id);
	// $addToSet merges: ids listed by a concurrent adder are kept; a membership removed since the
	// query above only leaves a stale extra id, which readers filter out.
	await models.User.updateOne({ _id: user._id }, { $addToSet: { groupIds: { $each: ids } }, $set: { groupIdsIndexed: true } });
	return [...new Set([...(user.groupIds ?? []), ...ids])];
}

/** The groups `user` is a member of now, oldest first, each read by `_id`. */
export async function groupsOfUser(models: IndexModels, user: Pick<UserDoc, "_id" | "groupIds" | "groupIdsIndexed">): Promise<GroupDoc[]> {
	const ids = await listedGroupIds(models, user);
	const groups: (GroupDoc | null)[] = await Promise.all(ids.map(id => models.Group.findById(id).lean<GroupDoc>()));
	// Deleted groups never get members back, so their ids can go for good. (A missing group may be
	// one being created right now: its id is listed before the group is written, so it stays.)
	const gone = groups.filter((group): group is GroupDoc => Boolean(group?.deleted)).map(group => group._id);
	if (gone.length) void models.User.updateOne({ _id: user._id }, { $pullAll: { groupIds: gone } }).catch(() => undefined);
	return memberGroupsOf(user._id, groups);
}

/** Lists `groupId` for each user, BEFORE the group write that makes them members. */
export async function listGroupFor(models: IndexModels, userIds: readonly string[], groupId: string): Promise<void> {
	await mapLimit(userIds, WRITE_CONCURRENCY, id => models.User.updateOne({ _id: id }, { $addToSet: { groupIds: groupId } }));
}

/**
 * After the group write that added them: lists `groupId` again for any of `userIds` whose list
 * lost it meanwhile (a remover of an earlier membership unlisting after its own write).
 */
export async function confirmListed(models: IndexModels, userIds: readonly string[], groupId: string): Promise<void> {
	await mapLimit(userIds, WRITE_CONCURRENCY, async id => {
		const user = await models.User.findById(id, { groupIds: 1 }).lean();
		if (user && !(user.groupIds ?? []).includes(groupId)) await models.User.updateOne({ _id: id }, { $addToSet: { groupIds: groupId } });
	});
}

/**
 * Unlists `groupId` for each user, AFTER the group write that removed them; then lists it again
 * for any who became a member once more in between (an adder that found the id still listed).
 */
export async function unlistGroupFor(models: IndexModels, userIds: readonly string[], groupId: string): Promise<void> {
	if (!userIds.length) return;
	await mapLimit(userIds, WRITE_CONCURRENCY, id => models.User.updateOne({ _id: id }, { $pull: { groupIds: groupId } }));
	const group = await models.Group.findById(groupId, { memberIds: 1, deleted: 1 }).lean();
	if (!group || group.deleted) return;
	const back = userIds.filter(id => group.memberIds.includes(id));
	if (back.length) await listGroupFor(models, back, groupId);
}
