import type { IncomingMessage } from "node:http";
import { config } from "../../lib/config.js";

/**
 * Where a request came from (the client's address, for limits and logs) and the origin it reached us at (for links handed out).
 * Behind a proxy (TRUST_PROXY=1) only the last X-Forwarded-* entry counts: the one our proxy set; earlier ones could be forged.
 */

/** The last entry of a comma-separated header that may also come as several headers. */
const lastEntry = (header: string | string[] | undefined) => (Array.isArray(header) ? header.join(",") : header)?.split(",").at(-1)?.trim() || undefined;

/** The client's address: behind a proxy the last X-Forwarded-For entry, else the socket's peer. */
export function clientAddress(req: IncomingMessage): string {
	if (config.trustProxy()) {
		const last = lastEntry(req.headers["x-forwarded-for"]);
		if (last) return last;
	}
	return req.socket.remoteAddress ?? "unknown";
}

/**
 * The origin the client reached us at (scheme://host[:port]), for links handed out: behind a proxy
 * the last X-Forwarded-Proto/-Host entries; a Host that is not a plain host name and port is not echoed.
 */
export function requestOrigin(req: IncomingMessage): string | undefined {
	const proxied = config.trustProxy();
	const proto = (proxied && lastEntry(req.headers["x-forwarded-proto"])) || ((req.socket as { encrypted?: boolean }).encrypted ? "https" : "http");
	const host = (proxied && lastEntry(req.headers["x-forwarded-host"])) || req.headers.host;
	if (!host || !/^(?:[\w.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i.test(host) || !/^https?$/.test(proto)) return undefined;
	return `${proto}://${host}`;
}
