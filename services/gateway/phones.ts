import type { IncomingMessage, ServerResponse } from "node:http";
import { badRequest, ErrorTypes, rateLimited, unauthorized } from "../../events/errors.js";
import { basicCredentials, splitOsmAndId, isDeviceId, isSecret } from "../devices/credentials.js";
import { osmAndDeviceId, type OsmAndRequest } from "../devices/protocol/osmand.js";
import { jsonTextTooDeep } from "./body.js";
import { DeviceAuthLimiter } from "./device-auth-limit.js";
import { toErrorBody, type ErrorBody } from "./errors.js";
import { config } from "../../lib/config.js";

/**
 * The phone apps' endpoints (API.md §6.2): `POST /api/owntracks` (OwnTracks HTTP mode) and
 * `GET|POST /api/osmand` (Traccar Client, OsmAnd and other OsmAnd-protocol loggers). They are not
 * ordinary routes: the apps decide what a status means. The OwnTracks iOS app DELETES a message on
 * any 4xx and retries it on 5xx, so a 4xx is only for what can never work (bad credentials, a body
 * that is not JSON, values out of range) and everything that may work later — a service or the
 * database down, a broker timeout, a conflict, too many reports — is 503, never 500.
 *
 * Here: reading the raw body (OwnTracks posts application/json, possibly empty; OsmAnd uses the
 * query string, a form or Traccar Client 9's JSON), the credentials (HTTP Basic for OwnTracks, where
 * X-Limit-U/X-Limit-D never decide identity; the id for OsmAnd), the per-address limit on failed
 * logins (device-auth-limit.ts), and the status codes. The devices service does the rest.
 */

export type PhoneProtocol = "owntracks" | "osmand";

/** What moleculer-web leaves on a request: its raw body (route's raw parser), its context. */
export type PhoneRequest = IncomingMessage & {
	body?: unknown;
	originalUrl?: string;
	$ctx?: { requestID?: string | null; id: string; call(action: string, params: object): Promise<unknown> };
};

export interface PhoneEndpointsDeps {
	limiter: DeviceAuthLimiter;
	/** The client's address (TRUST_PROXY-aware, as for every other limit). */
	addressOf(req: IncomingMessage): string;
	logResponse(req: IncomingMessage, res: ServerResponse): void;
	logFailure(req: IncomingMessage, err: unknown): void;
}

/** The realm OwnTracks shows nothing of; RFC 7617 wants one, and the charset says passwords are UTF-8. */
export const OWNTRACKS_CHALLENGE = 'Basic realm="PositionPal", charset="UTF-8"';

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The raw body as text ("" when there is none); 400 when it is not UTF-8. */
function bodyText(req: PhoneRequest): string {
	const body = req.body;
	if (!Buffer.isBuffer(body) || body.length === 0) return "";
	try {
		return utf8.decode(body);
	} catch {
		throw badRequest("Request body is not valid UTF-8");
	}
}

/** JSON text → value; 400 for anything JSON.parse refuses or that nests absurdly deep. Empty text is no message. */
export function parseJsonBody(text: string): unknown {
	if (text.trim() === "") return undefined;
	if (jsonTextTooDeep(Buffer.from(text, "utf8"))) throw badRequest("JSON nested too deeply");
	try {
		return JSON.parse(text);
	} catch {
		throw badRequest("Malformed JSON body");
	}
}

/** Query string or form → name → value, a repeated name → its values (the protocol refuses those). */
export function parametersOf(search: string): Record<string, string | string[]> {
	const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
	for (const [name, value] of new URLSearchParams(search)) {
		const known = out[name];
		out[name] = known === undefined ? value : Array.isArray(known) ? [...known, value] : [known, value];
	}
	return out;
}

/** An OsmAnd request's three sources: the query string, a form body, a JSON body (Traccar Client 9). */
export function osmAndRequestOf(url: string, contentType: string | undefined, text: string): OsmAndRequest {
	const request: OsmAndRequest = {};
	const search = url.includes("?") ? url.slice(url.indexOf("?") + 1) : "";
	if (search) request.query = parametersOf(search);
	if (text.trim() !== "") {
		if (/\bjson\b/i.test(contentType ?? "")) request.json = parseJsonBody(text);
		else request.form = parametersOf(text);
	}
	return request;
}

/**
 * The error a phone gets: the contract's 4xx as they are; everything that may work later as 503 —
 * 5xx, a conflict (the session changing too fast), a service that is not running.
 *
 * Too many reports (SAMPLE_RATE_LIMIT, RATE_LIMITED) may work later too. OwnTracks keeps a message
 * only on 5xx, so it gets 503 (type RATE_LIMITED, with Retry-After) and sends the report again.
 * The OsmAnd protocol keeps its 429 (with Retry-After): Traccar Client counts any answer but a
 * success as a failed send, keeps the position in its local buffer and sends it again 30 s later
 * (traccar/traccar-client-android, app/src/main/java/org/traccar/client/TrackingController.kt:
 * `send` → `retry`, RETRY_DELAY; RequestManager.kt: HttpURLConnection's inputStream throws for
 * any status ≥ 400, which `sendRequest` answers with false).
 */
export function phoneErrorBody(err: unknown, protocol?: PhoneProtocol): ErrorBody {
	const body = toErrorBody(err);
	if (body.code >= 500 || body.code === 409) {
		return { name: "ServiceUnavailableError", message: "Service temporarily unavailable, try again", code: 503, type: ErrorTypes.SERVICE_UNAVAILABLE };
	}
	if (body.code === 429 && protocol === "owntracks") return { ...body, name: "ServiceUnavailableError", code: 503 };
	return body;
}

