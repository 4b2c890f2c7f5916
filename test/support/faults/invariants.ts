import { setTimeout as sleep } from "node:timers/promises";
import type { ServiceBroker } from "moleculer";
import type { NatsConnection } from "nats";
import { DomainEvents, type GroupSnapshot, type NotificationSend } from "../../../events/domain.js";
import { MembershipEvents, Subscriptions } from "../../../events/streams.js";
import { notificationId } from "../../../services/notification/inbox.js";
import type { ApiClient } from "../client.js";
import type { System } from "../system.js";
import { deliveryCounts, formatCounts, readPublished, type DeliveryCounts, type PublishedLog } from "./jetstream.js";
import { crewClients, crewGroups, type AckedMessage, type Crew, type SocketPool, type Workload } from "./workload.js";

/**
 * The checks that prove a fault lost nothing: outboxes drain, every published event was processed
 * by every consumer, projections equal the users service, every expected notification exists once,
 * every acknowledged chat message is in history once, presence matches the sockets held open.
 */

/** Repeats `check` until it reports no problem or time runs out; returns the last problems (for the assertion). */
export async function settle(check: () => Promise<string[]>, timeoutMs: number, intervalMs = 500): Promise<string[]> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		let problems: string[];
		try {
			problems = await check();
		} catch (err) {
			problems = [`check failed: ${(err as Error).message}`];
		}
		if (!problems.length || Date.now() > deadline) return problems;
		await sleep(intervalMs);
	}
}

interface ProjectionRow {
	version: number;
	name: string;
	memberIds: string[];
	deleted: boolean;
}

const sorted = (ids: string[]) => [...ids].sort();

/** The services keeping a membership projection: those that read every membership event (devices reads only account deletions). */
const projectionServices = () =>
	Object.entries(Subscriptions)
		.filter(([, types]) => MembershipEvents.every(type => (types as readonly string[]).includes(type)))
		.map(([service]) => service);

/** Differences between each service's projection and the users service, per group (empty when equal). */
export async function projectionDiffs(probe: ServiceBroker, groups: { id: string; anyMember: string }[], services = projectionServices()): Promise<string[]> {
	const diffs: string[] = [];
	for (const { id, anyMember } of groups) {
		const truth = (await probe.call("users.membership", { groupId: id, userId: anyMember })) as { group: (GroupSnapshot & { groupId: string }) | null };
		if (!truth.group) {
			diffs.push(`${id}: unknown to users`);
			continue;
		}
		const expected: ProjectionRow = {
			version: truth.group.version,
			name: truth.group.name,
			memberIds: sorted(truth.group.members.map(m => m.id)),
			deleted: Boolean(truth.group.deleted),
		};
		for (const service of services) {
			const copy = (await probe.call(`${service}.projectedGroup`, { groupId: id })) as ProjectionRow | null;
			const actual = copy && { version: copy.version, name: copy.name, memberIds: sorted(copy.memberIds), deleted: Boolean(copy.deleted) };
			if (JSON.stringify(actual) !== JSON.stringify(expected))
				diffs.push(`${service} ${id}: has ${JSON.stringify(actual)}, users has ${JSON.stringify(expected)}`);
		}
	}
	return diffs;
}

/**
 * The notifications each user must have: for every distinct `notifications.send` command, the
 * members of the target group at the version the producer wrote it at (`groupVersion`), minus the
 * subject, plus `alsoUserIds` — each as the id derived from the command and the recipient.
 */
export function expectedNotifications(log: PublishedLog): { byUser: Map<string, Set<string>>; problems: string[] } {
	const byUser = new Map<string, Set<string>>();
	const problems: string[] = [];
	for (const envelope of log.byId.values()) {
		if (envelope.type !== DomainEvents.notificationSend) continue;
		const command = envelope.payload as NotificationSend;
		const recipients = new Set<string>();
		if ("userIds" in command.target) {
			for (const id of command.target.userIds) recipients.add(id);
		} else if ("groupId" in command.target) {
			const snapshot = log.snapshots.get(`${command.target.groupId}@${command.groupVersion}`);
			if (!snapshot) {
				problems.push(`command ${envelope.id} (${command.kind}) names group version ${command.groupVersion}, which no group event announced`);
				continue;
			}
			for (const member of snapshot.deleted ? [] : snapshot.members) if (member.id !== command.subjectUserId) recipients.add(member.id);
		} else {
			problems.push(`command ${envelope.id} (${command.kind}) targets co-members: not part of this workload`);
		}
		for (const id of command.alsoUserIds ?? []) recipients.add(id);
		// Whoever caused it is not told (services/notification/inbox.ts).
		for (const id of command.exceptUserIds ?? []) recipients.delete(id);
		for (const userId of recipients) {
			if (!byUser.has(userId)) byUser.set(userId, new Set());
			byUser.get(userId)!.add(notificationId(envelope.id, userId));
		}
	}
	return { byUser, problems };
}

