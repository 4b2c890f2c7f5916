import type { DeviceProtocol, User } from "../../events/types.js";
import { ownTracksConfigUrl } from "./protocol/owntracks.js";
import { tidCandidates } from "./protocol/tids.js";
import { osmAndId, ownTracksDeviceName } from "./credentials.js";
import type { DeviceDoc } from "./models.js";

/**
 * Devices as the API shows them (API.md §6.2) and the credentials shown once, when one is made.
 * Nobody sees a secret again: it is stored only as a hash (credentials.ts).
 */

/** At most this many devices per user (§6.2). */
export const MAX_DEVICES_PER_USER = 10;

export interface Device {
	id: string;
	name: string;
	protocol: DeviceProtocol;
	createdAt: string;
	lastSeenAt: string | null;
}

export interface OwnTracksDeviceCredentials {
	url: string;
	username: string;
	password: string;
	deviceId: string;
	tid: string;
	configUrl: string;
}

export interface OsmAndDeviceCredentials {
	url: string;
	id: string;
}

export type DeviceCredentials = OwnTracksDeviceCredentials | OsmAndDeviceCredentials;

export function toDevice(doc: Pick<DeviceDoc, "_id" | "name" | "protocol" | "createdAt" | "lastSeenAt">): Device {
	return {
		id: doc._id,
		name: doc.name,
		protocol: doc.protocol,
		createdAt: new Date(doc.createdAt).toISOString(),
		lastSeenAt: doc.lastSeenAt ? new Date(doc.lastSeenAt).toISOString() : null,
	};
}

/**
 * Where phones reach the gateway: PUBLIC_URL when the deployer set it (behind a proxy only they know
 * the public address), else the origin the request that made the device came to.
 */
export function publicBaseUrl(configured: string | undefined, requestOrigin: string | undefined): string {
	return (configured ?? requestOrigin ?? "http://localhost:3000").replace(/\/+$/, "");
}

/** The device's tracker id in the OwnTracks app: the owner's initials, as the answers name them when nobody else shares them. */
export const ownTid = (owner: Pick<User, "name" | "surname">): string => tidCandidates(owner)[0] ?? "PP";

/** The credentials a new device is shown, once. */
export function credentialsOf(
	device: Pick<DeviceDoc, "_id" | "name" | "protocol">,
	secret: string,
	baseUrl: string,
	owner: Pick<User, "name" | "surname">,
): DeviceCredentials {
	if (device.protocol === "osmand") return { url: `${baseUrl}/api/osmand`, id: osmAndId(device._id, secret) };
	const credentials = {
		url: `${baseUrl}/api/owntracks`,
		username: device._id,
		password: secret,
		deviceId: ownTracksDeviceName(device.name),
		tid: ownTid(owner),
	};
	return { ...credentials, configUrl: ownTracksConfigUrl(credentials) };
}
