import { hostname } from "node:os";
import { inspect } from "node:util";
import { ServiceBroker } from "moleculer";
import { brokerOptions } from "../moleculer.config.js";
import { operatorCommands } from "../lib/operator-commands.js";

/**
 * Joins the running cluster (same TRANSPORTER and NAMESPACE) as a service-less node.
 *   npm run repl                        an interactive Moleculer REPL with the operator commands
 *   npm run repl -- group <groupId>     runs one command, prints its result and exits
 */
const args = process.argv.slice(2);
const interactive = args.length === 0;

const broker = new ServiceBroker(
	brokerOptions({
		nodeID: `repl-${hostname()}-${process.pid}`,
		logger: interactive ? { type: "Console", options: { level: "warn" } } : false,
		middlewares: [],
		replOptions: {
			customCommands: operatorCommands.map(def => ({
				command: def.command,
				description: def.description,
				async action(b: ServiceBroker, parsed: Record<string, unknown>) {
					try {
						console.log(inspect(await def.run(b, positional(parsed)), { depth: 6, colors: true }));
					} catch (err) {
						console.error((err as Error).message);
					}
				},
			})),
		},
	} as never),
);

/** moleculer-repl passes a command's arguments by name; keep them in declaration order. */
function positional(parsed: Record<string, unknown>): string[] {
	return Object.entries(parsed)
		.filter(([key]) => !["_", "options", "rawCommand"].includes(key))
		.map(([, value]) => String(value));
}

await broker.start();
if (interactive) {
	broker.repl();
} else {
	const [name, ...rest] = args;
	const command = operatorCommands.find(c => c.command.split(" ")[0] === name);
	let exitCode = 0;
	try {
		if (!command) throw new Error(`unknown command "${name}"; known: ${operatorCommands.map(c => c.command).join(", ")}`);
		// Wait until the services this command asks have been discovered.
		await broker.waitForServices(command.needs ?? ["users"], 10_000);
		console.log(JSON.stringify(await command.run(broker, rest), null, 2));
	} catch (err) {
		console.error((err as Error).message);
		exitCode = 1;
	}
	await broker.stop();
	process.exit(exitCode);
}
