/**
 * Which location instances run, and what follows when that set changes: users move to another owner
 * (consistent hashing), so alerts wait a grace period after one went and its journaled samples are handed over.
 */

/** After a location instance went away, how long alerts wait for its users to reach their new owner (see PeriodicCheck.holdUntil). */
export const HANDOVER_GRACE_MS = 5_000;

/** The instances running `service` now (each once), from the registry's list of available services. */
export function runningNodes(services: readonly { name: string; nodeID: string }[], service: string): string[] {
	return [...new Set(services.filter(entry => entry.name === service).map(entry => entry.nodeID))];
}

export interface OwnershipDeps {
	/** The location instances running now. */
	running(): string[];
	/** Holds the periodic check's alerts until then. */
	holdAlerts(until: number): void;
	/** The sessions' owner set changed to this key (see SessionStore.ownersSeen). */
	ownersSeen(key: string): Promise<void>;
	/** The samples journaled by instances not in `liveNodes`, handed to their users' new owners (hand-over-replay.ts). */
	handOver(liveNodes: string[]): Promise<void>;
	now: () => number;
}

/** Remembers the instances last seen; `check` runs at start and on every change of services. */
export class Ownership {
	private seen?: string[];

	constructor(private readonly deps: OwnershipDeps) {}

	async check(): Promise<void> {
		const nodes = this.deps.running();
		// One went away: its users' alerts wait until they had time to reach their new owner.
		if (this.seen?.some(node => !nodes.includes(node))) this.deps.holdAlerts(this.deps.now() + HANDOVER_GRACE_MS);
		this.seen = nodes;
		await this.deps.ownersSeen(nodes.sort().join(","));
		await this.deps.handOver(nodes);
	}
}
