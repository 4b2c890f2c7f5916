import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { ApiClient } from "../support/client.js";
import { startSystem, type System } from "../support/system.js";
import { waitFor } from "../support/wait.js";

/** The gateway's configuration variables of API.md §1, as a deployer sets them. */

let system: System;

before(async () => {
	system = await startSystem({
		services: ["users", "gateway"],
		env: { AUTH_RATE_LIMIT: "4", JWT_TTL: "2", CORS_ORIGINS: "https://app.example" },
	});
});

after(async () => {
	await system?.stopAll();
});

test("JWT_TTL sets the token lifetime; once expired the token is refused", async () => {
	const api = new ApiClient(system.url);
	await api.signUp("Short", "Lived"); // register + login: two of the four attempts this minute
	assert.equal((await api.get("/api/users/me")).status, 200);
	const expired = await waitFor(
		async () => {
			const res = await api.get("/api/users/me");
			return res.status === 401 ? res : undefined;
		},
		{ timeoutMs: 8_000, what: "the 2 s token to expire" },
	);
	assert.equal(expired.body.type, "UNAUTHORIZED");
});

test("AUTH_RATE_LIMIT caps register and login attempts per client address with 429 RATE_LIMITED", async () => {
	const api = new ApiClient(system.url);
	const statuses: number[] = [];
	for (let i = 0; i < 3; i++) statuses.push((await api.post("/api/auth/login", { email: "nobody@example.com", password: "whatever" })).status);
	assert.deepEqual(statuses, [401, 401, 429]);
	const limited = await api.post("/api/auth/register", { name: "A", surname: "B", email: "a@example.com", password: "password1" });
	assert.equal(limited.status, 429);
	assert.equal(limited.body.type, "RATE_LIMITED");
	// Other routes are not limited.
	assert.equal((await api.get("/health")).status, 200);
});

test("CORS answers preflights for the configured origin only", async () => {
	const allowed = await fetch(`${system.url}/api/groups`, {
		method: "OPTIONS",
		headers: { origin: "https://app.example", "access-control-request-method": "POST" },
	});
	assert.equal(allowed.headers.get("access-control-allow-origin"), "https://app.example");
	const other = await fetch(`${system.url}/api/groups`, {
		method: "OPTIONS",
		headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
	});
	assert.notEqual(other.headers.get("access-control-allow-origin"), "https://evil.example");
});
