import { badRequest, ErrorTypes, unauthorized, unsupported, validationError } from "../../events/errors.js";
import type { DeviceProtocol, Meta } from "../../events/types.js";
import { parseOsmAnd, type OsmAndRequest } from "./protocol/osmand.js";
import { ownTracksAnswer, parseOwnTracks, type AnswerFriend, type OwnTracksOutbound } from "./protocol/owntracks.js";
import type { FieldIssue, PositionSample } from "./protocol/types.js";
import { isDeviceId, isSecret, secretMatches } from "./credentials.js";
import { pendingCommands, sentCommands, type PlacesOfUser, type PlacesSource, type TransitionSink } from "./commands.js";
import type { DeviceCache, KnownDevice } from "./device-cache.js";
import type { LastSeen } from "./last-seen.js";

/**
 * A phone's report, from authentication to answer (API.md §6.2). A position becomes a sample of the
 * device's user through the location service's ordinary actions, called as that user (`meta.user`,
 * so the Shard strategy and every rule of a browser's sample apply: the groups where the user shares,
 * an SOS, future and stale timestamps) and as that device (`meta.device`: the sample's source, and it
 * is stored before the location service answers — the phone deletes what we acknowledge).
 *
 * Errors are chosen for apps that drop a message on any 4xx and retry on 5xx: 401 for credentials,
 * 400/422 for a message that can never be taken, and anything that may work later (a service or the
 * database down, a broker timeout) passes through for the gateway to answer 503.
 */

/** Calls an action as the device's owner (the service binds it to the request's context). */
export type Call = (action: string, params: object, meta: Meta) => Promise<unknown>;

export interface PhoneReport {
	/** The public device id: the OwnTracks username, the head of the OsmAnd id. */
	deviceId: string;
	secret: string;
}

export interface OwnTracksReport extends PhoneReport {
	/** The POSTed JSON, parsed (undefined for an empty body). */
	message: unknown;
}

export interface OsmAndReport extends PhoneReport {
	request: OsmAndRequest;
}

export interface PhoneReportsDeps {
	devices: Pick<DeviceCache, "get" | "update">;
	lastSeen: LastSeen;
	/** Stores a device's lastSeenAt (called at most once a minute per device). */
	writeLastSeen(deviceId: string, at: number): Promise<void>;
	/** Stores what a device was sent: the "where are you now?" request it answered, the places version it got. */
	writeSent(deviceId: string, sent: { reportRequestedAt?: number; waypointsVersion?: string }): Promise<void>;
	places: PlacesSource;
	transition: TransitionSink;
	now(): number;
	logger: { debug(...args: unknown[]): void; warn(...args: unknown[]): void };
}

const typeOf = (err: unknown) => (err as { type?: unknown } | null)?.type;
const messageOf = (err: unknown) => (err as Error | null)?.message ?? String(err);

/** A sample as the location service's `addSample`/`startSos` take it (the source comes from `meta.device`). */
function sampleParams({ source: _source, ...sample }: PositionSample): Omit<PositionSample, "source"> {
	return sample;
}

export class PhoneReports {
	constructor(private readonly deps: PhoneReportsDeps) {}

	/**
	 * One OwnTracks HTTP-mode POST: the JSON array to answer with. A location or a transition is
	 * answered with the people and the pending commands; the other types (card, lwt, status,
	 * waypoints…) and an empty body with `[]`, as API.md §6.2 says.
	 */
	async ownTracks(report: OwnTracksReport, call: Call): Promise<OwnTracksOutbound[]> {
		const device = await this.authenticate(report, "owntracks");
		const inbound = parseOwnTracks(report.message);
		switch (inbound.kind) {
			case "invalid":
				throw this.invalid("owntracks", inbound.fields);
			case "encrypted":
				throw unsupported("Encrypted OwnTracks payloads cannot be read here: turn payload encryption off in the app (Settings → Encryption key empty).");
			case "location":
				await this.record(device, inbound.sample, call);
				break;
			case "transition":
				// The crossing of one of the user's places; the coordinates arrive again as a location.
				await this.deps.transition(device.owner.id, inbound, (action, params) => call(action, params, this.meta(device)));
				break;
			case "ignored":
				this.seen(device);
				return [];
		}
		this.seen(device);
		return this.answer(device, call);
	}

	/** One OsmAnd-protocol request (query string, form or Traccar Client JSON); answered with an empty 200. */
	async osmAnd(report: OsmAndReport, call: Call): Promise<void> {
		const device = await this.authenticate(report, "osmand");
		const inbound = parseOsmAnd(report.request, this.deps.now());
		if (inbound.kind === "noDevice") throw badRequest("No device id ('id' or 'deviceid')");
		if (inbound.kind === "invalid") throw this.invalid("osmand", inbound.fields);
		if (inbound.alarm === "sos") await this.raiseSos(device, inbound.sample, call);
		else await this.record(device, inbound.sample, call);
		this.seen(device);
	}

