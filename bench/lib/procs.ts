import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/**
 * CPU and memory of the processes under test, read from /proc (Linux): CPU time is user + system
 * time of every thread (so scrypt in the libuv pool and FerretDB's goroutines count), RSS is the
 * resident set. The benchmarks sample it at the start and end of each measured window.
 */

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on every Linux we run on (getconf CLK_TCK)

export interface ProcSample {
	cpuMs: number;
	rssKb: number;
}

export function readProc(pid: number): ProcSample | null {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
		// Fields after the command name (which may contain spaces) start after the last ")".
		const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
		const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of the file)
		const status = readFileSync(`/proc/${pid}/status`, "utf8");
		const rss = /VmRSS:\s+(\d+)\s+kB/.exec(status);
		return { cpuMs: (ticks * 1000) / CLOCK_TICKS_PER_SECOND, rssKb: rss ? Number(rss[1]) : 0 };
	} catch {
		return null;
	}
}

/** The pid of the process listening on a TCP port of this machine (NATS, FerretDB), or null. */
export function pidListeningOn(port: number): number | null {
	const inodes = new Set<string>();
	for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
		let text = "";
		try {
			text = readFileSync(file, "utf8");
		} catch {
			continue;
		}
		for (const line of text.split("\n").slice(1)) {
			const cols = line.trim().split(/\s+/);
			if (cols.length < 10 || cols[3] !== "0A") continue; // 0A = LISTEN
			if (parseInt(cols[1]!.split(":")[1]!, 16) === port) inodes.add(cols[9]!);
		}
	}
	if (!inodes.size) return null;
	for (const entry of readdirSync("/proc")) {
		if (!/^\d+$/.test(entry)) continue;
		let fds: string[] = [];
		try {
			fds = readdirSync(`/proc/${entry}/fd`);
		} catch {
			continue;
		}
		for (const fd of fds) {
			try {
				const target = readlinkSync(`/proc/${entry}/fd/${fd}`);
				const match = /^socket:\[(\d+)\]$/.exec(target);
				if (match && inodes.has(match[1]!)) return Number(entry);
			} catch {
				/* fd closed meanwhile */
			}
		}
	}
	return null;
}

export interface ProcUsage {
	name: string;
	pid: number;
	/** Average CPU over the window, in % of one core. */
	cpuPercent: number;
	rssMb: number;
	rssPeakMb: number;
}

/** Samples named processes every `everyMs` between start() and stop(): average CPU, last and peak RSS. */
export class ProcMonitor {
	private first = new Map<string, ProcSample>();
	private last = new Map<string, ProcSample>();
	private peak = new Map<string, number>();
	private timer?: NodeJS.Timeout;
	private startedAt = 0;
	private stoppedAt = 0;

	constructor(private readonly pids: Map<string, number>) {}

	start(everyMs = 500): this {
		this.startedAt = performance.now();
		this.sample(this.first);
		this.timer = setInterval(() => this.sample(this.last), everyMs);
		this.timer.unref();
		return this;
	}

	stop(): ProcUsage[] {
		clearInterval(this.timer);
		this.sample(this.last);
		this.stoppedAt = performance.now();
		const wallMs = this.stoppedAt - this.startedAt;
		const usage: ProcUsage[] = [];
		for (const [name, pid] of this.pids) {
			const a = this.first.get(name);
			const b = this.last.get(name);
			if (!a || !b) continue;
			usage.push({ name, pid, cpuPercent: ((b.cpuMs - a.cpuMs) / wallMs) * 100, rssMb: b.rssKb / 1024, rssPeakMb: (this.peak.get(name) ?? b.rssKb) / 1024 });
		}
		return usage;
	}

	private sample(into: Map<string, ProcSample>) {
		for (const [name, pid] of this.pids) {
			const s = pid === process.pid ? { cpuMs: cpuMsOfSelf(), rssKb: process.memoryUsage.rss() / 1024 } : readProc(pid);
			if (!s) continue;
			into.set(name, s);
			this.peak.set(name, Math.max(this.peak.get(name) ?? 0, s.rssKb));
		}
	}
}

function cpuMsOfSelf(): number {
	const { user, system } = process.cpuUsage();
	return (user + system) / 1000;
}
