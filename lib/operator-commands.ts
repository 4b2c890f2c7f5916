import type { ServiceBroker } from "moleculer";

/**
 * The operators' daily questions, as REPL commands (`npm run repl`) that also run
 * non-interactively (`npm run repl -- user ada@example.com`). Each returns plain data; the REPL
 * prints it.
 */

export interface OperatorCommand {
	command: string;
	description: string;
	/** Services the command asks (waited for before it runs non-interactively); users when unset. */
	needs?: string[];
	run(broker: ServiceBroker, args: string[]): Promise<unknown>;
}

/** Node ids currently running a service (each instance answers for itself). */
function nodesRunning(broker: ServiceBroker, service: string): string[] {
	const services = broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true }) as { name: string; nodeID: string }[];
	return [...new Set(services.filter(s => s.name === service).map(s => s.nodeID))];
}

function required(args: string[], name: string): string {
	const value = args[0];
	if (!value) throw new Error(`missing <${name}>`);
	return value;
}

/** A user named by email (looked up) or by id. */
async function userOf(broker: ServiceBroker, who: string): Promise<{ userId: string; email?: string }> {
	if (!who.includes("@")) return { userId: who };
	const user = (await broker.call("users.findByEmail", { email: who })) as { id: string; email: string };
	return { userId: user.id, email: user.email };
}

export const operatorCommands: OperatorCommand[] = [
	{
		command: "user <email>",
		description: "A user by email, with their groups",
		run: (broker, args) => broker.call("users.findByEmail", { email: required(args, "email") }),
	},
	{
		command: "group <groupId>",
		description: "A group with its members and their live states",
		async run(broker, args) {
			const groupId = required(args, "groupId");
			const group = (await broker.call("users.inspectGroup", { groupId })) as { members: { id: string; name: string; surname: string }[] };
			let states: { userId: string; state: string; updatedAt?: string; position?: unknown }[] = [];
			try {
				states = (await broker.call("location.groupStates", { groupId })) as typeof states;
			} catch {
				/* location not running: show the members without states */
			}
			return {
				...group,
				members: group.members.map(member => {
					const session = states.find(s => s.userId === member.id);
					return { ...member, state: session?.state ?? "unknown", updatedAt: session?.updatedAt ?? null, position: session?.position ?? null };
				}),
			};
		},
	},
	{
		command: "places <groupId>",
		description: "A group's places (name, centre, radius, creator) and which members are inside each now",
		needs: ["location"],
		run: (broker, args) => broker.call("location.groupPlaces", { groupId: required(args, "groupId") }),
	},
	{
		command: "invitations <email|groupId>",
		description: "Invitations to an email, or of a group with its invite links: pending or expired, blocked, delivered or waiting for an account",
		run: (broker, args) => broker.call("users.inspectInvitations", { target: required(args, "email|groupId") }),
	},
	{
		command: "sockets",
		description: "Open sockets per gateway instance",
		async run(broker) {
			const nodes = nodesRunning(broker, "gateway");
			const stats = await Promise.all(nodes.map(nodeID => broker.call("gateway.socketStats", {}, { nodeID })));
			const list = stats as { nodeID: string; sockets: number }[];
			return { gateways: list, total: list.reduce((sum, s) => sum + s.sockets, 0) };
		},
	},
	{
		command: "outbox",
		description: "Domain events written but not yet published, per service",
		async run(broker) {
			const result: Record<string, unknown> = {};
			for (const service of ["users", "location", "devices"]) {
				const nodes = nodesRunning(broker, service);
				if (nodes.length === 0) continue;
				// Every instance shares the service's database: one answer is the whole count.
				result[service] = await broker.call(`${service}.outboxStatus`, {}, { nodeID: nodes[0] });
			}
			return result;
		},
	},
	{
		command: "devices <emailOrUserId>",
		description: "A user's phones: protocol, when each was created and last seen (no secrets)",
		needs: ["users", "devices"],
		async run(broker, args) {
			const who = required(args, "emailOrUserId");
			const user = who.includes("@") ? ((await broker.call("users.findByEmail", { email: who })) as { id: string; email: string }) : { id: who };
			const devices = await broker.call("devices.ofUser", { userId: user.id });
			return { userId: user.id, ...("email" in user ? { email: user.email } : {}), devices };
		},
	},
	{
		command: "share-links <emailOrUserId>",
		description: "A user's share links that have not expired: group, created, expires, untilArrival (no tokens: only their hashes are stored)",
		needs: ["users", "location"],
		async run(broker, args) {
			const user = await userOf(broker, required(args, "emailOrUserId"));
			const links = await broker.call("location.shareLinksOf", { userId: user.userId });
			return { ...user, links };
		},
	},
	{
		command: "history <emailOrUserId>",
		description: "A user's position history: points kept, the oldest and the newest, and HISTORY_DAYS",
		needs: ["users", "location"],
		async run(broker, args) {
			const user = await userOf(broker, required(args, "emailOrUserId"));
			const stats = (await broker.call("location.historyStats", { userId: user.userId })) as Record<string, unknown>;
			return { ...user, ...stats };
		},
	},
	{
		command: "journal",
		description:
			"Acknowledged position samples not written behind yet, per location instance: running ones hold a few seconds' worth; a gone one's samples wait for the hand-over to each user's new owner",
		needs: ["location"],
		run: broker => broker.call("location.journalStatus", {}),
	},
	{
		command: "revoke <userId>",
		description: "Revoke every token of a user issued until now (they must log in again)",
		run: (broker, args) => broker.call("users.revokeTokens", { userId: required(args, "userId") }),
	},
];
