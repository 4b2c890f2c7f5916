import type { GroupProjectionDoc } from "../../mixins/membership.mixin.js";
import { Membership } from "./membership.js";
import { noticeEnvelopes } from "./notice-envelopes.js";
import { PeriodicCheck } from "./periodic-check.js";
import type { Precision } from "./precision.js";
import type { SessionRepository } from "./session-repository.js";
import { SessionStore, type SessionStoreDeps } from "./session-store.js";
import { Sos } from "./sos.js";

/**
 * The location service's parts, wired together: the session store over its repository, the SOS
 * orchestration, the membership rules and the periodic check. Everything outside (the database, the
 * broker, the membership projection) comes in as functions, so the whole is testable without either.
 */

export interface TrackingDeps extends Pick<SessionStoreDeps, "now" | "thresholds" | "publish" | "kickOutbox" | "groupIdsOf" | "places" | "logger" | "journal"> {
	repository: SessionRepository;
	/** The group as this service's membership projection has it (names for the texts, members for samples). */
	loadGroup: (groupId: string) => Promise<GroupProjectionDoc | null>;
	/** How precisely a member shares in a group (approximate: no place crossings announced). */
	precisionOf: (groupId: string, userId: string) => Precision;
}

export interface Tracking {
	store: SessionStore;
	sos: Sos;
	membership: Membership;
	checks: PeriodicCheck;
}

export function createTracking({ repository, loadGroup, precisionOf, ...deps }: TrackingDeps): Tracking {
	const store = new SessionStore({ ...deps, repository, noticeEnvelopes: noticeEnvelopes(loadGroup, deps.thresholds, precisionOf) });
	const sos = new Sos(store, repository, deps.thresholds);
	const membership = new Membership({ store, repository, sos, loadGroup, stats: store.stats });
	const checks = new PeriodicCheck(store, repository, deps.logger);
	return { store, sos, membership, checks };
}