/** Every notification in a user's inbox (all pages), through the public API. */
export async function inboxOf(client: ApiClient): Promise<{ id: string; kind: string }[]> {
	const all: { id: string; kind: string }[] = [];
	let before: string | undefined;
	for (;;) {
		const res = await client.get(`/api/notifications?limit=200${before ? `&before=${before}` : ""}`);
		if (res.status !== 200) throw new Error(`inbox: ${res.status} ${JSON.stringify(res.body)}`);
		all.push(...res.body.notifications);
		if (res.body.notifications.length < 200) return all;
		before = res.body.notifications.at(-1).id;
	}
}

/** A group's whole chat history, oldest first, through the public API. */
export async function historyOf(client: ApiClient, groupId: string): Promise<{ id: string; userId: string; kind: string; clientMessageId?: string }[]> {
	const pages: { id: string; userId: string; kind: string; clientMessageId?: string }[][] = [];
	let before: string | undefined;
	for (;;) {
		const res = await client.get(`/api/groups/${groupId}/messages?limit=200${before ? `&before=${before}` : ""}`);
		if (res.status !== 200) throw new Error(`history: ${res.status} ${JSON.stringify(res.body)}`);
		const page = res.body.messages;
		pages.unshift(page);
		if (page.length < 200) return pages.flat();
		before = page[0].id;
	}
}

/** Notification inbox differences against the expectation (empty when every expected one is there once, and nothing else). */
export async function notificationDiffs(
	expected: Map<string, Set<string>>,
	clients: ApiClient[],
): Promise<{ diffs: string[]; found: number; expected: number }> {
	const diffs: string[] = [];
	let found = 0;
	let total = 0;
	for (const client of clients) {
		const want = expected.get(client.user!.id) ?? new Set<string>();
		total += want.size;
		const inbox = await inboxOf(client);
		found += inbox.length;
		const ids = inbox.map(n => n.id);
		const seen = new Set(ids);
		if (seen.size !== ids.length) diffs.push(`${client.user!.id}: a notification id appears twice`);
		const missing = [...want].filter(id => !seen.has(id));
		const extra = inbox.filter(n => !want.has(n.id));
		if (missing.length) diffs.push(`${client.user!.surname}: ${missing.length} missing of ${want.size}`);
		if (extra.length) diffs.push(`${client.user!.surname}: ${extra.length} unexpected (${extra.map(n => n.kind).join(",")})`);
	}
	return { diffs, found, expected: total };
}

/** Chat problems: acknowledged messages missing from history, duplicates of one client message id, system lines not once per membership event. */
export async function chatDiffs(log: PublishedLog, crews: Crew[], acked: AckedMessage[]): Promise<{ diffs: string[]; messages: number; systemLines: number }> {
	const diffs: string[] = [];
	let messages = 0;
	let systemLines = 0;
	for (const crew of crews) {
		const history = await historyOf(crew.owner, crew.group.id);
		const ids = new Set(history.map(m => m.id));
		const mine = acked.filter(m => m.groupId === crew.group.id);
		const missing = mine.filter(m => !ids.has(m.id));
		if (missing.length) diffs.push(`${crew.group.id}: ${missing.length} acknowledged messages missing from history`);
		const perClientId = new Map<string, number>();
		for (const m of history.filter(m => m.kind === "user")) {
			const key = `${m.userId}/${m.clientMessageId}`;
			perClientId.set(key, (perClientId.get(key) ?? 0) + 1);
		}
		const dup = [...perClientId].filter(([, n]) => n > 1);
		if (dup.length) diffs.push(`${crew.group.id}: ${dup.length} client message ids stored more than once`);
		messages += history.filter(m => m.kind === "user").length;
		// One system line per member in each membership event about this group.
		let expectedLines = 0;
		for (const envelope of log.byId.values()) {
			const p = envelope.payload as { groupId?: string };
			if (p.groupId !== crew.group.id) continue;
			if (envelope.type === DomainEvents.groupCreated || envelope.type === DomainEvents.memberAdded || envelope.type === DomainEvents.memberRemoved)
				expectedLines++;
		}
		const lines = history.filter(m => m.kind === "system").length;
		systemLines += lines;
		if (lines !== expectedLines) diffs.push(`${crew.group.id}: ${lines} system lines for ${expectedLines} membership events`);
	}
	return { diffs, messages, systemLines };
}

