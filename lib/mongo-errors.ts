/**
 * A duplicate-key error: MongoDB reports code 11000; FerretDB's SQLite back end reports an
 * update that breaks a unique index as an internal error naming the constraint. The one place
 * that knows both wordings: every caller that tolerates a lost insert race asks here.
 */
export function isDuplicateKey(err: unknown): boolean {
	const e = (err ?? {}) as { code?: unknown; message?: unknown };
	return e.code === 11000 || /E11000|UNIQUE constraint failed/.test(String(e.message ?? ""));
}
