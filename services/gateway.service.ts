import type { IncomingMessage, Server as HttpServer, ServerResponse } from "node:http";
import type { Context, Service, ServiceSchema } from "moleculer";
import ApiGateway, { type ApiRouteSchema, type ApiSettingsSchema, type IncomingRequest } from "moleculer-web";
import { config } from "../lib/config.js";
import { unauthorized } from "../events/errors.js";
import {
	LiveEvents,
	type LiveChat,
	type LiveGroup,
	type LiveInvitation,
	type LiveLocate,
	type LivePlace,
	type LiveLocationEvent,
	type LiveNotification,
	type LiveNotificationsRead,
	type LivePresence,
	type LiveRevoked,
	type LiveShareEnded,
} from "../events/live.js";
import type { Meta } from "../events/types.js";
import { answerUnparsableRequest, retryAfterSeconds, toErrorBody } from "./gateway/errors.js";
import { bodyErrors, finiteNumbersOnly, requireJsonBody, verifyJsonBody } from "./gateway/body.js";
import { asyncApiDocument, docsPage, openApiDocument } from "./gateway/api-docs.js";
import { authenticatedAliases, createdLocation, publicAuthAliases, publicInviteLinkAliases, publicSharedAliases, SHARED_RATE_LIMIT } from "./gateway/routes.js";
import { webClientMiddleware } from "./gateway/static-files.js";
import { TokenCache, type ResolvedToken } from "./gateway/token-cache.js";
import { LiveSockets } from "./gateway/sockets.js";
import { PresenceSync } from "./gateway/presence-sync.js";
import { PhoneEndpoints, type PhoneRequest } from "./gateway/phones.js";
import { DeviceAuthLimiter } from "./gateway/device-auth-limit.js";
import { sharedRateStore } from "./gateway/shared-rate-limit.js";
import { PRESENCE_RESYNC_EVENT, type PresenceResync } from "./chat/presence.js";

/**
 * The public edge: REST (the route table in gateway/routes.ts, moleculer-web) and Socket.IO
 * (gateway/sockets.ts) on one port, the API documentation, and readiness for the orchestrator.
 */

/** Services whose readiness `GET /health` reports (HEALTH_SERVICES overrides, comma separated). */
const healthServices = () => config.healthServices();

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

/**
 * Every API answer, errors included: a shared cache or the browser's must never keep one user's
 * data (or an answer about their token) for another request. The web client's own files set their
 * own caching (gateway/static-files.ts) and never reach the routes' hooks.
 */
const NO_STORE = "no-store";

/**
 * The origin the client reached us at (scheme://host[:port]), for links handed out: behind a proxy
 * (TRUST_PROXY=1) the last X-Forwarded-Proto/-Host entries, which our proxy set; a Host that is not
 * a plain host name and port is not echoed.
 */
