import { parseArgs } from "node:util";

/**
 * Benchmark parameters: `--name=value` on the command line, else the environment variable
 * `BENCH_NAME` (upper case, dashes to underscores), else the default.
 */
export function numberOption(name: string, fallback: number, argv = process.argv.slice(2)): number {
	const { values } = parseArgs({ args: argv, options: { [name]: { type: "string" } }, strict: false, allowPositionals: true });
	const raw = (values[name] as string | undefined) ?? process.env[`BENCH_${name.toUpperCase().replace(/-/g, "_")}`];
	if (raw === undefined || raw === "") return fallback;
	const value = Number(raw);
	if (!Number.isFinite(value)) throw new Error(`--${name}: "${raw}" is not a number`);
	return value;
}

export function stringOption(name: string, fallback: string, argv = process.argv.slice(2)): string {
	const { values } = parseArgs({ args: argv, options: { [name]: { type: "string" } }, strict: false, allowPositionals: true });
	return (values[name] as string | undefined) ?? process.env[`BENCH_${name.toUpperCase().replace(/-/g, "_")}`] ?? fallback;
}

/** True when this module is the script node was started with (so a benchmark file runs on its own). */
export function isMain(importMetaUrl: string): boolean {
	const entry = process.argv[1];
	return entry !== undefined && importMetaUrl === new URL(`file://${entry.startsWith("/") ? entry : `${process.cwd()}/${entry}`}`).href;
}