	/** The device whose id and secret these are; 401 for anything else (unknown, removed, wrong secret, other protocol). */
	private async authenticate({ deviceId, secret }: PhoneReport, protocol: DeviceProtocol): Promise<KnownDevice> {
		const refused = () => unauthorized("Unknown or revoked device credentials");
		if (!isDeviceId(deviceId) || !isSecret(secret)) throw refused();
		const device = await this.deps.devices.get(deviceId);
		if (!device || device.protocol !== protocol || !secretMatches(secret, device.secretHash)) throw refused();
		return device;
	}

	/** The message can never be taken as it is: 422 for OwnTracks, 400 for OsmAnd (API.md §6.2). */
	private invalid(protocol: DeviceProtocol, fields: FieldIssue[]): Error {
		const data = fields.map(f => ({ field: f.field, message: f.message, type: "protocol" }));
		return protocol === "owntracks" ? validationError("The OwnTracks message is not valid", data) : badRequest("The OsmAnd request is not valid", data);
	}

	private meta(device: KnownDevice): Meta {
		return { user: device.owner, device: { id: device.id, protocol: device.protocol } };
	}

	/**
	 * A position sample of the owner. Not sharing in any group (INVALID_STATE) is no error for a phone:
	 * the report is taken and applies nowhere, as a browser's sample would. A timestamp in the future
	 * is the location service's 422, refused as the protocol says.
	 */
	private async record(device: KnownDevice, sample: PositionSample, call: Call): Promise<void> {
		try {
			await call("location.addSample", sampleParams(sample), this.meta(device));
		} catch (err) {
			if (typeOf(err) === ErrorTypes.INVALID_STATE) return;
			throw this.refusedSample(device, err);
		}
	}

	/** `alarm=sos`: an SOS at that position; while one is on already, the position is a sample of it. */
	private async raiseSos(device: KnownDevice, sample: PositionSample, call: Call): Promise<void> {
		try {
			await call("location.startSos", sampleParams(sample), this.meta(device));
		} catch (err) {
			// An SOS on already (the app repeats the alarm), or no group to raise it in: a sample then.
			if (typeOf(err) === ErrorTypes.INVALID_STATE) return this.record(device, sample, call);
			throw this.refusedSample(device, err);
		}
	}

	private refusedSample(device: KnownDevice, err: unknown): unknown {
		if (typeOf(err) !== ErrorTypes.VALIDATION_ERROR) return err;
		const data = (err as { data?: unknown }).data;
		return device.protocol === "owntracks" ? err : badRequest(messageOf(err), data);
	}

	/** lastSeenAt, written at most once a minute per device; a failed write is retried with a later report. */
	private seen(device: KnownDevice): void {
		const now = this.deps.now();
		if (!this.deps.lastSeen.seen(device.id, now, device.lastSeenAt)) return;
		this.deps.writeLastSeen(device.id, now).then(
			() => this.deps.devices.update(device.id, held => ({ lastSeenAt: Math.max(held.lastSeenAt ?? 0, now) })),
			(err: unknown) => {
				this.deps.lastSeen.failed(device.id, now);
				this.deps.logger.debug(`Writing lastSeenAt of device ${device.id} failed (the next report retries):`, messageOf(err));
			},
		);
	}

	/**
	 * The people the owner may see now (the owner included), then the device's pending commands. The
	 * people are a courtesy of every answer: when the location service cannot tell them, the report
	 * (already stored) is still acknowledged, and the next answer brings them.
	 */
	private async answer(device: KnownDevice, call: Call): Promise<OwnTracksOutbound[]> {
		const [friends, places] = await Promise.all([
			(call("location.visiblePeople", {}, this.meta(device)) as Promise<AnswerFriend[]>).catch((err: unknown) => {
				this.deps.logger.debug("The people of an OwnTracks answer are missing this time:", messageOf(err));
				return [];
			}),
			this.deps.places(device.owner.id).catch((err: unknown): PlacesOfUser => {
				// Unknown is not "none": the waypoints the phone has stay as they are until the next answer.
				this.deps.logger.debug("The places of an OwnTracks answer are missing this time:", messageOf(err));
				return { version: device.waypointsVersion, places: [] };
			}),
		]);
		const commands = pendingCommands(device, places);
		const answer = ownTracksAnswer({ friends, commands });
		const sent = sentCommands(device, commands, places);
		if (Object.keys(sent).length > 0) {
			// Sent once: a failure to record it only means the command goes again with the next answer.
			await this.deps.writeSent(device.id, sent).then(
				() =>
					this.deps.devices.update(device.id, held => ({
						// A newer request (asked while this answer was made) stays pending.
						...(sent.reportRequestedAt !== undefined && held.reportRequestedAt === sent.reportRequestedAt ? { reportRequestedAt: null } : {}),
						...(sent.waypointsVersion !== undefined ? { waypointsVersion: sent.waypointsVersion } : {}),
					})),
				(err: unknown) => this.deps.logger.warn(`Recording the commands sent to device ${device.id} failed:`, messageOf(err)),
			);
		}
		return answer;
	}
}
