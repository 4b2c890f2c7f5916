/** Latency samples and the percentiles the benchmarks print. Keeps every sample: runs are bounded. */
export class Histogram {
	private values: number[] = [];
	private sorted = true;

	record(value: number): void {
		this.values.push(value);
		this.sorted = false;
	}

	get count(): number {
		return this.values.length;
	}

	/** The p-th percentile (0..100), nearest rank; NaN when empty. */
	percentile(p: number): number {
		if (!this.values.length) return Number.NaN;
		if (!this.sorted) {
			this.values.sort((a, b) => a - b);
			this.sorted = true;
		}
		const rank = Math.min(this.values.length - 1, Math.max(0, Math.ceil((p / 100) * this.values.length) - 1));
		return this.values[rank]!;
	}

	get max(): number {
		return this.percentile(100);
	}

	get mean(): number {
		return this.values.length ? this.values.reduce((a, b) => a + b, 0) / this.values.length : Number.NaN;
	}

	summary(): LatencySummary {
		return { count: this.count, p50: this.percentile(50), p95: this.percentile(95), p99: this.percentile(99), max: this.max, mean: this.mean };
	}
}

export interface LatencySummary {
	count: number;
	p50: number;
	p95: number;
	p99: number;
	max: number;
	mean: number;
}

export const fmtMs = (ms: number) => (Number.isFinite(ms) ? (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2)) : "–");
export const fmtNum = (n: number, digits = 0) =>
	Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }) : "–";
export const fmtRatio = (r: number) => (Number.isFinite(r) ? `${(r * 100).toFixed(0)} %` : "–");
export const fmtLatency = (s: LatencySummary) => `p50 ${fmtMs(s.p50)} · p95 ${fmtMs(s.p95)} · p99 ${fmtMs(s.p99)} · max ${fmtMs(s.max)} ms`;

/** A plain text table (first row = header), columns padded; numbers right-aligned. */
export function table(rows: (string | number)[][]): string {
	const cells = rows.map(row => row.map(cell => String(cell)));
	const widths = cells[0]!.map((_, col) => Math.max(...cells.map(row => (row[col] ?? "").length)));
	const line = (row: string[]) =>
		row
			.map((cell, col) => (/^[-–+]?[\d.,]+( ?(%|ms|KB|MB|s|\/s))?$/.test(cell) ? cell.padStart(widths[col]!) : cell.padEnd(widths[col]!)))
			.join("  ")
			.trimEnd();
	return [line(cells[0]!), widths.map(w => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)].join("\n");
}
