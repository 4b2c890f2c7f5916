import type { Connection } from "mongoose";
import { isDuplicateKey } from "../../lib/mongo-errors.js";
import { socketsCollection, type ChatModels, type SocketDoc } from "./models.js";
import { presenceFlips, presenceList, socketKey, type GatewayVerdict, type PresenceEntry, type PresenceFlip, type SocketReport } from "./presence.js";

/**
 * Chat's record of the sockets gateways report and of each user's announced online flag.
 * A socket record is closed, never deleted, by a disconnect (so a late connect report cannot reopen it).
 */

/** Closed socket records are kept this long (they absorb a late connect report), then purged. */
const CLOSED_KEEP_MS = 10 * 60_000;
/** Reported sockets are inserted in slices of this many. */
const INSERT_SLICE = 1_000;

type PresenceModels = Pick<ChatModels, "Socket" | "Presence">;

export class PresenceStore {
	constructor(
		/** The models once the database is connected (made in the service's `started`). */
		private readonly models: () => PresenceModels,
		private readonly connection: () => Connection,
	) {}

	/** A socket's open report; `$setOnInsert`: if the disconnect report overtook this one, the closed record stays closed. */
	async opened(gatewayNodeID: string, socketId: string, userId: string, gatewayInstanceID: string | undefined): Promise<void> {
		await this.models().Socket.updateOne(
			{ _id: socketKey(gatewayNodeID, socketId) },
			{ $setOnInsert: { userId, gatewayNodeID, connectedAt: new Date(), closed: false, ...instanceOf(gatewayInstanceID) } },
			{ upsert: true },
		);
	}

	/** A socket's close report; recorded closed even before its open report arrives. */
	async closed(gatewayNodeID: string, socketId: string, userId: string): Promise<void> {
		const now = new Date();
		await this.models().Socket.updateOne(
			{ _id: socketKey(gatewayNodeID, socketId) },
			{ $set: { userId, gatewayNodeID, closed: true, closedAt: now }, $setOnInsert: { connectedAt: now } },
			{ upsert: true },
		);
	}

	/** A batch of open reports; inserted, not overwritten: a socket whose close was recorded first stays closed. */
	async openedAll(gatewayNodeID: string, reports: SocketReport[], at: Date, gatewayInstanceID: string | undefined): Promise<void> {
		if (!reports.length) return;
		await this.insert(
			reports.map(({ socketId, userId }) => ({ ...socketDoc(gatewayNodeID, socketId, userId, at), closed: false, ...instanceOf(gatewayInstanceID) })),
		);
	}

	/** Closes reported sockets; one not recorded yet (its open report is late) is recorded closed. */
	async closedAll(gatewayNodeID: string, reports: SocketReport[], at: Date): Promise<void> {
		if (!reports.length) return;
		const ids = reports.map(r => socketKey(gatewayNodeID, r.socketId));
		const Socket = this.models().Socket;
		const result = await Socket.updateMany({ _id: { $in: ids } }, { $set: { closed: true, closedAt: at } });
		if (result.matchedCount >= ids.length) return;
		await this.insert(reports.map(({ socketId, userId }) => ({ ...socketDoc(gatewayNodeID, socketId, userId, at), closed: true, closedAt: at })));
		// An open report recorded between the two writes must not leave its socket open.
		await Socket.updateMany({ _id: { $in: ids }, closed: false }, { $set: { closed: true, closedAt: at } });
	}

