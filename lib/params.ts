import type { Context } from "moleculer";
import { unauthorized } from "../events/errors.js";
import type { Meta, User } from "../events/types.js";

/**
 * Reusable parameter rules for the broker's validator (fastest-validator). Each access returns a
 * fresh object: Moleculer drops repeated object references when it publishes action schemas to
 * other nodes, which would hide a shared rule from the API documentation.
 */
const ruleDefinitions = {
	id: () => ({ type: "string", min: 1, max: 64, trim: true }) as const,
	name: () => ({ type: "string", min: 1, max: 100, trim: true }) as const,
	email: () => ({ type: "email", mode: "precise", max: 254, normalize: true }) as const,
	password: () => ({ type: "string", min: 8, max: 1024 }) as const,
	latitude: () => ({ type: "number", min: -90, max: 90, finite: true }) as const,
	longitude: () => ({ type: "number", min: -180, max: 180, finite: true }) as const,
	isoDate: () => ({ type: "string", max: 40, pattern: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/ }) as const,
};
type Rules = { readonly [K in keyof typeof ruleDefinitions]: ReturnType<(typeof ruleDefinitions)[K]> };
export const rules = Object.defineProperties(
	{},
	Object.fromEntries(Object.entries(ruleDefinitions).map(([key, make]) => [key, { get: make, enumerable: true }])),
) as Rules;

/**
 * Tracing options for an action whose params carry a password or a token. A span records the
 * action's params by default, and spans are logged at LOG_LEVEL=debug and shipped to Zipkin or
 * Jaeger with TRACING_EXPORTER: such an action records only the listed harmless fields.
 */
export const traceOnly = (...fields: string[]) => ({ tags: { params: fields.length ? fields : false } });

/** Unknown fields are dropped, so nothing a client invents reaches a handler or a database. */
export const strict = { $$strict: "remove" } as const;

/** The authenticated caller, set by the gateway; actions that need one refuse anonymous calls. */
export function callerOf(ctx: Context<unknown, Meta>): User {
	const user = ctx.meta.user;
	if (!user?.id) throw unauthorized();
	return user;
}
