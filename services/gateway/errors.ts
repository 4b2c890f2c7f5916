import type { Duplex } from "node:stream";
import { ErrorTypes } from "../../events/errors.js";

/** The moleculer-web error body of API.md §2; the HTTP status always equals `code`. */
export interface ErrorBody {
	name: string;
	message: string;
	code: number;
	type: string;
	data?: unknown;
}

interface AnyError {
	name?: string;
	message?: string;
	code?: unknown;
	status?: unknown;
	statusCode?: unknown;
	type?: unknown;
	data?: unknown;
	retryable?: boolean;
}

const DOCUMENTED = new Set<string>(Object.values(ErrorTypes));
const TYPE_BY_CODE: Record<number, string> = {
	400: ErrorTypes.BAD_REQUEST,
	401: ErrorTypes.UNAUTHORIZED,
	403: ErrorTypes.FORBIDDEN,
	404: ErrorTypes.NOT_FOUND,
	409: ErrorTypes.CONFLICT,
	422: ErrorTypes.VALIDATION_ERROR,
	429: ErrorTypes.RATE_LIMITED,
};
const NAME_BY_TYPE: Record<string, string> = {
	BAD_REQUEST: "BadRequestError",
	UNAUTHORIZED: "UnAuthorizedError",
	INVALID_CREDENTIALS: "UnAuthorizedError",
	FORBIDDEN: "ForbiddenError",
	NOT_FOUND: "NotFoundError",
	CONFLICT: "ConflictError",
	INVALID_STATE: "ConflictError",
	VALIDATION_ERROR: "ValidationError",
	RATE_LIMITED: "RateLimitExceeded",
	UNSUPPORTED: "UnsupportedError",
	SERVICE_UNAVAILABLE: "ServiceUnavailableError",
	INTERNAL_ERROR: "InternalServerError",
};

const isInfrastructureFailure = (err: AnyError) =>
	err.retryable === true ||
	/^(Mongo|Mongoose)/.test(err.name ?? "") ||
	["ServiceNotFoundError", "ServiceNotAvailableError", "RequestTimeoutError", "BrokerDisconnectedError"].includes(err.name ?? "");

/** Fields whose offending value is never echoed back (passwords, tokens): the client only learns which rule failed. */
const SECRET_FIELD = /password|token|secret/i;

/** The validator reports each failing field with its `actual` value; a secret's value is dropped. */
function withoutSecrets(data: unknown): unknown {
	if (!Array.isArray(data)) return data;
	return data.map(entry => {
		if (entry === null || typeof entry !== "object" || !("actual" in entry)) return entry;
		const { actual: _dropped, ...rest } = entry as { actual: unknown; field?: unknown };
		return SECRET_FIELD.test(String(rest.field ?? "")) ? rest : entry;
	});
}

/**
 * Turns any error into the public error shape: documented 4xx errors pass through; body parser
 * and framework errors get their documented type; everything else becomes a 503 (a dependency is
 * down, retry later) or an opaque 500. Never a stack trace, never an internal message.
 */
export function toErrorBody(error: unknown): ErrorBody {
	const err = (error ?? {}) as AnyError;
	const rawCode = [err.code, err.status, err.statusCode].find(c => typeof c === "number") as number | undefined;
	let code = rawCode && rawCode >= 400 && rawCode < 600 ? rawCode : 500;
	// Oversized bodies and unsupported media: a malformed request as far as the contract goes.
	if (code === 413 || code === 415) code = 400;

	// A service that is not running answers 404 in Moleculer; for a client that is a temporary outage.
	if (["ServiceNotFoundError", "ServiceNotAvailableError"].includes(err.name ?? "")) code = 503;

	if (code < 500) {
		const type = typeof err.type === "string" && DOCUMENTED.has(err.type) && TYPE_BY_CODE[code] !== undefined ? err.type : TYPE_BY_CODE[code];
		if (type) {
			const message = type === ErrorTypes.BAD_REQUEST && err.type === "entity.parse.failed" ? "Malformed JSON body" : (err.message ?? "Bad request");
			const data = type === ErrorTypes.VALIDATION_ERROR || DOCUMENTED.has(String(err.type)) ? withoutSecrets(err.data) : undefined;
			return { name: NAME_BY_TYPE[type] ?? "ClientError", message, code, type, ...(data !== undefined ? { data } : {}) };
		}
		return { name: "BadRequestError", message: err.message ?? "Bad request", code: 400, type: ErrorTypes.BAD_REQUEST };
	}
	if (code === 503 || isInfrastructureFailure(err)) {
		return { name: "ServiceUnavailableError", message: "Service temporarily unavailable, try again", code: 503, type: ErrorTypes.SERVICE_UNAVAILABLE };
	}
	return { name: "InternalServerError", message: "Internal server error", code: 500, type: ErrorTypes.INTERNAL_ERROR };
}

/**
 * The HTTP server's `clientError` handler: a request Node cannot parse (headers or URL over the
 * 16 kB limit, invalid characters, a broken chunked body) gets the contract's 400 BAD_REQUEST
 * instead of Node's bare 431/400 without a body. Connections already gone are just destroyed.
 */
export function answerUnparsableRequest(err: Error & { code?: string }, socket: Duplex): void {
	if (err.code === "ECONNRESET" || !socket.writable) {
		socket.destroy();
		return;
	}
	const body = JSON.stringify({ name: "BadRequestError", message: "Malformed HTTP request", code: 400, type: ErrorTypes.BAD_REQUEST } satisfies ErrorBody);
	socket.end(
		`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
	);
}

/**
 * The `Retry-After` of a 429, in whole seconds: the hint of the service that refused
 * (`data.retryAfter`, e.g. password hashing saturated), else the end of the gateway's own
 * rate-limit window (moleculer-web's `X-Rate-Limit-Reset`, epoch ms), else 1. Undefined for
 * any other status.
 */
export function retryAfterSeconds(body: ErrorBody, rateLimitResetAt?: number, now = Date.now()): number | undefined {
	if (body.code !== 429) return undefined;
	const hint = (body.data as { retryAfter?: unknown } | undefined)?.retryAfter;
	if (typeof hint === "number" && Number.isFinite(hint) && hint > 0) return Math.ceil(hint);
	if (rateLimitResetAt !== undefined && Number.isFinite(rateLimitResetAt) && rateLimitResetAt > now) return Math.ceil((rateLimitResetAt - now) / 1000);
	return 1;
}