export class PhoneEndpoints {
	constructor(private readonly deps: PhoneEndpointsDeps) {}

	/** `POST /api/owntracks`. */
	async ownTracks(req: PhoneRequest, res: ServerResponse): Promise<void> {
		const address = this.deps.addressOf(req);
		let fingerprint: string | undefined;
		try {
			const credentials = basicCredentials(req.headers.authorization);
			if (!credentials) throw unauthorized("HTTP Basic credentials of a device are required");
			fingerprint = DeviceAuthLimiter.fingerprint("owntracks", `${credentials.username}:${credentials.password}`);
			this.refuseIfBlocked(address, fingerprint);
			if (!isDeviceId(credentials.username) || !isSecret(credentials.password)) throw unauthorized("Unknown or revoked device credentials");
			const message = parseJsonBody(bodyText(req));
			const answer = await req.$ctx!.call("devices.ownTracks", { deviceId: credentials.username, secret: credentials.password, message });
			this.deps.limiter.succeeded(fingerprint);
			this.send(req, res, 200, JSON.stringify(answer ?? []));
		} catch (err) {
			await this.fail(req, res, err, address, fingerprint, "owntracks");
		}
	}

	/** `GET|POST /api/osmand`. */
	async osmAnd(req: PhoneRequest, res: ServerResponse): Promise<void> {
		const address = this.deps.addressOf(req);
		let fingerprint: string | undefined;
		const url = req.originalUrl ?? req.url ?? "";
		// The query string holds the device's id, its credential: the access log shows the path only.
		req.originalUrl = url.includes("?") ? `${url.slice(0, url.indexOf("?"))}?…` : url;
		try {
			const request = osmAndRequestOf(url, req.headers["content-type"], bodyText(req));
			const id = osmAndDeviceId(request);
			if (id === undefined) throw badRequest("No device id ('id' or 'deviceid')");
			fingerprint = DeviceAuthLimiter.fingerprint("osmand", id);
			this.refuseIfBlocked(address, fingerprint);
			const split = splitOsmAndId(id);
			if (!split) throw unauthorized("Unknown or revoked device id");
			await req.$ctx!.call("devices.osmAnd", { deviceId: split.deviceId, secret: split.secret, request });
			this.deps.limiter.succeeded(fingerprint);
			this.send(req, res, 200, "");
		} catch (err) {
			await this.fail(req, res, err, address, fingerprint, "osmand");
		}
	}

	private refuseIfBlocked(address: string, fingerprint: string): void {
		const waitMs = this.deps.limiter.blockedFor(address, fingerprint);
		if (waitMs > 0) throw rateLimited("Too many failed device logins from this address; try again later", { retryAfter: Math.ceil(waitMs / 1000) });
	}

	private async fail(
		req: PhoneRequest,
		res: ServerResponse,
		err: unknown,
		address: string,
		fingerprint: string | undefined,
		protocol: PhoneProtocol,
	): Promise<void> {
		const body = phoneErrorBody(err, protocol);
		if (body.code === 401) {
			// Counted (cluster-wide) before the 401 goes out, so the next guess meets the block.
			if (fingerprint) await this.deps.limiter.failed(address, fingerprint);
			if (protocol === "owntracks") res.setHeader("WWW-Authenticate", OWNTRACKS_CHALLENGE);
		}
		if (body.type === ErrorTypes.RATE_LIMITED) res.setHeader("Retry-After", String((body.data as { retryAfter?: number } | undefined)?.retryAfter ?? 60));
		if (body.code >= 500) this.deps.logFailure(req, err);
		this.send(req, res, body.code, JSON.stringify(body));
	}

	private send(req: PhoneRequest, res: ServerResponse, status: number, text: string): void {
		if (res.headersSent) {
			res.end();
			return;
		}
		const ctx = req.$ctx;
		if (ctx) res.setHeader("X-Request-ID", ctx.requestID ?? ctx.id);
		if (text) res.setHeader("Content-Type", "application/json; charset=utf-8");
		res.setHeader("Content-Length", Buffer.byteLength(text));
		res.writeHead(status);
		res.end(text);
		this.deps.logResponse(req, res);
	}
}

/** What the phone routes' aliases need of the gateway service (their `this`). */
interface PhoneRouteHost {
	phones: PhoneEndpoints;
}
type PhoneAlias = (this: PhoneRouteHost, req: PhoneRequest, res: ServerResponse) => Promise<void>;

/** The phone apps' routes for moleculer-web: raw bodies, their own credentials and status codes, no bearer token. */
export function phoneRoutes<OnError>(onError: OnError) {
	const route = (path: string, aliases: Record<string, PhoneAlias>) => ({
		path,
		mappingPolicy: "restrict" as const,
		autoAliases: false,
		// Any content type, parsed by the endpoint itself: OwnTracks sends JSON (possibly empty), OsmAnd clients query strings, forms or JSON.
		bodyParsers: { json: false, urlencoded: false, raw: { type: () => true, limit: config.bodyLimit() } },
		aliases,
		onError,
		// No request line at debug level: an OsmAnd query string is the device's credential.
		logging: false,
	});
	return [
		route("/api/owntracks", {
			"POST /"(req, res) {
				return this.phones.ownTracks(req, res);
			},
		}),
		route("/api/osmand", {
			"GET /"(req, res) {
				return this.phones.osmAnd(req, res);
			},
			"POST /"(req, res) {
				return this.phones.osmAnd(req, res);
			},
		}),
	];
}