function requestOrigin(req: IncomingMessage): string | undefined {
	const last = (header: string | string[] | undefined) => (Array.isArray(header) ? header.join(",") : header)?.split(",").at(-1)?.trim() || undefined;
	const proxied = config.trustProxy();
	const proto = (proxied && last(req.headers["x-forwarded-proto"])) || ((req.socket as { encrypted?: boolean }).encrypted ? "https" : "http");
	const host = (proxied && last(req.headers["x-forwarded-host"])) || req.headers.host;
	if (!host || !/^(?:[\w.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i.test(host) || !/^https?$/.test(proto)) return undefined;
	return `${proto}://${host}`;
}

/** The phone apps' routes (gateway/phones.ts): raw bodies, their own credentials and status codes, no bearer token. */
const phoneRoute = (path: string, aliases: Record<string, (this: GatewayThis, req: PhoneRequest, res: ServerResponse) => Promise<void>>) => ({
	path,
	mappingPolicy: "restrict" as const,
	autoAliases: false,
	// Any content type, parsed by the endpoint itself: OwnTracks sends JSON (possibly empty), OsmAnd clients query strings, forms or JSON.
	bodyParsers: { json: false, urlencoded: false, raw: { type: () => true, limit: config.bodyLimit() } },
	aliases,
	onError: sendError,
	// No request line at debug level: an OsmAnd query string is the device's credential.
	logging: false,
});

/** How long socket reports to chat are collected into one call. */
const PRESENCE_BATCH_MS = 25;
const MAX_TOKEN_LENGTH = 4096;

// ---- this

/** A request as moleculer-web hands it on (its own fields are set as the request goes through). */
type GatewayRequest = IncomingMessage & Partial<Pick<IncomingRequest, "originalUrl" | "$startTime" | "$ctx">>;

type GatewaySettings = ApiSettingsSchema;

interface GatewayVars {
	/** moleculer-web's HTTP server, created before `started`. */
	server: HttpServer;
	/** Resolved tokens, shared by REST requests and socket handshakes. */
	tokenCache: TokenCache;
	sockets: LiveSockets;
	presence: PresenceSync;
	/** The phone apps' endpoints (gateway/phones.ts). */
	phones: PhoneEndpoints;
}

interface GatewayMethods {
	// From moleculer-web.
	/** Answers with the route's or the settings' `onError`. */
	sendError(req: IncomingMessage, res: ServerResponse, err: unknown): void;
	// Own (the first three replace moleculer-web's).
	errorHandler(req: IncomingMessage, res: ServerResponse, err: unknown): void;
	logResponse(req: GatewayRequest, res: ServerResponse): void;
	authenticate(ctx: Context<unknown, Meta>, route: unknown, req: IncomingMessage): Promise<Meta["user"]>;
	resolveToken(ctx: Context | undefined, token: string): Promise<ResolvedToken>;
	openApi(): Record<string, unknown>;
}

type GatewayThis = Service<GatewaySettings> & GatewayVars & GatewayMethods;

/** moleculer-web's `onError` (called with the service as `this`): the documented error shape, one log line for a 5xx, never a stack trace. */
function sendError(this: GatewayThis, req: GatewayRequest, res: ServerResponse, err: unknown) {
	const body = toErrorBody(err);
	if (body.code >= 500) this.logger.error(`${req.method} ${req.originalUrl ?? req.url} failed:`, (err as Error)?.message ?? err);
	if (res.headersSent) return res.end();
	res.setHeader("Content-Type", "application/json; charset=utf-8");
	res.setHeader("Cache-Control", NO_STORE);
	const retryAfter = retryAfterSeconds(body, Number(res.getHeader("X-Rate-Limit-Reset")));
	if (retryAfter !== undefined) res.setHeader("Retry-After", String(retryAfter));
	res.writeHead(body.code);
	res.end(JSON.stringify(body));
	this.logResponse(req, res);
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
	bodyParsers: {
		json: {
			strict: true,
			limit: config.bodyLimit(),
			verify: verifyJsonBody,
			reviver: finiteNumbersOnly,
		},
		urlencoded: false,
	},
	mergeParams: true,
	onBeforeCall(ctx: Context<unknown, Meta>, _route: unknown, req: IncomingMessage, res: ServerResponse, alias?: unknown) {
		// The request id follows the call through every service's logs and traces; clients can quote it.
		res.setHeader("X-Request-ID", ctx.requestID ?? ctx.id);
		res.setHeader("Cache-Control", NO_STORE);
		requireJsonBody(req);
		ctx.meta.clientAddress = clientAddress(req);
		// A new device's credentials name the server URL the phone should use (PUBLIC_URL wins when set).
		const action = (alias as { action?: string } | undefined)?.action;
		if (action === "devices.create" || action === "location.createShareLink") ctx.meta.origin = requestOrigin(req);
	},
	onAfterCall(ctx: Context<unknown, Meta & { $location?: string }>, _route: unknown, req: GatewayRequest, _res: ServerResponse, data: unknown) {
		if (ctx.meta.$statusCode === 201 && !ctx.meta.$location) ctx.meta.$location = createdLocation(req.originalUrl ?? req.url ?? "/", data);
		return data;
	},
	onError: sendError,
} satisfies Partial<ApiRouteSchema>;

const GatewayService: ServiceSchema<GatewaySettings, GatewayMethods, GatewayVars, GatewayThis> = {
	name: "gateway",
	mixins: [ApiGateway],

	settings: {
		port: config.port(),
		ip: config.host(),
		cors: {
			origin: corsOrigin(),
			methods: ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
			credentials: false,
			maxAge: 600,
		},
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
					? {
							rateLimit: {
								window: 60_000,
								limit: config.authRateLimit(),
								headers: true,
								key: clientAddress,
								// Counted in the users database, so the limit holds across gateways and restarts.
								StoreFactory: sharedRateStore("auth-address"),
							},
						}
					: {}),
			},
			{
				// The invite-link preview, for the logged-out join page (aliases are matched before route paths, so
				// `POST /api/invite-links/:code/join` still reaches the authenticated route below).
				path: "/api/invite-links",
				...routeDefaults,
				aliases: publicInviteLinkAliases,
			},
			{
				// A share link's view for anyone holding its token (API.md §6.5), rate limited per client address:
				// unknown and ended tokens are 404 alike, and guessing 256-bit tokens is hopeless anyway.
				path: "/api/shared",
				...routeDefaults,
				aliases: publicSharedAliases,
				rateLimit: { window: 60_000, limit: SHARED_RATE_LIMIT, headers: true, key: clientAddress },
			},
			{
				path: "/api",
				...routeDefaults,
				authentication: true,
				aliases: authenticatedAliases,
			},
			phoneRoute("/api/owntracks", {
				"POST /"(req, res) {
					return this.phones.ownTracks(req, res);
				},
			}),
			phoneRoute("/api/osmand", {
				"GET /"(req, res) {
					return this.phones.osmAnd(req, res);
				},
				"POST /"(req, res) {
					return this.phones.osmAnd(req, res);
				},
			}),
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
							failing[name] = ["ServiceNotFoundError", "ServiceNotAvailableError"].includes(errorName)
								? "not running"
								: errorName === "RequestTimeoutError"
									? "no answer within 2 s"
									: "database unavailable";
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
				return { nodeID: this.broker.nodeID, sockets: this.sockets.count };
			},
		},
	},

	events: {
		[LiveEvents.location](ctx: Context<LiveLocationEvent>) {
			this.sockets.location(ctx.params);
		},
		[LiveEvents.chat](ctx: Context<LiveChat>) {
			this.sockets.chat(ctx.params);
		},
		[LiveEvents.presence](ctx: Context<LivePresence>) {
			this.sockets.presence(ctx.params);
		},
		[LiveEvents.notification](ctx: Context<LiveNotification>) {
			this.sockets.notification(ctx.params);
		},
		[LiveEvents.notificationsRead](ctx: Context<LiveNotificationsRead>) {
			this.sockets.notificationsRead(ctx.params);
		},
		[LiveEvents.group](ctx: Context<LiveGroup>) {
			this.sockets.group(ctx.params);
		},
		[LiveEvents.invitation](ctx: Context<LiveInvitation>) {
			this.sockets.invitation(ctx.params);
		},
		[LiveEvents.locate](ctx: Context<LiveLocate>) {
			this.sockets.locateRequest(ctx.params);
		},
		[LiveEvents.place](ctx: Context<LivePlace>) {
			this.sockets.place(ctx.params);
		},
		[LiveEvents.shareEnded](ctx: Context<LiveShareEnded>) {
			this.sockets.shareEnded(ctx.params);
		},
		[LiveEvents.revoked](ctx: Context<LiveRevoked>) {
			const { userId, jti, before } = ctx.params;
			this.tokenCache.revoke(userId, jti, before);
			this.sockets.revoked(ctx.params);
		},
		// A reconnect to NATS may have missed revocations: forget every cached token.
		"$transporter.connected"() {
			this.tokenCache?.clear();
		},
		// A chat instance that (re)joined may have missed socket reports while it was away.
		"$services.changed"() {
			const services = this.broker.registry.getServiceList({
				onlyAvailable: true,
			}) as { name: string; nodeID?: string }[];
			this.presence.chatNodesAre(services.filter(svc => svc.name === "chat" && svc.nodeID).map(svc => svc.nodeID!));
		},
		// Chat took this gateway for gone (and closed its sockets) while it was not.
		[PRESENCE_RESYNC_EVENT](ctx: Context<PresenceResync>) {
			if (ctx.params.gatewayNodeID === this.broker.nodeID) this.presence.sync();
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
		logResponse(req: GatewayRequest, res: ServerResponse) {
			const elapsed = req.$startTime ? process.hrtime(req.$startTime as [number, number]) : [0, 0];
			const ms = (elapsed[0]! * 1e3 + elapsed[1]! / 1e6).toFixed(1);
			const requestID = req.$ctx?.requestID ?? res.getHeader("X-Request-ID") ?? "-";
			this.logger.info(`${req.method} ${req.originalUrl ?? req.url} ${res.statusCode} ${ms}ms requestID=${requestID}`);
		},

		openApi() {
			const actions = this.broker.registry.getActionList({
				skipInternal: true,
				withEndpoints: false,
			}) as {
				name: string;
				action?: { params?: Record<string, never> };
			}[];
			const params = new Map(actions.map(a => [a.name, a.action?.params]));
			return openApiDocument(action => params.get(action));
		},

		/** moleculer-web hook: resolves the bearer token and sets the caller in `ctx.meta`. */
		async authenticate(ctx: Context<unknown, Meta>, _route: unknown, req: IncomingMessage) {
			const header = req.headers.authorization ?? "";
			const match = /^Bearer\s+(\S+)$/i.exec(header);
			if (!match) throw unauthorized("Missing bearer token");
			const resolved = await this.resolveToken(ctx, match[1]!);
			ctx.meta.user = resolved.user;
			ctx.meta.token = resolved.token;
			return resolved.user;
		},

		async resolveToken(ctx: Context | undefined, token: string): Promise<ResolvedToken> {
			if (token.length > MAX_TOKEN_LENGTH) throw unauthorized("Invalid token");
			const cached = this.tokenCache.get(token);
			if (cached) return cached;
			const askedAt = this.tokenCache.mark();
			const params = { token };
			const resolved = (await (ctx ? ctx.call("users.resolveToken", params) : this.broker.call("users.resolveToken", params))) as ResolvedToken;
			this.tokenCache.set(token, resolved, askedAt);
			return resolved;
		},
	},

	created() {
		this.tokenCache = new TokenCache();
		const call = (action: string, params: object, opts?: { meta: Meta }) => this.broker.call(action, params, opts);
		this.sockets = new LiveSockets({
			call,
			tokenCache: this.tokenCache,
			corsOrigin: corsOrigin(),
			socketChanged: change => this.presence.report(change),
			maxSocketsPerUser: config.maxSocketsPerUser(),
		});
		this.phones = new PhoneEndpoints({
			// Failures counted in the devices database too, so the limit holds across gateways and restarts.
			limiter: new DeviceAuthLimiter(config.deviceAuthRateLimit(), undefined, undefined, undefined, undefined, (address, limit, windowMs) =>
				this.broker.call("devices.failedLogin", { address: address.slice(0, 200), limit, windowMs }),
			),
			addressOf: clientAddress,
			logResponse: (req, res) => this.logResponse(req, res),
			logFailure: (req, err) => this.logger.error(`${req.method} ${(req as GatewayRequest).originalUrl ?? req.url} failed:`, (err as Error)?.message ?? err),
		});
		this.presence = new PresenceSync({
			call,
			gatewayNodeID: this.broker.nodeID,
			openSockets: () => this.sockets.openSockets(),
			logger: this.logger,
			batchMs: PRESENCE_BATCH_MS,
		});
	},

	started() {
		this.server.on("clientError", answerUnparsableRequest);
		this.sockets.attach(this.server);
	},

	async stopped() {
		this.presence.stopSyncing();
		this.sockets.close();
		await this.presence.stop();
	},
};

export default GatewayService;
