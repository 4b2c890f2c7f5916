import type { Context, Service, ServiceSchema } from "moleculer";
import { MongooseMixin, type MongooseVars } from "../mixins/mongoose.mixin.js";
import { IdempotentConsumer } from "../mixins/idempotent-consumer.mixin.js";
import {
	MembershipConsumers,
	MembershipProjection,
	type GroupProjectionDoc,
	type MembershipChange,
	type MembershipMethods,
} from "../mixins/membership.mixin.js";
import { config } from "../lib/config.js";
import { MongoAttempts } from "../lib/attempt-limits.js";
import { isDuplicateKey } from "../lib/mongo-errors.js";
import { callerOf, rules, strict } from "../lib/params.js";
import { ErrorTypes, notFound } from "../events/errors.js";
import { DomainEvents } from "../events/domain.js";
import { isMember } from "../events/membership.js";
import { Subscriptions } from "../events/streams.js";
import { LiveEvents, type LiveChat, type LivePresence } from "../events/live.js";
import type { Message, Meta, UserRef } from "../events/types.js";
import { chatModels, socketsCollection, type ChatModels, type MessageDoc, type SocketDoc } from "./chat/models.js";
import { MessageLimit } from "./chat/message-limit.js";
import {
	clientMessageIdOf,
	DEFAULT_PAGE,
	MAX_PAGE,
	MessageClock,
	normalizeText,
	randomMessageId,
	sortKeyOf,
	systemMessageId,
	systemText,
	toMessage,
	type SystemLine,
} from "./chat/messages.js";
import {
	foldSocketReports,
	judgeGateway,
	PRESENCE_RESYNC_EVENT,
	newcomerPresence,
	presenceFlips,
	presenceList,
	socketKey,
	type PresenceEntry,
	type PresenceResync,
	type SocketReport,
} from "./chat/presence.js";

// ---- this

type ChatSettings = object;

interface ChatVars {
	clock: MessageClock;
	startedAt: number;
	/** CHAT_RATE_LIMIT, counted in this database (see `messageLimit`). */
	messages?: MessageLimit;
	sweepTimer?: NodeJS.Timeout;
}

interface ChatMethods {
	messageLimit(): MessageLimit;
	insertMessage(doc: MessageDoc): Promise<{ message: MessageDoc; created: boolean }>;
	writeSystemLine(ctx: Context, change: MembershipChange, member: UserRef, line: SystemLine): Promise<void>;
	onMembershipChange(change: MembershipChange, ctx: Context): Promise<void>;
	reconcilePresence(ctx: Context | undefined, userIds: Iterable<string>): Promise<void>;
	announceNewcomer(ctx: Context, groupId: string, userId: string): Promise<void>;
	closeSockets(ctx: Context | undefined, filter: Record<string, unknown>): Promise<number>;
	insertSockets(docs: SocketDoc[]): Promise<void>;
	markSocketsClosed(gatewayNodeID: string, reports: SocketReport[], at: Date): Promise<void>;
	sweepSockets(): Promise<void>;
}

type ChatThis = Service<ChatSettings> & ChatVars & ChatMethods & MembershipMethods & MongooseVars<ChatModels>;

/** How often reported sockets are checked against the live gateway nodes. */
const SWEEP_EVERY_MS = () => config.presenceSweepEveryMs();
/** After start (and after a socket was reported), how long before an unknown gateway counts as dead. */
const SWEEP_GRACE_MS = () => config.presenceSweepGraceMs();
/** Closed socket records are kept this long (they absorb a late connect report), then purged. */
const CLOSED_KEEP_MS = 10 * 60_000;

const socketIdRule = { type: "string", min: 1, max: 100 } as const;
const gatewayNodeIDRule = { type: "string", min: 1, max: 200 } as const;

