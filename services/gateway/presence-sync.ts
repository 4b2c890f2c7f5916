import { PresenceReports, type SocketChange } from "./presence-reports.js";

/**
 * Keeps the chat service's view of this gateway's sockets right (chat derives who is online from
 * it): every open and close is reported in batches, and when reports may have been lost (chat
 * failed to take them, a chat instance appeared, chat took this gateway for gone) the full list
 * goes instead, retried until it lands. Presence is chat's business: a missing chat service never
 * breaks sockets.
 */

/** A socket open on this gateway. */
export interface OpenSocket {
	socketId: string;
	userId: string;
}

export interface PresenceSyncDeps {
	/** `chat.socketsChanged` and `chat.syncSockets` (chat's actions). */
	call(action: string, params: object): Promise<unknown>;
	gatewayNodeID: string;
	/** Every socket open here right now; undefined before Socket.IO is up (nothing to tell). */
	openSockets(): OpenSocket[] | undefined;
	logger: { debug(...args: unknown[]): void };
	/** How long reports are collected into one call. */
	batchMs: number;
	/** After a failed call, the full list is tried again this much later. */
	retryMs?: number;
}

const RETRY_MS = 2_000;
/** A graceful stop waits this long at most for the last reports. */
const FLUSH_WAIT_MS = 1_000;

export class PresenceSync {
	private readonly reports: PresenceReports;
	private syncTimer: NodeJS.Timeout | undefined;
	/** The chat instances last seen available. */
	private chatNodes = new Set<string>();

	constructor(private readonly deps: PresenceSyncDeps) {
		this.reports = new PresenceReports(sockets => this.send(sockets), deps.batchMs);
	}

	/** One socket opened or closed here. */
	report(change: SocketChange): void {
		this.reports.report(change);
	}

	/** The chat instances available now: one that (re)joined may have missed reports while it was away. */
	chatNodesAre(nodeIDs: readonly string[]): void {
		const fresh = nodeIDs.some(nodeID => !this.chatNodes.has(nodeID));
		this.chatNodes = new Set(nodeIDs);
		if (fresh) this.sync();
	}

	/** Tells chat every socket open here (after reports were lost), retrying until it lands. */
	sync(delayMs = 0): void {
		if (this.syncTimer) return;
		this.syncTimer = setTimeout(() => {
			this.syncTimer = undefined;
			const { call, gatewayNodeID, openSockets, logger } = this.deps;
			const sockets = openSockets();
			if (!sockets) return;
			call("chat.syncSockets", { gatewayNodeID, at: new Date().toISOString(), sockets }).catch((err: Error) => {
				logger.debug("chat.syncSockets failed:", err.message);
				if (err.name !== "ServiceNotFoundError") this.sync(this.deps.retryMs ?? RETRY_MS);
			});
		}, delayMs);
		this.syncTimer.unref?.();
	}

	/** No full list from now on (the sockets are about to close). */
	stopSyncing(): void {
		clearTimeout(this.syncTimer);
	}

	/** The closes just reported, briefly: chat also closes them when it sees this node leave. */
	async stop(): Promise<void> {
		await Promise.race([this.reports.flush(), new Promise(resolve => setTimeout(resolve, FLUSH_WAIT_MS).unref())]);
		this.reports.stop();
	}

	private async send(sockets: SocketChange[]): Promise<void> {
		const { call, gatewayNodeID, logger } = this.deps;
		try {
			await call("chat.socketsChanged", { gatewayNodeID, sockets });
		} catch (err) {
			logger.debug("chat.socketsChanged failed:", (err as Error).message);
			// The reports are lost: the full list goes instead, once chat answers again (or when it appears).
			if ((err as Error).name !== "ServiceNotFoundError") this.sync(this.deps.retryMs ?? RETRY_MS);
		}
	}
}
