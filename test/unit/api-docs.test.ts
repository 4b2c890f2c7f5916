import { test } from "node:test";
import assert from "node:assert/strict";
import { asyncApiDocument, jsonSchemaOf, openApiDocument, routeDocs, routeTable, serverEventDocs, socketDocs } from "../../services/gateway/api-docs.js";
import { SocketCommands } from "../../services/gateway/socket-events.js";

test("every gateway route is documented and every documented route exists", () => {
	const routes = routeTable()
		.map(r => `${r.method} ${r.path}`)
		.sort();
	const documented = Object.keys(routeDocs).sort();
	assert.deepEqual(
		routes.filter(r => !documented.includes(r)),
		[],
		"routes without documentation",
	);
	assert.deepEqual(
		documented.filter(d => !routes.includes(d)),
		[],
		"documentation of routes that do not exist",
	);
});

test("every socket command is documented and every documented command exists", () => {
	assert.deepEqual(Object.keys(socketDocs).sort(), Object.keys(SocketCommands).sort());
	assert.deepEqual(
		Object.keys(asyncApiDocument().channels as object)
			.filter(c => c.includes(":") && !Object.keys(serverEventDocs).includes(c))
			.sort(),
		Object.keys(SocketCommands).sort(),
	);
});

test("the OpenAPI document carries the actions' parameter schemas", () => {
	const doc = openApiDocument(action =>
		action === "users.register"
			? { $$strict: "remove", name: { type: "string", min: 1, max: 100 }, email: { type: "email" }, nickname: { type: "string", optional: true } }
			: undefined,
	) as {
		paths: Record<
			string,
			Record<string, { requestBody?: { content: Record<string, { schema: { required: string[]; properties: Record<string, unknown> } }> } }>
		>;
	};
	const schema = doc.paths["/api/auth/register"]!.post!.requestBody!.content["application/json"]!.schema;
	assert.deepEqual(schema.required, ["name", "email"]);
	assert.deepEqual(schema.properties.name, { type: "string", minLength: 1, maxLength: 100 });
	assert.ok(doc.paths["/api/groups/{groupId}/members/{userId}"]!.delete, "path parameters use OpenAPI syntax");
	assert.deepEqual(jsonSchemaOf({ type: "enum", values: ["a", "b"] }), { enum: ["a", "b"] });
});
