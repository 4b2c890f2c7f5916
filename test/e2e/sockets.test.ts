import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startSystem, TEST_JWT_SECRET, type System } from "../support/system.js";
import { ApiClient, connectSocket, flipsAfterClosing, type LiveSocket } from "../support/client.js";
import { waitFor } from "../support/wait.js";
import { issueToken } from "../../services/users/tokens.js";
import type { Group, Message } from "../../events/types.js";

/**
 * Several sockets of one user on one gateway: each gets every event of the user's groups (and
 * no others), whichever socket came first, and presence flips once per transition however fast
 * they open and close.
 */

let system: System;
let ada: ApiClient;
let bob: ApiClient;
let family: Group;
let work: Group;
const sockets: LiveSocket[] = [];

const connect = async (token: string) => {
	const socket = await connectSocket(system.url, token);
	sockets.push(socket);
	return socket;
};
/** Another login of the same account: another token, as a second device would have. */
const secondLogin = async (client: ApiClient) => {
	const other = new ApiClient(system.url);
	const res = await other.post("/api/auth/login", { email: client.user!.email, password: "correct horse battery" });
	assert.equal(res.status, 200, JSON.stringify(res.body));
	return res.body.token as string;
};
const say = async (group: Group, text: string) => {
	const res = await ada.post(`/api/groups/${group.id}/messages`, { text });
	assert.equal(res.status, 201, JSON.stringify(res.body));
	return res.body as Message;
};
const texts = (socket: LiveSocket, group: Group) =>
	socket
		.of("chat:message")
		.filter((m: Message) => m.groupId === group.id)
		.map((m: Message) => m.text);

before(async () => {
	system = await startSystem({ services: ["users", "chat", "gateway"] });
	ada = new ApiClient(system.url);
	bob = new ApiClient(system.url);
	await ada.signUp("Ada", "Lovelace");
	await bob.signUp("Bob", "Babbage");
	family = await ada.createGroup("Family", [bob.user!.email]);
	work = await ada.createGroup("Work", [bob.user!.email]);
});

after(async () => {
	for (const socket of sockets) socket.close();
	await system?.stopAll();
});

test("every socket of a user gets the events of the user's groups, the same token's or another login's", async () => {
	const laptop = await connect(bob.token!);
	const phone = await connect(bob.token!);
	const tablet = await connect(await secondLogin(bob));
	const message = await say(family, "dinner at 8");
	for (const socket of [laptop, phone, tablet]) await socket.waitFor("chat:message", (m: Message) => m.id === message.id);

	// A group joined while the sockets are open reaches all of them, and so does a socket opened after.
	const club = await ada.createGroup("Club");
	await ada.addMember(club.id, bob.user!.email);
	for (const socket of [laptop, phone, tablet]) await socket.waitFor("group:changed", p => p.groupId === club.id && p.change === "memberAdded");
	const watch = await connect(bob.token!);
	const news = await say(club, "welcome Bob");
	for (const socket of [laptop, phone, tablet, watch]) await socket.waitFor("chat:message", (m: Message) => m.id === news.id);
});

test("after leaving a group, a new socket of the user (an old one still open) gets none of its events", async () => {
	const old = await connect(bob.token!);
	const adaSocket = await connect(ada.token!);
	assert.equal((await ada.delete(`/api/groups/${work.id}/members/${bob.user!.id}`)).status, 200);
	await old.waitFor("group:changed", p => p.groupId === work.id && p.change === "memberRemoved");

	const sameToken = await connect(bob.token!);
	const newLogin = await connect(await secondLogin(bob));
	const secret = await say(work, "Bob is gone");
	const open = await say(family, "still here?");
	// Sent after the other, to the same gateway: once it arrives the first would have too.
	for (const socket of [old, sameToken, newLogin]) await socket.waitFor("chat:message", (m: Message) => m.id === open.id);
	await adaSocket.waitFor("chat:message", (m: Message) => m.id === secret.id);
	for (const socket of [old, sameToken, newLogin]) assert.ok(!texts(socket, work).includes("Bob is gone"), "no event of a group left");
});

test("presence flips online once and offline once while several sockets open and close at the same time", async () => {
	const presenceOfBob = async () =>
		((await ada.get(`/api/groups/${family.id}/presence`)).body as { userId: string; online: boolean }[]).find(p => p.userId === bob.user!.id)?.online;
	// Ada watches while the earlier tests' sockets close; only the flips after that count.
	const earlier = sockets.splice(0);
	const adaSocket = await connect(ada.token!);
	const flips = await flipsAfterClosing(adaSocket, earlier, family.id, bob.user!.id, presenceOfBob);

	const tokens = [bob.token!, bob.token!, await secondLogin(bob), await secondLogin(bob), bob.token!];
	const bobs = await Promise.all(tokens.map(connect));
	await waitFor(() => flips().length === 1, { what: "Bob online" });
	assert.equal((await presenceOfBob()) === true, true);
	// Closing some and opening others in the same instant keeps Bob online.
	bobs.slice(0, 3).forEach(socket => socket.close());
	const more = await Promise.all([connect(bob.token!), connect(bob.token!)]);
	for (const socket of [...bobs.slice(3), ...more]) socket.close();
	await waitFor(() => flips().length === 2, { what: "Bob offline" });
	// Another flip, after which any stray duplicate of the first two would already have arrived.
	await connect(bob.token!);
	await waitFor(() => flips().length === 3, { what: "Bob online again" });
	assert.deepEqual(
		flips().map(p => p.online),
		[true, false, true],
	);
});

test("logging out one token disconnects only its sockets; a token that expires disconnects its socket at the expiry", async () => {
	const otherToken = await secondLogin(bob);
	const kept = await connect(bob.token!);
	const revoked = await connect(otherToken);
	const gone = new Promise<string>(resolve => revoked.socket.once("disconnect", resolve));
	const logout = await bob.post("/api/auth/logout", undefined, { token: otherToken });
	assert.equal(logout.status, 204, JSON.stringify(logout.body));
	assert.equal(await gone, "io server disconnect");
	const message = await say(family, "after logout");
	await kept.waitFor("chat:message", (m: Message) => m.id === message.id);

	// A token that expires within two seconds (signed as the users service would): its socket is
	// closed by the server when it expires (API.md §6.6), not only when a command finds it expired
	// (test/unit/live-sockets: a command that arrives first is refused).
	const shortLived = issueToken(bob.user!.id, TEST_JWT_SECRET, 2_000);
	const socket = await connect(shortLived.token);
	let closed: { at: number; reason: string } | undefined;
	socket.socket.once("disconnect", reason => (closed = { at: Date.now(), reason }));
	await waitFor(() => closed, { timeoutMs: shortLived.expiresAt - Date.now() + 5_000, what: "the socket of the expired token to be disconnected" });
	assert.equal(closed!.reason, "io server disconnect");
	assert.ok(closed!.at >= shortLived.expiresAt, "not before the expiry");
	await assert.rejects(connectSocket(system.url, shortLived.token), { message: "UNAUTHORIZED" });
});
