import { Errors } from "moleculer";

/** Stable error `type` codes of API.md §2. Clients branch on these, never on messages. */
export const ErrorTypes = {
	BAD_REQUEST: "BAD_REQUEST",
	UNAUTHORIZED: "UNAUTHORIZED",
	INVALID_CREDENTIALS: "INVALID_CREDENTIALS",
	FORBIDDEN: "FORBIDDEN",
	NOT_FOUND: "NOT_FOUND",
	CONFLICT: "CONFLICT",
	INVALID_STATE: "INVALID_STATE",
	VALIDATION_ERROR: "VALIDATION_ERROR",
	RATE_LIMITED: "RATE_LIMITED",
	/** 422 for a well-formed request PositionPal cannot take (an OwnTracks message encrypted with a key it never sees, API.md §6.2). */
	UNSUPPORTED: "UNSUPPORTED",
	SERVICE_UNAVAILABLE: "SERVICE_UNAVAILABLE",
	INTERNAL_ERROR: "INTERNAL_ERROR",
} as const;
export type ErrorType = (typeof ErrorTypes)[keyof typeof ErrorTypes];

// Plain MoleculerClientError instances with a type code survive NATS serialization;
// custom subclasses would not.
const clientError = (message: string, code: number, type: ErrorType, data?: unknown) => new Errors.MoleculerClientError(message, code, type, data);

export const badRequest = (message: string, data?: unknown) => clientError(message, 400, ErrorTypes.BAD_REQUEST, data);
export const unauthorized = (message = "Authentication required", data?: unknown) => clientError(message, 401, ErrorTypes.UNAUTHORIZED, data);
export const invalidCredentials = () => clientError("Wrong email or password", 401, ErrorTypes.INVALID_CREDENTIALS);
export const forbidden = (message = "Not allowed", data?: unknown) => clientError(message, 403, ErrorTypes.FORBIDDEN, data);
export const notFound = (what: string, data?: unknown) => clientError(`${what} not found`, 404, ErrorTypes.NOT_FOUND, data);
export const conflict = (message: string, data?: unknown) => clientError(message, 409, ErrorTypes.CONFLICT, data);
export const invalidState = (message: string, data?: unknown) => clientError(message, 409, ErrorTypes.INVALID_STATE, data);
export const validationError = (message: string, fields: { field: string; message: string; type?: string }[]) =>
	clientError(message, 422, ErrorTypes.VALIDATION_ERROR, fields);
/** `data.retryAfter` (whole seconds), when given, becomes the response's `Retry-After`. */
export const rateLimited = (message = "Too many requests, try again later", data?: { retryAfter: number }) =>
	clientError(message, 429, ErrorTypes.RATE_LIMITED, data);
export const unsupported = (message: string, data?: unknown) => clientError(message, 422, ErrorTypes.UNSUPPORTED, data);
export const serviceUnavailable = (message = "Service temporarily unavailable", data?: unknown) =>
	new Errors.MoleculerRetryableError(message, 503, ErrorTypes.SERVICE_UNAVAILABLE, data);
