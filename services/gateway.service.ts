import type { IncomingMessage, Server as HttpServer, ServerResponse } from "node:http";
import type { Context, Service, ServiceSchema } from "moleculer";
import ApiGateway, { type ApiSettingsSchema } from "moleculer-web";
import { config } from "../lib/config.js";
import { unauthorized } from "../events/errors.js";
import { LiveEvents, type LiveRevoked } from "../events/live.js";
import type { Meta } from "../events/types.js";
import { answerUnparsableRequest } from "./gateway/errors.js";
import { bodyErrors } from "./gateway/body.js";
import { asyncApiDocument, docsPage, openApiDocument } from "./gateway/api-docs.js";
import { authenticatedAliases, publicAuthAliases, publicInviteLinkAliases, publicSharedAliases, SHARED_RATE_LIMIT } from "./gateway/routes.js";
import { accessLogLine, corsOrigin, logFailure, routeDefaults, sendError, type GatewayRequest } from "./gateway/rest-hooks.js";
import { clientAddress } from "./gateway/origin.js";
import { HEALTH_TIMEOUT_MS, readiness } from "./gateway/health.js";
import { webClientMiddleware } from "./gateway/static-files.js";
import { TokenCache, type ResolvedToken } from "./gateway/token-cache.js";
import { LiveSockets } from "./gateway/sockets.js";
import { liveRelays } from "./gateway/live-relays.js";
import { PresenceSync } from "./gateway/presence-sync.js";
import { PhoneEndpoints, phoneRoutes } from "./gateway/phones.js";
import { DeviceAuthLimiter } from "./gateway/device-auth-limit.js";
import { sharedRateStore } from "./gateway/shared-rate-limit.js";
import { PRESENCE_RESYNC_EVENT, type PresenceResync } from "./chat/presence.js";

/**
 * The public edge: REST (the route table in gateway/routes.ts, moleculer-web) and Socket.IO
 * (gateway/sockets.ts) on one port, the API documentation, and readiness for the orchestrator.
 */

/** Services whose readiness `GET /health` reports (HEALTH_SERVICES overrides, comma separated). */
const healthServices = () => config.healthServices();

/** How long socket reports to chat are collected into one call. */
const PRESENCE_BATCH_MS = 25;
const MAX_TOKEN_LENGTH = 4096;

// ---- this

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
				rateLimit: {
					window: 60_000,
					limit: SHARED_RATE_LIMIT,
					headers: true,
					key: clientAddress,
					// Counted in the users database like the auth limit: one count over every gateway.
					StoreFactory: sharedRateStore("shared-address"),
				},
			},
			{
				path: "/api",
				...routeDefaults,
				authentication: true,
				aliases: authenticatedAliases,
			},
			...phoneRoutes(sendError),
		],
	},

	actions: {
		/** Readiness: 200 when the broker, NATS and every service's database are up; 503 with the failing parts otherwise. */
		health: {
			params: {},
			async handler(ctx: Context<unknown, Meta>) {
				const ask = (name: string) => ctx.call(`${name}.health`, { gatewayNodeID: this.broker.nodeID }, { timeout: HEALTH_TIMEOUT_MS });
				const report = await readiness(Boolean(this.broker.transit?.connected), healthServices(), ask);
				if (report.status !== "ok") ctx.meta.$statusCode = 503;
				return report;
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
		...liveRelays(),
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
			this.logger.info(accessLogLine(req, res));
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
			const params = { token };
			return this.tokenCache.resolve(
				token,
				async () => (await (ctx ? ctx.call("users.resolveToken", params) : this.broker.call("users.resolveToken", params))) as ResolvedToken,
			);
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
			logFailure: (req, err) => logFailure(this.logger, req, err),
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
