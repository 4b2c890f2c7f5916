import type { Connection } from "mongoose";

/**
 * DB_PROFILE=1: every 10 s, log where this service's database time went, grouped by command,
 * collection and the shape of its filter (field names only, never values) — how the benchmarks
 * find the queries the Mongo-wire server cannot answer from an index.
 */
/** The parts of a command the profile reads (its collection is under the command's own name). */
interface ProfiledCommand {
	[commandName: string]: unknown;
	filter?: unknown;
	query?: unknown;
	q?: unknown;
	updates?: { q?: unknown }[];
	deletes?: { q?: unknown }[];
}

export function profileDatabase(connection: Connection, log: (line: string) => void): () => void {
	const started = new Map<number, { key: string; at: number }>();
	const totals = new Map<string, { count: number; ms: number }>();
	const client = connection.getClient();
	const shape = (filter: unknown): string =>
		filter && typeof filter === "object"
			? `{${Object.keys(filter as object)
					.sort()
					.join(",")}}`
			: "";
	client.on("commandStarted", event => {
		const cmd = event.command as ProfiledCommand;
		const collection = cmd[event.commandName];
		const filter = cmd.filter ?? cmd.query ?? cmd.updates?.[0]?.q ?? cmd.deletes?.[0]?.q ?? cmd.q;
		const extra = (cmd.updates?.length ?? 0) > 1 ? ` ×${cmd.updates!.length}` : "";
		started.set(event.requestId, {
			key: `${event.commandName} ${typeof collection === "string" ? collection : ""} ${shape(filter)}${extra}`,
			at: performance.now(),
		});
	});
	const finish = (event: { requestId: number }) => {
		const begun = started.get(event.requestId);
		if (!begun) return;
		started.delete(event.requestId);
		const total = totals.get(begun.key) ?? { count: 0, ms: 0 };
		total.count += 1;
		total.ms += performance.now() - begun.at;
		totals.set(begun.key, total);
	};
	client.on("commandSucceeded", finish);
	client.on("commandFailed", finish);
	const timer = setInterval(() => {
		if (!totals.size) return;
		const top = [...totals].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12);
		log(`db profile (10 s): ${top.map(([key, t]) => `${key} n=${t.count} ${t.ms.toFixed(0)}ms`).join(" | ")}`);
		totals.clear();
	}, 10_000);
	timer.unref();
	return () => clearInterval(timer);
}
