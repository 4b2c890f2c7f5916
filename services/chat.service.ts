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
import { callerOf, rules, strict } from "../lib/params.js";
import { ErrorTypes } from "../events/errors.js";
import { DomainEvents } from "../events/domain.js";
import { Subscriptions } from "../events/streams.js";
import { LiveEvents, type LiveChat, type LivePresence } from "../events/live.js";
import type { Message, Meta, UserRef } from "../events/types.js";
import { chatModels, type ChatModels } from "./chat/models.js";
import { MessageLimit } from "./chat/message-limit.js";
import { MessageStore } from "./chat/message-store.js";
import { PresenceStore } from "./chat/presence-store.js";
import {
	clientMessageIdOf,
	DEFAULT_PAGE,
	MAX_PAGE,
	MessageClock,
	normalizeText,
	randomMessageId,
	systemLineDoc,
	userMessageDoc,
	toMessage,
	type SystemLine,
} from "./chat/messages.js";
import {
	flipNotices,
	foldSocketReports,
	judgeGateway,
	PRESENCE_RESYNC_EVENT,
	newcomerPresence,
	type PresenceEntry,
	type PresenceResync,
	type SocketReport,
} from "./chat/presence.js";
import { repeatable } from "../lib/repeatable.js";

// ---- this

type ChatSettings = object;

interface ChatVars {
	clock: MessageClock;
	startedAt: number;
	/** Messages, paged and stored once per id (chat/message-store.ts). */
	messageStore: MessageStore;
	/** Reported sockets and the online flags they drive (chat/presence-store.ts). */
	presenceStore: PresenceStore;
	/** CHAT_RATE_LIMIT, counted in this database (see `messageLimit`). */
	messages?: MessageLimit;
	sweepTimer?: NodeJS.Timeout;
}

interface ChatMethods {
	messageLimit(): MessageLimit;
	writeSystemLine(ctx: Context, change: MembershipChange, member: UserRef, line: SystemLine): Promise<void>;
	onMembershipChange(change: MembershipChange, ctx: Context): Promise<void>;
	reconcilePresence(ctx: Context | undefined, userIds: Iterable<string>): Promise<void>;
	announceNewcomer(ctx: Context, groupId: string, userId: string): Promise<void>;
	gatewayInstanceID(gatewayNodeID: string): string | undefined;
	sweepSockets(): Promise<void>;
}

type ChatThis = Service<ChatSettings> & ChatVars & ChatMethods & MembershipMethods & MongooseVars<ChatModels>;

/** How often reported sockets are checked against the live gateway nodes. */
const SWEEP_EVERY_MS = () => config.presenceSweepEveryMs();
/** After start (and after a socket was reported), how long before an unknown gateway counts as dead. */
const SWEEP_GRACE_MS = () => config.presenceSweepGraceMs();

