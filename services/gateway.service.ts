import type { IncomingMessage, ServerResponse } from "node:http";
import type { Context, ServiceSchema } from "moleculer";
import ApiGateway from "moleculer-web";
import { Server as SocketServer, type Socket } from "socket.io";
import { config } from "../lib/config.js";
import { badRequest, unauthorized } from "../events/errors.js";
import { LiveEvents, type LiveChat, type LiveGroup, type LiveLocationEvent, type LiveNotification, type LivePresence, type LiveRevoked } from "../events/live.js";
import type { Meta } from "../events/types.js";
import { answerUnparsableRequest, retryAfterSeconds, toErrorBody } from "./gateway/errors.js";
import { bodyErrors, finiteNumbersOnly, verifyJsonBody } from "./gateway/body.js";
import { asyncApiDocument, docsPage, openApiDocument } from "./gateway/api-docs.js";
import { authenticatedAliases, publicAuthAliases } from "./gateway/routes.js";
import { webClientMiddleware } from "./gateway/static-files.js";
import { ackResult, asParams, SocketCommands, type SocketCommand } from "./gateway/socket-events.js";
import { revokes, TokenCache, type ResolvedToken } from "./gateway/token-cache.js";
import { locationUpdates } from "./gateway/live-location.js";
import { groupIdsOfRooms, groupRoom, HandshakeLog, replayGroups, revokedDuring, unverifiedSubject, userRoom, type PendingHandshake } from "./gateway/handshakes.js";
import { PresenceReports, type SocketChange } from "./gateway/presence-reports.js";
import { PresenceOrder } from "./gateway/presence-order.js";
import { PRESENCE_RESYNC_EVENT, type PresenceResync } from "./chat/presence.js";

/** Services whose readiness `GET /health` reports (HEALTH_SERVICES overrides, comma separated). */
const healthServices = () => config.healthServices();

interface SocketData {
	auth: ResolvedToken;
	/** From the handshake until the socket joins its rooms (then deleted: the rooms hold the groups). */
	joining?: { pending: PendingHandshake; groupIds: string[] };
}
type AppSocket = Socket<Record<string, (...args: any[]) => void>, Record<string, (...args: any[]) => void>, Record<string, never>, SocketData>;

/** What `users.resolveToken` answers; `groupIds` only when asked for `withGroupIds` (and the users service knows it). */
interface ResolvedTokenAnswer extends ResolvedToken {
	groupIds?: string[];
}

const socketCommands = new Map<string, SocketCommand>(Object.entries(SocketCommands));
/** How long socket reports to chat are collected into one call. */
const PRESENCE_BATCH_MS = 25;

/**
 * The client's address. Behind a proxy (TRUST_PROXY=1) it is the last X-Forwarded-For entry: the
 * one our proxy appended. Earlier entries come from the client and could be forged.
 */
function clientAddress(req: IncomingMessage): string {
	if (config.trustProxy()) {
		const forwarded = req.headers["x-forwarded-for"];
		const last = (Array.isArray(forwarded) ? forwarded.join(",") : forwarded)?.split(",").at(-1)?.trim();
		if (last) return last;
	}
	return req.socket.remoteAddress ?? "unknown";
}

function sendError(this: any, req: IncomingMessage & { originalUrl?: string }, res: ServerResponse, err: unknown) {
	const body = toErrorBody(err);
	if (body.code >= 500) this.logger.error(`${req.method} ${req.originalUrl ?? req.url} failed:`, (err as Error)?.message ?? err);
	if (res.headersSent) return res.end();
	res.setHeader("Content-Type", "application/json; charset=utf-8");
	const retryAfter = retryAfterSeconds(body, Number(res.getHeader("X-Rate-Limit-Reset")));
	if (retryAfter !== undefined) res.setHeader("Retry-After", String(retryAfter));
	res.writeHead(body.code);
	res.end(JSON.stringify(body));
	this.logResponse(req, res);
}

