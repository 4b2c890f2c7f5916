/**
 * The devices service's actions for the gateway's phone routes (API.md §6.2): an OwnTracks or OsmAnd report,
 * run on the instance that owns the device, and the count of failed device logins per client address.
 */
import type { Context } from "moleculer";
import type { AttemptVerdict } from "../../lib/attempt-limits.js";
import { strict, traceOnly } from "../../lib/params.js";
import type { Meta } from "../../events/types.js";
import { OWNED_BY_DEVICE } from "./device-cache.js";
import type { OsmAndReport, OwnTracksReport } from "./phone-reports.js";
import type { OwnTracksOutbound } from "./protocol/owntracks.js";
import type { DevicesActions } from "./service-types.js";

/** What the gateway passes on of a phone's request: the device's id and secret from its credentials, and the message. */
const reportRule = () => ({ deviceId: { type: "string", min: 1, max: 64 }, secret: { type: "string", min: 1, max: 1024 } });
const ownTracksParams = { ...strict, ...reportRule(), message: { type: "any", optional: true } };
type OwnTracksParams = OwnTracksReport;
const osmAndParams = {
	...strict,
	...reportRule(),
	request: {
		type: "object",
		strict: "remove",
		props: { query: { type: "any", optional: true }, form: { type: "any", optional: true }, json: { type: "any", optional: true } },
	},
};
type OsmAndParams = OsmAndReport;

/** Failed device logins per client address, counted for the gateways (gateway/device-auth-limit.ts). */
const failedLoginParams = {
	...strict,
	address: { type: "string", min: 1, max: 200 },
	limit: { type: "number", integer: true, min: 1 },
	windowMs: { type: "number", integer: true, min: 1, max: 86_400_000 },
};
interface FailedLoginParams {
	address: string;
	limit: number;
	windowMs: number;
}

export const reportActions: DevicesActions = {
	/**
	 * Counts a failed device login from a client address, for the gateways' DEVICE_AUTH_RATE_LIMIT: here,
	 * in the database that holds the credentials, so the count holds across gateways and restarts.
	 */
	failedLogin: {
		visibility: "public",
		params: failedLoginParams,
		handler(ctx: Context<FailedLoginParams>): Promise<AttemptVerdict> {
			return this.failedLogins.count(ctx.params.address, ctx.params.limit, ctx.params.windowMs);
		},
	},

	/** One OwnTracks HTTP-mode POST, from the gateway: the answer array (API.md §6.2). */
	ownTracks: {
		...OWNED_BY_DEVICE("deviceId"),
		visibility: "public",
		tracing: traceOnly("deviceId"),
		params: ownTracksParams,
		handler(ctx: Context<OwnTracksParams, Meta>): Promise<OwnTracksOutbound[]> {
			const { deviceId, secret, message } = ctx.params;
			return this.reports.ownTracks({ deviceId, secret, message }, this.callAs(ctx));
		},
	},

	/** One OsmAnd-protocol request, from the gateway (API.md §6.2). */
	osmAnd: {
		...OWNED_BY_DEVICE("deviceId"),
		visibility: "public",
		tracing: traceOnly("deviceId"),
		params: osmAndParams,
		async handler(ctx: Context<OsmAndParams, Meta>): Promise<null> {
			const { deviceId, secret, request } = ctx.params;
			await this.reports.osmAnd({ deviceId, secret, request }, this.callAs(ctx));
			return null;
		},
	},
};
