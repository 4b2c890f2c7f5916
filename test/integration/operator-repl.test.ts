import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { ApiClient, connectSocket } from "../support/client.js";
import { ROOT, startSystem, type System } from "../support/system.js";
import { waitFor } from "../support/wait.js";

/** Operators' REPL commands, run non-interactively against a running cluster (`npm run repl -- <command>`). */

let system: System;

before(async () => {
	system = await startSystem({ services: ["users", "location", "devices", "gateway"] });
});

after(async () => {
	await system?.stopAll();
});

function repl(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
	return new Promise(resolve => {
		const child = spawn(process.execPath, ["--import", "tsx", "scripts/repl.ts", ...args], {
			cwd: ROOT,
			env: { ...process.env, ...system.env },
			stdio: ["ignore", "pipe", "pipe"],
		});
		let out = "";
		let err = "";
		child.stdout.on("data", c => (out += c));
		child.stderr.on("data", c => (err += c));
		child.once("exit", code => resolve({ code, out, err }));
	});
}

test("`user <email>` shows the account and its groups; `group <id>` its members", async () => {
	const ada = new ApiClient(system.url);
	const user = await ada.signUp("Ada", "Lovelace");
	const group = await ada.createGroup("Operators' view");

	const found = await repl("user", user.email);
	assert.equal(found.code, 0, found.err);
	const shown = JSON.parse(found.out);
	assert.equal(shown.id, user.id);
	assert.deepEqual(shown.groups, [{ id: group.id, name: "Operators' view" }]);

	const inspected = await repl("group", group.id);
	assert.equal(inspected.code, 0, inspected.err);
	assert.deepEqual(
		JSON.parse(inspected.out).members.map((m: { id: string }) => m.id),
		[user.id],
	);
});

test("`invitations <email>` and `invitations <groupId>` show invitations however they stand, and a group's links", async () => {
	const ada = new ApiClient(system.url);
	await ada.signUp("Ada", "Inviter");
	const stranger = `nobody.${Date.now().toString(36)}@example.com`;
	const group = await ada.createGroup("Pending", []);
	const sent = await ada.post(`/api/groups/${group.id}/members`, { email: stranger });
	assert.equal(sent.status, 202);
	const link = await ada.post(`/api/groups/${group.id}/invite-links`, { maxUses: 3 });
	assert.equal(link.status, 201);

	const byEmail = await repl("invitations", stranger);
	assert.equal(byEmail.code, 0, byEmail.err);
	const shown = JSON.parse(byEmail.out) as { invitations: { id: string; groupId: string; pending: boolean; delivery: string }[] };
	assert.deepEqual(
		shown.invitations.map(i => ({ id: i.id, groupId: i.groupId, pending: i.pending, delivery: i.delivery })),
		[{ id: sent.body.invitation.id, groupId: group.id, pending: true, delivery: "no account yet" }],
	);

	const byGroup = await repl("invitations", group.id);
	assert.equal(byGroup.code, 0, byGroup.err);
	const ofGroup = JSON.parse(byGroup.out) as { invitations: { email: string }[]; inviteLinks: { id: string; maxUses: number; uses: number }[] };
	assert.deepEqual(
		ofGroup.invitations.map(i => i.email),
		[stranger],
	);
	assert.deepEqual(
		ofGroup.inviteLinks.map(l => ({ id: l.id, maxUses: l.maxUses, uses: l.uses })),
		[{ id: link.body.id, maxUses: 3, uses: 0 }],
	);
	assert.ok(!byGroup.out.includes(link.body.code), "the code is stored nowhere, so it is shown nowhere");
});

test("`sockets` counts open sockets per gateway; `revoke <userId>` logs a user out everywhere", async () => {
	const bob = new ApiClient(system.url);
	const user = await bob.signUp("Bob", "Socket");
	const socket = await connectSocket(system.url, bob.token!);
	try {
		const counted = await repl("sockets");
		assert.equal(counted.code, 0, counted.err);
		const stats = JSON.parse(counted.out);
		assert.equal(stats.gateways.length, 1);
		assert.equal(stats.total, 1);

		const disconnected = new Promise(resolve => socket.socket.once("disconnect", resolve));
		const revoked = await repl("revoke", user.id);
		assert.equal(revoked.code, 0, revoked.err);
		assert.equal((await bob.get("/api/users/me")).status, 401);
		await disconnected;
	} finally {
		socket.close();
	}
});