	/**
	 * Makes the records of one gateway agree with its full list of open sockets taken at `at`: sockets
	 * missing here are recorded, sockets closed here before `at` but listed are open again, and sockets
	 * reported before `at` but not listed are closed. Answers the users touched and how many were closed.
	 */
	async syncGateway(
		gatewayNodeID: string,
		at: Date,
		sockets: { socketId: string; userId: string }[],
		gatewayInstanceID: string | undefined,
	): Promise<{ users: Set<string>; closed: number }> {
		const Socket = this.models().Socket;
		const listed = new Set(sockets.map(s => socketKey(gatewayNodeID, s.socketId)));
		const users = new Set<string>();
		const records: Pick<SocketDoc, "_id" | "closed" | "closedAt">[] = await Socket.find({ _id: { $in: [...listed] } }, { closed: 1, closedAt: 1 }).lean();
		const known = new Map(records.map(r => [r._id, r]));
		const missing: SocketDoc[] = [];
		for (const { socketId, userId } of sockets) {
			const _id = socketKey(gatewayNodeID, socketId);
			const record = known.get(_id);
			if (record) {
				// Closed before the list said it is open: closed by inference (its gateway seemed gone), not by a disconnect.
				if (record.closed && record.closedAt && new Date(record.closedAt) < at) {
					const reopened = await Socket.updateOne({ _id, closed: true, closedAt: { $lt: at } }, { $set: { closed: false }, $unset: { closedAt: 1 } });
					if (reopened.modifiedCount) users.add(userId);
				}
				continue;
			}
			missing.push({ ...socketDoc(gatewayNodeID, socketId, userId, at), closed: false, ...instanceOf(gatewayInstanceID) });
			users.add(userId);
		}
		// Inserted as on connect: a disconnect reported meanwhile keeps the record closed.
		if (missing.length) await this.insert(missing);
		// Reported before the list was taken and not on it: closed while its report was lost.
		const stale: Pick<SocketDoc, "_id" | "userId">[] = await Socket.find({ gatewayNodeID, closed: false, connectedAt: { $lt: at } }, { userId: 1 }).lean();
		const gone = stale.filter(s => !listed.has(s._id));
		if (gone.length) {
			await Socket.updateMany({ _id: { $in: gone.map(s => s._id) }, closed: false }, { $set: { closed: true, closedAt: new Date() } });
			for (const s of gone) users.add(s.userId);
		}
		return { users, closed: gone.length };
	}

	/** Closes the open sockets matching `filter`; answers the users of the sockets closed (one per socket). */
	async closeMatching(filter: Record<string, unknown>): Promise<string[]> {
		const Socket = this.models().Socket;
		const open: Pick<SocketDoc, "userId">[] = await Socket.find({ ...filter, closed: false }, { userId: 1 }).lean();
		if (!open.length) return [];
		await Socket.updateMany({ ...filter, closed: false }, { $set: { closed: true, closedAt: new Date() } });
		return open.map(s => s.userId);
	}

	/** Closes the sockets a gateway reported before `reportedBefore` that its verdict (judgeGateway) says are gone; answers their users. */
	async closeJudged(gatewayNodeID: string, verdict: GatewayVerdict, reportedBefore: Date): Promise<string[]> {
		const old = { gatewayNodeID, connectedAt: { $lt: reportedBefore } };
		if (verdict.action === "dropAll") return this.closeMatching(old);
		if (verdict.action === "dropOtherInstances") return this.closeMatching({ ...old, gatewayInstanceID: { $exists: true, $ne: verdict.instanceID } });
		return [];
	}

	/** The gateways with sockets open here. */
	gatewaysWithOpenSockets(): Promise<string[]> {
		return this.models().Socket.distinct("gatewayNodeID", { closed: false });
	}

	/** Forgets closed records once no late report can need them. */
	async purgeClosed(nowMs: number): Promise<void> {
		await this.models().Socket.deleteMany({ closed: true, closedAt: { $lt: new Date(nowMs - CLOSED_KEEP_MS) } });
	}

	/** Those of `userIds` with an open socket. */
	async onlineAmong(userIds: string[]): Promise<string[]> {
		if (!userIds.length) return [];
		return (await this.models().Socket.distinct("userId", { userId: { $in: userIds }, closed: false })) as string[];
	}

	async isOnline(userId: string): Promise<boolean> {
		return Boolean(await this.models().Socket.exists({ userId, closed: false }));
	}

	/** Whether each member is online now and when they were last seen, in member order. */
	async presenceOf(memberIds: string[]): Promise<PresenceEntry[]> {
		const { Socket, Presence } = this.models();
		const [open, seen] = await Promise.all([
			Socket.find({ userId: { $in: memberIds }, closed: false }, { userId: 1 }).lean(),
			Presence.find({ _id: { $in: memberIds } }).lean(),
		]);
		const onlineIds = new Set<string>(open.map((s: { userId: string }) => s.userId));
		const lastSeen = new Map<string, Date>(seen.map((p: { _id: string; lastSeenAt: Date }) => [p._id, new Date(p.lastSeenAt)]));
		return presenceList(memberIds, onlineIds, lastSeen, new Date());
	}

