// Test-runner options that `npm test -- …` accepts (a subset of node --test's flags), shared by
// scripts/test.mjs (which validates them) and scripts/lib/run-tests.mjs (which applies them).
export const TEST_OPTIONS = {
	"test-name-pattern": { type: "string", multiple: true },
	"test-skip-pattern": { type: "string", multiple: true },
	"test-only": { type: "boolean" },
	"test-timeout": { type: "string" },
};

/** Turn parsed option values back into `--flag=value` arguments. */
export function toArgs(values) {
	const out = [];
	for (const [name, value] of Object.entries(values)) {
		for (const v of [].concat(value)) out.push(v === true ? `--${name}` : `--${name}=${v}`);
	}
	return out;
}
