import { randomBytes } from "node:crypto";
import { Agent, request } from "node:http";
import type { Socket } from "socket.io-client";

/**
 * Deterministic bad-input generators for the fuzz tests: a seeded PRNG, JSON text that plain
 * `JSON.stringify` cannot produce (numbers that overflow to Infinity, own `__proto__` keys, nesting
 * deeper than a recursive serializer survives), mutations of a route's parameter schema (taken
 * from the live OpenAPI document) that must be refused, and noise that may be accepted.
 */

// ---- PRNG

/** mulberry32: tiny, fast, and the same sequence for the same seed on every machine. */
export class Rng {
	private state: number;

	constructor(readonly seed: number) {
		this.state = seed >>> 0;
	}

	next(): number {
		this.state = (this.state + 0x6d2b79f5) >>> 0;
		let t = this.state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	}

	int(min: number, max: number): number {
		return min + Math.floor(this.next() * (max - min + 1));
	}

	pick<T>(items: readonly T[]): T {
		return items[Math.floor(this.next() * items.length)]!;
	}

	chance(p: number): boolean {
		return this.next() < p;
	}
}

/** FUZZ_SEED reproduces a run; the default keeps every run identical. */
export const fuzzSeed = (fallback = 20_240_601) => {
	const fromEnv = Number(process.env.FUZZ_SEED);
	return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : fallback;
};

// ---- JSON text

/** A piece of JSON text inserted verbatim (e.g. `1e999`, which parses to Infinity). */
export class RawJson {
	constructor(readonly text: string) {}
}

/** JSON text of a value; `RawJson` parts go in as they are, own `__proto__` keys are kept. */
export function jsonText(value: unknown): string {
	if (value instanceof RawJson) return value.text;
	if (Array.isArray(value)) return `[${value.map(jsonText).join(",")}]`;
	if (value !== null && typeof value === "object")
		return `{${Object.entries(value)
			.map(([k, v]) => `${JSON.stringify(k)}:${jsonText(v)}`)
			.join(",")}}`;
	return JSON.stringify(value) ?? "null";
}

/** An object with `key` as an OWN property, even for `__proto__` (an object literal would set the prototype). */
export function withKey(target: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
	const copy: Record<string, unknown> = {};
	for (const [k, v] of Object.entries(target)) Object.defineProperty(copy, k, { value: v, enumerable: true, writable: true, configurable: true });
	Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
	return copy;
}

/** `depth` nested arrays or objects as text (a recursive serializer would overflow first). */
export const deepJson = (depth: number, kind: "array" | "object" = "array") =>
	new RawJson(kind === "array" ? "[".repeat(depth) + "]".repeat(depth) : '{"a":'.repeat(depth) + "1" + "}".repeat(depth));

/** Keys that have bitten JavaScript servers: prototype pollution, Mongo operators, JSON hooks. */
export const NASTY_KEYS = [
	"__proto__",
	"constructor",
	"prototype",
	"hasOwnProperty",
	"toString",
	"valueOf",
	"toJSON",
	"$where",
	"$set",
	"$gt",
	"",
	"__defineGetter__",
];

/** Strings that are valid JSON strings but unusual: control characters, lone surrogates, RTL, emoji, NUL, huge. */
export function oddString(rng: Rng): string {
	return rng.pick([
		"",
		" ",
		"\u0000",
		"\ud800",
		"\udfff\ud800",
		"\u202e\u0645\u0631\u062d\u0628\u0627",
		"💥".repeat(rng.int(1, 50)),
		"<script>alert(1)</script>",
		"'; DROP TABLE users; --",
		"${7*7}{{7*7}}",
		"../../etc/passwd",
		"%00%ff",
		"\r\n\t",
		"a".repeat(rng.int(1, 300)),
	]);
}

