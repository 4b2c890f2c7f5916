import { io, type Socket } from "socket.io-client";
import { TEST_JWT_SECRET } from "../test/support/system.js";
import { clusterPids, createGroups, mapLimit, provisionUsers, sleep, startCluster, waitQuiet } from "./lib/cluster.js";
import { startBaseline } from "./lib/child.js";
import { isMain, numberOption } from "./lib/options.js";
import { readProc } from "./lib/procs.js";
import { heading, saveFigures, type BenchResult } from "./lib/report.js";
import { fmtNum, fmtRatio, table } from "./lib/stats.js";
import { issueToken } from "../services/users/tokens.js";

/**
 * Benchmark 4 — idle sockets. 10,000 authenticated sockets (distinct tokens, 10 per account,
 * optionally the accounts in groups) on ONE gateway: time to connect them all (each connection resolves its
 * token and the account's groups, and reports presence) and the gateway's RSS growth per socket.
 * Baseline: the same number of sockets on the bare Socket.IO relay (JWT check + rooms only).
 *
 *   tsx bench/idle-sockets.ts [--sockets=10000] [--group-size=0] [--concurrency=100] [--max-seconds=120]
 */

export interface IdleOptions {
	sockets: number;
	/** Accounts in groups of this size (each socket then also joins its group's room); 0 = no groups. */
	groupSize: number;
	concurrency: number;
	/** Connecting stops after this long; the sockets not connected by then count as failed. */
	maxSeconds: number;
}

export function idleOptions(): IdleOptions {
	return {
		sockets: numberOption("sockets", 10_000),
		groupSize: numberOption("group-size", 0),
		concurrency: numberOption("concurrency", 100),
		maxSeconds: numberOption("max-seconds", 120),
	};
}

interface IdleSide {
	sockets: number;
	connectSeconds: number;
	rssBeforeMb: number;
	rssAfterMb: number;
	kbPerSocket: number;
	failed: number;
	firstError?: string;
}

async function connectAll(
	url: string,
	auths: Record<string, string>[],
	concurrency: number,
	maxSeconds: number,
	pid: number,
): Promise<{ side: IdleSide; sockets: Socket[] }> {
	await sleep(2_000); // let start-up garbage settle before the "before" figure
	const before = readProc(pid)!.rssKb;
	let failed = 0;
	let firstError: string | undefined;
	const t0 = performance.now();
	const deadline = t0 + maxSeconds * 1000;
	const sockets = await mapLimit(auths, concurrency, auth => {
		const left = deadline - performance.now();
		if (left <= 0) {
			failed++;
			firstError ??= `not connected within ${maxSeconds} s`;
			return Promise.resolve(null);
		}
		const socket = io(url, { auth, transports: ["websocket"], reconnection: false, forceNew: true, timeout: Math.max(1_000, left) });
		return new Promise<Socket | null>(resolve => {
			socket.once("connect", () => resolve(socket));
			socket.once("connect_error", err => {
				failed++;
				firstError ??= err.message;
				resolve(socket);
			});
		});
	});
	const connectSeconds = (performance.now() - t0) / 1000;
	await sleep(3_000);
	const after = readProc(pid)!.rssKb;
	const connected = auths.length - failed;
	return {
		sockets: sockets.filter((socket): socket is Socket => socket !== null),
		side: {
			sockets: connected,
			connectSeconds,
			rssBeforeMb: before / 1024,
			rssAfterMb: after / 1024,
			kbPerSocket: (after - before) / Math.max(1, connected),
			failed,
			firstError,
		},
	};
}

export async function runIdleSockets(opts: IdleOptions = idleOptions()): Promise<BenchResult> {
	heading(`Idle sockets: ${fmtNum(opts.sockets)} authenticated sockets on one gateway`);
	const accounts = Math.ceil(opts.sockets / 10);
	let system: IdleSide;
	const cluster = await startCluster();
	try {
		const { users, tokens } = await provisionUsers(cluster, accounts, 10);
		// Groups through the API are many membership events for every projection, chat and inbox:
		// minutes of set-up for 1,000 accounts here, so they are optional (--group-size=10).
		if (opts.groupSize > 0) await createGroups(cluster, users, opts.groupSize);
		const auths = Array.from({ length: opts.sockets }, (_, i) => ({ token: tokens[i % accounts]![Math.floor(i / accounts) % 10]! }));
		const gatewayPid = cluster.processes.get("gateway")!.pid!;
		await waitQuiet(clusterPids(cluster));
		const { side, sockets } = await connectAll(cluster.url, auths, opts.concurrency, opts.maxSeconds, gatewayPid);
		system = side;
		for (const socket of sockets) socket.disconnect();
	} finally {
		await cluster.stopAll();
	}

	let baseline: IdleSide;
	const relay = await startBaseline("bench/baselines/relay.ts", { JWT_SECRET: TEST_JWT_SECRET });
	try {
		const auths = Array.from({ length: opts.sockets }, (_, i) => ({
			token: issueToken(`relay-user-${i % accounts}`, TEST_JWT_SECRET, 3600_000).token,
			groupId: `relay-group-${Math.floor((i % accounts) / 10)}`,
		}));
		const { side, sockets } = await connectAll(relay.url, auths, opts.concurrency, opts.maxSeconds, relay.pid);
		baseline = side;
		for (const socket of sockets) socket.disconnect();
	} finally {
		await relay.stop();
	}

	console.log(
		table([
			["", "gateway", "bare relay"],
			["sockets connected", fmtNum(system.sockets), fmtNum(baseline.sockets)],
			["time to connect all", `${system.connectSeconds.toFixed(1)} s`, `${baseline.connectSeconds.toFixed(1)} s`],
			["connections/s", fmtNum(system.sockets / system.connectSeconds), fmtNum(baseline.sockets / baseline.connectSeconds)],
			[
				"RSS before → after",
				`${system.rssBeforeMb.toFixed(0)} → ${system.rssAfterMb.toFixed(0)} MB`,
				`${baseline.rssBeforeMb.toFixed(0)} → ${baseline.rssAfterMb.toFixed(0)} MB`,
			],
			["RSS growth per socket", `${system.kbPerSocket.toFixed(1)} KB`, `${baseline.kbPerSocket.toFixed(1)} KB`],
			[
				"failed connections",
				`${system.failed}${system.firstError ? ` (${system.firstError})` : ""}`,
				`${baseline.failed}${baseline.firstError ? ` (${baseline.firstError})` : ""}`,
			],
		]),
	);
	const rows = [
		{
			bench: "idle sockets",
			metric: `RSS growth per socket (${fmtNum(opts.sockets)})`,
			system: `${system.kbPerSocket.toFixed(1)} KB`,
			baseline: `${baseline.kbPerSocket.toFixed(1)} KB`,
			ratio: fmtRatio(system.kbPerSocket / baseline.kbPerSocket),
			target: "< 20 KB",
			pass: system.kbPerSocket < 20 && system.failed === 0,
		},
		{
			bench: "idle sockets",
			metric: "time to connect all",
			system: `${system.connectSeconds.toFixed(1)} s`,
			baseline: `${baseline.connectSeconds.toFixed(1)} s`,
			ratio: fmtRatio(baseline.connectSeconds / system.connectSeconds),
			target: "",
		},
	];
	const result: BenchResult = { name: "idle-sockets", rows, figures: { options: opts, system, baseline } };
	console.log(`figures: ${saveFigures(result)}`);
	return result;
}

if (isMain(import.meta.url)) {
	runIdleSockets().then(
		() => process.exit(0),
		err => {
			console.error(err);
			process.exit(1);
		},
	);
}
