import assert from "node:assert/strict";
import type { ApiClient, Json } from "./client.js";

/**
 * Phone apps as the tests play them: requests shaped exactly as OwnTracks (HTTP mode) and the
 * OsmAnd-protocol clients send them (headers, encodings), against a real gateway.
 */

export interface OwnTracksCredentials {
	url: string;
	username: string;
	password: string;
	deviceId: string;
	tid: string;
	configUrl: string;
}

export interface OsmAndCredentials {
	url: string;
	id: string;
}

export interface PhoneResponse {
	status: number;
	text: string;
	/** The parsed JSON body, when there is one. */
	json: Json;
	headers: Headers;
}

async function answer(res: Response): Promise<PhoneResponse> {
	const text = await res.text();
	let json: unknown;
	try {
		json = text ? JSON.parse(text) : undefined;
	} catch {
		json = undefined;
	}
	return { status: res.status, text, json, headers: res.headers };
}

/** Registers a device for `owner` and returns its credentials (shown once). */
export async function registerDevice(owner: ApiClient, protocol: "owntracks", name?: string): Promise<{ id: string; credentials: OwnTracksCredentials }>;
export async function registerDevice(owner: ApiClient, protocol: "osmand", name?: string): Promise<{ id: string; credentials: OsmAndCredentials }>;
export async function registerDevice(owner: ApiClient, protocol: "owntracks" | "osmand", name = `${owner.user?.name ?? "my"}'s phone`) {
	const res = await owner.post("/api/devices", { name, protocol });
	assert.equal(res.status, 201, JSON.stringify(res.body));
	return res.body;
}

/** `Authorization: Basic …` of a username and password. */
export const basic = (username: string, password: string) => `Basic ${Buffer.from(`${username}:${password}`, "utf8").toString("base64")}`;

/**
 * One OwnTracks HTTP-mode POST as the apps send it (owntracks/ios Connection.m, owntracks/android
 * HttpMessageProcessorEndpoint.kt): `Content-Type: application/json`, Basic auth, and the X-Limit-U /
 * X-Limit-D headers naming the user and device as the app's settings say.
 */
export async function postOwnTracks(
	baseUrl: string,
	credentials: Pick<OwnTracksCredentials, "username" | "password" | "deviceId">,
	body: string,
	opts: { headers?: Record<string, string>; authorization?: string | null; limitUser?: string } = {},
): Promise<PhoneResponse> {
	const headers: Record<string, string> = {
		"content-type": "application/json",
		"x-limit-u": opts.limitUser ?? credentials.username,
		"x-limit-d": credentials.deviceId,
		"user-agent": "OwnTracks/17.2.3 CFNetwork/1496.0.7 Darwin/23.5.0",
		...opts.headers,
	};
	const authorization = opts.authorization === undefined ? basic(credentials.username, credentials.password) : opts.authorization;
	if (authorization !== null) headers.authorization = authorization;
	return answer(await fetch(`${baseUrl}/api/owntracks`, { method: "POST", headers, body }));
}

/**
 * An OsmAnd-protocol request: `GET ?query` (OsmAnd, GPS loggers), an empty `POST ?query` (Traccar
 * Client for Android), a form POST, or Traccar Client 9's JSON POST.
 */
export async function sendOsmAnd(
	baseUrl: string,
	request: { query?: string; form?: string; json?: string; method?: "GET" | "POST"; headers?: Record<string, string> },
): Promise<PhoneResponse> {
	const url = `${baseUrl}/api/osmand${request.query ? `?${request.query}` : ""}`;
	if (request.form !== undefined) {
		return answer(
			await fetch(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...request.headers }, body: request.form }),
		);
	}
	if (request.json !== undefined) {
		return answer(await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...request.headers }, body: request.json }));
	}
	return answer(await fetch(url, { method: request.method ?? "GET", headers: request.headers }));
}

/** Headers of a request from another client address (the gateway runs with TRUST_PROXY=1 in these tests). */
export const fromAddress = (address: string) => ({ "x-forwarded-for": address });

/** An OwnTracks fixture with its times moved to `seconds` (epoch): the location rules refuse times ahead and skip stale ones. */
export function atTime(fixture: string, seconds: number, extra: Record<string, unknown> = {}): string {
	const message = JSON.parse(fixture) as Record<string, unknown>;
	for (const key of ["tst", "created_at"]) if (key in message) message[key] = seconds;
	return JSON.stringify({ ...message, ...extra });
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);