	/** Open sockets and online users, overall and per gateway (operators). */
	async stats(): Promise<{ sockets: number; onlineUsers: number; perGateway: Record<string, number> }> {
		const open: Pick<SocketDoc, "userId" | "gatewayNodeID">[] = await this.models().Socket.find({ closed: false }, { userId: 1, gatewayNodeID: 1 }).lean();
		const perGateway: Record<string, number> = {};
		for (const s of open) perGateway[s.gatewayNodeID] = (perGateway[s.gatewayNodeID] ?? 0) + 1;
		return { sockets: open.length, onlineUsers: new Set(open.map(s => s.userId)).size, perGateway };
	}

	/** A deleted account's sockets and presence. */
	async forgetUser(userId: string): Promise<void> {
		const { Socket, Presence } = this.models();
		await Socket.deleteMany({ userId });
		await Presence.deleteOne({ _id: userId });
	}

	/**
	 * Makes the stored online flag of each user follow their open sockets; `announce` hears each
	 * round's flips. Only users whose flag is wrong are written, each with a conditional update, so of
	 * two instances (or calls) reconciling the same user only one flips and announces. Re-reads after
	 * writing: a connect and a disconnect handled at the same time (here or on another instance)
	 * converge on the true state.
	 */
	async reconcile(userIds: Iterable<string>, announce: (flipped: PresenceFlip[]) => Promise<void>): Promise<void> {
		const { Socket, Presence } = this.models();
		let users = [...new Set(userIds)];
		for (let round = 0; round < 5 && users.length; round++) {
			const [withSockets, stored] = await Promise.all([
				Socket.distinct("userId", { userId: { $in: users }, closed: false }),
				Presence.find({ _id: { $in: users } }, { online: 1 }).lean(),
			]);
			const flips = presenceFlips(users, new Set(withSockets), new Map(stored.map(p => [p._id, p.online])));
			const flipped: PresenceFlip[] = [];
			for (const { userId, online } of flips) {
				try {
					const result = await Presence.findOneAndUpdate(
						{ _id: userId, online: !online },
						{ $set: { online, lastSeenAt: new Date() }, $inc: { version: 1 } },
						// Someone never seen before is offline already: only coming online creates the record.
						{ upsert: online, returnDocument: "after" },
					).lean();
					if (result) flipped.push({ userId, online, version: result.version });
				} catch (err) {
					// The upsert met a record that already says online: nothing flipped.
					if (!isDuplicateKey(err)) throw err;
				}
			}
			if (!flipped.length) return;
			await announce(flipped);
			const flippedIds = flipped.map(f => f.userId);
			const still = new Set(await Socket.distinct("userId", { userId: { $in: flippedIds }, closed: false }));
			users = flipped.filter(f => still.has(f.userId) !== f.online).map(f => f.userId);
		}
	}

	/** Records new sockets; one already recorded (a close that overtook its open report) is left as it is. */
	private async insert(docs: SocketDoc[]): Promise<void> {
		for (let i = 0; i < docs.length; i += INSERT_SLICE) {
			try {
				await socketsCollection(this.connection()).insertMany(docs.slice(i, i + INSERT_SLICE), { ordered: false });
			} catch (err) {
				const errors = (err as { writeErrors?: unknown[] | unknown }).writeErrors;
				const list = Array.isArray(errors) ? errors : errors ? [errors] : [];
				if (!list.length || !list.every(isDuplicateKey)) throw err;
			}
		}
	}
}

/** A socket record's identity and first report. */
const socketDoc = (gatewayNodeID: string, socketId: string, userId: string, connectedAt: Date) => ({
	_id: socketKey(gatewayNodeID, socketId),
	userId,
	gatewayNodeID,
	connectedAt,
});
const instanceOf = (gatewayInstanceID: string | undefined) => (gatewayInstanceID ? { gatewayInstanceID } : {});