/**
 * Producer-side exactness: per group, one command for each acknowledged step (an ambiguous
 * attempt that committed must not produce a second one), and per journey each alert at most once.
 */
export function commandDiffs(log: PublishedLog, crews: Crew[], steps: Map<string, number>): { diffs: string[]; alerts: Record<string, number> } {
	const diffs: string[] = [];
	const alerts: Record<string, number> = {};
	const commands = [...log.byId.values()]
		.filter(e => e.type === DomainEvents.notificationSend)
		.map(e => ({ at: e.occurredAt, id: e.id, ...(e.payload as NotificationSend) }))
		.sort((a, b) => a.at.localeCompare(b.at) || a.id.localeCompare(b.id));
	for (const crew of crews) {
		const g = crew.group.id;
		// The traveller was invited and joined when the group was created.
		const initial: Record<string, number> = { MEMBER_ADDED: 1, INVITATION_ACCEPTED: 1, INVITED: 1 };
		const stepsOf = (kind: string) => steps.get(`${g}/${kind === "INVITATION_ACCEPTED" ? "MEMBER_ADDED" : kind}`) ?? 0;
		// INVITED names no group: it is told apart by its addressee (each crew's people are invited to their crew only).
		const crewIds = new Set([crew.traveller, ...crew.guests].map(c => c.user!.id));
		const ofCrew = (c: NotificationSend) => (c.kind === "INVITED" ? "userIds" in c.target && c.target.userIds.some(id => crewIds.has(id)) : c.groupId === g);
		for (const kind of ["MEMBER_ADDED", "MEMBER_REMOVED", "JOURNEY_STARTED", "JOURNEY_ENDED", "INVITATION_ACCEPTED", "INVITED"]) {
			const want = stepsOf(kind) + (initial[kind] ?? 0);
			const got = commands.filter(c => c.kind === kind && ofCrew(c)).length;
			if (got !== want) diffs.push(`${g}: ${got} ${kind} commands for ${want} acknowledged steps`);
		}
		// Segment the traveller's commands by journey: each alert at most once per journey.
		let journey = 0;
		const seen = new Set<string>();
		for (const c of commands.filter(c => c.groupId === g && c.subjectUserId === crew.traveller.user!.id)) {
			if (c.kind === "JOURNEY_STARTED") journey++;
			if (!["LATE", "STUCK", "OFFLINE"].includes(c.kind)) continue;
			alerts[c.kind] = (alerts[c.kind] ?? 0) + 1;
			const key = `${journey}/${c.kind}`;
			if (seen.has(key)) diffs.push(`${g}: ${c.kind} twice in journey ${journey}`);
			seen.add(key);
		}
	}
	return { diffs, alerts };
}

/**
 * Presence problems: chat must count exactly the sockets the pool holds, all on the running
 * gateway, and a group's presence must show each crew member online exactly when they hold one.
 */
export async function presenceDiffs(probe: ServiceBroker, pool: SocketPool, crews: Crew[]): Promise<string[]> {
	const diffs: string[] = [];
	const gateways = [
		...new Set(
			probe.registry
				.getServiceList({ onlyAvailable: true })
				.filter(s => s.name === "gateway")
				.map(s => s.nodeID),
		),
	];
	const stats = (await probe.call("chat.presenceStats")) as { sockets: number; perGateway: Record<string, number> };
	if (stats.sockets !== pool.open.size) diffs.push(`chat counts ${stats.sockets} open sockets, ${pool.open.size} are open`);
	const elsewhere = Object.keys(stats.perGateway).filter(id => !gateways.includes(id));
	if (elsewhere.length) diffs.push(`sockets counted on gateways that are gone: ${elsewhere.join(", ")}`);
	for (const crew of crews) {
		const res = await crew.owner.get(`/api/groups/${crew.group.id}/presence`);
		if (res.status !== 200) {
			diffs.push(`presence of ${crew.group.id}: ${res.status}`);
			continue;
		}
		for (const entry of res.body as { userId: string; online: boolean }[]) {
			const holder = [...pool.open.keys()].some(c => c.user!.id === entry.userId);
			if (entry.online !== holder)
				diffs.push(`${entry.userId} shows ${entry.online ? "online" : "offline"} in ${crew.group.id}, holds ${holder ? "a" : "no"} socket`);
		}
	}
	return diffs;
}