test("`devices <email|userId>` lists a user's phones with when each was last seen, and no secret", async () => {
	const cy = new ApiClient(system.url);
	const user = await cy.signUp("Cy", "Phones");
	const created = await cy.post("/api/devices", { name: "Cy's iPhone", protocol: "owntracks" });
	assert.equal(created.status, 201);
	for (const who of [user.email, user.id]) {
		const shown = await repl("devices", who);
		assert.equal(shown.code, 0, shown.err);
		const answer = JSON.parse(shown.out);
		assert.equal(answer.userId, user.id);
		assert.deepEqual(
			answer.devices.map((d: { id: string; name: string; protocol: string; lastSeenAt: null }) => [d.id, d.name, d.protocol, d.lastSeenAt]),
			[[created.body.id, "Cy's iPhone", "owntracks", null]],
		);
		assert.ok(!shown.out.includes(created.body.credentials.password), "no secret");
	}
});

test("`places <groupId>` lists a group's places and who is inside each now", async () => {
	const di = new ApiClient(system.url);
	await di.signUp("Di", "Places");
	const group = await di.createGroup("Places of Di");
	assert.equal((await di.post(`/api/groups/${group.id}/sharing`)).status, 200);
	assert.equal((await di.post("/api/location/samples", { latitude: 45.4642, longitude: 9.19, accuracy: 5 })).status, 202);
	const home = await di.post(`/api/groups/${group.id}/places`, { name: "Home", latitude: 45.4642, longitude: 9.19, radius: 100 });
	const far = await di.post(`/api/groups/${group.id}/places`, { name: "Far", latitude: 46, longitude: 9, radius: 100 });
	assert.deepEqual([home.status, far.status], [201, 201]);
	const shown = await repl("places", group.id);
	assert.equal(shown.code, 0, shown.err);
	const places = JSON.parse(shown.out) as { id: string; name: string; radius: number; createdBy: string; inside: string[] }[];
	assert.deepEqual(
		places.map(p => [p.id, p.name, p.radius, p.createdBy, p.inside]),
		[
			[home.body.id, "Home", 100, di.user!.id, [di.user!.id]],
			[far.body.id, "Far", 100, di.user!.id, []],
		],
	);
	const unknown = await repl("places", "no-such-group");
	assert.notEqual(unknown.code, 0);
	assert.match(unknown.err, /not found/);
});

test("`share-links <email|userId>` lists a user's running links without tokens; `history <email|userId>` counts their points", async () => {
	const di = new ApiClient(system.url);
	const user = await di.signUp("Di", "History");
	const group = await di.createGroup("Di's");
	assert.equal((await di.post(`/api/groups/${group.id}/sharing`)).status, 200);
	const first = new Date(Date.now() - 60_000).toISOString();
	assert.equal((await di.post("/api/location/samples", { latitude: 45.1, longitude: 9.1, timestamp: first })).status, 202);
	assert.equal((await di.post("/api/location/samples", { latitude: 45.2, longitude: 9.2 })).status, 202);
	const link = await di.post("/api/share-links", { groupId: group.id, untilArrival: false });
	assert.equal(link.status, 201);

	const listed = await repl("share-links", user.email);
	assert.equal(listed.code, 0, listed.err);
	const links = JSON.parse(listed.out);
	assert.equal(links.userId, user.id);
	assert.deepEqual(
		links.links.map((l: { id: string; groupId: string; untilArrival: boolean }) => [l.id, l.groupId, l.untilArrival]),
		[[link.body.id, group.id, false]],
	);
	assert.ok(!listed.out.includes(link.body.token), "the token is stored nowhere, so it is shown nowhere");

	const stats = await waitFor(
		async () => {
			const shown = await repl("history", user.id);
			assert.equal(shown.code, 0, shown.err);
			const answer = JSON.parse(shown.out);
			return answer.count === 2 ? answer : undefined;
		},
		{ timeoutMs: 30_000, intervalMs: 500, what: "the history of two points" },
	);
	assert.equal(stats.oldest, first);
	assert.equal(stats.historyDays, 30);
	assert.ok(Date.parse(stats.newest) > Date.parse(first));
});

test("`journal` lists each running location instance with its unwritten acknowledged samples", async () => {
	const shown = await repl("journal");
	assert.equal(shown.code, 0, shown.err);
	const { nodes } = JSON.parse(shown.out) as { nodes: { node: string; alive: boolean; samples: number; oldestAt: string | null }[] };
	const running = nodes.filter(n => n.alive);
	assert.equal(running.length, 1, shown.out);
	assert.ok(Number.isInteger(running[0]!.samples) && running[0]!.samples >= 0);
	assert.deepEqual(
		nodes.filter(n => !n.alive),
		[],
		"no instance has gone",
	);
});

test("an unknown command or user fails with a message and a non-zero exit", async () => {
	const unknown = await repl("frobnicate");
	assert.notEqual(unknown.code, 0);
	assert.match(unknown.err, /unknown command/);
	const missing = await repl("user", "nobody@example.com");
	assert.notEqual(missing.code, 0);
	assert.match(missing.err, /not found/);
});
