import type { Json } from "./client.js";
import { createECDH, randomBytes, type ECDH } from "node:crypto";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import { waitFor } from "./wait.js";

/**
 * A local stand-in for a browser push service (RFC 8030) on 127.0.0.1: it hands out
 * subscriptions with real client keys, as a browser would, and decrypts every message pushed to
 * them (aes128gcm, RFC 8291) with the subscription's private key and auth secret.
 */

interface Ece {
	decrypt(buffer: Buffer, params: { version: "aes128gcm"; privateKey: ECDH; authSecret: string }): Buffer;
}
// http_ece ships no types; this is the one function the tests use.
const ece = createRequire(import.meta.url)("http_ece") as Ece;

export interface ClientKeys {
	ecdh: ECDH;
	auth: Buffer;
	keys: { p256dh: string; auth: string };
}

/** A browser's subscription keys: a P-256 key pair and a 16-byte auth secret. */
export function clientKeys(): ClientKeys {
	const ecdh = createECDH("prime256v1");
	ecdh.generateKeys();
	const auth = randomBytes(16);
	return { ecdh, auth, keys: { p256dh: ecdh.getPublicKey().toString("base64url"), auth: auth.toString("base64url") } };
}

/** Decrypts an aes128gcm Web Push body with the client's keys. */
export function decryptPush(body: Buffer, client: Pick<ClientKeys, "ecdh" | "auth">): string {
	return ece.decrypt(body, { version: "aes128gcm", privateKey: client.ecdh, authSecret: client.auth.toString("base64url") }).toString("utf8");
}

export interface ReceivedPush {
	path: string;
	headers: Record<string, string | string[] | undefined>;
	/** The decrypted payload, or undefined when decryption failed (see `error`). */
	text?: string;
	error?: string;
	/** The status this endpoint answered. */
	status: number;
}

interface Registered extends ClientKeys {
	status: number;
}

export class PushEndpoint {
	readonly received: ReceivedPush[] = [];
	private readonly subscriptions = new Map<string, Registered>();
	private server?: Server;
	url = "";

	async start(): Promise<this> {
		this.server = createServer((req, res) => {
			const chunks: Buffer[] = [];
			req.on("data", chunk => chunks.push(chunk));
			req.on("end", () => {
				const path = req.url ?? "/";
				const sub = this.subscriptions.get(path);
				const status = sub?.status ?? 404;
				const entry: ReceivedPush = { path, headers: req.headers, status };
				if (sub && req.method === "POST") {
					try {
						entry.text = decryptPush(Buffer.concat(chunks), sub);
					} catch (err) {
						entry.error = (err as Error).message;
					}
				}
				this.received.push(entry);
				res.writeHead(status, { "content-type": "text/plain" });
				res.end();
			});
		});
		await new Promise<void>(resolve => this.server!.listen(0, "127.0.0.1", resolve));
		const address = this.server.address();
		if (!address || typeof address !== "object") throw new Error("push endpoint has no address");
		this.url = `http://127.0.0.1:${address.port}`;
		return this;
	}

	/** A new subscription, as `pushManager.subscribe()` would return it; answers 201 until told otherwise. */
	subscribe(): { endpoint: string; keys: { p256dh: string; auth: string } } {
		const path = `/push/${randomBytes(8).toString("hex")}`;
		const keys = clientKeys();
		this.subscriptions.set(path, { ...keys, status: 201 });
		return { endpoint: `${this.url}${path}`, keys: keys.keys };
	}

	/** Makes the push service answer `status` for this subscription (410: the user unsubscribed). */
	answer(endpoint: string, status: number): void {
		const sub = this.subscriptions.get(new URL(endpoint).pathname);
		if (!sub) throw new Error(`unknown subscription ${endpoint}`);
		sub.status = status;
	}

	messagesFor(endpoint: string): ReceivedPush[] {
		const path = new URL(endpoint).pathname;
		return this.received.filter(r => r.path === path);
	}

	/** Waits for a decrypted message to this subscription matching `match`. */
	waitForMessage(endpoint: string, match: (payload: Json) => boolean = () => true, timeoutMs = 15_000): Promise<Json> {
		return waitFor(
			() =>
				this.messagesFor(endpoint)
					.filter(r => r.text !== undefined)
					.map(r => JSON.parse(r.text!))
					.find(match),
			{ timeoutMs, what: `a push message to ${endpoint}` },
		);
	}

	async stop(): Promise<void> {
		if (!this.server) return;
		this.server.closeAllConnections();
		await new Promise<void>(resolve => this.server!.close(() => resolve()));
	}
}
