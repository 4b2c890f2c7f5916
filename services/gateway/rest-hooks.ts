import type { IncomingMessage, ServerResponse } from "node:http";
import type { Context } from "moleculer";
import type { ApiRouteSchema, IncomingRequest } from "moleculer-web";
import { config } from "../../lib/config.js";
import type { Meta } from "../../events/types.js";
import { retryAfterSeconds, toErrorBody } from "./errors.js";
import { finiteNumbersOnly, requireJsonBody, verifyJsonBody } from "./body.js";
import { clientAddress, requestOrigin } from "./origin.js";
import { createdLocation } from "./routes.js";

/**
 * What every REST route of the gateway does around its action: the request id, no caching, the caller's address and origin in `meta`,
 * `Location` of a 201, and errors in the documented shape (API.md §2), never with a stack trace.
 */

/**
 * Every API answer, errors included: a shared cache or the browser's must never keep one user's
 * data (or an answer about their token) for another request. The web client's own files set their
 * own caching (gateway/static-files.ts) and never reach the routes' hooks.
 */
const NO_STORE = "no-store";

/** A request as moleculer-web hands it on (its own fields are set as the request goes through). */
export type GatewayRequest = IncomingMessage & Partial<Pick<IncomingRequest, "originalUrl" | "$startTime" | "$ctx">>;

/** What the error hook needs of the gateway service (its `this`). */
export interface ErrorHookHost {
	logger: { error(...args: unknown[]): void };
	logResponse(req: GatewayRequest, res: ServerResponse): void;
}

/** One error line for a request that failed on our side: what was asked, and the error's message (never its stack). */
export function logFailure(logger: ErrorHookHost["logger"], req: GatewayRequest, err: unknown): void {
	logger.error(`${req.method} ${req.originalUrl ?? req.url} failed:`, (err as Error)?.message ?? err);
}

/** moleculer-web's `onError` (called with the service as `this`): the documented error shape, one log line for a 5xx, never a stack trace. */
export function sendError(this: ErrorHookHost, req: GatewayRequest, res: ServerResponse, err: unknown) {
	const body = toErrorBody(err);
	if (body.code >= 500) logFailure(this.logger, req, err);
	if (res.headersSent) return res.end();
	res.setHeader("Content-Type", "application/json; charset=utf-8");
	res.setHeader("Cache-Control", NO_STORE);
	const retryAfter = retryAfterSeconds(body, Number(res.getHeader("X-Rate-Limit-Reset")));
	if (retryAfter !== undefined) res.setHeader("Retry-After", String(retryAfter));
	res.writeHead(body.code);
	res.end(JSON.stringify(body));
	this.logResponse(req, res);
}

/** The access-log line of a request: method, URL, status, time taken and request id. */
export function accessLogLine(
	req: GatewayRequest,
	res: ServerResponse,
	elapsedSince: (start: [number, number]) => [number, number] = start => process.hrtime(start),
): string {
	const elapsed = req.$startTime ? elapsedSince(req.$startTime as [number, number]) : [0, 0];
	const ms = (elapsed[0]! * 1e3 + elapsed[1]! / 1e6).toFixed(1);
	const requestID = req.$ctx?.requestID ?? res.getHeader("X-Request-ID") ?? "-";
	return `${req.method} ${req.originalUrl ?? req.url} ${res.statusCode} ${ms}ms requestID=${requestID}`;
}

/** CORS_ORIGINS as moleculer-web and Socket.IO take it. */
export const corsOrigin = () => {
	const origins = config.corsOrigins();
	return origins === "*" ? "*" : origins.split(",").map(o => o.trim());
};

/** The options every REST route shares (the phone apps' routes excepted: gateway/phones.ts). */
export const routeDefaults = {
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
