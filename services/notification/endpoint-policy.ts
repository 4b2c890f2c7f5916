import { lookup } from "node:dns/promises";
import { BlockList, isIP, type LookupFunction } from "node:net";

/**
 * Push endpoints are URLs a user hands us and the server then POSTs to: without a check, anyone
 * could make the server call its own loopback, the cluster's private network or a cloud metadata
 * address (SSRF). In production an endpoint must resolve only to public addresses, checked when
 * it is registered and again before every send (a name may be re-pointed after registration).
 */

const notPublic = new BlockList();
for (const [net, prefix] of [
	["0.0.0.0", 8], // "this" network
	["10.0.0.0", 8],
	["100.64.0.0", 10], // carrier-grade NAT
	["127.0.0.0", 8],
	["169.254.0.0", 16], // link-local, cloud metadata
	["172.16.0.0", 12],
	["192.0.0.0", 24],
	["192.0.2.0", 24], // documentation
	["192.168.0.0", 16],
	["198.18.0.0", 15], // benchmarking
	["198.51.100.0", 24],
	["203.0.113.0", 24],
	["224.0.0.0", 4], // multicast
	["240.0.0.0", 4], // reserved, broadcast
] as const)
	notPublic.addSubnet(net, prefix, "ipv4");
for (const [net, prefix] of [
	["::", 128],
	["::1", 128],
	["64:ff9b::", 96], // NAT64 of any IPv4, private ones included
	["100::", 64], // discard
	["2001:db8::", 32], // documentation
	["fc00::", 7], // unique local
	["fe80::", 10], // link-local
	["ff00::", 8], // multicast
] as const)
	notPublic.addSubnet(net, prefix, "ipv6");

/** Whether an IP address is reachable on the public internet (an IPv4-mapped IPv6 address counts as its IPv4). */
export function isPublicAddress(address: string): boolean {
	const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
	if (mapped) return isPublicAddress(mapped[1]!);
	const family = isIP(address);
	if (family === 0) return false;
	return !notPublic.check(address, family === 4 ? "ipv4" : "ipv6");
}

export type Resolve = (host: string) => Promise<{ address: string }[]>;
/** The system resolver (getaddrinfo, as a connection would use it), every answer. */
export const resolveAll: Resolve = host => lookup(host, { all: true, verbatim: true });

/** Why an endpoint is refused: not https, a host that does not resolve (may be passing), or an address that is not public. */
export type EndpointVerdict = { ok: true } | { ok: false; reason: "scheme" | "unresolvable" | "private"; message: string };

/**
 * Whether the server may send to `endpoint` under the public-only policy: https only, and every
 * address its host resolves to is public (one private answer is enough to refuse: a resolver may
 * hand out either).
 */
export async function checkEndpoint(endpoint: string, resolve: Resolve = resolveAll): Promise<EndpointVerdict> {
	let url: URL;
	try {
		url = new URL(endpoint);
	} catch {
		return { ok: false, reason: "scheme", message: "must be an https URL" };
	}
	if (url.protocol !== "https:") return { ok: false, reason: "scheme", message: "must be an https URL" };
	const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
	let addresses: string[];
	if (isIP(host)) addresses = [host];
	else {
		try {
			addresses = (await resolve(host)).map(answer => answer.address);
		} catch {
			return { ok: false, reason: "unresolvable", message: "must name a host that resolves" };
		}
	}
	if (!addresses.length) return { ok: false, reason: "unresolvable", message: "must name a host that resolves" };
	if (!addresses.every(isPublicAddress))
		return { ok: false, reason: "private", message: "must be a public internet address (loopback, private and link-local addresses are refused)" };
	return { ok: true };
}

/** Why the server must not send to `endpoint` under the public-only policy, or null when it may. */
export async function endpointHostProblem(endpoint: string, resolve: Resolve = resolveAll): Promise<string | null> {
	const verdict = await checkEndpoint(endpoint, resolve);
	return verdict.ok ? null : verdict.message;
}

/** The `code` of the error a connection gets when its host resolves to an address that is not public. */
export const NOT_PUBLIC = "ENOTPUBLIC";

/**
 * A `lookup` for http(s).request that hands the connection public addresses only. The check made
 * before a send and the connection resolve the name separately, so a name re-pointed in between
 * (DNS rebinding) would slip past the first; with this the address connected to is the one checked.
 */
export function publicOnlyLookup(resolve: Resolve = resolveAll): LookupFunction {
	return (hostname, options, callback) => {
		const fail = (err: NodeJS.ErrnoException) => callback(err, options.all ? [] : "", 0);
		resolve(hostname).then(
			answers => {
				const wanted = options.family === 4 || options.family === 6 ? options.family : 0;
				const found = answers.map(answer => ({ address: answer.address, family: isIP(answer.address) })).filter(a => !wanted || a.family === wanted);
				if (!found.length) return fail(Object.assign(new Error(`${hostname} does not resolve`), { code: "ENOTFOUND" }));
				if (!found.every(a => isPublicAddress(a.address)))
					return fail(Object.assign(new Error(`${hostname} resolves to an address that is not public`), { code: NOT_PUBLIC }));
				if (options.all) callback(null, found);
				else callback(null, found[0]!.address, found[0]!.family);
			},
			(err: NodeJS.ErrnoException) => fail(err),
		);
	};
}