/** A value of an arbitrary JSON type, with nesting up to `depth`. */
export function anyValue(rng: Rng, depth = 2): unknown {
	const kinds = depth > 0 ? 9 : 7;
	switch (rng.int(0, kinds - 1)) {
		case 0:
			return null;
		case 1:
			return rng.chance(0.5);
		case 2:
			return rng.pick([0, -1, 1.5, 2 ** 53, -(2 ** 63), 1e308, -0]);
		case 3:
			return oddString(rng);
		case 4:
			return new RawJson(rng.pick(["1e999", "-1e999", "1e-400", "123456789012345678901234567890"]));
		case 5:
			return deepJson(rng.int(2, 30), rng.chance(0.5) ? "array" : "object");
		case 6:
			return rng.pick(NASTY_KEYS);
		case 7:
			return Array.from({ length: rng.int(0, 4) }, () => anyValue(rng, depth - 1));
		default: {
			let obj: Record<string, unknown> = {};
			for (let i = rng.int(0, 3); i > 0; i--) obj = withKey(obj, rng.chance(0.5) ? rng.pick(NASTY_KEYS) : `k${i}`, anyValue(rng, depth - 1));
			return obj;
		}
	}
}

// ---- schemas (the JSON Schema of the live OpenAPI document)

export interface FieldSchema {
	type?: string;
	format?: string;
	minLength?: number;
	maxLength?: number;
	minimum?: number;
	maximum?: number;
	minItems?: number;
	maxItems?: number;
	enum?: unknown[];
	const?: unknown;
	items?: FieldSchema;
	properties?: Record<string, FieldSchema>;
	required?: string[];
}

/** What must happen to an input: refused before it has any effect, or anything but a 5xx. */
export type Expectation = "reject" | "any";

/** A value the field can never accept, with a label saying why. */
export function breakingValue(rng: Rng, field: FieldSchema, opts: { required: boolean; query?: boolean }): { value: unknown; why: string } {
	const candidates: { value: unknown; why: string }[] = [];
	const wrongTypes = (...values: unknown[]) => values.forEach(value => candidates.push({ value, why: `wrong type ${jsonText(value).slice(0, 20)}` }));
	if (opts.required) candidates.push({ value: null, why: "null" });
	candidates.push({ value: deepJson(rng.int(3, 30)), why: "nested arrays" });
	candidates.push({ value: deepJson(rng.int(40, 3000)), why: "absurd nesting" });
	if (field.enum) {
		wrongTypes(1, [field.enum[0]], {});
		candidates.push(
			{ value: "flying", why: "not in enum" },
			{ value: "", why: "empty enum" },
			{ value: String(field.enum[0]).toUpperCase(), why: "enum case" },
		);
	} else if ("const" in field) {
		wrongTypes("true", 1, [true], {});
		candidates.push({ value: false, why: "not the constant" });
	} else if (field.type === "string") {
		wrongTypes(42, true, {}, ["a"], { $gt: "" }, withKey({}, "__proto__", { polluted: true }), new RawJson("1e999"));
		if (field.maxLength !== undefined) {
			candidates.push({ value: "x".repeat(field.maxLength + 1), why: "one too long" });
			candidates.push({ value: "y".repeat(Math.min(60_000, field.maxLength * rng.int(2, 40) + 1)), why: "huge string" });
		}
		if (field.minLength !== undefined && field.minLength > 0) candidates.push({ value: "", why: "empty" });
		if (field.format === "email") candidates.push({ value: rng.pick(["not-an-email", "a@", "@b.co", "a b@c.de", "a@b@c.de"]), why: "bad email" });
	} else if (field.type === "number") {
		// Query values arrive as strings and are converted: only non-numeric text is wrong there.
		wrongTypes(...(opts.query ? ["abc", "1.5.5", "0x"] : ["12", {}, [1], "NaN"]));
		if (field.maximum !== undefined)
			candidates.push({ value: opts.query ? String(field.maximum + 1) : field.maximum + rng.pick([0.001, 1, 1e6]), why: "above maximum" });
		if (field.minimum !== undefined)
			candidates.push({ value: opts.query ? String(field.minimum - 1) : field.minimum - rng.pick([0.001, 1, 1e6]), why: "below minimum" });
		if (!opts.query) candidates.push({ value: new RawJson(rng.pick(["1e999", "-1e999"])), why: "Infinity" });
	} else if (field.type === "array") {
		wrongTypes("a", 1, {}, { length: 1, 0: "a" });
		if (field.maxItems !== undefined)
			candidates.push({ value: Array.from({ length: field.maxItems + 1 }, (_, i) => `x${i}@example.com`), why: "too many items" });
		candidates.push({ value: [{ $ne: null }], why: "operator item" }, { value: [null], why: "null item" });
	} else if (field.type === "object") {
		wrongTypes("x", 1, [], true);
		if (field.required?.length) candidates.push({ value: {}, why: "empty object" });
		const props = Object.entries(field.properties ?? {});
		if (props.length) {
			const [name, sub] = rng.pick(props);
			const base = validObjectFor(field);
			const broken = breakingValue(rng, sub, { required: Boolean(field.required?.includes(name)) });
			candidates.push({ value: withKey(base, name, broken.value), why: `${name}: ${broken.why}` });
		}
	} else if (field.type === "boolean") {
		wrongTypes("true", 1, [], {});
	}
	return rng.pick(candidates);
}

