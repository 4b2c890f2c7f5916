import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";

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
const resolveAll: Resolve = host => lookup(host, { all: true, verbatim: true });

/**
 * Why the server must not send to `endpoint` under the public-only policy, or null when it may:
 * https only, and every address its host resolves to is public (one private answer is enough
 * to refuse: a resolver may hand out either).
 */
export async function endpointHostProblem(endpoint: string, resolve: Resolve = resolveAll): Promise<string | null> {
	let url: URL;
	try {
		url = new URL(endpoint);
	} catch {
		return "must be an https URL";
	}
	if (url.protocol !== "https:") return "must be an https URL";
	const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
	let addresses: string[];
	if (isIP(host)) addresses = [host];
	else {
		try {
			addresses = (await resolve(host)).map(answer => answer.address);
		} catch {
			return "must name a host that resolves";
		}
	}
	if (!addresses.length) return "must name a host that resolves";
	if (!addresses.every(isPublicAddress)) return "must be a public internet address (loopback, private and link-local addresses are refused)";
	return null;
}