/** `Location` of a 201: the created resource where it has its own URL, else the collection posted to. */
function createdLocation(url: string, data: unknown): string {
	const path = url.split("?")[0]!;
	const created = data as { id?: unknown; groupId?: unknown; userId?: unknown } | null;
	if (path === "/api/auth/register") return "/api/users/me";
	if (path === "/api/groups" && typeof created?.id === "string") return `/api/groups/${created.id}`;
	if (path.endsWith("/journey") && typeof created?.groupId === "string" && typeof created.userId === "string")
		return `/api/groups/${created.groupId}/sessions/${created.userId}`;
	return path;
}

/** Bodies must be JSON: a body of another content type is refused rather than silently ignored. */
function requireJsonBody(req: IncomingMessage) {
	const hasBody = Number(req.headers["content-length"] ?? 0) > 0 || req.headers["transfer-encoding"] !== undefined;
	const type = String(req.headers["content-type"] ?? "");
	if (hasBody && !/^application\/(.+\+)?json\b/i.test(type)) throw badRequest("Request bodies must be application/json");
}

const corsOrigin = () => {
	const origins = config.corsOrigins();
	return origins === "*" ? "*" : origins.split(",").map(o => o.trim());
};

const routeDefaults = {
	mappingPolicy: "restrict",
	autoAliases: false,
	// `verify` refuses invalid UTF-8 and absurd nesting before the body is parsed, the reviver numbers
	// that overflow to Infinity: 400s, not a stored U+FFFD, a silently dropped field or a 500.
	bodyParsers: { json: { strict: true, limit: config.bodyLimit(), verify: verifyJsonBody, reviver: finiteNumbersOnly }, urlencoded: false },
	mergeParams: true,
	onBeforeCall(this: any, ctx: Context<unknown, Meta>, _route: unknown, req: IncomingMessage, res: ServerResponse) {
		// The request id follows the call through every service's logs and traces; clients can quote it.
		res.setHeader("X-Request-ID", ctx.requestID ?? ctx.id);
		requireJsonBody(req);
		ctx.meta.clientAddress = clientAddress(req);
	},
	onAfterCall(this: any, ctx: Context<unknown, Meta & { $location?: string }>, _route: unknown, req: IncomingMessage & { originalUrl?: string }, _res: ServerResponse, data: unknown) {
		if (ctx.meta.$statusCode === 201 && !ctx.meta.$location) ctx.meta.$location = createdLocation(req.originalUrl ?? req.url ?? "/", data);
		return data;
	},
	onError: sendError,
};

