import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, generateKeyPairSync, randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import { ApiClient, connectSocket, type LiveSocket } from "../support/client.js";
import { startSystem, TEST_JWT_SECRET, type ServiceName, type System } from "../support/system.js";
import { waitFor } from "../support/wait.js";
import { storedDataFingerprint } from "../support/fuzz.js";
import { authenticatedAliases, publicAuthAliases, publicInviteLinkAliases, publicSharedAliases } from "../../services/gateway/routes.js";
import { SocketCommands } from "../../services/gateway/socket-events.js";
import type { Group } from "../../events/types.js";
import { basic, postOwnTracks, sendOsmAnd } from "../support/phones.js";
import * as ownTracksWire from "../fixtures/owntracks/messages.js";

/**
 * The authorization and token matrix (issue 6): every protected REST route and every Socket.IO
 * command × { no token, malformed, wrong signature, alg none, HS256/RS256 confusion, expired,
 * revoked by logout, revoked by password change, valid but not a member, valid member }. Only the
 * valid member gets through; every refused cell changes nothing stored. Routes and commands
 * without a group have no "not a member" case (N/A); for an invitation's answer that case is
 * "not the addressee" (404: nobody learns of others' invitations), and an invite link's code is
 * itself the permission to join (N/A).
 */

const SERVICES: ServiceName[] = ["users", "location", "chat", "notification", "devices", "gateway"];
const VOLATILE = ["chat.sockets", "chat.presences"];

const CASES = [
	"no token",
	"malformed",
	"wrong signature",
	"alg none",
	"RS256 confusion",
	"expired",
	"revoked: logout",
	"revoked: password",
	"share token",
	"not a member",
	"valid member",
] as const;
type Case = (typeof CASES)[number];
const TOKEN_CASES = CASES.slice(0, 9);

let system: System;
/** Member and creator of the group; the identity every forged token claims. */
let mia: ApiClient;
/** Member whose earlier token died when the password changed. */
let pat: ApiClient;
let patOldToken: string;
/** Mia's token revoked by logout. */
let loggedOutToken: string;
/** Mia's token for the logout route's own valid cell. */
let logoutToken: string;
let xav: ApiClient; // member Mia removes
let lev: ApiClient; // member who leaves
let dan: ApiClient; // deletes his account
let yan: ApiClient; // invited by email: accepts one invitation, declines another
let jon: ApiClient; // joins with an invite link
let oli: ApiClient; // outsider with his own group
let group: Group;
let doomed: Group; // deleted by its creator
let toYan: string; // Yan's invitation to the group (accepted)
let declinedByYan: string; // Yan's invitation to the doomed group (declined)
let withdrawn: string; // an invitation of the group, withdrawn by a member
let revokedLink: string; // an invite link of the group, revoked by a member
let joinCode: string; // an invite link's code, for Jon to join with
let miaDevice: string; // removed by the valid cell of DELETE /devices/:id
let miaPlace: string; // a place of the group: renamed, then deleted by the valid cells
let miaShareLink: string; // deleted by the valid cell of DELETE /share-links/:id
let patShareToken: string; // a live share link's token: it opens no route and no socket (API.md §6.5)
const forged = {} as Record<"wrong signature" | "alg none" | "RS256 confusion" | "expired" | "HS256 with the public key", string>;
const grid: { target: string; cells: Partial<Record<Case, string>> }[] = [];

const b64url = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** The claims a real token of `userId` carries, for forging. */
const claimsOf = (userId: string, expInSeconds = 3600) => {
	const now = Date.now();
	return {
		sub: userId,
		jti: randomUUID(),
		iat_ms: now,
		iat: Math.floor(now / 1000),
		exp: Math.floor(now / 1000) + expInSeconds,
	};
};

