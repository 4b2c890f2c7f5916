import { test } from "node:test";
import assert from "node:assert/strict";
import { PresenceSync, type OpenSocket } from "../../services/gateway/presence-sync.js";
import { waitFor } from "../support/wait.js";

/** A chat service stub: records each call; `fail` decides, per call, which error (if any) it answers with. */
function chat(fail: (action: string, n: number) => string | undefined = () => undefined) {
	const calls: { action: string; params: Record<string, unknown> }[] = [];
	const call = async (action: string, params: object) => {
		calls.push({ action, params: params as Record<string, unknown> });
		const name = fail(action, calls.length);
		if (name) throw Object.assign(new Error(`${action} failed`), { name });
		return null;
	};
	return { calls, call, of: (action: string) => calls.filter(c => c.action === action) };
}

const quiet = { debug: () => undefined };
const open: OpenSocket[] = [{ socketId: "s1", userId: "u" }];

test("a chat instance that appears gets the full list of open sockets; one already known does not", async () => {
	const stub = chat();
	const sync = new PresenceSync({ call: stub.call, gatewayNodeID: "gw-1", openSockets: () => open, logger: quiet, batchMs: 1 });
	sync.chatNodesAre(["chat-1"]);
	await waitFor(() => stub.of("chat.syncSockets").length === 1, { what: "the full list" });
	assert.deepEqual(stub.of("chat.syncSockets")[0]!.params.sockets, open);
	assert.equal(stub.of("chat.syncSockets")[0]!.params.gatewayNodeID, "gw-1");
	sync.chatNodesAre(["chat-1"]);
	sync.chatNodesAre([]);
	sync.report({ socketId: "s2", userId: "u", open: true });
	await waitFor(() => stub.of("chat.socketsChanged").length === 1, { what: "the report" });
	assert.equal(stub.of("chat.syncSockets").length, 1, "no chat instance was new");
	sync.chatNodesAre(["chat-1"]); // it went away and came back: it may have missed the report
	await waitFor(() => stub.of("chat.syncSockets").length === 2, { what: "the second full list" });
	await sync.stop();
});

test("lost reports are replaced by the full list, retried until chat takes it", async () => {
	// The report fails, then the first full list; the second full list lands.
	const stub = chat((action, n) => (n <= 2 ? "RequestTimeoutError" : undefined));
	const sync = new PresenceSync({ call: stub.call, gatewayNodeID: "gw-1", openSockets: () => open, logger: quiet, batchMs: 1, retryMs: 5 });
	sync.report({ socketId: "s1", userId: "u", open: true });
	await waitFor(() => stub.of("chat.syncSockets").length === 2, { what: "the retried full list" });
	assert.deepEqual(
		stub.calls.map(c => c.action),
		["chat.socketsChanged", "chat.syncSockets", "chat.syncSockets"],
	);
	await sync.stop();
});

test("without a chat service nothing is retried, and before Socket.IO is up nothing is sent", async () => {
	const stub = chat(() => "ServiceNotFoundError");
	let sockets: OpenSocket[] | undefined = undefined;
	const sync = new PresenceSync({ call: stub.call, gatewayNodeID: "gw-1", openSockets: () => sockets, logger: quiet, batchMs: 1, retryMs: 1 });
	sync.chatNodesAre(["chat-1"]);
	sync.report({ socketId: "s1", userId: "u", open: true });
	await waitFor(() => stub.of("chat.socketsChanged").length === 1, { what: "the report" });
	sockets = open;
	sync.sync();
	await waitFor(() => stub.of("chat.syncSockets").length === 1, { what: "the full list once sockets are up" });
	// A retry would come 1 ms after a failure: a further report, sent after it, is the last call.
	sync.report({ socketId: "s2", userId: "u", open: true });
	await waitFor(() => stub.of("chat.socketsChanged").length === 2, { what: "the second report" });
	assert.deepEqual(
		stub.calls.map(c => c.action),
		["chat.socketsChanged", "chat.syncSockets", "chat.socketsChanged"],
	);
	await sync.stop();
});

test("a stop sends the reports still queued", async () => {
	const stub = chat();
	const sync = new PresenceSync({ call: stub.call, gatewayNodeID: "gw-1", openSockets: () => open, logger: quiet, batchMs: 60_000 });
	sync.report({ socketId: "s1", userId: "u", open: false });
	await sync.stop();
	assert.deepEqual(stub.of("chat.socketsChanged")[0]?.params.sockets, [{ socketId: "s1", userId: "u", open: false }]);
});