const GatewayService: ServiceSchema<any> & ThisType<any> = {
	name: "gateway",
	mixins: [ApiGateway],

	settings: {
		port: config.port(),
		ip: config.host(),
		cors: { origin: corsOrigin(), methods: ["GET", "POST", "PATCH", "DELETE", "OPTIONS"], credentials: false, maxAge: 600 },
		onError: sendError,
		// Runs right after the body parser on every route: body failures are 400s (see gateway/body.ts).
		use: [bodyErrors],
		log4XXResponses: false,
		logRequest: "debug",
		logRequestParams: null,
		logResponseData: null,
		routes: [
			{
				path: "/",
				...routeDefaults,
				// The reference web client (web/dist) at `/`; API paths fall through to the aliases.
				use: [webClientMiddleware],
				aliases: {
					"GET /health": "gateway.health",
					"GET /api/docs": "gateway.docs",
					"GET /api/docs/openapi.json": "gateway.openApi",
					"GET /api/docs/asyncapi.json": "gateway.asyncApi",
				},
			},
			{
				// Its own path: moleculer-web keys routes by path, so two "/api" routes would replace each other.
				path: "/api/auth",
				...routeDefaults,
				aliases: publicAuthAliases,
				...(config.authRateLimit() > 0
					? { rateLimit: { window: 60_000, limit: config.authRateLimit(), headers: true, key: clientAddress } }
					: {}),
			},
			{
				path: "/api",
				...routeDefaults,
				authentication: true,
				aliases: authenticatedAliases,
			},
		],
	},

	actions: {
		/** Readiness: 200 when the broker, NATS and every service's database are up; 503 with the failing parts otherwise. */
		health: {
			params: {},
			async handler(ctx: Context<unknown, Meta>) {
				const failing: Record<string, string> = {};
				if (!this.broker.transit?.connected) failing.nats = "disconnected";
				await Promise.all(
					healthServices().map(async name => {
						try {
							const answer = (await ctx.call(`${name}.health`, { gatewayNodeID: this.broker.nodeID }, { timeout: 2_000 })) as { status?: string };
							if (answer?.status === "discovering") failing[name] = "discovering this gateway";
						} catch (err) {
							const errorName = (err as Error).name;
							failing[name] = ["ServiceNotFoundError", "ServiceNotAvailableError", "RequestTimeoutError"].includes(errorName) ? "not running" : "database unavailable";
						}
					}),
				);
				if (Object.keys(failing).length === 0) return { status: "ok" };
				ctx.meta.$statusCode = 503;
				return { status: "unavailable", failing };
			},
		},

		/** The API documentation, readable offline. */
		docs: {
			params: {},
			handler(ctx: Context<unknown, Meta & { $responseType?: string }>) {
				ctx.meta.$responseType = "text/html; charset=utf-8";
				return docsPage(this.openApi(), asyncApiDocument());
			},
		},

		/** OpenAPI 3 for the REST routes, with the live parameter schemas of the actions behind them. */
		openApi: {
			params: {},
			handler() {
				return this.openApi();
			},
		},

		/** AsyncAPI for the Socket.IO events. */
		asyncApi: {
			params: {},
			handler() {
				return asyncApiDocument();
			},
		},

		/** Open sockets on this gateway instance (operators). */
		socketStats: {
			visibility: "public",
			handler() {
				return { nodeID: this.broker.nodeID, sockets: this.io?.engine?.clientsCount ?? 0 };
			},
		},
	},

	events: {
		// One update, or a location instance's batch of them (events/live.ts), each to its group's room in order.
		[LiveEvents.location](ctx: Context<LiveLocationEvent>) {
			if (!this.io) return;
			for (const { groupId, session } of locationUpdates(ctx.params)) this.io.to(groupRoom(groupId)).emit("location:update", session);
		},
		[LiveEvents.chat](ctx: Context<LiveChat>) {
			this.io?.to(groupRoom(ctx.params.groupId)).emit("chat:message", ctx.params.message);
		},
		[LiveEvents.presence](ctx: Context<LivePresence>) {
			const { groupIds, userId, online, version } = ctx.params;
			if (!this.presenceOrder.isNewest(userId, version)) return;
			for (const groupId of groupIds) this.io?.to(groupRoom(groupId)).emit("chat:presence", { groupId, userId, online });
		},
		[LiveEvents.notification](ctx: Context<LiveNotification>) {
			this.io?.to(userRoom(ctx.params.userId)).emit("notification", ctx.params.notification);
		},
		[LiveEvents.group](ctx: Context<LiveGroup>) {
			const { groupId, change, userId } = ctx.params;
			const room = groupRoom(groupId);
			const payload = { groupId, change, ...(userId ? { userId } : {}) };
			// Sockets still in their handshake are not in the user's room yet: they replay this when they join.
			if (change !== "renamed") this.handshakes.record({ kind: "group", groupId, change, ...(userId ? { userId } : {}) });
			if (!this.io) return;
			// Added users join before the announcement, removed ones leave after it: both hear it.
			if ((change === "created" || change === "memberAdded") && userId) this.io.in(userRoom(userId)).socketsJoin(room);
			this.io.to(room).emit("group:changed", payload);
			if (change === "memberRemoved" && userId) {
				this.io.to(userRoom(userId)).except(room).emit("group:changed", payload);
				this.io.in(userRoom(userId)).socketsLeave(room);
			}
			if (change === "deleted") this.io.in(room).socketsLeave(room);
		},
		[LiveEvents.revoked](ctx: Context<LiveRevoked>) {
			const { userId, jti, before } = ctx.params;
			this.tokenCache.revoke(userId, jti, before);
			this.handshakes.record({ kind: "revoked", userId, ...(jti !== undefined ? { jti } : {}), ...(before !== undefined ? { before } : {}) });
			if (!this.io) return;
			for (const socket of this.io.of("/").sockets.values() as Iterable<AppSocket>) {
				const auth = socket.data.auth;
				if (auth?.user.id === userId && revokes(auth.token, jti, before)) socket.disconnect(true);
			}
		},
		// A reconnect to NATS may have missed revocations: forget every cached token.
		"$transporter.connected"() {
			this.tokenCache?.clear();
		},
		// A chat instance that (re)joined may have missed socket reports while it was away.
		"$services.changed"() {
			const chatNodes: string[] = this.broker.registry
				.getServiceList({ onlyAvailable: true })
				.filter((svc: { name: string; nodeID?: string }) => svc.name === "chat" && svc.nodeID)
				.map((svc: { nodeID?: string }) => svc.nodeID!);
			const fresh = chatNodes.some(nodeID => !this.presenceSyncedWith.has(nodeID));
			this.presenceSyncedWith = new Set(chatNodes);
			if (fresh) this.syncPresence();
		},
		// Chat took this gateway for gone (and closed its sockets) while it was not.
		[PRESENCE_RESYNC_EVENT](ctx: Context<PresenceResync>) {
			if (ctx.params.gatewayNodeID === this.broker.nodeID) this.syncPresence();
		},
	},

	methods: {
		/**
		 * Replaces moleculer-web's handler of errors thrown outside a route's own handling, which logs
		 * the full stack trace of every 5xx; `sendError` logs one line without it.
		 */
		errorHandler(req: IncomingMessage, res: ServerResponse, err: unknown) {
			this.sendError(req, res, err);
		},

		/** One access-log line per request (replaces moleculer-web's two), with the request id. */
		logResponse(req: IncomingMessage & { $startTime?: [number, number]; $ctx?: Context; originalUrl?: string }, res: ServerResponse) {
			const elapsed = req.$startTime ? process.hrtime(req.$startTime) : [0, 0];
			const ms = (elapsed[0]! * 1e3 + elapsed[1]! / 1e6).toFixed(1);
			const requestID = req.$ctx?.requestID ?? res.getHeader("X-Request-ID") ?? "-";
			this.logger.info(`${req.method} ${req.originalUrl ?? req.url} ${res.statusCode} ${ms}ms requestID=${requestID}`);
		},

		openApi() {
			const actions = this.broker.registry.getActionList({ skipInternal: true, withEndpoints: false }) as { name: string; action?: { params?: Record<string, never> } }[];
			const params = new Map(actions.map(a => [a.name, a.action?.params]));
			return openApiDocument(action => params.get(action));
		},

		/** moleculer-web hook: resolves the bearer token and sets the caller in `ctx.meta`. */
		async authenticate(ctx: Context<unknown, Meta>, _route: unknown, req: IncomingMessage) {
			const header = req.headers.authorization ?? "";
			const match = /^Bearer\s+(\S+)$/i.exec(header);
			if (!match) throw unauthorized("Missing bearer token");
			const resolved: ResolvedToken = await this.resolveToken(ctx, match[1]);
			ctx.meta.user = resolved.user;
			ctx.meta.token = resolved.token;
			return resolved.user;
		},

		async resolveToken(ctx: Context | undefined, token: string): Promise<ResolvedToken> {
			if (token.length > 4096) throw unauthorized("Invalid token");
			const cached = this.tokenCache.get(token);
			if (cached) return cached;
			const call = ctx ? ctx.call.bind(ctx) : this.broker.call.bind(this.broker);
			const askedAt = this.tokenCache.mark();
			const resolved = (await call("users.resolveToken", { token })) as ResolvedToken;
			this.tokenCache.set(token, resolved, askedAt);
			return resolved;
		},

		/** Socket.IO on the same HTTP server and port as REST. */
		startSockets() {
			const io = new SocketServer(this.server, {
				path: "/socket.io",
				cors: { origin: corsOrigin() },
				maxHttpBufferSize: 64 * 1024,
				serveClient: false,
			});
			this.io = io;

			io.use((socket: AppSocket, next: (err?: Error) => void) => {
				this.authenticateSocket(socket).then(
					() => {
						next();
						// Socket.IO connects the socket (or drops it, if the client left) in a tick it queued
						// in `next()`, before this one: a handshake still open here never connected.
						process.nextTick(() => this.abandonHandshake(socket));
					},
					(err: Error) => next(err),
				);
			});

			io.on("connection", (socket: AppSocket) => this.onSocketConnected(socket));
		},

		/**
		 * The socket's user and the groups whose rooms it joins, with as few calls to the users
		 * service as possible: none when the token is cached and the user already has a socket here,
		 * one otherwise (`users.resolveToken` with `withGroupIds`, or `users.groupIdsOf` for a cached token).
		 */
		async authenticateSocket(socket: AppSocket) {
			const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
			if (typeof token !== "string" || token.length === 0) throw new Error("UNAUTHORIZED");
			// Begun before any read of the user's groups: broadcasts from now on are replayed at the join.
			const pending: PendingHandshake = this.handshakes.begin();
			try {
				if (token.length > 4096) throw unauthorized("Invalid token");
				let auth: ResolvedToken | undefined = this.tokenCache.get(token);
				let groupIds: string[] | undefined;
				if (!auth) {
					// The (unverified) subject only decides whether the groups are worth asking for.
					const subject = unverifiedSubject(token);
					const withGroupIds = !(subject && this.siblingSocket(subject));
					const askedAt = this.tokenCache.mark();
					const answer = (await this.broker.call("users.resolveToken", withGroupIds ? { token, withGroupIds } : { token })) as ResolvedTokenAnswer;
					// Cached without the groups: memberships change, tokens do not.
					auth = { user: answer.user, token: answer.token };
					this.tokenCache.set(token, auth, askedAt);
					if (Array.isArray(answer.groupIds)) groupIds = answer.groupIds;
				}
				if (!groupIds) {
					// Another socket of the user that has joined its rooms holds the user's groups as of the
					// last `live.group` this gateway handled (the handler moves every joined socket of the
					// user at once), so copying them now is as good as asking users now; a broadcast that
					// arrives between this copy and our join is replayed from the handshake log. A socket of
					// the user still in its own handshake is no source: it is not in the user's room yet.
					const sibling: AppSocket | undefined = this.siblingSocket(auth.user.id);
					groupIds = sibling
						? groupIdsOfRooms(sibling.rooms)
						: ((await this.broker.call("users.groupIdsOf", { userId: auth.user.id }, { meta: { user: auth.user, token: auth.token } })) as string[]);
				}
				socket.data.auth = auth;
				socket.data.joining = { pending, groupIds };
			} catch (err) {
				this.handshakes.end(pending);
				const code = (err as { code?: number }).code;
				throw new Error(code === 401 ? "UNAUTHORIZED" : "SERVICE_UNAVAILABLE");
			}
		},

		/** A connected socket of the user on this gateway (one in the user's room has joined its group rooms). */
		siblingSocket(userId: string): AppSocket | undefined {
			const nsp = this.io?.of("/");
			const ids: Set<string> | undefined = nsp?.adapter.rooms.get(userRoom(userId));
			if (!ids) return undefined;
			for (const id of ids) {
				const socket = nsp.sockets.get(id) as AppSocket | undefined;
				if (socket?.connected) return socket;
			}
			return undefined;
		},

		abandonHandshake(socket: AppSocket) {
			const joining = socket.data.joining;
			if (!joining) return;
			this.handshakes.end(joining.pending);
			delete socket.data.joining;
		},

		onSocketConnected(socket: AppSocket) {
			const joining = socket.data.joining!;
			delete socket.data.joining;
			const { user, token } = socket.data.auth;
			const notices = this.handshakes.end(joining.pending);
			if (revokedDuring(user.id, token, notices)) {
				socket.disconnect(true);
				return;
			}
			// Rooms are known before the client sees `connect` (same tick), so no live event is missed after it.
			socket.join([userRoom(user.id), ...replayGroups(joining.groupIds, user.id, notices).map(groupRoom)]);
			// Commands are handled from now on, so none sent right after connecting is lost.
			socket.onAny(this.dispatchSocketCommand);
			socket.on("disconnect", this.onSocketClosed);
			// The upgrade request (headers, parser state) is not needed once the handshake is built.
			(socket.conn as { request?: unknown }).request = null;
			this.presenceReports.report({ socketId: socket.id, userId: user.id, open: true });
		},

		/**
		 * One client command: the acknowledgement is the last argument, so a client that sends no
		 * payload (`emit("sos:stop", cb)`) or an extra one still gets its answer instead of waiting forever.
		 */
		async runSocketCommand(socket: AppSocket, command: SocketCommand, args: unknown[]) {
			const ack = args.at(-1);
			const reply = typeof ack === "function" ? (ack as (body: unknown) => void) : () => undefined;
			const payload = typeof args[0] === "function" ? undefined : args[0];
			const { user, token } = socket.data.auth;
			try {
				if (token.expiresAt <= Date.now()) {
					reply({ ok: false, error: { type: "UNAUTHORIZED", message: "Token expired", code: 401 } });
					socket.disconnect(true);
					return;
				}
				const meta: Meta = { user, token };
				const result = await this.broker.call(command.action, asParams(payload), { meta });
				reply(ackResult(command, result));
			} catch (err) {
				const { type, message, code, data } = toErrorBody(err);
				reply({ ok: false, error: { type, message, code, ...(data !== undefined ? { data } : {}) } });
			}
		},

		/** Presence is the chat service's business; a missing chat service must not break sockets. */
		async sendPresence(sockets: SocketChange[]) {
			try {
				await this.broker.call("chat.socketsChanged", { gatewayNodeID: this.broker.nodeID, sockets });
			} catch (err) {
				this.logger.debug("chat.socketsChanged failed:", (err as Error).message);
				// The reports are lost: the full list goes instead, once chat answers again (or when it appears).
				if ((err as Error).name !== "ServiceNotFoundError") this.syncPresence(2_000);
			}
		},

		/** Tells chat every socket open here (after reports were lost), retrying until it lands. */
		syncPresence(delayMs = 0) {
			if (this.presenceSyncTimer) return;
			this.presenceSyncTimer = setTimeout(() => {
				this.presenceSyncTimer = undefined;
				if (!this.io) return;
				const sockets = [...(this.io.of("/").sockets.values() as Iterable<AppSocket>)]
					.filter(socket => socket.data.auth)
					.map(socket => ({ socketId: socket.id, userId: socket.data.auth.user.id }));
				this.broker
					.call("chat.syncSockets", { gatewayNodeID: this.broker.nodeID, at: new Date().toISOString(), sockets })
					.catch((err: Error) => {
						this.logger.debug("chat.syncSockets failed:", err.message);
						if (err.name !== "ServiceNotFoundError") this.syncPresence(2_000);
					});
			}, delayMs);
			this.presenceSyncTimer.unref?.();
		},
	},

	created() {
		this.tokenCache = new TokenCache();
		this.presenceSyncedWith = new Set<string>();
		this.presenceOrder = new PresenceOrder();
		this.handshakes = new HandshakeLog();
		this.presenceReports = new PresenceReports((sockets: SocketChange[]) => this.sendPresence(sockets), PRESENCE_BATCH_MS);
		// One command dispatcher and one disconnect listener for all sockets (Socket.IO calls them
		// with the socket as `this`), instead of nine closures per socket.
		const service = this;
		this.dispatchSocketCommand = function (this: AppSocket, event: string, ...args: unknown[]) {
			const command = socketCommands.get(event);
			if (command) void service.runSocketCommand(this, command, args);
		};
		this.onSocketClosed = function (this: AppSocket) {
			service.presenceReports.report({ socketId: this.id, userId: this.data.auth.user.id, open: false });
		};
	},

	started() {
		this.server.on("clientError", answerUnparsableRequest);
		this.startSockets();
	},

	async stopped() {
		clearTimeout(this.presenceSyncTimer);
		if (this.io) {
			// Close the transports without a Socket.IO "disconnect" packet: clients see "transport close"
			// and reconnect (to another gateway) by themselves, instead of treating it as a kick-out.
			for (const socket of this.io.of("/").sockets.values() as Iterable<AppSocket>) socket.conn.close();
			this.io.engine.close();
		}
		// The closes just reported, briefly: chat also closes them when it sees this node leave.
		await Promise.race([this.presenceReports.flush(), new Promise(resolve => setTimeout(resolve, 1_000).unref())]);
		this.presenceReports.stop();
	},
};

export default GatewayService;
