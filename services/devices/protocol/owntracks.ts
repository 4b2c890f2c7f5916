/**
 * OwnTracks HTTP mode (API.md §6.2) as pure translation: one POSTed message → what it means for PositionPal,
 * and PositionPal's people, places and pending commands → the JSON array the app reads from the answer.
 * No I/O: the route authenticates, the devices service decides; this only speaks the protocol.
 *
 * Message shapes: owntracks/booklet docs/tech/json.md and docs/tech/http.md, the iOS app's schema
 * (owntracks/ios OwnTracks/OwnTracks/message.json) and the Android models
 * (owntracks/android project/app/src/main/java/org/owntracks/android/model/messages/*.kt).
 */
import { fullName } from "../../../lib/names.js";
import { assignTids } from "./tids.js";
import type { FieldIssue, Invalid, PositionSample } from "./types.js";
import {
	ACCURACY_M,
	ALTITUDE_M,
	BATTERY_PCT,
	HEADING_DEG,
	LATITUDE,
	LONGITUDE,
	checkNumber,
	epochMsToIso,
	isRecord,
	isNoFix,
	noFix,
	normalHeading,
	own,
	round2,
	sampleOf,
	type Range,
} from "./values.js";

// ─── Inbound: what the phone POSTed ─────────────────────────────────────────────────────────────────────

/** Types the apps publish that carry no position for us: acknowledged with 200 [] and dropped (§6.2). */
const IGNORED_TYPES = new Set(["beacon", "card", "cmd", "configuration", "lwt", "request", "status", "steps", "waypoint", "waypoints"]);

export type OwnTracksIgnoredType =
	"empty" | "unknown" | "beacon" | "card" | "cmd" | "configuration" | "lwt" | "request" | "status" | "steps" | "waypoint" | "waypoints" | "transition";

/** An app-detected region crossing; `sample` when the message carried coordinates (they are optional). */
export interface OwnTracksTransition {
	kind: "transition";
	placeId: string;
	event: "enter" | "leave";
	timestamp: string;
	sample?: PositionSample;
}

export type OwnTracksInbound =
	| { kind: "location"; sample: PositionSample }
	| OwnTracksTransition
	| { kind: "ignored"; type: OwnTracksIgnoredType }
	/** The app encrypts with a key we never see: answer 422 UNSUPPORTED, never a silent 200 that loses the data. */
	| { kind: "encrypted" }
	| Invalid;

/** Velocity is reported in km/h (booklet json.md, `vel`); 0–1000 m/s as km/h. */
const VELOCITY_KMH: Range = { min: 0, max: 3_600, negativeIsUnknown: true };
/** Region ids are ours (place ids) or the app's own random ids; anything longer is not an id. */
const MAX_RID_LENGTH = 128;

/** Translates one OwnTracks HTTP-mode body (already JSON-parsed; `undefined`/`null`/"" when empty). Never throws. */
export function parseOwnTracks(body: unknown): OwnTracksInbound {
	if (body === undefined || body === null || body === "") return { kind: "ignored", type: "empty" };
	if (!isRecord(body)) return invalid({ field: "body", message: "The body must be one JSON object." });
	if (Object.keys(body).length === 0) return { kind: "ignored", type: "empty" };
	const type = own(body, "_type");
	if (typeof type !== "string") return invalid({ field: "_type", message: "'_type' must be a string naming the message type." });
	switch (type) {
		case "location":
			return parseLocation(body);
		case "transition":
			return parseTransition(body);
		case "encrypted":
			return { kind: "encrypted" };
		default:
			return { kind: "ignored", type: IGNORED_TYPES.has(type) ? (type as OwnTracksIgnoredType) : "unknown" };
	}
}

function invalid(...fields: FieldIssue[]): Invalid {
	return { kind: "invalid", fields };
}

/** `tst`: epoch seconds of the fix, required; Android treats 0 as "no time" (MessageLocation.isValidMessage). */
function readTst(issues: FieldIssue[], body: Record<string, unknown>): string | undefined {
	const tst = own(body, "tst");
	if (tst === undefined || tst === null) {
		issues.push({ field: "tst", message: "'tst' is required." });
		return undefined;
	}
	if (typeof tst !== "number" || !Number.isFinite(tst) || tst <= 0) {
		issues.push({ field: "tst", message: "'tst' must be a positive number of seconds since 1970." });
		return undefined;
	}
	return epochMsToIso(issues, "tst", tst * 1000);
}

