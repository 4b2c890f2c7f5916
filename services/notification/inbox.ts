import { createHash } from "node:crypto";
import type { NotificationSend, NotificationTarget } from "../../events/domain.js";
import type { Notification } from "../../events/types.js";
import type { NotificationDoc } from "./models.js";

/** Inbox rules: who receives a command, the deterministic ids, the order of an inbox. */

const hash = (...parts: string[]) => createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, 32);

/** The same command delivered twice yields the same id per recipient, so it is stored once. */
export const notificationId = (envelopeId: string, userId: string) => hash("notification", envelopeId, userId);

/** One push job per notification and subscription. */
export const pushJobId = (notificationId: string, subscriptionId: string) => hash("push", notificationId, subscriptionId);

/** One subscription per endpoint: a browser re-registering it refreshes it; another account cannot take it over. */
export const subscriptionId = (endpoint: string) => hash("subscription", endpoint);

/** ISO time then id: sorts like (createdAt, id), in one indexable string. */
export const sortKeyOf = (createdAt: Date, id: string) => `${createdAt.toISOString()}|${id}`;

export interface RecipientLookups {
	groupMembers(groupId: string): Promise<string[]>;
	coMembersOf(userId: string): Promise<string[]>;
}

/**
 * Everyone a command reaches, each once even when they share several groups with the subject.
 * The subject (the user the command is about, and the `coMembersOf` user) is not told about
 * their own journey, alert or SOS — the group is; a command that must reach the subject (the
 * member who was added or removed) names them in `alsoUserIds`. A `userIds` target names its
 * recipients outright. `exceptUserIds` (whoever caused it) are left out of all of these.
 */
export async function resolveRecipients(
	command: Pick<NotificationSend, "target" | "alsoUserIds" | "subjectUserId" | "exceptUserIds">,
	lookups: RecipientLookups,
): Promise<string[]> {
	const target: NotificationTarget = command.target;
	const recipients = new Set<string>();
	let found: string[] = [];
	let subject = command.subjectUserId;
	if ("groupId" in target && target.groupId) {
		found = await lookups.groupMembers(target.groupId);
	} else if ("coMembersOf" in target && target.coMembersOf) {
		found = await lookups.coMembersOf(target.coMembersOf);
		subject = target.coMembersOf;
	} else if ("userIds" in target && Array.isArray(target.userIds)) {
		// Addressed by name (an invitee, an inviter): exactly these users, the subject rule does not apply.
		for (const id of target.userIds) if (typeof id === "string" && id) recipients.add(id);
	}
	for (const id of found) if (id !== subject && id !== command.subjectUserId) recipients.add(id);
	for (const id of command.alsoUserIds ?? []) if (typeof id === "string" && id) recipients.add(id);
	// Nobody is alerted about their own action.
	for (const id of command.exceptUserIds ?? []) recipients.delete(id);
	return [...recipients];
}

/** Key of one version of a group's membership. */
export const groupVersionId = (groupId: string, version: number) => `${groupId}@${version}`;

/**
 * A command written at a group version this service has not seen yet, while the users service is
 * already past it: the group event announcing that version is on its way (another stream), so the
 * command waits for it this many deliveries (about half a minute with the consumer's backoff)
 * before falling back to the newest members known.
 */
export const WAIT_FOR_GROUP_VERSION_ATTEMPTS = 12;

export type MembersDecision = { use: "exact" | "current" } | { use: "wait" } | { use: "fallback" };

/**
 * Whose membership a group command goes to, once the exact version was not found locally and the
 * users service told its current version: that one when it is the command's version (or the
 * command names none); otherwise wait for the version's event, and after enough attempts take the
 * newest known rather than never delivering.
 */
export function decideMembers(commandVersion: number | undefined, currentVersion: number | undefined, attempt: number): MembersDecision {
	if (commandVersion === undefined) return { use: "current" };
	if (currentVersion === commandVersion) return { use: "exact" };
	// Users behind the producer cannot happen; a missing group has nobody to wait for.
	if (currentVersion === undefined || currentVersion < commandVersion) return { use: "fallback" };
	return attempt < WAIT_FOR_GROUP_VERSION_ATTEMPTS ? { use: "wait" } : { use: "fallback" };
}

/** The group a command's recipients depend on, if any (to refresh a projection that is behind). */
export function targetGroupOf(command: Pick<NotificationSend, "target" | "groupId">): string | undefined {
	const target = command.target;
	if ("groupId" in target && target.groupId) return target.groupId;
	return undefined;
}

/** The inbox document for one recipient of a command. */
export function notificationFor(envelope: { id: string; occurredAt: string }, command: NotificationSend, userId: string, now = new Date()): NotificationDoc {
	const _id = notificationId(envelope.id, userId);
	const occurred = new Date(envelope.occurredAt);
	// The time the event happened, so a consumer catching up does not reorder the inbox.
	const createdAt = Number.isFinite(occurred.getTime()) ? occurred : now;
	return {
		_id,
		userId,
		kind: command.kind,
		title: command.title,
		body: command.body,
		...(command.groupId ? { groupId: command.groupId } : {}),
		...(command.subjectUserId ? { subjectUserId: command.subjectUserId } : {}),
		...(command.data && typeof command.data === "object" ? { data: command.data } : {}),
		createdAt,
		sortKey: sortKeyOf(createdAt, _id),
		read: false,
		delivered: false,
		claimedAt: now,
	};
}

export function toNotification(
	doc: Pick<NotificationDoc, "_id" | "kind" | "title" | "body" | "groupId" | "subjectUserId" | "data" | "createdAt" | "read">,
): Notification {
	return {
		id: doc._id,
		kind: doc.kind,
		title: doc.title,
		body: doc.body,
		...(doc.groupId ? { groupId: doc.groupId } : {}),
		...(doc.subjectUserId ? { subjectUserId: doc.subjectUserId } : {}),
		createdAt: new Date(doc.createdAt).toISOString(),
		read: Boolean(doc.read),
		...(doc.data ? { data: doc.data } : {}),
	};
}

export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 200;
