/**
 * Readiness for the orchestrator (`GET /health`): the broker's NATS connection and each listed service's own `health` action.
 * Each part that fails is named with why, so an operator reads the cause from the 503 alone.
 */

/** How long a service has to answer its `health` call. */
export const HEALTH_TIMEOUT_MS = 2_000;

export type Readiness = { status: "ok" } | { status: "unavailable"; failing: Record<string, string> };

/** Why a service's `health` call failed, by the error's name. */
export function unhealthyReason(err: unknown): string {
	const errorName = (err as Error).name;
	if (["ServiceNotFoundError", "ServiceNotAvailableError"].includes(errorName)) return "not running";
	return errorName === "RequestTimeoutError" ? "no answer within 2 s" : "database unavailable";
}

/** Asks every service at once; `ask` is the service's `health` call (answering `{ status: "discovering" }` while it has not seen this gateway yet). */
export async function readiness(natsConnected: boolean, services: string[], ask: (service: string) => Promise<unknown>): Promise<Readiness> {
	const failing: Record<string, string> = {};
	if (!natsConnected) failing.nats = "disconnected";
	await Promise.all(
		services.map(async name => {
			try {
				const answer = (await ask(name)) as { status?: string } | undefined;
				if (answer?.status === "discovering") failing[name] = "discovering this gateway";
			} catch (err) {
				failing[name] = unhealthyReason(err);
			}
		}),
	);
	return Object.keys(failing).length === 0 ? { status: "ok" } : { status: "unavailable", failing };
}