/** Generic valid values by field name (the schema alone cannot say what a valid ETA is). */
export function validValueFor(name: string, field: FieldSchema): unknown {
	switch (name) {
		case "name":
			return "Fuzz";
		case "surname":
			return "Tester";
		case "email":
			return `fuzz.${randomBytes(4).toString("hex")}@example.com`;
		case "password":
			return "long enough password";
		case "latitude":
			return 45.07;
		case "longitude":
			return 7.68;
		case "accuracy":
			return 12;
		case "timestamp":
			return new Date().toISOString();
		case "eta":
			return new Date(Date.now() + 3_600_000).toISOString();
		case "mode":
			return "walking";
		case "text":
			return "hello";
		case "endpoint":
			return "https://push.example/fuzz";
	}
	if (field.type === "object") return validObjectFor(field);
	if (field.enum) return field.enum[0];
	if ("const" in field) return field.const;
	if (field.type === "number") return field.minimum ?? 1;
	if (field.type === "array") return [];
	return "x";
}

function validObjectFor(field: FieldSchema): Record<string, unknown> {
	const out: Record<string, unknown> = {};
	for (const [name, sub] of Object.entries(field.properties ?? {})) out[name] = validValueFor(name, sub);
	return out;
}

// ---- transport-level breakers: refused before any action runs, whatever the route

export interface RawBody {
	body: string | Buffer;
	headers: Record<string, string>;
	why: string;
}