/**
 * `bs`: 0 unknown, 1 unplugged, 2 charging, 3 full (booklet json.md; iOS message.json enum). A full
 * battery is still on the charger, so 3 counts as charging.
 */
function readBatteryStatus(issues: FieldIssue[], body: Record<string, unknown>): boolean | undefined {
	const bs = own(body, "bs");
	if (bs === undefined || bs === null || bs === 0) return undefined;
	if (bs === 1) return false;
	if (bs === 2 || bs === 3) return true;
	issues.push({ field: "bs", message: "'bs' must be 0, 1, 2 or 3." });
	return undefined;
}

function parseLocation(body: Record<string, unknown>): OwnTracksInbound {
	const issues: FieldIssue[] = [];
	const latitude = checkNumber(issues, "lat", own(body, "lat"), LATITUDE, true);
	const longitude = checkNumber(issues, "lon", own(body, "lon"), LONGITUDE, true);
	const timestamp = readTst(issues, body);
	const accuracy = checkNumber(issues, "acc", own(body, "acc"), ACCURACY_M);
	const altitude = checkNumber(issues, "alt", own(body, "alt"), ALTITUDE_M);
	const velocity = checkNumber(issues, "vel", own(body, "vel"), VELOCITY_KMH);
	const course = checkNumber(issues, "cog", own(body, "cog"), HEADING_DEG);
	const battery = checkNumber(issues, "batt", own(body, "batt"), BATTERY_PCT);
	const charging = readBatteryStatus(issues, body);
	if (isNoFix(latitude, longitude)) issues.push(noFix("lat"));
	if (issues.length > 0 || latitude === undefined || longitude === undefined || timestamp === undefined) return invalid(...issues);
	return {
		kind: "location",
		sample: sampleOf(
			{
				latitude,
				longitude,
				timestamp,
				accuracy,
				altitude,
				speed: velocity === undefined ? undefined : round2(velocity / 3.6),
				heading: course === undefined ? undefined : normalHeading(course),
				battery,
				charging,
			},
			"owntracks",
		),
	};
}

/**
 * A transition names its region by `rid` (booklet json.md: iOS and Android since 2021). Without one there is
 * no place of ours to match (an older app, or a region made on the phone): acknowledged and dropped.
 * `lat`/`lon` are optional in the booklet, so the sample is too; `tst`, `event` and a usable `rid` are not.
 */
function parseTransition(body: Record<string, unknown>): OwnTracksInbound {
	const rid = own(body, "rid");
	if (rid === undefined || rid === null) return { kind: "ignored", type: "transition" };
	const issues: FieldIssue[] = [];
	if (typeof rid !== "string" || rid.length === 0 || rid.length > MAX_RID_LENGTH) {
		issues.push({ field: "rid", message: `'rid' must be a region id of 1 to ${MAX_RID_LENGTH} characters.` });
	}
	const event = own(body, "event");
	if (event !== "enter" && event !== "leave") issues.push({ field: "event", message: "'event' must be 'enter' or 'leave'." });
	const timestamp = readTst(issues, body);
	const hasPosition = own(body, "lat") != null || own(body, "lon") != null;
	const latitude = hasPosition ? checkNumber(issues, "lat", own(body, "lat"), LATITUDE, true) : undefined;
	const longitude = hasPosition ? checkNumber(issues, "lon", own(body, "lon"), LONGITUDE, true) : undefined;
	const accuracy = checkNumber(issues, "acc", own(body, "acc"), ACCURACY_M);
	if (isNoFix(latitude, longitude)) issues.push(noFix("lat"));
	if (issues.length > 0 || timestamp === undefined) return invalid(...issues);
	const transition: OwnTracksTransition = { kind: "transition", placeId: rid as string, event: event as "enter" | "leave", timestamp };
	if (latitude !== undefined && longitude !== undefined) {
		transition.sample = sampleOf({ latitude, longitude, timestamp, accuracy }, "owntracks");
	}
	return transition;
}

// ─── Outbound: the answer array ──────────────────────────────────────────────────────────────────────────