const ChatService: ServiceSchema<ChatSettings, ChatMethods, ChatVars, ChatThis> = {
	name: "chat",
	mixins: [
		MongooseMixin({ db: "chat", models: chatModels }),
		MembershipProjection<ChatThis>({
			onChange(change, ctx) {
				return this.onMembershipChange(change, ctx);
			},
		}),
		IdempotentConsumer({ events: Subscriptions.chat, consume: MembershipConsumers }),
	],

	actions: {
		/** A page of a group's chat, oldest to newest; `before` (a message id) pages back in time. Members only. */
		history: {
			params: {
				...strict,
				groupId: rules.id,
				limit: { type: "number", integer: true, min: 1, max: MAX_PAGE, convert: true, optional: true },
				before: { ...rules.id, optional: true },
			},
			async handler(ctx: Context<{ groupId: string; limit?: number; before?: string }, Meta>) {
				callerOf(ctx);
				const { groupId, limit, before } = ctx.params;
				await this.requireMember(ctx, groupId);
				const query: Record<string, unknown> = { groupId };
				if (before) {
					const cursor = await this.models.Message.findOne({ _id: before, groupId }, { sortKey: 1 }).lean();
					if (!cursor) throw notFound("Message", { before });
					query.sortKey = { $lt: cursor.sortKey };
				}
				const newestFirst: MessageDoc[] = await this.models.Message.find(query)
					.sort({ sortKey: -1 })
					.limit(limit ?? DEFAULT_PAGE)
					.lean();
				return { messages: newestFirst.reverse().map(toMessage) };
			},
		},

		/**
		 * Sends a message to a group's chat (members only); every member's sockets receive it.
		 * A resend with the same `clientMessageId` returns the first message instead of a copy.
		 * At most CHAT_RATE_LIMIT messages a minute per user (429 RATE_LIMITED with Retry-After).
		 */
		send: {
			params: {
				...strict,
				groupId: rules.id,
				// The real limit (1..2000 after trimming) is checked by normalizeText.
				text: { type: "string", max: 8 * 2000 },
				clientMessageId: { type: "string", min: 1, max: 100, optional: true },
			},
			async handler(ctx: Context<{ groupId: string; text: string; clientMessageId?: string }, Meta>): Promise<Message> {
				const caller = callerOf(ctx);
				const { groupId, clientMessageId } = ctx.params;
				const text = normalizeText(ctx.params.text);
				await this.requireMember(ctx, groupId);
				const _id = clientMessageId ? clientMessageIdOf(groupId, caller.id, clientMessageId) : randomMessageId();
				try {
					await this.messageLimit().reserve(caller.id);
				} catch (err) {
					// The resend of a message stored before the limit was reached (its answer was lost) is answered as the first time.
					const stored = clientMessageId ? await this.models.Message.findById(_id).lean() : null;
					if (!stored) throw err;
					ctx.meta.$statusCode = 201;
					return toMessage(stored);
				}
				const { at, seq } = this.clock.next();
				const { message, created } = await this.insertMessage({
					_id,
					groupId,
					userId: caller.id,
					text,
					kind: "user",
					createdAt: at,
					sortKey: sortKeyOf(at, seq, _id),
					...(clientMessageId ? { clientMessageId } : {}),
				});
				const result = toMessage(message);
				// A resend was already delivered live with the first copy.
				if (created) await ctx.broadcast(LiveEvents.chat, { groupId, message: result } satisfies LiveChat);
				ctx.meta.$statusCode = 201;
				return result;
			},
		},

		/** Every member of a group with whether they are online now and when they were last seen. Members only. */
		presence: {
			params: { ...strict, groupId: rules.id },
			async handler(ctx: Context<{ groupId: string }, Meta>): Promise<PresenceEntry[]> {
				callerOf(ctx);
				const group = await this.requireMember(ctx, ctx.params.groupId);
				const memberIds = group.memberIds;
				const [open, seen] = await Promise.all([
					this.models.Socket.find({ userId: { $in: memberIds }, closed: false }, { userId: 1 }).lean(),
					this.models.Presence.find({ _id: { $in: memberIds } }).lean(),
				]);
				const onlineIds = new Set<string>(open.map((s: { userId: string }) => s.userId));
				const lastSeen = new Map<string, Date>(seen.map((p: { _id: string; lastSeenAt: Date }) => [p._id, new Date(p.lastSeenAt)]));
				return presenceList(memberIds, onlineIds, lastSeen, new Date());
			},
		},

		/** A gateway opened a socket for a user (called by every gateway on connect). */
		socketConnected: {
			visibility: "public",
			params: { ...strict, userId: rules.id, socketId: { type: "string", min: 1, max: 100 }, gatewayNodeID: { type: "string", min: 1, max: 200 } },
			async handler(ctx: Context<{ userId: string; socketId: string; gatewayNodeID: string }>) {
				const { userId, socketId, gatewayNodeID } = ctx.params;
				const instanceID = this.broker.registry.nodes.get(gatewayNodeID)?.instanceID;
				// $setOnInsert: if the disconnect report overtook this one, the closed record stays closed.
				await this.models.Socket.updateOne(
					{ _id: socketKey(gatewayNodeID, socketId) },
					{ $setOnInsert: { userId, gatewayNodeID, connectedAt: new Date(), closed: false, ...(instanceID ? { gatewayInstanceID: instanceID } : {}) } },
					{ upsert: true },
				);
				await this.reconcilePresence(ctx, [userId]);
				return { ok: true };
			},
		},

		/** A gateway closed a socket of a user (called by every gateway on disconnect). */
		socketDisconnected: {
			visibility: "public",
			params: { ...strict, userId: rules.id, socketId: { type: "string", min: 1, max: 100 }, gatewayNodeID: { type: "string", min: 1, max: 200 } },
			async handler(ctx: Context<{ userId: string; socketId: string; gatewayNodeID: string }>) {
				const { userId, socketId, gatewayNodeID } = ctx.params;
				const now = new Date();
				await this.models.Socket.updateOne(
					{ _id: socketKey(gatewayNodeID, socketId) },
					{ $set: { userId, gatewayNodeID, closed: true, closedAt: now }, $setOnInsert: { connectedAt: now } },
					{ upsert: true },
				);
				await this.reconcilePresence(ctx, [userId]);
				return { ok: true };
			},
		},

		/**
		 * Sockets a gateway opened and closed over a short while, in one call (gateways batch their
		 * reports): a few writes for the whole list, and one presence flip per user who came online
		 * or went offline. A socket reported closed stays closed, whatever the order of its reports.
		 */
		socketsChanged: {
			visibility: "public",
			params: {
				...strict,
				gatewayNodeID: gatewayNodeIDRule,
				sockets: {
					type: "array",
					min: 1,
					max: 5_000,
					items: { type: "object", strict: "remove", props: { socketId: socketIdRule, userId: rules.id, open: "boolean" } },
				},
			},
			async handler(ctx: Context<{ gatewayNodeID: string; sockets: SocketReport[] }>) {
				const { gatewayNodeID, sockets } = ctx.params;
				const { opened, closed } = foldSocketReports(sockets);
				const now = new Date();
				const instanceID = this.broker.registry.nodes.get(gatewayNodeID)?.instanceID;
				// Inserted, not overwritten: a socket whose close was recorded first stays closed.
				if (opened.length)
					await this.insertSockets(
						opened.map(({ socketId, userId }) => ({
							_id: socketKey(gatewayNodeID, socketId),
							userId,
							gatewayNodeID,
							connectedAt: now,
							closed: false,
							...(instanceID ? { gatewayInstanceID: instanceID } : {}),
						})),
					);
				if (closed.length) await this.markSocketsClosed(gatewayNodeID, closed, now);
				await this.reconcilePresence(
					ctx,
					sockets.map(s => s.userId),
				);
				return { opened: opened.length, closed: closed.length };
			},
		},

		/**
		 * A gateway's full list of open sockets, sent when reports may have been lost (this service
		 * was down or unreachable, or took the gateway for dead): sockets missing here are recorded,
		 * sockets closed here before the list was taken (`at`) but on it are open again, and sockets
		 * of that gateway reported before the list was taken but not on it are closed.
		 */
		syncSockets: {
			visibility: "public",
			params: {
				...strict,
				gatewayNodeID: { type: "string", min: 1, max: 200 },
				at: rules.isoDate,
				sockets: {
					type: "array",
					max: 100_000,
					items: { type: "object", strict: "remove", props: { socketId: { type: "string", min: 1, max: 100 }, userId: rules.id } },
				},
			},
			async handler(ctx: Context<{ gatewayNodeID: string; at: string; sockets: { socketId: string; userId: string }[] }>) {
				const { gatewayNodeID, sockets } = ctx.params;
				const at = new Date(ctx.params.at);
				const instanceID = this.broker.registry.nodes.get(gatewayNodeID)?.instanceID;
				const listed = new Set(sockets.map(s => socketKey(gatewayNodeID, s.socketId)));
				const users = new Set<string>();
				const records: Pick<SocketDoc, "_id" | "closed" | "closedAt">[] = await this.models.Socket.find(
					{ _id: { $in: [...listed] } },
					{ closed: 1, closedAt: 1 },
				).lean();
				const known = new Map(records.map(r => [r._id, r]));
				const missing: SocketDoc[] = [];
				for (const { socketId, userId } of sockets) {
					const _id = socketKey(gatewayNodeID, socketId);
					const record = known.get(_id);
					if (record) {
						// Closed before the list said it is open: closed by inference (its gateway seemed gone), not by a disconnect.
						if (record.closed && record.closedAt && new Date(record.closedAt) < at) {
							const reopened = await this.models.Socket.updateOne(
								{ _id, closed: true, closedAt: { $lt: at } },
								{ $set: { closed: false }, $unset: { closedAt: 1 } },
							);
							if (reopened.modifiedCount) users.add(userId);
						}
						continue;
					}
					missing.push({ _id, userId, gatewayNodeID, connectedAt: at, closed: false, ...(instanceID ? { gatewayInstanceID: instanceID } : {}) });
					users.add(userId);
				}
				// Inserted as on connect: a disconnect reported meanwhile keeps the record closed.
				if (missing.length) await this.insertSockets(missing);
				// Reported before the list was taken and not on it: closed while its report was lost.
				const stale: Pick<SocketDoc, "_id" | "userId">[] = await this.models.Socket.find(
					{ gatewayNodeID, closed: false, connectedAt: { $lt: at } },
					{ userId: 1 },
				).lean();
				const gone = stale.filter(s => !listed.has(s._id));
				if (gone.length) {
					await this.models.Socket.updateMany({ _id: { $in: gone.map(s => s._id) }, closed: false }, { $set: { closed: true, closedAt: new Date() } });
					for (const s of gone) users.add(s.userId);
				}
				await this.reconcilePresence(ctx, users);
				return { recorded: users.size, closed: gone.length };
			},
		},

		/** Open sockets and online users as this service sees them (operators). */
		presenceStats: {
			visibility: "public",
			async handler() {
				const open: Pick<SocketDoc, "userId" | "gatewayNodeID">[] = await this.models.Socket.find({ closed: false }, { userId: 1, gatewayNodeID: 1 }).lean();
				const perGateway: Record<string, number> = {};
				for (const s of open) perGateway[s.gatewayNodeID] = (perGateway[s.gatewayNodeID] ?? 0) + 1;
				return { sockets: open.length, onlineUsers: new Set(open.map(s => s.userId)).size, perGateway };
			},
		},
	},

	events: {
		/** A gateway that went away closed all its sockets, whether or not it could report them. */
		async "$node.disconnected"(ctx: Context<{ node: { id: string } }>) {
			const nodeID = ctx.params?.node?.id;
			if (!nodeID) return;
			const closed = await this.closeSockets(undefined, { gatewayNodeID: nodeID });
			if (closed) this.logger.info(`Node ${nodeID} disconnected: closed ${closed} of its sockets`);
		},
		/** A gateway taken for gone is back: its sockets (closed here by inference) may still be open. */
		"$node.connected"(ctx: Context<{ node: { id: string; services?: { name: string }[] }; reconnected: boolean }>) {
			const { node, reconnected } = ctx.params ?? {};
			if (!reconnected || !node?.services?.some(svc => svc.name === "gateway")) return;
			this.broker.broadcast(PRESENCE_RESYNC_EVENT, { gatewayNodeID: node.id } satisfies PresenceResync).catch(() => undefined);
		},
	},

	methods: {
		/**
		 * The per-user message count, in this database (collection `attempts`): one document per user
		 * who chats, reused minute after minute (no purge needed). Made on first use, once the
		 * connection exists (a membership event may come before this service's `started`).
		 */
		messageLimit() {
			this.messages ??= new MessageLimit(new MongoAttempts(this.connection), config.chatRateLimit());
			return this.messages;
		},

		/** Stores a message once; for an id already stored (a resend), returns the stored one. */
		async insertMessage(doc: MessageDoc): Promise<{ message: MessageDoc; created: boolean }> {
			try {
				await this.models.Message.create(doc);
			} catch (err) {
				if (!isDuplicateKey(err)) throw err;
				const existing = await this.models.Message.findById(doc._id).lean();
				if (!existing) throw err;
				return { message: existing, created: false };
			}
			// Written after (or while) the group was deleted: the history goes with the group.
			if (await this.models.DeletedGroup.exists({ _id: doc.groupId })) {
				await this.models.Message.deleteMany({ groupId: doc.groupId });
				throw notFound("Group");
			}
			return { message: doc, created: true };
		},

		/** A join or leave line in the group's history, once per event, told live to the group. */
		async writeSystemLine(ctx: Context, change: MembershipChange, member: UserRef, line: SystemLine) {
			const occurred = new Date(change.occurredAt);
			// When it happened, not when this service heard of it; the creation line sorts first.
			const at = Number.isFinite(occurred.getTime()) ? occurred : new Date();
			const _id = systemMessageId(change.eventId, member.id, line);
			try {
				const { message, created } = await this.insertMessage({
					_id,
					groupId: change.groupId,
					userId: member.id,
					text: systemText(line, member),
					kind: "system",
					createdAt: at,
					sortKey: sortKeyOf(at, line === "created" ? 0 : 1, _id),
				});
				if (created) await ctx.broadcast(LiveEvents.chat, { groupId: change.groupId, message: toMessage(message) } satisfies LiveChat);
			} catch (err) {
				if ((err as { type?: string }).type === ErrorTypes.NOT_FOUND) return; // the group is gone
				throw err;
			}
		},

		/** Joins and leaves become history lines; a deleted group loses its history; a deleted user their presence. */
		async onMembershipChange(change: MembershipChange, ctx: Context) {
			if (change.deletedUserId) {
				await this.models.Socket.deleteMany({ userId: change.deletedUserId });
				await this.models.Presence.deleteOne({ _id: change.deletedUserId });
				await this.messageLimit().forget(change.deletedUserId);
				return;
			}
			if (change.deleted) {
				await this.models.DeletedGroup.updateOne({ _id: change.groupId }, { $set: { at: new Date() } }, { upsert: true });
				await this.models.Message.deleteMany({ groupId: change.groupId });
				return;
			}
			if (await this.models.DeletedGroup.exists({ _id: change.groupId })) return;
			for (const member of change.added) {
				await this.writeSystemLine(ctx, change, member, change.type === DomainEvents.groupCreated ? "created" : "joined");
				await this.announceNewcomer(ctx, change.groupId, member.id);
			}
			for (const member of change.removed) {
				await this.writeSystemLine(ctx, change, member, change.by && change.by !== member.id ? "removed" : "left");
			}
		},

		/**
		 * Makes the stored online flag of each user follow their open sockets and announces each
		 * flip to the user's groups. Only users whose flag is wrong are written, each with a
		 * conditional update, so of two instances (or calls) reconciling the same user only one
		 * flips and announces. Re-reads after writing: a connect and a disconnect handled at the same
		 * time (here or on another instance) converge on the true state.
		 */
		async reconcilePresence(ctx: Context | undefined, userIds: Iterable<string>) {
			let users = [...new Set(userIds)];
			for (let round = 0; round < 5 && users.length; round++) {
				const [withSockets, stored] = await Promise.all([
					this.models.Socket.distinct("userId", { userId: { $in: users }, closed: false }),
					this.models.Presence.find({ _id: { $in: users } }, { online: 1 }).lean(),
				]);
				const flips = presenceFlips(users, new Set(withSockets), new Map(stored.map(p => [p._id, p.online])));
				const flipped: { userId: string; online: boolean; version?: number }[] = [];
				for (const { userId, online } of flips) {
					try {
						const result = await this.models.Presence.findOneAndUpdate(
							{ _id: userId, online: !online },
							{ $set: { online, lastSeenAt: new Date() }, $inc: { version: 1 } },
							// Someone never seen before is offline already: only coming online creates the record.
							{ upsert: online, returnDocument: "after" },
						).lean();
						if (result) flipped.push({ userId, online, version: result.version });
					} catch (err) {
						// The upsert met a record that already says online: nothing flipped.
						if (!isDuplicateKey(err)) throw err;
					}
				}
				if (!flipped.length) return;
				const flippedIds = flipped.map(f => f.userId);
				const groups: Pick<GroupProjectionDoc, "_id" | "memberIds">[] = await this.groupProjection()
					.find({ memberIds: { $in: flippedIds }, deleted: false }, { _id: 1, memberIds: 1 })
					.lean();
				for (const { userId, online, version } of flipped) {
					const groupIds = groups.filter(g => isMember(g, userId)).map(g => g._id);
					if (!groupIds.length) continue;
					const payload: LivePresence = { groupIds, userId, online, version };
					await (ctx ? ctx.broadcast(LiveEvents.presence, payload) : this.broker.broadcast(LiveEvents.presence, payload));
				}
				const still = new Set(await this.models.Socket.distinct("userId", { userId: { $in: flippedIds }, closed: false }));
				users = flipped.filter(f => still.has(f.userId) !== f.online).map(f => f.userId);
			}
		},

		/** The presence a connected newcomer brings to the group, and the group's to the newcomer. */
		async announceNewcomer(ctx: Context, groupId: string, userId: string) {
			const group: Pick<GroupProjectionDoc, "memberIds"> | null = await this.groupProjection()
				.findOne({ _id: groupId, deleted: false }, { memberIds: 1 })
				.lean();
			const others = (group?.memberIds ?? []).filter(id => id !== userId);
			const [newcomer, onlineOthers] = await Promise.all([
				this.models.Socket.exists({ userId, closed: false }),
				others.length ? this.models.Socket.distinct("userId", { userId: { $in: others }, closed: false }) : Promise.resolve([] as string[]),
			]);
			for (const notice of newcomerPresence(groupId, userId, Boolean(newcomer), onlineOthers as string[])) {
				await ctx.broadcast(LiveEvents.presence, notice satisfies LivePresence);
			}
		},

		/** Records new sockets; one already recorded (a close that overtook its open report) is left as it is. */
		async insertSockets(docs: SocketDoc[]) {
			for (let i = 0; i < docs.length; i += 1_000) {
				try {
					await socketsCollection(this.connection).insertMany(docs.slice(i, i + 1_000), { ordered: false });
				} catch (err) {
					const errors = (err as { writeErrors?: unknown[] | unknown }).writeErrors;
					const list = Array.isArray(errors) ? errors : errors ? [errors] : [];
					if (!list.length || !list.every(isDuplicateKey)) throw err;
				}
			}
		},

		/** Closes reported sockets; one not recorded yet (its open report is late) is recorded closed. */
		async markSocketsClosed(gatewayNodeID: string, reports: SocketReport[], at: Date) {
			const ids = reports.map(r => socketKey(gatewayNodeID, r.socketId));
			const result = await this.models.Socket.updateMany({ _id: { $in: ids } }, { $set: { closed: true, closedAt: at } });
			if (result.matchedCount >= ids.length) return;
			await this.insertSockets(
				reports.map(({ socketId, userId }) => ({
					_id: socketKey(gatewayNodeID, socketId),
					userId,
					gatewayNodeID,
					connectedAt: at,
					closed: true,
					closedAt: at,
				})),
			);
			// An open report recorded between the two writes must not leave its socket open.
			await this.models.Socket.updateMany({ _id: { $in: ids }, closed: false }, { $set: { closed: true, closedAt: at } });
		},

		/** Closes the open sockets matching `filter` and updates the presence of their users. */
		async closeSockets(ctx: Context | undefined, filter: Record<string, unknown>): Promise<number> {
			const open: Pick<SocketDoc, "userId">[] = await this.models.Socket.find({ ...filter, closed: false }, { userId: 1 }).lean();
			if (!open.length) return 0;
			await this.models.Socket.updateMany({ ...filter, closed: false }, { $set: { closed: true, closedAt: new Date() } });
			await this.reconcilePresence(
				ctx,
				open.map(s => s.userId),
			);
			return open.length;
		},

		/**
		 * Closes sockets of gateways that are gone without a `$node.disconnected` reaching us (this
		 * service was down then, or the gateway restarted under the same node id), and forgets
		 * closed records once no late report can need them.
		 */
		async sweepSockets() {
			const now = Date.now();
			const grace = SWEEP_GRACE_MS();
			const gateways: string[] = await this.models.Socket.distinct("gatewayNodeID", { closed: false });
			for (const nodeID of gateways) {
				const node = this.broker.registry.nodes.get(nodeID);
				const verdict = judgeGateway(node ? { available: node.available, instanceID: node.instanceID } : undefined, now - this.startedAt, grace);
				// A socket reported moments ago may come from a gateway not discovered yet.
				const old = { gatewayNodeID: nodeID, connectedAt: { $lt: new Date(now - grace) } };
				let closed = 0;
				if (verdict.action === "dropAll") closed = await this.closeSockets(undefined, old);
				else if (verdict.action === "dropOtherInstances")
					closed = await this.closeSockets(undefined, { ...old, gatewayInstanceID: { $exists: true, $ne: verdict.instanceID } });
				if (closed) this.logger.info(`Closed ${closed} stale sockets of gateway ${nodeID}`);
			}
			await this.models.Socket.deleteMany({ closed: true, closedAt: { $lt: new Date(now - CLOSED_KEEP_MS) } });
		},
	},

	created() {
		this.clock = new MessageClock();
	},

	started() {
		this.startedAt = Date.now();
		this.sweepTimer = setInterval(() => {
			this.sweepSockets().catch((err: Error) => this.logger.warn("Socket sweep failed:", err.message));
		}, SWEEP_EVERY_MS());
		this.sweepTimer.unref?.();
	},

	stopped() {
		clearInterval(this.sweepTimer);
	},
};

export default ChatService;