function forgeTokens(userId: string) {
	forged["wrong signature"] = jwt.sign(claimsOf(userId), "not-the-server-secret-0123456789abcdef", { algorithm: "HS256" });
	forged["alg none"] = `${b64url({ alg: "none", typ: "JWT" })}.${b64url(claimsOf(userId))}.`;
	const { privateKey, publicKey } = generateKeyPairSync("rsa", {
		modulusLength: 2048,
	});
	forged["RS256 confusion"] = jwt.sign(claimsOf(userId), privateKey.export({ type: "pkcs8", format: "pem" }), { algorithm: "RS256" });
	// The classic confusion: HS256 "signed" with a public key as the HMAC secret.
	const unsigned = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url(claimsOf(userId))}`;
	const pem = publicKey.export({ type: "spki", format: "pem" });
	forged["HS256 with the public key"] = `${unsigned}.${createHmac("sha256", pem).update(unsigned).digest("base64url")}`;
	forged.expired = jwt.sign({ ...claimsOf(userId, -60), iat_ms: Date.now() - 7_200_000 }, TEST_JWT_SECRET, { algorithm: "HS256" });
}

const MALFORMED = ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0", "x".repeat(5000)];

/** The Authorization header of a refused case (`undefined`: none at all). */
function authorizationFor(kase: Case, i: number): string | undefined {
	switch (kase) {
		case "no token":
			return undefined;
		case "malformed":
			return [`Bearer ${MALFORMED[i % MALFORMED.length]}`, `Basic ${Buffer.from("mia:pw").toString("base64")}`, `Bearer ${mia.token}.extra`, "Bearer"][i % 4];
		case "RS256 confusion":
			return `Bearer ${i % 2 ? forged["HS256 with the public key"] : forged["RS256 confusion"]}`;
		case "wrong signature":
		case "alg none":
		case "expired":
			return `Bearer ${forged[kase]}`;
		case "revoked: logout":
			return `Bearer ${loggedOutToken}`;
		case "revoked: password":
			return `Bearer ${patOldToken}`;
		case "share token":
			return `Bearer ${patShareToken}`;
		default:
			throw new Error(kase);
	}
}

/** The socket handshake token of a refused case. */
function socketTokenFor(kase: Case, i: number): string | undefined {
	const header = authorizationFor(kase, i);
	return header?.replace(/^Bearer ?/, "");
}

interface RestTarget {
	method: string;
	path: string;
	route: string;
	body?: unknown;
	/** Who makes the valid-member call. */
	member: () => ApiClient;
	/** The valid member's expected status, and why when it is not a plain success. */
	expect: number;
	note?: string;
	/** false: the route is about no group, so "not a member" does not apply. */
	grouped: boolean;
	/** An answer to an invitation: someone else (not a member: not the addressee) gets 404, never a hint. */
	addressed?: boolean;
}

/** Every protected route, in the order the valid calls can run (destructive ones last). */
function restTargets(): RestTarget[] {
	const g = () => group.id;
	const endpoint = "https://push.example/authz";
	// A syntactically valid PushSubscription (P-256 point and 16-byte auth secret).
	const keys = {
		p256dh: Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 7)]).toString("base64url"),
		auth: Buffer.alloc(16, 9).toString("base64url"),
	};
	return [
		{
			method: "GET",
			route: "GET /users/me",
			path: "/api/users/me",
			member: () => mia,
			expect: 200,
			grouped: false,
		},
		{
			method: "PATCH",
			route: "PATCH /users/me",
			path: "/api/users/me",
			body: { name: "Mia" },
			member: () => mia,
			expect: 200,
			grouped: false,
		},
		{
			method: "POST",
			route: "POST /groups",
			path: "/api/groups",
			body: { name: "Another" },
			member: () => mia,
			expect: 201,
			grouped: false,
		},
		{
			method: "GET",
			route: "GET /groups",
			path: "/api/groups",
			member: () => mia,
			expect: 200,
			grouped: false,
		},
		{
			method: "GET",
			route: "GET /groups/:groupId",
			path: `/api/groups/${g()}`,
			member: () => mia,
			expect: 200,
			grouped: true,
		},
		{
			method: "PATCH",
			route: "PATCH /groups/:groupId",
			path: `/api/groups/${g()}`,
			body: { name: "Renamed" },
			member: () => mia,
			expect: 200,
			grouped: true,
		},
		{
			method: "POST",
			route: "POST /groups/:groupId/members",
			path: `/api/groups/${g()}/members`,
			body: { email: "matrix.invitee@example.com" },
			member: () => mia,
			expect: 202,
			grouped: true,
		},
		{
			method: "GET",
			route: "GET /groups/:groupId/invitations",
			path: `/api/groups/${g()}/invitations`,
			member: () => mia,
			expect: 200,
			grouped: true,
		},
		{
			method: "DELETE",
			route: "DELETE /groups/:groupId/invitations/:invitationId",
			path: `/api/groups/${g()}/invitations/${withdrawn}`,
			member: () => mia,
			expect: 204,
			grouped: true,
		},
		{
			method: "GET",
			route: "GET /invitations",
			path: "/api/invitations",
			member: () => yan,
			expect: 200,
			grouped: false,
		},
		{
			method: "POST",
			route: "POST /invitations/:invitationId/accept",
			path: `/api/invitations/${toYan}/accept`,
			member: () => yan,
			expect: 200,
			grouped: false,
			addressed: true,
		},
		{
			method: "POST",
			route: "POST /invitations/:invitationId/decline",
			path: `/api/invitations/${declinedByYan}/decline`,
			body: { block: false },
			member: () => yan,
			expect: 204,
			grouped: false,
			addressed: true,
		},
		{
			method: "POST",
			route: "POST /groups/:groupId/invite-links",
			path: `/api/groups/${g()}/invite-links`,
			body: { maxUses: 3 },
			member: () => mia,
			expect: 201,
			grouped: true,
		},
		{
			method: "GET",
			route: "GET /groups/:groupId/invite-links",
			path: `/api/groups/${g()}/invite-links`,
			member: () => mia,
			expect: 200,
			grouped: true,
		},
		{
			method: "DELETE",
			route: "DELETE /groups/:groupId/invite-links/:linkId",
			path: `/api/groups/${g()}/invite-links/${revokedLink}`,
			member: () => mia,
			expect: 204,
			grouped: true,
		},
		{
			method: "POST",
			route: "POST /invite-links/:code/join",
			path: `/api/invite-links/${joinCode}/join`,
			member: () => jon,
			expect: 200,
			note: "the code is the permission: anyone holding it may join",
			grouped: false,
		},
		{
			method: "DELETE",
			route: "DELETE /groups/:groupId/members/:userId",
			path: `/api/groups/${g()}/members/${xav.user!.id}`,
			member: () => mia,
			expect: 200,
			grouped: true,
		},
		{
			method: "POST",
			route: "POST /groups/:groupId/sharing",
			path: `/api/groups/${g()}/sharing`,
			member: () => mia,
			expect: 200,
			grouped: true,
		},
		{
			method: "PUT",
			route: "PUT /groups/:groupId/sharing/precision",
			path: `/api/groups/${g()}/sharing/precision`,
			body: { precision: "approximate" },
			member: () => mia,
			expect: 200,
			grouped: true,
		},
		{
			method: "POST",
			route: "POST /share-links",
			path: "/api/share-links",
			body: { groupId: g(), duration: 600 },
			member: () => mia,
			expect: 201,
			grouped: true,
		},
		{ method: "GET", route: "GET /share-links", path: "/api/share-links", member: () => mia, expect: 200, grouped: false },
		{
			method: "DELETE",
			route: "DELETE /share-links/:id",
			path: `/api/share-links/${miaShareLink}`,
			member: () => mia,
			expect: 204,
			grouped: false,
			addressed: true,
		},
		{
			method: "POST",
			route: "POST /location/samples",
			path: "/api/location/samples",
			body: { latitude: 45.07, longitude: 7.68 },
			member: () => mia,
			expect: 202,
			grouped: false,
		},
		// Mia shares in the group (POST .../sharing above): her sessions are marked blocked until her next sample.
		{ method: "POST", route: "POST /location/blocked", path: "/api/location/blocked", member: () => mia, expect: 200, grouped: false },
		{ method: "GET", route: "GET /users/me/history", path: "/api/users/me/history", member: () => mia, expect: 200, grouped: false },
		{ method: "DELETE", route: "DELETE /users/me/history", path: "/api/users/me/history", member: () => mia, expect: 204, grouped: false },
		{
			method: "POST",
			route: "POST /groups/:groupId/journey",
			path: `/api/groups/${g()}/journey`,
			body: {
				destination: { name: "Home", latitude: 45.08, longitude: 7.69 },
				eta: new Date(Date.now() + 3_600_000).toISOString(),
				mode: "walking",
			},
			member: () => mia,
			expect: 201,
			grouped: true,
		},
		{
			method: "PATCH",
			route: "PATCH /groups/:groupId/journey",
			path: `/api/groups/${g()}/journey`,
			body: { eta: new Date(Date.now() + 7_200_000).toISOString() },
			member: () => mia,
			expect: 200,
			grouped: true,
		},
		{
			method: "GET",
			route: "GET /groups/:groupId/places",
			path: `/api/groups/${g()}/places`,
			member: () => mia,
			expect: 200,
			grouped: true,
		},
		{
			method: "POST",
			route: "POST /groups/:groupId/places",
			path: `/api/groups/${g()}/places`,
			body: { name: "School", latitude: 45.08, longitude: 7.69, radius: 150 },
			member: () => mia,
			expect: 201,
			grouped: true,
		},
		{
			method: "PATCH",
			route: "PATCH /groups/:groupId/places/:placeId",
			path: `/api/groups/${g()}/places/${miaPlace}`,
			body: { name: "Home sweet home" },
			member: () => mia,
			expect: 200,
			grouped: true,
		},
		{
			method: "DELETE",
			route: "DELETE /groups/:groupId/places/:placeId",
			path: `/api/groups/${g()}/places/${miaPlace}`,
			member: () => mia,
			expect: 204,
			grouped: true,
		},
		{
			method: "DELETE",
			route: "DELETE /groups/:groupId/journey",
			path: `/api/groups/${g()}/journey`,
			member: () => mia,
			expect: 200,
			grouped: true,
		},
		{
			method: "DELETE",
			route: "DELETE /groups/:groupId/sharing",
			path: `/api/groups/${g()}/sharing`,
			member: () => mia,
			expect: 200,
			grouped: true,
		},
		{
			method: "POST",
			route: "POST /sos",
			path: "/api/sos",
			body: { latitude: 45.07, longitude: 7.68 },
			member: () => mia,
			expect: 201,
			grouped: false,
		},
		{
			method: "DELETE",
			route: "DELETE /sos",
			path: "/api/sos",
			member: () => mia,
			expect: 200,
			grouped: false,
		},
		{
			method: "GET",
			route: "GET /groups/:groupId/sessions",
			path: `/api/groups/${g()}/sessions`,
			member: () => mia,
			expect: 200,
			grouped: true,
		},
		{
			method: "GET",
			route: "GET /groups/:groupId/sessions/:userId",
			path: `/api/groups/${g()}/sessions/${pat.user!.id}`,
			member: () => mia,
			expect: 200,
			grouped: true,
		},
		{
			method: "GET",
			route: "GET /groups/:groupId/sessions/:userId/route",
			path: `/api/groups/${g()}/sessions/${mia.user!.id}/route`,
			member: () => mia,
			expect: 200,
			grouped: true,
		},
		{
			method: "GET",
			route: "GET /groups/:groupId/messages",
			path: `/api/groups/${g()}/messages`,
			member: () => mia,
			expect: 200,
			grouped: true,
		},
		{
			method: "POST",
			route: "POST /groups/:groupId/messages",
			path: `/api/groups/${g()}/messages`,
			body: { text: "hello" },
			member: () => mia,
			expect: 201,
			grouped: true,
		},
		{
			method: "GET",
			route: "GET /groups/:groupId/presence",
			path: `/api/groups/${g()}/presence`,
			member: () => mia,
			expect: 200,
			grouped: true,
		},
		{
			method: "POST",
			route: "POST /devices",
			path: "/api/devices",
			body: { name: "Mia's phone", protocol: "owntracks" },
			member: () => mia,
			expect: 201,
			grouped: false,
		},
		{ method: "GET", route: "GET /devices", path: "/api/devices", member: () => mia, expect: 200, grouped: false },
		{ method: "DELETE", route: "DELETE /devices/:id", path: `/api/devices/${miaDevice}`, member: () => mia, expect: 204, grouped: false },
		{
			method: "POST",
			route: "POST /groups/:groupId/members/:userId/locate",
			path: `/api/groups/${g()}/members/${pat.user!.id}/locate`,
			member: () => mia,
			expect: 202,
			grouped: true,
		},
		{
			method: "GET",
			route: "GET /notifications",
			path: "/api/notifications",
			member: () => mia,
			expect: 200,
			grouped: false,
		},
		{
			method: "POST",
			route: "POST /notifications/read",
			path: "/api/notifications/read",
			body: { all: true },
			member: () => mia,
			expect: 200,
			grouped: false,
		},
		{
			method: "GET",
			route: "GET /notifications/push-key",
			path: "/api/notifications/push-key",
			member: () => mia,
			expect: 404,
			note: "404 NOT_FOUND: Web Push is not configured (state, not authorization)",
			grouped: false,
		},
		{
			method: "POST",
			route: "POST /notifications/subscriptions",
			path: "/api/notifications/subscriptions",
			body: { endpoint, keys },
			member: () => mia,
			expect: 201,
			grouped: false,
		},
		{
			method: "DELETE",
			route: "DELETE /notifications/subscriptions",
			path: "/api/notifications/subscriptions",
			body: { endpoint },
			member: () => mia,
			expect: 204,
			grouped: false,
		},
		{
			method: "POST",
			route: "POST /groups/:groupId/leave",
			path: `/api/groups/${g()}/leave`,
			member: () => lev,
			expect: 204,
			grouped: true,
		},
		{
			method: "DELETE",
			route: "DELETE /groups/:groupId",
			path: `/api/groups/${doomed.id}`,
			member: () => mia,
			expect: 204,
			grouped: true,
		},
		{
			method: "POST",
			route: "POST /auth/logout",
			path: "/api/auth/logout",
			member: () => Object.assign(new ApiClient(system.url), { token: logoutToken }),
			expect: 204,
			grouped: false,
		},
		{
			method: "DELETE",
			route: "DELETE /users/me",
			path: "/api/users/me",
			body: { currentPassword: "dan's long password" },
			member: () => dan,
			expect: 204,
			grouped: false,
		},
	];
}

/** A target's row in the printed matrix: ids and codes as placeholders. */
const rowOf = (target: RestTarget) => `${target.method} ${target.path.replace(/[0-9a-f-]{36}/g, ":id").replace(joinCode, ":code")}`;

async function call(target: RestTarget, authorization: string | undefined) {
	const headers: Record<string, string> = {};
	if (authorization !== undefined) headers.authorization = authorization;
	const api = new ApiClient(system.url);
	return api.request(target.method, target.path, target.body, {
		token: null,
		headers,
	});
}

/** What the users can see, plus every stored document. */
async function snapshot() {
	const view = {
		mia: (await mia.get("/api/users/me")).body,
		groups: (await mia.get("/api/groups")).body,
		sessions: (await mia.get(`/api/groups/${group.id}/sessions`)).body,
		messages: (await mia.get(`/api/groups/${group.id}/messages?limit=200`)).body,
		notifications: (await mia.get("/api/notifications?limit=200")).body,
		dan: (await dan.get("/api/users/me")).body,
		devices: (await mia.get("/api/devices")).body,
		oli: (await oli.get("/api/groups")).body,
	};
	return {
		view,
		stored: await storedDataFingerprint(
			system.env.MONGO_DB_PREFIX!,
			SERVICES.filter(s => s !== "gateway"),
			VOLATILE,
		),
	};
}

before(async () => {
	// DEVICE_AUTH_RATE_LIMIT=0: the phone matrix below refuses many credentials from one address (the limit has its own test).
	system = await startSystem({ services: SERVICES, env: { AUTH_RATE_LIMIT: "0", DEVICE_AUTH_RATE_LIMIT: "0", OFFLINE_AFTER: "3600", STUCK_AFTER: "3600" } });
	const client = () => new ApiClient(system.url);
	[mia, pat, xav, lev, dan, yan, oli, jon] = [client(), client(), client(), client(), client(), client(), client(), client()];
	await Promise.all([
		mia.signUp("Mia", "Member", "mia's long password"),
		pat.signUp("Pat", "Changer", "pat's old password"),
		xav.signUp("Xav", "Removed"),
		lev.signUp("Lev", "Leaver"),
		dan.signUp("Dan", "Deleted", "dan's long password"),
		yan.signUp("Yan", "Invited"),
		oli.signUp("Oli", "Outsider"),
	]);
	// After the others: parallel registrations beyond the hashing slots would be refused (429).
	await jon.signUp("Jon", "Linked");
	group = await mia.createGroup("Matrix", [pat.user!.email, xav.user!.email, lev.user!.email]);
	doomed = await mia.createGroup("Doomed", [pat.user!.email]);
	await oli.createGroup("Oli's own");
	const invite = async (groupId: string, email: string) => {
		const res = await mia.post(`/api/groups/${groupId}/members`, { email });
		assert.equal(res.status, 202, JSON.stringify(res.body));
		return res.body.invitation.id as string;
	};
	toYan = await invite(group.id, yan.user!.email);
	declinedByYan = await invite(doomed.id, yan.user!.email);
	withdrawn = await invite(group.id, "matrix.withdrawn@example.com");
	const link = async () => {
		const res = await mia.post(`/api/groups/${group.id}/invite-links`, {});
		assert.equal(res.status, 201, JSON.stringify(res.body));
		return res.body as { id: string; code: string };
	};
	revokedLink = (await link()).id;
	joinCode = (await link()).code;

	// Revoked by logout: a second token of Mia, used once (so the gateway has it cached), then logged out.
	const second = Object.assign(new ApiClient(system.url), {
		token: await new ApiClient(system.url).logIn(mia.user!.email, "mia's long password"),
	});
	assert.equal((await second.get("/api/users/me")).status, 200);
	assert.equal((await second.post("/api/auth/logout")).status, 204);
	loggedOutToken = second.token!;
	logoutToken = await new ApiClient(system.url).logIn(mia.user!.email, "mia's long password");

	// A live share link of Pat's (it stays live: Pat keeps sharing), and one of Mia's for its DELETE cell.
	assert.equal((await pat.post(`/api/groups/${group.id}/sharing`)).status, 200);
	const patLink = await pat.post("/api/share-links", { groupId: group.id });
	assert.equal(patLink.status, 201, JSON.stringify(patLink.body));
	patShareToken = patLink.body.token;
	assert.equal((await mia.post(`/api/groups/${group.id}/sharing`)).status, 200);
	const miaLink = await mia.post("/api/share-links", { groupId: group.id });
	assert.equal(miaLink.status, 201, JSON.stringify(miaLink.body));
	miaShareLink = miaLink.body.id;
	assert.equal((await mia.delete(`/api/groups/${group.id}/sharing`)).status, 200);

	// Revoked by password change: Pat's token, used once, then Pat changes the password (with another token).
	patOldToken = pat.token!;
	assert.equal((await pat.get(`/api/groups/${group.id}`)).status, 200);
	const patNew = new ApiClient(system.url);
	await patNew.logIn(pat.user!.email, "pat's old password");
	assert.equal(
		(
			await patNew.patch("/api/users/me", {
				password: "pat's new password",
				currentPassword: "pat's old password",
			})
		).status,
		200,
	);

	forgeTokens(mia.user!.id);
	const device = await mia.post("/api/devices", { name: "Mia's old phone", protocol: "osmand" });
	assert.equal(device.status, 201);
	miaDevice = device.body.id;
	const place = await mia.post(`/api/groups/${group.id}/places`, { name: "Home", latitude: 45.07, longitude: 7.68, radius: 100 });
	assert.equal(place.status, 201, JSON.stringify(place.body));
	miaPlace = place.body.id;
});

after(async () => {
	await system?.stopAll();
});

test("REST: every protected route refuses every bad token (401) and non-members (403); only the valid member gets through", async () => {
	const targets = restTargets();
	// The table covers the gateway's real route table exactly.
	assert.deepEqual(targets.map(t => t.route).sort(), Object.keys(authenticatedAliases).sort());

	const beforeState = await waitFor(
		async () => {
			const [a, b] = [await snapshot(), await snapshot()];
			return JSON.stringify(a) === JSON.stringify(b) ? a : undefined;
		},
		{ timeoutMs: 30_000, intervalMs: 200, what: "the set-up to settle" },
	);

	const problems: string[] = [];
	let i = 0;
	for (const target of targets) {
		const row = {
			target: rowOf(target),
			cells: {} as Partial<Record<Case, string>>,
		};
		grid.push(row);
		for (const kase of TOKEN_CASES) {
			const res = await call(target, authorizationFor(kase, i++));
			row.cells[kase] = String(res.status);
			if (res.status !== 401 || res.body?.type !== "UNAUTHORIZED")
				problems.push(`${target.route} with ${kase}: ${res.status} ${JSON.stringify(res.body).slice(0, 160)}`);
		}
		if (target.grouped) {
			const res = await oli.request(target.method, target.path, target.body);
			row.cells["not a member"] = String(res.status);
			if (res.status !== 403 || res.body?.type !== "FORBIDDEN")
				problems.push(`${target.route} as a non-member: ${res.status} ${JSON.stringify(res.body).slice(0, 160)}`);
		} else if (target.addressed) {
			const res = await oli.request(target.method, target.path, target.body);
			row.cells["not a member"] = `${res.status} (not to)`;
			if (res.status !== 404 || res.body?.type !== "NOT_FOUND")
				problems.push(`${target.route} as someone it is not addressed to: ${res.status} ${JSON.stringify(res.body).slice(0, 160)}`);
		} else row.cells["not a member"] = "n/a";
	}
	assert.deepEqual(problems, [], "every refused cell is 401 UNAUTHORIZED (bad token), 403 FORBIDDEN (not a member) or 404 NOT_FOUND (not the addressee)");
	const afterState = await snapshot();
	assert.deepEqual(afterState.stored, beforeState.stored, "refused calls changed stored data");
	assert.deepEqual(afterState.view, beforeState.view, "refused calls changed what the users see");

	// The valid member, in an order where each call's state allows it.
	for (const target of targets) {
		const res = await target.member().request(target.method, target.path, target.body);
		grid.find(r => r.target === rowOf(target))!.cells["valid member"] = String(res.status);
		assert.notEqual(res.status, 401, `${target.route} refused the valid member: ${JSON.stringify(res.body)}`);
		assert.notEqual(res.status, 403, `${target.route} refused the valid member: ${JSON.stringify(res.body)}`);
		assert.equal(res.status, target.expect, `${target.route} as the valid member${target.note ? ` (${target.note})` : ""}: ${JSON.stringify(res.body)}`);
	}
	// Yan is a member by his own accept, Jon by the link; the declined invitation is gone.
	assert.deepEqual(
		(await mia.get(`/api/groups/${group.id}`)).body.members.map((m: { id: string }) => m.id).sort(),
		[mia, pat, yan, jon].map(c => c.user!.id).sort(),
	);
	assert.deepEqual((await yan.get("/api/invitations")).body, []);
	// The logout cell's token was never revoked by the 8 refused logout calls before it, and is now.
	assert.equal(
		(
			await new ApiClient(system.url).get("/api/users/me", {
				token: logoutToken,
			})
		).status,
		401,
	);
});

test("the routes without a token are register, login, the share-link view and the invite-link preview, which shows a visitor only what the join page needs", async () => {
	assert.deepEqual(Object.keys(publicAuthAliases).sort(), ["POST /login", "POST /register"]);
	assert.deepEqual(Object.keys(publicInviteLinkAliases), ["GET /:code"]);
	// A share link's view (API.md §6.5): the token is the permission, for that one session (test/e2e/share-links).
	assert.deepEqual(Object.keys(publicSharedAliases), ["GET /:token"]);
	const link = await mia.post(`/api/groups/${group.id}/invite-links`, {
		maxUses: 1,
	});
	assert.equal(link.status, 201);
	const preview = await new ApiClient(system.url).get(`/api/invite-links/${link.body.code}`, { token: null });
	assert.equal(preview.status, 200);
	assert.deepEqual(Object.keys(preview.body).sort(), ["expiresAt", "groupName", "invitedBy", "memberCount"]);
	assert.deepEqual(preview.body.invitedBy, { name: "Mia" }, "a first name: no id, no email");
	// Joining is not public.
	for (const kase of TOKEN_CASES) {
		const res = await new ApiClient(system.url).request("POST", `/api/invite-links/${link.body.code}/join`, undefined, {
			token: null,
			headers: authorizationFor(kase, 0) ? { authorization: authorizationFor(kase, 0)! } : {},
		});
		assert.equal(res.status, 401, `join with ${kase}`);
	}
	assert.equal((await new ApiClient(system.url).get(`/api/invite-links/${link.body.code}`, { token: null })).status, 200, "no use was taken");
});

test("Socket.IO: a bad token never connects; a non-member's commands are refused; the valid member's go through", async () => {
	const events = Object.keys(SocketCommands);
	const grouped = (event: string) => !["location:sample", "sos:start", "sos:stop"].includes(event);
	const payloadFor = (event: string): Record<string, unknown> => {
		switch (event) {
			case "location:sample":
			case "sos:start":
				return { latitude: 45.07, longitude: 7.68 };
			case "sos:stop":
				return {};
			case "journey:start":
				return {
					groupId: group.id,
					destination: { name: "Home", latitude: 45.08, longitude: 7.69 },
					eta: new Date(Date.now() + 3_600_000).toISOString(),
					mode: "walking",
				};
			case "journey:update":
				return { groupId: group.id, eta: new Date(Date.now() + 7_200_000).toISOString() };
			case "chat:send":
				return { groupId: group.id, text: "over the socket" };
			default:
				return { groupId: group.id };
		}
	};
	const problems: string[] = [];
	let i = 0;
	for (const event of events) {
		const row = {
			target: `socket ${event}`,
			cells: {} as Partial<Record<Case, string>>,
		};
		grid.push(row);
		for (const kase of TOKEN_CASES) {
			const outcome = await connectSocket(system.url, socketTokenFor(kase, i++)).then(
				socket => {
					socket.close();
					return "connected";
				},
				(err: Error) => err.message,
			);
			row.cells[kase] = outcome === "UNAUTHORIZED" ? "refused" : outcome;
			if (outcome !== "UNAUTHORIZED") problems.push(`${event} with ${kase}: ${outcome}`);
		}
	}
	assert.deepEqual(problems, [], "every bad token fails the connection with connect_error UNAUTHORIZED");

	const outsider = await connectSocket(system.url, oli.token);
	for (const event of events) {
		const row = grid.find(r => r.target === `socket ${event}`)!;
		if (!grouped(event)) {
			row.cells["not a member"] = "n/a";
			continue;
		}
		const ack = await outsider.emit(event, payloadFor(event));
		row.cells["not a member"] = ack.ok ? "ok" : String(ack.error.code);
		assert.equal(ack.ok, false, `${event} as a non-member`);
		assert.equal(ack.error.code, 403, `${event} as a non-member: ${JSON.stringify(ack)}`);
		assert.equal(ack.error.type, "FORBIDDEN");
	}
	outsider.close();

	const member = await connectSocket(system.url, mia.token);
	// The REST cells left Mia sharing (an SOS switches sharing on and keeps it on): stop first.
	for (const event of [
		"sharing:stop",
		"sharing:start",
		"location:sample",
		"journey:start",
		"journey:update",
		"journey:stop",
		"sos:start",
		"sos:stop",
		"chat:send",
	]) {
		const ack = await member.emit(event, payloadFor(event));
		grid.find(r => r.target === `socket ${event}`)!.cells["valid member"] = ack.ok ? "ok" : String(ack.error.code);
		assert.equal(ack.ok, true, `${event} as the valid member: ${JSON.stringify(ack)}`);
	}
	member.close();
});

test("Socket.IO: a token that expires or is revoked while connected stops working at once", async () => {
	// Forged with the real secret for a real user, expiring in 3–4 s: accepted at connect time
	// (eight handshakes in a row, with room for a busy machine).
	const exp = Math.floor(Date.now() / 1000) + 4;
	const sockets: LiveSocket[] = [];
	const closedAt: number[] = [];
	for (const [n] of Object.keys(SocketCommands).entries()) {
		const token = jwt.sign({ ...claimsOf(mia.user!.id), exp }, TEST_JWT_SECRET, { algorithm: "HS256" });
		const socket = await connectSocket(system.url, token);
		socket.socket.once("disconnect", () => (closedAt[n] = Date.now()));
		sockets.push(socket);
	}
	// The server closes each socket when its token expires (a command that would arrive before the
	// close is refused with 401: test/unit/live-sockets), and the token no longer connects.
	await waitFor(() => sockets.every(socket => !socket.socket.connected), {
		timeoutMs: exp * 1000 - Date.now() + 5_000,
		what: "every expired socket to be disconnected",
	});
	for (const at of closedAt) assert.ok(at >= exp * 1000, `closed ${exp * 1000 - at} ms before the expiry`);
	await assert.rejects(
		connectSocket(
			system.url,
			jwt.sign({ ...claimsOf(mia.user!.id), exp }, TEST_JWT_SECRET, {
				algorithm: "HS256",
			}),
		),
		{
			message: "UNAUTHORIZED",
		},
	);

	const api = new ApiClient(system.url);
	await api.logIn(mia.user!.email, "mia's long password");
	const live = await connectSocket(system.url, api.token);
	assert.equal((await api.post("/api/auth/logout")).status, 204);
	await waitFor(() => !live.socket.connected, {
		what: "the socket of a logged-out token to be disconnected",
	});
});

test("phone endpoints: only a registered, current device's own credentials get through (401 otherwise, nothing stored)", async () => {
	const owntracks = (await mia.post("/api/devices", { name: "Matrix iPhone", protocol: "owntracks" })).body;
	const osmand = (await mia.post("/api/devices", { name: "Matrix Traccar", protocol: "osmand" })).body;
	const removedOt = (await mia.post("/api/devices", { name: "Removed iPhone", protocol: "owntracks" })).body;
	const removedOs = (await mia.post("/api/devices", { name: "Removed Traccar", protocol: "osmand" })).body;
	assert.equal((await mia.delete(`/api/devices/${removedOt.id}`)).status, 204);
	assert.equal((await mia.delete(`/api/devices/${removedOs.id}`)).status, 204);
	const ot = owntracks.credentials;
	const otCells: [string, string | null][] = [
		["no credentials", null],
		["malformed", "Basic !!notbase64"],
		["the user's bearer token", `Bearer ${mia.token}`],
		["the user's email and password", basic(mia.user!.email, "mia's long password")],
		["wrong password", basic(ot.username, `${ot.password.slice(0, -1)}${ot.password.endsWith("A") ? "B" : "A"}`)],
		["another device's id", basic(removedOt.credentials.username, ot.password)],
		["removed device", basic(removedOt.credentials.username, removedOt.credentials.password)],
		["OsmAnd id as Basic", basic(osmand.credentials.id.slice(0, 12), osmand.credentials.id.slice(12))],
	];
	const osCells: [string, string][] = [
		["no id", "lat=45&lon=7"],
		["someone else's server's id", `id=${"x".repeat(34)}&lat=45&lon=7`],
		["wrong secret", `id=${osmand.credentials.id.slice(0, 12)}${"A".repeat(22)}&lat=45&lon=7`],
		["removed device", `id=${removedOs.credentials.id}&lat=45&lon=7`],
		["OwnTracks credentials as an id", `id=${ot.username}${ot.password}&lat=45&lon=7`],
		["the user's id", `id=${mia.user!.id}&lat=45&lon=7`],
	];
	const beforeState = await snapshot();
	const problems: string[] = [];
	for (const [kase, authorization] of otCells) {
		const res = await postOwnTracks(system.url, ot, ownTracksWire.LWT, { authorization });
		if (res.status !== 401 || res.json?.type !== "UNAUTHORIZED" || !/^Basic /.test(res.headers.get("www-authenticate") ?? ""))
			problems.push(`POST /api/owntracks, ${kase}: ${res.status} ${res.text.slice(0, 120)}`);
	}
	for (const [kase, query] of osCells) {
		const res = await sendOsmAnd(system.url, { query });
		const expected = kase === "no id" ? 400 : 401;
		if (res.status !== expected) problems.push(`GET /api/osmand, ${kase}: ${res.status} ${res.text.slice(0, 120)}`);
	}
	assert.deepEqual(problems, [], "every refused phone request is 401 (400 without an id)");
	const afterState = await snapshot();
	assert.deepEqual(afterState.stored, beforeState.stored, "refused phone requests changed stored data");
	console.log(`phone endpoints: ${otCells.length} OwnTracks and ${osCells.length} OsmAnd refused credentials, then the valid ones`);

	assert.equal((await postOwnTracks(system.url, ot, ownTracksWire.LWT)).status, 200);
	assert.equal((await sendOsmAnd(system.url, { query: `id=${osmand.credentials.id}&lat=45.07&lon=7.68` })).status, 200);
});

test("repeated wrong passwords slow that account's logins down end to end (then lock out their address: see e2e/users-groups)", async () => {
	// Default throttle: 3 free failures, then 100 ms doubling per failure (capped at 2 s), lock at 10.
	const api = new ApiClient(system.url);
	const user = await api.signUp("Slow", "Down", "the right password");
	for (let i = 0; i < 6; i++)
		assert.equal(
			(
				await api.post("/api/auth/login", {
					email: user.email,
					password: `guess ${i}`,
				})
			).status,
			401,
		);
	// Six failures: the next attempt waits 100 × 2^(6-3-1) = 400 ms before its password is even checked.
	const t0 = Date.now();
	const res = await api.post("/api/auth/login", {
		email: user.email,
		password: "the right password",
	});
	const elapsed = Date.now() - t0;
	assert.equal(res.status, 200);
	assert.ok(elapsed >= 400, `the 7th attempt took ${elapsed} ms, expected at least the 400 ms delay`);
	// A success clears the count: the next wrong password is free again (401, no lock).
	assert.equal(
		(
			await api.post("/api/auth/login", {
				email: user.email,
				password: "guess again",
			})
		).status,
		401,
	);
});

test("the matrix", () => {
	const width = 34;
	const header = ["target".padEnd(width), ...CASES.map(c => c.slice(0, 12).padEnd(12))].join(" ");
	const lines = grid.map(row =>
		[
			row.target.slice(0, width).padEnd(width),
			...CASES.map(c =>
				String(row.cells[c] ?? "")
					.slice(0, 12)
					.padEnd(12),
			),
		].join(" "),
	);
	const cells = grid.length * CASES.length;
	const na = grid.reduce((n, row) => n + Object.values(row.cells).filter(v => v === "n/a").length, 0);
	console.log(
		`authorization matrix: ${grid.length} targets (${grid.length - Object.keys(SocketCommands).length} REST routes, ${Object.keys(SocketCommands).length} socket commands) × ${CASES.length} cases = ${cells} cells, ${na} N/A (no group), ${cells - na} checked`,
	);
	console.log(`${header}\n${lines.join("\n")}`);
	assert.equal(grid.length, Object.keys(authenticatedAliases).length + Object.keys(SocketCommands).length);
});
