import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { io } from "socket.io-client";
import { notFound } from "../../events/errors.js";
import type { Session } from "../../events/types.js";
import { LiveSockets } from "../../services/gateway/sockets.js";
import { TokenCache } from "../../services/gateway/token-cache.js";
import {
	isShareToken,
	newShareToken,
	shareEndReason,
	sharedName,
	ShareLinks,
	type ShareLinkDoc,
	shareTokenHash,
	shareUrl,
	type ResolvedShareLink,
} from "../../services/location/sharing/share-links.js";
import { LiveSocket } from "../support/client.js";
import { waitFor } from "../support/wait.js";

// Share links (API.md §6.5): the token and end rules, and the gateway's share sockets on a real
// Socket.IO server with the location service replaced by a stub.

test("a share token has 256 random bits in base64url; only its SHA-256 is kept, and the url is the /s/ page", () => {
	const tokens = new Set(Array.from({ length: 200 }, newShareToken));
	assert.equal(tokens.size, 200);
	for (const token of tokens) assert.ok(isShareToken(token), token);
	const token = [...tokens][0]!;
	assert.equal(Buffer.from(token, "base64url").length, 32);
	assert.match(shareTokenHash(token), /^[A-Za-z0-9_-]{43}$/);
	assert.notEqual(shareTokenHash(token), token);
	for (const bad of ["", "short", `${token}x`, token.replace(/./, "+"), 42, null]) assert.equal(isShareToken(bad), false, String(bad));
	assert.equal(shareUrl("https://pp.example.org/app/", "http://10.0.0.2:3000", "T"), "https://pp.example.org/app/s/T");
	assert.equal(shareUrl(undefined, "http://10.0.0.2:3000", "T"), "http://10.0.0.2:3000/s/T");
});

test("a link shows a first name and the surname's initial", () => {
	assert.equal(sharedName({ name: "Ada", surname: "lovelace" }), "Ada L.");
	assert.equal(sharedName({ name: "Émile", surname: "Łukasz" }), "Émile Ł.");
	assert.equal(sharedName({ name: "Cher", surname: " " }), "Cher");
});

test("a link ends at its expiry, when sharing stops, and (untilArrival) when its journey is over", () => {
	const now = Date.parse("2026-12-03T12:00:00Z");
	const journey = {
		destination: { name: "Home", latitude: 1, longitude: 2 },
		eta: "2026-12-03T13:00:00Z",
		mode: "walking" as const,
		startedAt: "2026-12-03T11:50:00Z",
		alerts: [],
	};
	const open = { expiresAt: now + 1000, untilArrival: false, journeyStartedAt: null };
	assert.equal(shareEndReason(open, { journey: null, sharing: true }, now), null);
	assert.equal(shareEndReason(open, { journey: null, sharing: true }, now + 1000), "expired");
	assert.equal(shareEndReason(open, { journey: null, sharing: false }, now), "stopped sharing");
	const trip = { expiresAt: now + 1000, untilArrival: true, journeyStartedAt: journey.startedAt };
	assert.equal(shareEndReason(trip, { journey, sharing: true }, now), null);
	assert.equal(shareEndReason(trip, { journey: null, sharing: true }, now), "journey ended", "arrived or stopped");
	assert.equal(
		shareEndReason(trip, { journey: { ...journey, startedAt: "2026-12-03T11:59:00Z" }, sharing: true }, now),
		"journey ended",
		"a later journey is another",
	);
});

// ---- the gateway's share sockets

const LINK: ResolvedShareLink = { linkId: "l1", groupId: "g1", userId: "ann", expiresAt: 0, untilArrival: false, journeyStartedAt: null };
let link: ResolvedShareLink;
let server: Server;
let sockets: LiveSockets;
let url: string;
const opened: LiveSocket[] = [];

async function call(action: string, params: object): Promise<unknown> {
	if (action === "location.resolveShareLink" && (params as { token: string }).token === "good") return link;
	throw notFound("Share link");
}

function connectShared(shareToken: unknown): Promise<LiveSocket> {
	return new Promise((resolve, reject) => {
		const socket = io(url, { auth: { shareToken } as Record<string, unknown>, transports: ["websocket"], reconnection: false, forceNew: true });
		const live = new LiveSocket(socket);
		opened.push(live);
		socket.once("connect", () => resolve(live));
		socket.once("connect_error", err => reject(err));
	});
}

const session = (over: Partial<Session & { sharing: boolean }> = {}): Session & { sharing: boolean } => ({
	groupId: "g1",
	userId: "ann",
	state: "ACTIVE",
	sharing: true,
	position: { latitude: 45, longitude: 9, timestamp: new Date().toISOString() },
	journey: null,
	updatedAt: new Date().toISOString(),
	...over,
});

before(async () => {
	server = createServer();
	sockets = new LiveSockets({ call, tokenCache: new TokenCache(), socketChanged: () => undefined, corsOrigin: "*" });
	sockets.attach(server);
	await new Promise<void>(resolve => server.listen(0, "127.0.0.1", resolve));
	url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
	for (const socket of opened) socket.close();
	sockets.close();
	await new Promise(resolve => server.close(resolve));
});

