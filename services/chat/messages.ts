import { createHash, randomBytes } from "node:crypto";
import { validationError } from "../../events/errors.js";
import type { Message } from "../../events/types.js";
import { fullName, type Named } from "../../lib/names.js";
import type { MessageDoc } from "./models.js";

/** Chat message rules: text limits, ids (random, idempotent, system), ordering, the API shape. */

export const MAX_TEXT = 2000;
export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 200;

const hash = (...parts: string[]) => createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, 32);

/** The text as stored: trimmed, 1..2000 characters (code points, so an emoji counts once). */
export function normalizeText(text: string): string {
	const trimmed = text.trim();
	const length = [...trimmed].length;
	if (length < 1 || length > MAX_TEXT)
		throw validationError(`A message has 1 to ${MAX_TEXT} characters`, [
			{ field: "text", message: `must be 1 to ${MAX_TEXT} characters after trimming`, type: length < 1 ? "stringMin" : "stringMax" },
		]);
	return trimmed;
}

/**
 * A resend with the same client id maps to the same message id, so the unique `_id` makes it
 * idempotent (FerretDB has no partial unique index on an optional field).
 */
export const clientMessageIdOf = (groupId: string, userId: string, clientMessageId: string) => hash("client", groupId, userId, clientMessageId);

export const randomMessageId = () => randomBytes(16).toString("hex");

export type SystemLine = "created" | "joined" | "left" | "removed";

/** One system line per event and member: a redelivered event writes nothing new. */
export const systemMessageId = (eventId: string, userId: string, line: SystemLine) => hash("system", eventId, userId, line);

export function systemText(line: SystemLine, member: Named): string {
	const who = fullName(member, "Someone");
	switch (line) {
		case "created":
			return `${who} created the group`;
		case "joined":
			return `${who} joined the group`;
		case "left":
			return `${who} left the group`;
		case "removed":
			return `${who} was removed from the group`;
	}
}

/** ISO time, sequence, id: one string that sorts in send order and never ties. */
export const sortKeyOf = (createdAt: Date, seq: number, id: string) => `${createdAt.toISOString()}|${seq.toString(36).padStart(4, "0")}|${id}`;

/** A member's message as stored, timed by the instance's MessageClock (`sent`). */
export function userMessageDoc(
	_id: string,
	groupId: string,
	userId: string,
	text: string,
	sent: { at: Date; seq: number },
	clientMessageId?: string,
): MessageDoc {
	return {
		_id,
		groupId,
		userId,
		text,
		kind: "user",
		createdAt: sent.at,
		sortKey: sortKeyOf(sent.at, sent.seq, _id),
		...(clientMessageId ? { clientMessageId } : {}),
	};
}

/**
 * The system line about `member` that a membership event writes: dated when the event happened,
 * not when chat heard of it (now if that time is unreadable), and the creation line sorts first.
 */
export function systemLineDoc(event: { eventId: string; groupId: string; occurredAt: string }, member: Named & { id: string }, line: SystemLine): MessageDoc {
	const occurred = new Date(event.occurredAt);
	const at = Number.isFinite(occurred.getTime()) ? occurred : new Date();
	const _id = systemMessageId(event.eventId, member.id, line);
	return {
		_id,
		groupId: event.groupId,
		userId: member.id,
		text: systemText(line, member),
		kind: "system",
		createdAt: at,
		sortKey: sortKeyOf(at, line === "created" ? 0 : 1, _id),
	};
}

/**
 * Timestamps for messages sent through one instance: never earlier than the previous one (the
 * wall clock may step back), with a sequence that orders messages of the same millisecond.
 */
export class MessageClock {
	private lastMs = 0;
	private seq = 0;

	next(nowMs: number = Date.now()): { at: Date; seq: number } {
		if (nowMs > this.lastMs) {
			this.lastMs = nowMs;
			this.seq = 0;
		} else {
			this.seq += 1;
		}
		return { at: new Date(this.lastMs), seq: this.seq };
	}
}

export function toMessage(doc: Pick<MessageDoc, "_id" | "groupId" | "userId" | "text" | "kind" | "createdAt" | "clientMessageId">): Message {
	return {
		id: doc._id,
		groupId: doc.groupId,
		userId: doc.userId,
		text: doc.text,
		kind: doc.kind,
		createdAt: new Date(doc.createdAt).toISOString(),
		...(doc.clientMessageId ? { clientMessageId: doc.clientMessageId } : {}),
	};
}
