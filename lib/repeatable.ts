import { Errors } from "moleculer";

/**
 * Which calls the broker sends again when the instance answering them dies mid-call. Moleculer
 * rejects a call in flight to a node it gives up with RequestRejectedError, but that node may have
 * done the work before it died: repeating an invitation, a chat message or a login on a survivor
 * would do it twice (a "pending invitation" 409, a doubled message). So repeating is opt-in: only
 * actions that give the same result when run twice (reads, an identical resend of a sample) spread
 * `repeatable()` into their definition; every other call answers 503 and the client decides.
 */

/** The broker-wide policy (moleculer.config.ts): off unless an action turns it on. */
export const retryPolicy = {
	enabled: false,
	retries: 2,
	delay: 100,
	maxDelay: 500,
	factor: 2,
	// Timeouts are not repeated: the call may still be running somewhere.
	check: (err: Error) => err instanceof Errors.RequestRejectedError,
};

/**
 * Spread into an action that is safe to run twice: its calls survive the death of their instance.
 * A function: Moleculer drops repeated object references when it publishes action schemas.
 */
export const repeatable = () => ({ retryPolicy: { enabled: true } });