test("a share socket needs a live link's token (connect_error NOT_FOUND otherwise)", async () => {
	link = { ...LINK, expiresAt: Date.now() + 60_000 };
	for (const bad of ["bad", "", 7, null]) await assert.rejects(connectShared(bad), { message: "NOT_FOUND" }, String(bad));
	const ok = await connectShared("good");
	assert.ok(ok.socket.connected);
	ok.close();
});

test("a share socket gets its session's updates only, is refused every command, and goes when an update shows the link ended", async () => {
	link = { ...LINK, expiresAt: Date.now() + 60_000 };
	const watcher = await connectShared("good");
	sockets.location({ groupId: "g1", session: session({ userId: "bob" }) });
	sockets.location({ groupId: "g2", session: session({ groupId: "g2" }) });
	sockets.chat({ groupId: "g1", message: { id: "m", groupId: "g1", userId: "ann", text: "hi", kind: "user", createdAt: "" } });
	sockets.notification({ userId: "ann", notification: { id: "n", kind: "SOS", title: "", body: "", createdAt: "", read: false } });
	// Approximate for the group, exact for the link.
	sockets.location({ groupId: "g1", session: session({ position: { latitude: 45.1234, longitude: 9, timestamp: "" } }), others: session() });
	const update = await watcher.waitFor("location:update");
	assert.equal(update.position.latitude, 45.1234);
	assert.deepEqual(
		watcher.received.map(r => r.event),
		["location:update"],
		"nothing but the link's session",
	);
	for (const event of ["sharing:start", "chat:send", "location:sample", "whatever"])
		assert.deepEqual(await watcher.emit(event, { groupId: "g1" }), {
			ok: false,
			error: { type: "FORBIDDEN", message: "A share link is read-only", code: 403 },
		});
	const gone = new Promise(resolve => watcher.socket.once("disconnect", resolve));
	sockets.location({ groupId: "g1", session: session({ sharing: false, state: "INACTIVE" }) });
	await gone;
	assert.equal(watcher.received.length, 1, "the update that ended the link was not sent");
});

test("a share socket is disconnected at the link's expiry, on live.shareEnded, and when its creator leaves the group", async () => {
	link = { ...LINK, expiresAt: Date.now() + 400 };
	const expiring = await connectShared("good");
	const t0 = Date.now();
	await waitFor(() => !expiring.socket.connected, { timeoutMs: 5_000, what: "the expired link's socket to go" });
	assert.ok(Date.now() - t0 >= 300, "not before its expiry");

	link = { ...LINK, expiresAt: Date.now() + 60_000 };
	const deleted = await connectShared("good");
	sockets.shareEnded({ linkIds: ["other"] });
	sockets.shareEnded({ linkIds: ["l1"] });
	await waitFor(() => !deleted.socket.connected, { what: "the deleted link's socket to go" });

	link = { ...LINK, linkId: "l2", expiresAt: Date.now() + 60_000 };
	const left = await connectShared("good");
	sockets.group({ groupId: "g1", change: "memberRemoved", userId: "bob" });
	sockets.group({ groupId: "g1", change: "renamed" });
	await new Promise(resolve => setImmediate(resolve));
	assert.ok(left.socket.connected, "someone else leaving ends nothing");
	sockets.group({ groupId: "g1", change: "memberRemoved", userId: "ann" });
	await waitFor(() => !left.socket.connected, { what: "the socket of a link whose creator left to go" });
});

test("a new link needs sharing, a journey for untilArrival, and room under the limit; untilArrival follows the journey", async () => {
	const stored: ShareLinkDoc[] = [];
	let running = 0;
	const model = {
		countDocuments: () => ({ exec: async () => running }),
		create: async (doc: ShareLinkDoc) => void stored.push(doc),
	};
	const links = new ShareLinks({
		model: () => model as never,
		isMemberNow: async () => true,
		session: async () => ({ journey: null }),
		now: () => 1_000,
	});
	const link = { userId: "u1", groupId: "g1", name: "Ada L.", durationS: 600 };
	const journey = { startedAt: "2026-12-03T10:00:00.000Z" } as Session["journey"];
	const refused = (type: string, code: number) => (err: { type?: string; code?: number }) => err.type === type && err.code === code;
	await assert.rejects(links.open({ sharing: false, journey: null }, { ...link, untilArrival: false }), refused("FORBIDDEN", 403));
	await assert.rejects(links.open({ sharing: true, journey: null }, { ...link, untilArrival: true }), refused("INVALID_STATE", 409));
	running = 20;
	await assert.rejects(links.open({ sharing: true, journey }, { ...link, untilArrival: false }), refused("CONFLICT", 409));
	running = 19;
	const { doc } = await links.open({ sharing: true, journey }, { ...link, untilArrival: true });
	assert.deepEqual([doc.untilArrival, doc.journeyStartedAt, doc.expiresAt.getTime()], [true, journey!.startedAt, 601_000]);
	assert.equal(stored.length, 1);
});
