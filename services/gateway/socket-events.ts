import { badRequest } from "../../events/errors.js";
import { payloadProblem } from "./body.js";

/**
 * Client → server Socket.IO events of API.md §4: the action each one calls and the key under
 * which the acknowledgement carries the result.
 */
export interface SocketCommand {
	action: string;
	/** `session`/`message`: the action's result goes under that key; `spread`: its fields are spread into the ack. */
	result: "session" | "message" | "spread";
}

export const SocketCommands: Record<string, SocketCommand> = {
	"sharing:start": { action: "location.startSharing", result: "session" },
	"sharing:stop": { action: "location.stopSharing", result: "session" },
	"location:sample": { action: "location.addSample", result: "spread" },
	"journey:start": { action: "location.startJourney", result: "session" },
	"journey:update": { action: "location.updateJourney", result: "session" },
	"journey:stop": { action: "location.stopJourney", result: "session" },
	"sos:start": { action: "location.startSos", result: "spread" },
	"sos:stop": { action: "location.stopSos", result: "spread" },
	"chat:send": { action: "chat.send", result: "message" },
};

export function ackResult(command: SocketCommand, result: unknown): Record<string, unknown> {
	if (command.result === "spread") return { ok: true, ...(result as Record<string, unknown>) };
	return { ok: true, [command.result]: result };
}

/**
 * Payloads must be plain objects; anything else is validated as an empty object (and refused).
 * A payload nested deeper than any command needs is refused outright (passing it on would
 * overflow the stack while the broker serializes the call), and so is a non-finite number.
 */
export function asParams(payload: unknown): Record<string, unknown> {
	if (payload === null || typeof payload !== "object" || Array.isArray(payload)) return {};
	const problem = payloadProblem(payload);
	if (problem) throw badRequest(problem);
	return { ...(payload as Record<string, unknown>) };
}
