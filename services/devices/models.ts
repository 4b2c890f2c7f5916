import { Schema, type Connection, type Model } from "mongoose";
import type { Envelope } from "../../events/domain.js";
import type { DeviceProtocol } from "../../events/types.js";
import { outboxField } from "../../mixins/outbox-relay.mixin.js";

/**
 * The devices database (positionpal_devices): registered phones, and the "where are you now?"
 * requests that rate-limit asking and carry their notification (outbox) in the same write.
 */

export interface DeviceDoc {
	/** The public device id: the Device `id`, the OwnTracks username, the head of the OsmAnd id (credentials.ts). */
	_id: string;
	userId: string;
	name: string;
	protocol: DeviceProtocol;
	/** SHA-256 of the secret (credentials.ts says why a fast hash is right here). */
	secretHash: string;
	createdAt: Date;
	/** Last authenticated report, written at most once a minute per device (last-seen.ts). */
	lastSeenAt: Date | null;
	/** Someone asked where the user is: the device's next OwnTracks answer carries `reportLocation`. */
	reportRequestedAt: Date | null;
	/** The version of the user's places this device last received as waypoints ("" for none). */
	waypointsVersion: string;
}

/** One per (asker, member): when the asker last asked, and the notification announcing it until relayed. */
export interface LocateRequestDoc {
	/** `${askerId}:${memberId}`. */
	_id: string;
	askerId: string;
	memberId: string;
	at: Date;
	outbox: Envelope[];
}

export function devicesModels(connection: Connection) {
	const Device = connection.model<DeviceDoc>(
		"Device",
		new Schema<DeviceDoc>(
			{
				_id: String,
				userId: { type: String, index: true },
				name: String,
				protocol: String,
				secretHash: String,
				createdAt: Date,
				lastSeenAt: { type: Date, default: null },
				reportRequestedAt: { type: Date, default: null },
				waypointsVersion: { type: String, default: "" },
			},
			{ versionKey: false },
		),
	);
	const LocateRequest = connection.model<LocateRequestDoc>(
		"LocateRequest",
		new Schema<LocateRequestDoc>({ _id: String, askerId: String, memberId: String, at: Date, ...outboxField }, { versionKey: false }),
	);
	return { Device, LocateRequest } as { Device: Model<DeviceDoc>; LocateRequest: Model<LocateRequestDoc> };
}
export type DevicesModels = ReturnType<typeof devicesModels>;