/** A position as PositionPal shows it (Point of API.md §6.3); only the fields the answer uses are read. */
export interface AnswerPosition {
	latitude: number;
	longitude: number;
	timestamp: string;
	accuracy?: number;
	speed?: number;
	battery?: number;
}

/** A person the device's user may see now (the user included). */
export interface AnswerFriend {
	userId: string;
	name: string;
	surname: string;
	position: AnswerPosition;
}

export interface AnswerPlace {
	id: string;
	name: string;
	latitude: number;
	longitude: number;
	/** Metres. */
	radius: number;
	createdAt: string | Date;
}

export interface AnswerCommands {
	/** Someone asked where this user is (§6.3): the app publishes a fresh location (`t: "r"`). */
	reportLocation?: boolean;
	/** The user's places, when they changed since this device last got them; `[]` is a valid (empty) list. */
	places?: readonly AnswerPlace[];
}

export interface OwnTracksCard {
	_type: "card";
	tid: string;
	name: string;
}

export interface OwnTracksLocation {
	_type: "location";
	tid: string;
	lat: number;
	lon: number;
	tst: number;
	acc?: number;
	batt?: number;
	vel?: number;
	topic: string;
}

export interface OwnTracksWaypoint {
	_type: "waypoint";
	desc: string;
	lat: number;
	lon: number;
	rad: number;
	tst: number;
	rid: string;
}

export type OwnTracksCommand =
	{ _type: "cmd"; action: "reportLocation" } | { _type: "cmd"; action: "setWaypoints"; waypoints: { _type: "waypoints"; waypoints: OwnTracksWaypoint[] } };

export type OwnTracksOutbound = OwnTracksCard | OwnTracksLocation | OwnTracksCommand;

const seconds = (at: string | Date): number => Math.floor((typeof at === "string" ? Date.parse(at) : at.getTime()) / 1000);

/**
 * The answer to a POST: a card and a location per person, then the commands (API.md §6.2).
 *
 * How the apps read it (booklet docs/tech/http.md; owntracks/ios Connection.m `sendHTTP:`/`oneMessage:`):
 * every element is handled as if it had arrived over MQTT on `owntracks/http/<tid>` — the tid, not our
 * `topic`, ties a card's name to a location's marker, so each person's card and location share one tid.
 * `topic` (`owntracks/<userId>/<tid>`, the form the OwnTracks Recorder answers with) is kept because the
 * contract names it and tools that log answers use it; neither app needs it to show a friend. Cards carry no
 * `face`: iOS's schema lists it as required, but its Validation only logs a mismatch and still applies
 * the message. `tst`, `acc`, `batt` and `vel` are integers in the iOS schema, so they are rounded here.
 * Commands go to the device itself (iOS files `cmd` under its own topic); `setWaypoints` carries the
 * `waypoints` object iOS's `performSetWaypoints:` and Android's MessageCmd read.
 */
export function ownTracksAnswer({ friends, commands = {} }: { friends: readonly AnswerFriend[]; commands?: AnswerCommands }): OwnTracksOutbound[] {
	const shown = friends.filter(f => hasUsablePosition(f.position));
	const tids = assignTids(shown);
	const answer: OwnTracksOutbound[] = [];
	const done = new Set<string>();
	for (const friend of shown) {
		if (done.has(friend.userId)) continue;
		done.add(friend.userId);
		const tid = tids.get(friend.userId)!;
		answer.push({ _type: "card", tid, name: fullName(friend, tid) });
		answer.push(locationOf(friend, tid));
	}
	if (commands.reportLocation) answer.push({ _type: "cmd", action: "reportLocation" });
	if (commands.places) {
		answer.push({ _type: "cmd", action: "setWaypoints", waypoints: { _type: "waypoints", waypoints: waypointsOf(commands.places) } });
	}
	return answer;
}

/** A person whose stored position cannot be written as an OwnTracks location is left out rather than sent as 0,0. */
function hasUsablePosition(position: AnswerPosition | null | undefined): boolean {
	return !!position && Number.isFinite(position.latitude) && Number.isFinite(position.longitude) && Number.isFinite(Date.parse(position.timestamp));
}

const finite = (value: number | undefined): value is number => typeof value === "number" && Number.isFinite(value);

