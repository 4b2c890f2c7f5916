import { JourneyModes, type JourneyMode } from "../../events/types.js";
import { rules, strict } from "../../lib/params.js";
import { HistoryFormats, type HistoryFormat } from "./history/export.js";
import type { DestinationParams } from "./places/destination.js";
import { positionDetailRules, type PositionDetails } from "./point.js";
import { Precisions, type Precision } from "./precision.js";
import { SHARE_DURATION_S } from "./sharing/share-links.js";

/**
 * The location actions' params: each validator schema (`$$strict: "remove"`) beside the type its
 * handler reads, so the two are read together and cannot drift. (Places' own are in places/place-rules.ts.)
 */

export const groupParams = { ...strict, groupId: rules.id };
export interface GroupParams {
	groupId: string;
}

export const memberParams = { ...strict, groupId: rules.id, userId: rules.id };
export interface MemberParams {
	groupId: string;
	userId: string;
}

/** A position with the details of API.md §6.3 (accuracy, altitude, speed, heading, battery, charging); `source` is never a client's to say. */
export const sampleParams = () => ({
	...strict,
	latitude: rules.latitude,
	longitude: rules.longitude,
	...positionDetailRules(),
	timestamp: { ...rules.isoDate, optional: true },
});
export interface SampleParams extends PositionDetails {
	latitude: number;
	longitude: number;
	timestamp?: string;
}

/** The destination is `{ name, latitude, longitude }`, or `{ placeId }`: one of the group's places (API.md §6.4), resolved at the start. */
export const journeyParams = {
	...strict,
	groupId: rules.id,
	destination: {
		type: "object",
		strict: "remove",
		props: {
			name: { ...rules.name, optional: true },
			latitude: { ...rules.latitude, optional: true },
			longitude: { ...rules.longitude, optional: true },
			placeId: { ...rules.id, optional: true },
		},
	},
	eta: rules.isoDate,
	mode: { type: "enum", values: [...JourneyModes] },
};
export interface JourneyParams {
	groupId: string;
	destination: DestinationParams;
	eta: string;
	mode: JourneyMode;
}

/** `PATCH /groups/:groupId/journey` (socket `journey:update`): a running journey's new ETA. */
export const journeyUpdateParams = { ...strict, groupId: rules.id, eta: rules.isoDate };
export interface JourneyUpdateParams {
	groupId: string;
	eta: string;
}

/** An OwnTracks transition at one of the caller's places (from the devices service). */
export const transitionParams = { ...strict, placeId: rules.id, event: { type: "enum", values: ["enter", "leave"] } };
export interface TransitionParams {
	placeId: string;
	event: "enter" | "leave";
}

/** Where the SOS is raised, with the same optional details and time as a sample (a phone's alarm carries them). */
export const sosParams = sampleParams;
export type SosParams = SampleParams;

export const shareLinkParams = {
	...strict,
	groupId: rules.id,
	duration: { type: "number", integer: true, min: SHARE_DURATION_S.min, max: SHARE_DURATION_S.max, optional: true },
	untilArrival: { type: "boolean", optional: true },
};
export interface ShareLinkParams {
	groupId: string;
	duration?: number;
	untilArrival?: boolean;
}

export const shareTokenParams = { ...strict, token: { type: "string", min: 1, max: 200 } };
export interface ShareTokenParams {
	token: string;
}

export const precisionParams = { ...strict, groupId: rules.id, precision: { type: "enum", values: [...Precisions] } };
export interface PrecisionParams {
	groupId: string;
	precision: Precision;
}

/** `from`/`to` come in the query string: ISO-8601 instants. */
export const historyParams = {
	...strict,
	from: { ...rules.isoDate, optional: true },
	to: { ...rules.isoDate, optional: true },
	format: { type: "enum", values: [...HistoryFormats], optional: true },
};
export interface HistoryParams {
	from?: string;
	to?: string;
	format?: HistoryFormat;
}
