/**
 * The devices database's reads and writes: registered phones (Device) and the "where are you now?"
 * claims (LocateRequest). A user never keeps more than MAX_DEVICES_PER_USER devices, even when two are made at once.
 */
import { conflict } from "../../events/errors.js";
import type { Envelope } from "../../events/domain.js";
import type { DeviceProtocol } from "../../events/types.js";
import { isDuplicateKey } from "../../lib/mongo-errors.js";
import { hashSecret, newDeviceId, newSecret } from "./credentials.js";
import { LOCATE_EVERY_MS } from "./locate.js";
import type { DeviceDoc, DevicesModels } from "./models.js";
import { MAX_DEVICES_PER_USER } from "./registry.js";

/** What a "where are you now?" claim found: the minute was free (and is now taken), or when it was last taken. */
export type LocateClaim = { claimed: true } | { claimed: false; lastAskedAt?: Date };

export class DeviceStore {
	/** `models` is read at each call: MongooseMixin makes them when it starts, after this store exists. */
	constructor(private readonly models: () => DevicesModels) {}

	/** A new device of `userId` with a fresh secret, which only this answer carries (it is stored hashed). */
	async create(userId: string, name: string, protocol: DeviceProtocol): Promise<{ doc: DeviceDoc; secret: string }> {
		const { Device } = this.models();
		const tooMany = () => conflict(`You have ${MAX_DEVICES_PER_USER} devices already: remove one first`);
		if ((await Device.countDocuments({ userId })) >= MAX_DEVICES_PER_USER) throw tooMany();
		const secret = newSecret();
		const doc: DeviceDoc = {
			_id: newDeviceId(),
			userId,
			name,
			protocol,
			secretHash: hashSecret(secret),
			createdAt: new Date(),
			lastSeenAt: null,
			reportRequestedAt: null,
			waypointsVersion: "",
		};
		await Device.create(doc);
		// Two creations at once may both have counted 9: the later one (by count) goes again.
		if ((await Device.countDocuments({ userId })) > MAX_DEVICES_PER_USER) {
			await Device.deleteOne({ _id: doc._id });
			throw tooMany();
		}
		return { doc, secret };
	}

	/** The user's devices, oldest first. */
	async listOldestFirst(userId: string): Promise<DeviceDoc[]> {
		const docs = await this.models().Device.find({ userId }).lean();
		return docs.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a._id < b._id ? -1 : 1));
	}

	/** The user's devices as stored (any order). */
	async listOf(userId: string): Promise<DeviceDoc[]> {
		return this.models().Device.find({ userId }).lean();
	}

	find(deviceId: string): Promise<DeviceDoc | null> {
		return this.models().Device.findById(deviceId).lean();
	}

	/** Removes one device of `userId`; false when they have no such device. */
	async remove(deviceId: string, userId: string): Promise<boolean> {
		const { deletedCount } = await this.models().Device.deleteOne({ _id: deviceId, userId });
		return deletedCount > 0;
	}

	/** Removes every device of `userId`; the ids of those removed. */
	async removeAllOf(userId: string): Promise<string[]> {
		const { Device } = this.models();
		const devices = await Device.find({ userId }, { _id: 1 }).lean();
		await Device.deleteMany({ userId });
		return devices.map(d => d._id);
	}

	/** Forgets who `userId` asked about and was asked about; records still carrying a notification stay until it is relayed. */
	async removeLocateRequestsOf(userId: string): Promise<void> {
		await this.models().LocateRequest.deleteMany({ $or: [{ askerId: userId }, { memberId: userId }], "outbox.0": { $exists: false } });
	}

	/**
	 * Claims the minute of `askerId` asking about `memberId` under `key`, with the notification (if any) in the same
	 * conditional write: both or neither.
	 */
	async claimLocate(key: string, askerId: string, memberId: string, now: number, outbox: Envelope[]): Promise<LocateClaim> {
		const { LocateRequest } = this.models();
		const claimed = await LocateRequest.findOneAndUpdate(
			{ _id: key, at: { $lte: new Date(now - LOCATE_EVERY_MS) } },
			{ $set: { at: new Date(now) }, ...(outbox.length ? { $push: { outbox: outbox[0] } } : {}) },
			{ new: true },
		).lean();
		if (claimed) return { claimed: true };
		try {
			await LocateRequest.create({ _id: key, askerId, memberId, at: new Date(now), outbox });
			return { claimed: true };
		} catch (err) {
			if (!isDuplicateKey(err)) throw err;
			const last = await LocateRequest.findById(key, { at: 1 }).lean();
			return { claimed: false, lastAskedAt: last?.at };
		}
	}

	/** Flags the user's OwnTracks devices: their next answer asks them to report. The ids flagged. */
	async requestReports(userId: string, now: number): Promise<string[]> {
		const { Device } = this.models();
		const devices = await Device.find({ userId, protocol: "owntracks" }, { _id: 1 }).lean();
		if (devices.length) await Device.updateMany({ _id: { $in: devices.map(d => d._id) } }, { $set: { reportRequestedAt: new Date(now) } });
		return devices.map(d => d._id);
	}

	async writeLastSeen(deviceId: string, at: number): Promise<void> {
		await this.models().Device.updateOne({ _id: deviceId }, { $set: { lastSeenAt: new Date(at) } });
	}

	/** lastSeenAt values held back, each written unless a later one is stored already; failures are dropped. */
	async writeUnwrittenLastSeen(pending: readonly (readonly [string, number])[]): Promise<void> {
		const { Device } = this.models();
		await Promise.all(
			pending.map(([deviceId, at]) =>
				Device.updateOne({ _id: deviceId, $or: [{ lastSeenAt: null }, { lastSeenAt: { $lt: new Date(at) } }] }, { $set: { lastSeenAt: new Date(at) } }).catch(
					() => undefined,
				),
			),
		);
	}

	/** What an answer sent: the report request it carried is done, the waypoints version is the device's now. */
	async writeSent(deviceId: string, { reportRequestedAt, waypointsVersion }: { reportRequestedAt?: number; waypointsVersion?: string }): Promise<void> {
		const { Device } = this.models();
		// Only the request that was answered: one asked meanwhile stays pending for the next answer.
		if (reportRequestedAt !== undefined)
			await Device.updateOne({ _id: deviceId, reportRequestedAt: new Date(reportRequestedAt) }, { $set: { reportRequestedAt: null } });
		if (waypointsVersion !== undefined) await Device.updateOne({ _id: deviceId }, { $set: { waypointsVersion } });
	}
}
