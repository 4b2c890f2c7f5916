import { spawn, type ChildProcess } from "node:child_process";
import { ROOT } from "../../test/support/system.js";

/** A baseline server as its own process (so its CPU and memory are measured like a service's). */
export interface BaselineServer {
	url: string;
	pid: number;
	stop(): Promise<void>;
}

export async function startBaseline(script: string, env: Record<string, string> = {}): Promise<BaselineServer> {
	const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", script], {
		cwd: ROOT,
		env: { ...process.env, ...env },
		stdio: ["ignore", "pipe", "pipe"],
	});
	let output = "";
	const port = await new Promise<number>((resolve, reject) => {
		const timer = setTimeout(() => reject(new Error(`${script} did not start:\n${output}`)), 30_000);
		child.stdout!.on("data", chunk => {
			output += chunk;
			const match = /LISTENING (\d+)/.exec(output);
			if (match) {
				clearTimeout(timer);
				resolve(Number(match[1]));
			}
		});
		child.stderr!.on("data", chunk => (output += chunk));
		child.once("exit", code => {
			clearTimeout(timer);
			reject(new Error(`${script} exited with ${code}:\n${output}`));
		});
	});
	return {
		url: `http://127.0.0.1:${port}`,
		pid: child.pid!,
		async stop() {
			if (child.exitCode !== null || child.signalCode !== null) return;
			const exited = new Promise(resolve => child.once("exit", resolve));
			child.kill("SIGTERM");
			const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
			await exited;
			clearTimeout(timer);
		},
	};
}