const socketIdRule = { type: "string", min: 1, max: 100 } as const;
const gatewayNodeIDRule = { type: "string", min: 1, max: 200 } as const;
const socketParams = { ...strict, userId: rules.id, socketId: socketIdRule, gatewayNodeID: gatewayNodeIDRule };
type SocketParams = { userId: string; socketId: string; gatewayNodeID: string };

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
			...repeatable(),
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
				const page = await this.messageStore.page(groupId, limit ?? DEFAULT_PAGE, before);
				return { messages: page.map(toMessage) };
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
					const stored = clientMessageId ? await this.messageStore.byId(_id) : null;
					if (!stored) throw err;
					ctx.meta.$statusCode = 201;
					return toMessage(stored);
				}
				const { message, created } = await this.messageStore.insert(userMessageDoc(_id, groupId, caller.id, text, this.clock.next(), clientMessageId));
				const result = toMessage(message);
				// A resend was already delivered live with the first copy.
				if (created) await ctx.broadcast(LiveEvents.chat, { groupId, message: result } satisfies LiveChat);
				ctx.meta.$statusCode = 201;
				return result;
			},
		},

		/** Every member of a group with whether they are online now and when they were last seen. Members only. */
		presence: {
			...repeatable(),
			params: { ...strict, groupId: rules.id },
			async handler(ctx: Context<{ groupId: string }, Meta>): Promise<PresenceEntry[]> {
				callerOf(ctx);
				const group = await this.requireMember(ctx, ctx.params.groupId);
				return this.presenceStore.presenceOf(group.memberIds);
			},
		},

		/** A gateway opened a socket for a user (called by every gateway on connect). */
		socketConnected: {
			visibility: "public",
			params: socketParams,
			async handler(ctx: Context<SocketParams>) {
				const { userId, socketId, gatewayNodeID } = ctx.params;
				await this.presenceStore.opened(gatewayNodeID, socketId, userId, this.gatewayInstanceID(gatewayNodeID));
				await this.reconcilePresence(ctx, [userId]);
				return { ok: true };
			},
		},

		/** A gateway closed a socket of a user (called by every gateway on disconnect). */
		socketDisconnected: {
			visibility: "public",
			params: socketParams,
			async handler(ctx: Context<SocketParams>) {
				const { userId, socketId, gatewayNodeID } = ctx.params;
				await this.presenceStore.closed(gatewayNodeID, socketId, userId);

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
				await this.presenceStore.openedAll(gatewayNodeID, opened, now, this.gatewayInstanceID(gatewayNodeID));
				await this.presenceStore.closedAll(gatewayNodeID, closed, now);
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
				gatewayNodeID: gatewayNodeIDRule,
				at: rules.isoDate,
				sockets: {
					type: "array",
					max: 100_000,
					items: { type: "object", strict: "remove", props: { socketId: socketIdRule, userId: rules.id } },
				},
			},
			async handler(ctx: Context<{ gatewayNodeID: string; at: string; sockets: { socketId: string; userId: string }[] }>) {
				const { gatewayNodeID, sockets } = ctx.params;
				const { users, closed } = await this.presenceStore.syncGateway(gatewayNodeID, new Date(ctx.params.at), sockets, this.gatewayInstanceID(gatewayNodeID));
				await this.reconcilePresence(ctx, users);
				return { recorded: users.size, closed };
			},
		},

		/** Open sockets and online users as this service sees them (operators). */
		presenceStats: {
			...repeatable(),
			visibility: "public",
			handler() {
				return this.presenceStore.stats();
			},
		},
	},

	events: {
		/** A gateway that went away closed all its sockets, whether or not it could report them. */
		async "$node.disconnected"(ctx: Context<{ node: { id: string } }>) {
			const nodeID = ctx.params?.node?.id;
			if (!nodeID) return;
			const users = await this.presenceStore.closeMatching({ gatewayNodeID: nodeID });
			if (!users.length) return;
			await this.reconcilePresence(undefined, users);
			this.logger.info(`Node ${nodeID} disconnected: closed ${users.length} of its sockets`);
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

		/** A join or leave line in the group's history, once per event, told live to the group. */
		async writeSystemLine(ctx: Context, change: MembershipChange, member: UserRef, line: SystemLine) {
			try {
				const { message, created } = await this.messageStore.insert(systemLineDoc(change, member, line));
				if (created) await ctx.broadcast(LiveEvents.chat, { groupId: change.groupId, message: toMessage(message) } satisfies LiveChat);
			} catch (err) {
				if ((err as { type?: string }).type === ErrorTypes.NOT_FOUND) return; // the group is gone
				throw err;
			}
		},

		/** Joins and leaves become history lines; a deleted group loses its history; a deleted user their presence. */
		async onMembershipChange(change: MembershipChange, ctx: Context) {
			if (change.deletedUserId) {
				await this.presenceStore.forgetUser(change.deletedUserId);
				await this.messageLimit().forget(change.deletedUserId);
				return;
			}
			if (change.deleted) {
				await this.messageStore.deleteGroup(change.groupId);
				return;
			}
			if (await this.messageStore.groupDeleted(change.groupId)) return;
			for (const member of change.added) {
				await this.writeSystemLine(ctx, change, member, change.type === DomainEvents.groupCreated ? "created" : "joined");
				await this.announceNewcomer(ctx, change.groupId, member.id);
			}
			for (const member of change.removed) {
				await this.writeSystemLine(ctx, change, member, change.by && change.by !== member.id ? "removed" : "left");
			}
		},

		/** Makes the stored online flags follow the open sockets (chat/presence-store.ts) and tells each flip to the user's groups. */
		async reconcilePresence(ctx: Context | undefined, userIds: Iterable<string>) {
			await this.presenceStore.reconcile(userIds, async flipped => {
				const groups: Pick<GroupProjectionDoc, "_id" | "memberIds">[] = await this.groupProjection()
					.find({ memberIds: { $in: flipped.map(f => f.userId) }, deleted: false }, { _id: 1, memberIds: 1 })
					.lean();
				for (const payload of flipNotices(flipped, groups)) {
					await (ctx ? ctx.broadcast(LiveEvents.presence, payload satisfies LivePresence) : this.broker.broadcast(LiveEvents.presence, payload));
				}
			});
		},

		/** The presence a connected newcomer brings to the group, and the group's to the newcomer. */
		async announceNewcomer(ctx: Context, groupId: string, userId: string) {
			const group: Pick<GroupProjectionDoc, "memberIds"> | null = await this.groupProjection()
				.findOne({ _id: groupId, deleted: false }, { memberIds: 1 })
				.lean();
			const others = (group?.memberIds ?? []).filter(id => id !== userId);
			const [newcomer, onlineOthers] = await Promise.all([this.presenceStore.isOnline(userId), this.presenceStore.onlineAmong(others)]);
			for (const notice of newcomerPresence(groupId, userId, newcomer, onlineOthers)) {
				await ctx.broadcast(LiveEvents.presence, notice satisfies LivePresence);
			}
		},

		/** The broker instance of a gateway node when known: a restarted gateway keeps its node id but not this. */
		gatewayInstanceID(gatewayNodeID: string) {
			return this.broker.registry.nodes.get(gatewayNodeID)?.instanceID ?? undefined;
		},

		/**
		 * Closes sockets of gateways that are gone without a `$node.disconnected` reaching us (this
		 * service was down then, or the gateway restarted under the same node id), and forgets
		 * closed records once no late report can need them.
		 */
		async sweepSockets() {
			const now = Date.now();
			const grace = SWEEP_GRACE_MS();
			for (const nodeID of await this.presenceStore.gatewaysWithOpenSockets()) {
				const node = this.broker.registry.nodes.get(nodeID);
				const verdict = judgeGateway(node ? { available: node.available, instanceID: node.instanceID } : undefined, now - this.startedAt, grace);
				// A socket reported moments ago may come from a gateway not discovered yet.
				const users = await this.presenceStore.closeJudged(nodeID, verdict, new Date(now - grace));
				if (!users.length) continue;
				await this.reconcilePresence(undefined, users);
				this.logger.info(`Closed ${users.length} stale sockets of gateway ${nodeID}`);
			}
			await this.presenceStore.purgeClosed(now);
		},
	},

	created() {
		this.clock = new MessageClock();
		this.messageStore = new MessageStore(() => this.models);
		this.presenceStore = new PresenceStore(
			() => this.models,
			() => this.connection,
		);
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
