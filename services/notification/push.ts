import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import webpush from "web-push";
import type { Notification } from "../../events/types.js";
import { checkEndpoint, NOT_PUBLIC, publicOnlyLookup, type Resolve } from "./endpoint-policy.js";

/**
 * Web Push: configuration, subscription validation, the encrypted request, and what a push
 * service's answer means. web-push builds the request (VAPID JWT + aes128gcm payload) with
 * `generateRequestDetails`; we send it ourselves because web-push's own sender always uses
 * `https.request`, which cannot reach an `http://` endpoint (a local push service in tests or an
 * on-premises relay), and because under the endpoint policy the connection must take its
 * address from a lookup that refuses private ones (endpoint-policy.ts).
 */

export interface VapidDetails {
	publicKey: string;
	privateKey: string;
	subject: string;
}

export type PushConfig = { enabled: true; vapid: VapidDetails } | { enabled: false; reason: string };

/** Push is on only with all three VAPID settings, and only if web-push accepts them. */
export function pushConfigFrom(raw: { publicKey?: string; privateKey?: string; subject?: string }): PushConfig {
	const { publicKey, privateKey, subject } = raw;
	if (!publicKey && !privateKey && !subject) return { enabled: false, reason: "VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT are not set" };
	if (!publicKey || !privateKey || !subject) return { enabled: false, reason: "VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT must all be set" };
	const vapid = { publicKey, privateKey, subject };
	try {
		// Validates the subject (https: or mailto:) and both keys' encoding and length, offline.
		webpush.getVapidHeaders("https://push.example", subject, publicKey, privateKey, "aes128gcm");
	} catch (err) {
		return { enabled: false, reason: `invalid VAPID settings: ${(err as Error).message}` };
	}
	return { enabled: true, vapid };
}

export interface SubscriptionInput {
	endpoint: string;
	keys: { p256dh: string; auth: string };
}

export interface FieldError {
	field: string;
	message: string;
	type?: string;
}

const base64url = /^[A-Za-z0-9_-]+={0,2}$/;
const decodedLength = (text: string) => Buffer.from(text.replace(/=+$/, ""), "base64url").length;

/**
 * What a browser's PushSubscription must look like to be usable: an https URL (http too when
 * `allowHttp`, for a local push service; every browser's push service is https) and the
 * client's P-256 public key (65 bytes, uncompressed) and auth secret (16 bytes), base64url.
 */
export function subscriptionErrors(input: SubscriptionInput, opts: { allowHttp: boolean } = { allowHttp: true }): FieldError[] {
	const errors: FieldError[] = [];
	let url: URL | undefined;
	try {
		url = new URL(input.endpoint);
	} catch {
		/* reported below */
	}
	const protocols = opts.allowHttp ? ["https:", "http:"] : ["https:"];
	if (!url || !protocols.includes(url.protocol) || !url.hostname)
		errors.push({ field: "endpoint", message: opts.allowHttp ? "must be an http(s) URL" : "must be an https URL", type: "url" });
	else if (url.username || url.password) errors.push({ field: "endpoint", message: "must not carry credentials", type: "url" });
	const { p256dh, auth } = input.keys;
	if (!base64url.test(p256dh) || decodedLength(p256dh) !== 65 || Buffer.from(p256dh, "base64url")[0] !== 0x04)
		errors.push({ field: "keys.p256dh", message: "must be an uncompressed P-256 public key, base64url", type: "p256dh" });
	if (!base64url.test(auth) || decodedLength(auth) < 16) errors.push({ field: "keys.auth", message: "must be a 16-byte auth secret, base64url", type: "auth" });
	return errors;
}

/** What the service worker receives: the notification itself, short enough for any push service (4 KB). */
export function pushPayload(notification: Notification): string {
	const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
	return JSON.stringify({ ...notification, title: clip(notification.title, 200), body: clip(notification.body, 1000) });
}

export interface PushRequest {
	endpoint: string;
	headers: Record<string, string>;
	body: Buffer;
}

/** Seconds a push service keeps an undelivered message: a safety alert a day late is of little use. */
export const PUSH_TTL_S = 24 * 3600;

/** The encrypted, VAPID-signed request for one subscription (fresh JWT and keys each attempt). */
export function buildPushRequest(subscription: SubscriptionInput, payload: string, vapid: VapidDetails): PushRequest {
	const details = webpush.generateRequestDetails(subscription, payload, {
		vapidDetails: vapid,
		TTL: PUSH_TTL_S,
		contentEncoding: "aes128gcm",
		urgency: "high",
	});
	const headers: Record<string, string> = {};
	for (const [name, value] of Object.entries(details.headers)) {
		// sendPushRequest sets the length of the body it sends.
		if (name.toLowerCase() !== "content-length" && value !== undefined) headers[name] = String(value);
	}
	return { endpoint: details.endpoint, headers, body: details.body };
}