function locationOf(friend: AnswerFriend, tid: string): OwnTracksLocation {
	const { latitude, longitude, timestamp, accuracy, battery, speed } = friend.position;
	const location: OwnTracksLocation = {
		_type: "location",
		tid,
		lat: latitude,
		lon: longitude,
		tst: seconds(timestamp),
		topic: `owntracks/${friend.userId}/${tid}`,
	};
	if (finite(accuracy)) location.acc = Math.round(accuracy);
	if (finite(battery)) location.batt = Math.round(battery);
	if (finite(speed)) location.vel = Math.round(speed * 3.6);
	return location;
}

/**
 * Places as OwnTracks waypoints, `rid` = place id so a transition names the place back (booklet json.md,
 * `_type=waypoint`). Android keys waypoints by `tst` (its WaypointsRepo looks them up by tst) and older iOS
 * versions did too (booklet features/remoteconfig.md), so two places created in the same second would
 * overwrite each other on the phone: the tsts are made distinct, oldest first, by moving a clash one
 * second on. The same places always give the same tsts; a place listed twice is one waypoint.
 */
function waypointsOf(places: readonly AnswerPlace[]): OwnTracksWaypoint[] {
	const unique = [...new Map(places.map(p => [p.id, p])).values()];
	const ordered = unique.sort((a, b) => seconds(a.createdAt) - seconds(b.createdAt) || (a.id < b.id ? -1 : 1));
	let last = -Infinity;
	return ordered.map(place => {
		const tst = Math.max(seconds(place.createdAt), last + 1);
		last = tst;
		return { _type: "waypoint", desc: place.name, lat: place.latitude, lon: place.longitude, rad: Math.round(place.radius), tst, rid: place.id };
	});
}

// ─── Onboarding: the remote configuration link ───────────────────────────────────────────────────────────

export interface OwnTracksCredentials {
	/** The full `POST /api/owntracks` URL the app should use. */
	url: string;
	username: string;
	password: string;
	deviceId: string;
	tid: string;
}

/**
 * The `.otrc` configuration the link carries (booklet docs/tech/json.md `_type=configuration`,
 * docs/features/remoteconfig.md). Beyond the contract's keys:
 * - `monitoring: 1` (significant changes): the phone reports when it moves a few hundred metres, which
 *   is what "text me when you get home" needs and what keeps the battery alive all day; move mode (2)
 *   reports continuously and is the user's choice in the app, not ours to impose.
 * - `cmd: true`: act on commands in our answers at all (Android MessageProcessor drops `cmd` otherwise).
 * - `allowRemoteLocation: true`: answer `reportLocation` ("where are you now?", §6.3).
 * - `remoteConfiguration: true`: an iOS version in the index applies `setWaypoints` only when remote
 *   configuration is allowed (OwnTracksAppDelegate.m checks allowremoteconfiguration_preference first);
 *   without it our places would never reach iPhones. The server that sets it already holds the device's
 *   password and decides everything the device shows.
 */
export function ownTracksConfiguration(credentials: OwnTracksCredentials): Record<string, unknown> {
	return {
		_type: "configuration",
		mode: 3,
		url: credentials.url,
		auth: true,
		username: credentials.username,
		password: credentials.password,
		deviceId: credentials.deviceId,
		tid: credentials.tid,
		monitoring: 1,
		cmd: true,
		allowRemoteLocation: true,
		remoteConfiguration: true,
	};
}

/**
 * `owntracks:///config?inline=<base64>`: standard base64 with padding (iOS decodes with
 * `-[NSData initWithBase64EncodedString:options:0]`, which rejects the URL-safe alphabet; Android's
 * commons-codec reads both), percent-encoded so that `+`, `/` and `=` survive the query-string parsers
 * (iOS NSURLComponents.queryItems and Android's URIBuilder decode percent escapes).
 * Sources: owntracks/ios OwnTracks/OwnTracks/OwnTracksAppDelegate.m (`application:openURL:options:`),
 * owntracks/android .../ui/preferences/load/LoadViewModel.kt (`extractPreferencesFromUri`).
 */
export function ownTracksConfigUrl(credentials: OwnTracksCredentials): string {
	const json = JSON.stringify(ownTracksConfiguration(credentials));
	return `owntracks:///config?inline=${encodeURIComponent(Buffer.from(json, "utf8").toString("base64"))}`;
}