/** A body the gateway must refuse with 400 whatever the route (malformed, wrong type, too big...). */
export function breakingBody(rng: Rng, valid: Record<string, unknown>): RawBody {
	const json = { "content-type": "application/json" };
	const text = jsonText(valid);
	switch (rng.int(0, 11)) {
		case 0:
			return { body: text.slice(0, Math.max(1, rng.int(0, text.length - 1))), headers: json, why: "truncated JSON" };
		case 1:
			return {
				body: rng.pick(["{'a': 1}", "{a:1}", '{"a":1,}', '{"a":NaN}', '{"a":Infinity}', '{"a":undefined}', "{/* c */}", '{"a":1}{"b":2}', "\u0000"]),
				headers: json,
				why: "not JSON",
			};
		case 2:
			return { body: rng.pick(['"text"', "42", "null", "true"]), headers: json, why: "JSON scalar body" };
		case 3:
			return {
				body: text,
				headers: {
					"content-type": rng.pick([
						"text/plain",
						"application/x-www-form-urlencoded",
						"multipart/form-data; boundary=x",
						"application/xml",
						"applicationjson",
					]),
				},
				why: "wrong content type",
			};
		case 4:
			return { body: `{"pad":"${"p".repeat(66 * 1024)}"}`, headers: json, why: "over the body limit" };
		case 5:
			return {
				body: Buffer.concat([
					Buffer.from('{"name":"'),
					Buffer.from(rng.pick([[0xc3, 0x28], [0xff, 0xfe], [0xed, 0xa0, 0x80], [0xe0, 0xa4], [0x80]])),
					Buffer.from('"}'),
				]),
				headers: json,
				why: "invalid UTF-8",
			};
		case 6:
			return { body: `{"x":${deepJson(rng.int(33, 20_000), rng.chance(0.5) ? "array" : "object").text}}`, headers: json, why: "absurd nesting" };
		case 7:
			return { body: text, headers: { ...json, "content-encoding": rng.pick(["gzip", "deflate", "br", "compress", "x-nope"]) }, why: "bad content encoding" };
		case 8:
			return {
				body: text,
				headers: { "content-type": `application/json; charset=${rng.pick(["latin1", "koi8-r", "x-unknown"])}` },
				why: "unsupported charset",
			};
		case 9:
			return { body: `{"a":${rng.pick(["1e999", "-1e999"])}}`, headers: json, why: "number overflows to Infinity" };
		case 10:
			return { body: `[${"[".repeat(40)}${"]".repeat(40)}]`, headers: json, why: "nested array body" };
		default:
			return { body: text.includes('"') ? text.replace(/"/, "'") : "{'a':1}", headers: json, why: "single quote" };
	}
}

/** Path segments that can never name a resource of the caller (404/403/422/400, never a 5xx). */
export function breakingSegment(rng: Rng, foreignIds: string[]): { segment: string; why: string } {
	return rng.pick([
		{ segment: "00000000-0000-4000-8000-000000000000", why: "unknown id" },
		{ segment: percentEncode(rng.pick(foreignIds)), why: "someone else's id" },
		{ segment: "x".repeat(rng.int(65, 2000)), why: "too long" },
		{ segment: "%20%20%20", why: "blank" },
		{ segment: rng.pick(["%E0%A4%A", "%C3%28", "%", "%zz", "%ED%A0%80"]), why: "bad percent-encoding" },
		{ segment: rng.pick(["__proto__", "constructor", "prototype", "hasOwnProperty"]), why: "prototype name" },
		{ segment: percentEncode(rng.pick(["💥", "..", "../..", "\u0000", "a/b", "$where", '{"$gt":""}', "\ud800"])), why: "odd characters" },
	]);
}

// ---- Socket.IO

/**
 * Emits `event` with a payload given as raw JSON text, bypassing socket.io-client's serializer
 * (which cannot send Infinity or nesting it would overflow on), and resolves with the ack.
 * Uses the client's ack bookkeeping (`ids`, `acks`): internal, but stable across 4.x.
 */
export function emitRaw(socket: Socket, event: string, payloadJson: string, timeoutMs = 10_000): Promise<unknown> {
	const internal = socket as unknown as { ids: number; acks: Record<number, (...args: unknown[]) => void>; io: { engine: { write(data: string): void } } };
	const id = internal.ids++;
	return new Promise((resolve, reject) => {
		const timer = setTimeout(() => {
			delete internal.acks[id];
			reject(new Error(`no ack for raw ${event} within ${timeoutMs} ms`));
		}, timeoutMs);
		internal.acks[id] = (reply: unknown) => {
			clearTimeout(timer);
			resolve(reply);
		};
		// Engine.IO message whose data is a Socket.IO EVENT packet ("2") with an ack id, default namespace.
		internal.io.engine.write(`2${id}[${JSON.stringify(event)},${payloadJson}]`);
	});
}

// ---- counting

export class StatusCounts {
	readonly byStatus = new Map<number, number>();
	readonly byType = new Map<string, number>();
	total = 0;

	add(status: number, type?: string): void {
		this.total++;
		this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
		if (type) this.byType.set(type, (this.byType.get(type) ?? 0) + 1);
	}

	merge(other: StatusCounts): void {
		for (const [status, n] of other.byStatus) this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + n);
		for (const [type, n] of other.byType) this.byType.set(type, (this.byType.get(type) ?? 0) + n);
		this.total += other.total;
	}

	count(predicate: (status: number) => boolean): number {
		let n = 0;
		for (const [status, c] of this.byStatus) if (predicate(status)) n += c;
		return n;
	}

	toString(): string {
		const statuses = [...this.byStatus].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}: ${n}`);
		return `${this.total} (${statuses.join(", ")})`;
	}
}

/** The documented error statuses and the types each may carry (API.md §2). */
export const DOCUMENTED_ERRORS: Record<number, string[]> = {
	400: ["BAD_REQUEST"],
	401: ["UNAUTHORIZED", "INVALID_CREDENTIALS"],
	403: ["FORBIDDEN"],
	404: ["NOT_FOUND"],
	409: ["CONFLICT", "INVALID_STATE"],
	422: ["VALIDATION_ERROR"],
	429: ["RATE_LIMITED"],
};

/** Why an error response breaks the contract, or undefined when it is a documented error. */
export function contractViolation(status: number, body: unknown): string | undefined {
	const types = DOCUMENTED_ERRORS[status];
	if (!types) return `undocumented status ${status}`;
	const err = body as { name?: unknown; message?: unknown; code?: unknown; type?: unknown } | undefined;
	if (!err || typeof err !== "object") return `status ${status} without a JSON error body`;
	if (err.code !== status) return `code ${String(err.code)} differs from status ${status}`;
	if (typeof err.name !== "string" || typeof err.message !== "string") return "error without name or message";
	if (!types.includes(String(err.type))) return `type ${String(err.type)} is not documented for ${status}`;
	return undefined;
}

/** Percent-encodes any string, lone surrogates included (encodeURIComponent throws on them). */
export function percentEncode(text: string): string {
	let out = "";
	for (const byte of Buffer.from(text, "utf8")) {
		const c = String.fromCharCode(byte);
		out += /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
	}
	return out;
}

// ---- raw HTTP (fetch cannot send a GET body, a malformed path or arbitrary bytes)

export interface RawResponse {
	status: number;
	text: string;
	json: unknown;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** One HTTP request exactly as given; a connection error rejects (that is what a crash looks like). */
export function rawRequest(
	baseUrl: string,
	req: { method: string; path: string; headers?: Record<string, string>; body?: string | Buffer },
): Promise<RawResponse> {
	const url = new URL(baseUrl);
	return new Promise((resolve, reject) => {
		const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body);
		const headers: Record<string, string> = { ...req.headers };
		if (body) headers["content-length"] = String(body.length);
		const r = request({ host: url.hostname, port: url.port, method: req.method, path: req.path, headers, agent }, res => {
			const chunks: Buffer[] = [];
			res.on("data", chunk => chunks.push(chunk));
			res.on("end", () => {
				const text = Buffer.concat(chunks).toString("utf8");
				let json: unknown;
				try {
					json = text ? JSON.parse(text) : undefined;
				} catch {
					json = undefined;
				}
				resolve({ status: res.statusCode ?? 0, text, json });
			});
			res.on("error", reject);
		});
		r.setTimeout(30_000, () => r.destroy(new Error(`timeout: ${req.method} ${req.path.slice(0, 100)}`)));
		r.on("error", reject);
		r.end(body);
	});
}

/** Runs `tasks` with at most `concurrency` in flight. */
export async function inParallel<T>(tasks: (() => Promise<T>)[], concurrency: number): Promise<T[]> {
	const results: T[] = new Array(tasks.length);
	let next = 0;
	await Promise.all(
		Array.from({ length: Math.min(concurrency, tasks.length) }, async () => {
			while (next < tasks.length) {
				const i = next++;
				results[i] = await tasks[i]!();
			}
		}),
	);
	return results;
}

// ---- stored data

/**
 * Every document of every collection of the services' databases, hashed per collection: equal
 * fingerprints mean nothing was written. `exclude` names collections that change on their own
 * (e.g. chat presence while sockets connect).
 */
export async function storedDataFingerprint(
	dbPrefix: string,
	services: string[],
	exclude: string[] = [],
	/** Receives the documents of each collection, to show what changed when fingerprints differ. */
	documents?: Map<string, unknown[]>,
): Promise<Record<string, { count: number; hash: string }>> {
	const { default: mongoose } = await import("mongoose");
	const { createHash } = await import("node:crypto");
	const out: Record<string, { count: number; hash: string }> = {};
	for (const service of services) {
		const conn = await mongoose.createConnection(process.env.MONGO_URL ?? "mongodb://127.0.0.1:27017", { dbName: `${dbPrefix}_${service}` }).asPromise();
		try {
			const collections = (await conn.db!.listCollections().toArray()).map(c => c.name).sort();
			for (const name of collections) {
				const key = `${service}.${name}`;
				if (exclude.includes(key)) continue;
				const docs = await conn.db!.collection(name).find({}).sort({ _id: 1 }).toArray();
				out[key] = { count: docs.length, hash: createHash("sha256").update(JSON.stringify(docs)).digest("hex").slice(0, 16) };
				documents?.set(key, docs);
			}
		} finally {
			await conn.close();
		}
	}
	return out;
}