/**
 * Sends a push request; resolves with the HTTP status, rejects on network failure or timeout.
 * Redirects are not followed (a push service answers directly; following them would let an
 * endpoint bounce us elsewhere). `lookup` decides which addresses the connection may use.
 */
export function sendPushRequest(request: PushRequest, opts: { timeoutMs?: number; lookup?: LookupFunction } = {}): Promise<number> {
	const url = new URL(request.endpoint);
	const send = url.protocol === "https:" ? httpsRequest : httpRequest;
	return new Promise<number>((resolve, reject) => {
		const req = send(
			url,
			{
				method: "POST",
				headers: { ...request.headers, "content-length": String(request.body.length) },
				signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
				...(opts.lookup ? { lookup: opts.lookup } : {}),
			},
			res => {
				res.resume();
				resolve(res.statusCode ?? 0);
			},
		);
		req.on("error", reject);
		req.end(request.body);
	});
}

export type PushOutcome = "sent" | "gone" | "retry" | "drop";

/**
 * 404/410: the subscription expired or was revoked (RFC 8030 §7.3) — delete it. 400 and 413:
 * the request itself is wrong, resending the same bytes cannot succeed. Anything else
 * (429, 5xx, timeouts, network errors, auth hiccups) is worth retrying later.
 */
export function classifyPushStatus(status: number | undefined): PushOutcome {
	if (status === undefined) return "retry";
	if (status >= 200 && status < 300) return "sent";
	if (status === 404 || status === 410) return "gone";
	if (status === 400 || status === 413) return "drop";
	return "retry";
}

export const MAX_PUSH_ATTEMPTS = 8;

/** Exponential backoff with jitter: 2 s, 4 s, … capped at 5 minutes. */
export function pushRetryDelayMs(attempts: number, random = Math.random): number {
	const base = Math.min(300_000, 2_000 * 2 ** Math.max(0, attempts - 1));
	return Math.round(base * (0.75 + random() * 0.5));
}

// ---- The endpoint policy (API.md §3 subscriptions; README, PUSH_ALLOW_PRIVATE_ENDPOINTS)

/** Public endpoints only, resolved with `resolve`; `null` where any http(s) URL is allowed. */
export type EndpointPolicy = { resolve: Resolve } | null;

/** Everything wrong with a subscription under the policy: its shape, then (public-only) its host after DNS resolution. */
export async function subscriptionProblems(input: SubscriptionInput, policy: EndpointPolicy): Promise<FieldError[]> {
	const errors = subscriptionErrors(input, { allowHttp: policy === null });
	if (errors.length || policy === null) return errors;
	const verdict = await checkEndpoint(input.endpoint, policy.resolve);
	return verdict.ok ? [] : [{ field: "endpoint", message: verdict.message, type: "url" }];
}

/** One send's result: what the push service's answer means, or `refused` when the policy kept the request from being made. */
export type PushAttempt = { outcome: PushOutcome; status?: number; failure?: string } | { outcome: "refused"; reason: string };

/**
 * Sends one push message under the policy. The endpoint is checked again before every send (its
 * name may have been re-pointed at a private address since it was registered), and the
 * connection uses only addresses that pass the same check. A host that does not resolve now is a
 * network failure like any other (retried); one that resolves to a private address is refused.
 */
export async function attemptPush(
	target: SubscriptionInput,
	payload: string,
	vapid: VapidDetails,
	policy: EndpointPolicy,
	send: typeof sendPushRequest = sendPushRequest,
): Promise<PushAttempt> {
	if (policy) {
		const verdict = await checkEndpoint(target.endpoint, policy.resolve);
		if (!verdict.ok)
			return verdict.reason === "unresolvable" ? { outcome: "retry", failure: verdict.message } : { outcome: "refused", reason: verdict.message };
	}
	try {
		const status = await send(buildPushRequest(target, payload, vapid), policy ? { lookup: publicOnlyLookup(policy.resolve) } : {});
		return { outcome: classifyPushStatus(status), status };
	} catch (err) {
		if ((err as NodeJS.ErrnoException).code === NOT_PUBLIC) return { outcome: "refused", reason: (err as Error).message };
		return { outcome: "retry", failure: (err as Error).message };
	}
}
