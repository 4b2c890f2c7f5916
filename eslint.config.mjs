// ESLint (flat config): `npm run lint` runs it, then `prettier --check .`; `npm test` runs that
// before a full suite. Formatting is Prettier's alone (.prettierrc.json): eslint-config-prettier,
// last, turns off every rule that would argue with it.
//
// TypeScript is linted with type information (each file's nearest tsconfig.json: the root one, or
// web/tsconfig.json for the browser client). The .mjs scripts have no tsconfig: they get the
// JavaScript rules only.
import js from "@eslint/js";
import prettier from "eslint-config-prettier";
import { defineConfig } from "eslint/config";
import globals from "globals";
import tseslint from "typescript-eslint";

export default defineConfig(
	{
		ignores: ["node_modules/", ".data/", "dist/", "web/dist/", "web/.dist-*/", "test-output/"],
	},
	{
		linterOptions: { reportUnusedDisableDirectives: "error" },
	},

	// ---- every file: ESLint's recommended JavaScript rules
	js.configs.recommended,
	{
		rules: {
			"no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
		},
	},

	// ---- Node scripts (.mjs) and the mongosh init script
	{
		files: ["**/*.mjs"],
		languageOptions: { globals: globals.node },
	},
	{
		files: ["docker/mongo-init/*.js"],
		languageOptions: { sourceType: "commonjs", globals: { ...globals.node, db: "readonly", print: "readonly" } },
	},

	// ---- TypeScript, type-aware
	{
		files: ["**/*.ts"],
		extends: [tseslint.configs.recommended],
		languageOptions: {
			parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
		},
		rules: {
			// Promises: every one is awaited, returned, or explicitly `void`ed; none is passed
			// where a void callback is expected (an event handler, a timer) and silently dropped.
			"@typescript-eslint/no-floating-promises": [
				"error",
				// node:test's test()/describe() return promises the runner itself awaits.
				{ allowForKnownSafeCalls: [{ from: "package", package: "node:test", name: ["test", "it", "describe", "suite"] }] },
			],
			"@typescript-eslint/no-misused-promises": "error",
			"@typescript-eslint/await-thenable": "error",
			"@typescript-eslint/return-await": ["error", "in-try-catch"],
			"@typescript-eslint/only-throw-error": "error",
			"@typescript-eslint/prefer-promise-reject-errors": "error",
			// Types say what they mean.
			"@typescript-eslint/no-explicit-any": "error",
			"@typescript-eslint/consistent-type-imports": ["error", { prefer: "type-imports", fixStyle: "inline-type-imports" }],
			"@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
			"no-unused-vars": "off", // the TypeScript version above knows about types
		},
	},
	{
		// Tests and benchmarks drive the services from outside, through their public shapes; an
		// `any` there (a raw socket payload, a spy's arguments) does not leak into the product.
		// Reported, so new code avoids it, but not failing.
		files: ["test/**/*.ts", "bench/**/*.ts"],
		rules: {
			"@typescript-eslint/no-explicit-any": "warn",
		},
	},
	{
		// The web client's DOM listeners are async on purpose (a form submit awaits the API) and
		// nobody can await a listener: each handler catches its own errors and shows them (toasts,
		// form errors). Promises handed to anything else are still checked.
		files: ["web/src/**/*.ts"],
		rules: {
			"@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: { arguments: false } }],
		},
	},

	prettier,
);
