import type { IncomingMessage, ServerResponse } from "node:http";
import { badRequest } from "../../events/errors.js";

/**
 * What the gateway accepts as a request body (REST) or a command payload (Socket.IO) before any
 * action sees it. Everything refused here is a 400 BAD_REQUEST (API.md §2: malformed JSON, wrong
 * content type), never a 500.
 */

/**
 * Deepest JSON nesting accepted. The contract's deepest shape is 2 levels (a journey's
 * destination, a push subscription's keys); the limit only has to stay far below the depth at
 * which serializing the call for the broker (JSON.stringify, recursive) exhausts the stack —
 * a few thousand levels, reachable with a 64 kB body of brackets.
 */
export const MAX_JSON_DEPTH = 32;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Whether `body` (JSON text) opens more than `max` nested objects or arrays; strings are skipped. */
export function jsonTextTooDeep(body: Uint8Array, max = MAX_JSON_DEPTH): boolean {
	let depth = 0;
	let inString = false;
	for (let i = 0; i < body.length; i++) {
		const c = body[i];
		if (inString) {
			if (c === 0x5c)
				i++; // backslash: skip the escaped character
			else if (c === 0x22) inString = false;
		} else if (c === 0x22) inString = true;
		else if (c === 0x7b || c === 0x5b) {
			if (++depth > max) return true;
		} else if (c === 0x7d || c === 0x5d) depth--;
	}
	return false;
}

/**
 * What is wrong with a parsed payload the JSON text check cannot see (Socket.IO parses its packets
 * itself): nesting deeper than `max`, or a number JSON cannot carry (`1e999` parses to Infinity,
 * which the broker's serializer would silently turn into null). Undefined when it is fine.
 */
export function payloadProblem(value: unknown, max = MAX_JSON_DEPTH): string | undefined {
	if (typeof value === "number") return Number.isFinite(value) ? undefined : "Numbers must be finite";
	if (value === null || typeof value !== "object") return undefined;
	if (max <= 0) return `Payload nested deeper than ${MAX_JSON_DEPTH} levels`;
	for (const child of Object.values(value)) {
		const problem = payloadProblem(child, max - 1);
		if (problem) return problem;
	}
	return undefined;
}

/**
 * body-parser's JSON reviver: a number literal too large for a double (`1e999`) parses to
 * ±Infinity; refusing it makes the body malformed (400) instead of a value that reaches the action
 * as null, where an optional field would silently read as absent.
 */
export function finiteNumbersOnly(_key: string, value: unknown): unknown {
	if (typeof value === "number" && !Number.isFinite(value)) throw new SyntaxError("Number out of range");
	return value;
}

/**
 * body-parser's `verify` hook: runs on the raw (inflated) bytes before they are decoded. Invalid
 * UTF-8 would otherwise be decoded into U+FFFD replacement characters and stored silently.
 */
export function verifyJsonBody(_req: IncomingMessage, _res: ServerResponse, body: Buffer): void {
	try {
		utf8.decode(body);
	} catch {
		throw badRequest("Request body is not valid UTF-8");
	}
	if (jsonTextTooDeep(body)) throw badRequest(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
}

interface BodyParserError {
	type?: unknown;
	status?: unknown;
	code?: unknown;
	message?: string;
}

/** The client-facing message for a body-parser failure; internal (zlib, iconv) messages stay internal. */
function bodyErrorMessage(err: BodyParserError): string {
	switch (err.type) {
		case "entity.parse.failed":
			return "Malformed JSON body";
		case "entity.too.large":
			return "Request body too large";
		case "charset.unsupported":
		case "encoding.unsupported":
			return "Unsupported body encoding";
		case "request.size.invalid":
		case "request.aborted":
			return "Incomplete request body";
		default:
			return "Unreadable request body";
	}
}

/**
 * A connect error middleware (four arguments: moleculer-web calls it only with an error) placed
 * right after the body parser. body-parser's errors carry their HTTP status in `status` and a
 * library code in `code` (e.g. zlib's "Z_DATA_ERROR"); moleculer-web keeps the `code` and drops
 * the status, which turned a corrupt gzip body into a 500. Every body failure is the client's:
 * it becomes 400 BAD_REQUEST here. Our own errors (from `verifyJsonBody`) pass unchanged.
 */
export function bodyErrors(err: unknown, _req: IncomingMessage, _res: ServerResponse, next: (err?: unknown) => void): void {
	const e = (err ?? {}) as BodyParserError;
	if (e.type === "BAD_REQUEST" && e.code === 400) return next(err);
	next(badRequest(bodyErrorMessage(e)));
}

/** Bodies must be JSON: a body of another content type is refused rather than silently ignored. */
export function requireJsonBody(req: IncomingMessage): void {
	const hasBody = Number(req.headers["content-length"] ?? 0) > 0 || req.headers["transfer-encoding"] !== undefined;
	const type = String(req.headers["content-type"] ?? "");
	if (hasBody && !/^application\/(.+\+)?json\b/i.test(type)) throw badRequest("Request bodies must be application/json");
}