export interface Verification {
	system: System;
	probe: ServiceBroker;
	nats: NatsConnection;
	mongoUrl: string;
	crews: Crew[];
	workload: Workload;
	/** How long the system may take to converge after the workload stopped. */
	timeoutMs?: number;
	/** Where the counts are printed (t.diagnostic; stdout by default). */
	report?: (line: string) => void;
	/** Sockets held open during the workload: chat's presence must match them. */
	sockets?: SocketPool;
}

/**
 * After the workload stopped: outboxes drain, every consumer processes every event, projections
 * equal the users service, inboxes hold exactly the expected notifications, chat history holds
 * every acknowledged message once. Prints the counts; returns the problems (empty = all good).
 */
export async function verifyNothingLost(v: Verification): Promise<{ problems: string[]; counts: DeliveryCounts[] }> {
	const timeoutMs = v.timeoutMs ?? 60_000;
	const started = Date.now();
	const left = () => Math.max(5_000, timeoutMs - (Date.now() - started));
	const ns = v.system.env.NAMESPACE!;
	const report = v.report ?? ((line: string) => console.log(line));
	const problems: string[] = [];

	problems.push(
		...(await settle(async () => {
			const out: string[] = [];
			for (const service of ["users", "location"]) {
				const status = (await v.probe.call(`${service}.outboxStatus`)) as { pending: number };
				if (status.pending) out.push(`${service}: ${status.pending} events still in the outbox`);
			}
			return out;
		}, left())),
	);

	let log = await readPublished(v.nats, ns);
	let counts: DeliveryCounts[] = [];
	problems.push(
		...(await settle(
			async () => {
				log = await readPublished(v.nats, ns, log);
				// Consumers of the services this system runs (events for one that is not running wait for it in JetStream).
				counts = await deliveryCounts(v.nats, v.mongoUrl, ns, log, v.system.services);
				return counts.filter(c => c.lost).map(c => `${c.service}: ${c.lost} events never processed (${c.lostIds.slice(0, 3).join(", ")}…)`);
			},
			left(),
			1_000,
		)),
	);

	problems.push(
		...(await settle(
			() =>
				projectionDiffs(
					v.probe,
					crewGroups(v.crews),
					projectionServices().filter(s => (v.system.services as string[]).includes(s)),
				),
			left(),
		)),
	);

	const expected = expectedNotifications(log);
	problems.push(...expected.problems);
	let inbox = { diffs: [] as string[], found: 0, expected: 0 };
	problems.push(
		...(await settle(
			async () => {
				inbox = await notificationDiffs(expected.byUser, crewClients(v.crews));
				return inbox.diffs;
			},
			left(),
			1_000,
		)),
	);

	// The operators' view agrees with the inboxes.
	let stored = 0;
	for (const client of crewClients(v.crews))
		stored += ((await v.probe.call("notification.stats", { userId: client.user!.id })) as { notifications: number }).notifications;
	if (stored !== inbox.found) problems.push(`notification.stats counts ${stored} notifications, the inboxes hold ${inbox.found}`);

	if (v.sockets) problems.push(...(await settle(() => presenceDiffs(v.probe, v.sockets!, v.crews), left())));

	const chat = await chatDiffs(log, v.crews, v.workload.ackedMessages);
	problems.push(...chat.diffs);
	const commands = commandDiffs(log, v.crews, v.workload.steps);
	problems.push(...commands.diffs);
	problems.push(...v.workload.unexpected.map(u => `unclean answer: ${u}`));

	report(v.workload.summary());
	report(formatCounts(log, counts));
	report(
		`notifications: ${inbox.expected} expected, ${inbox.found} in inboxes; chat: ${chat.messages} user messages (${v.workload.ackedMessages.length} acknowledged), ${chat.systemLines} system lines; alerts: ${JSON.stringify(commands.alerts)}; converged in ${Date.now() - started} ms`,
	);
	return { problems, counts };
}
