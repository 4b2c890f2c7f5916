// The Go toolchain, for building nats-server (when no package is available) and FerretDB.
import { join } from "node:path";
import { findExecutable } from "./proc.mjs";

/** The `go` command on PATH or in the usual install locations; null when there is none. */
export function findGo() {
	return findExecutable("go", ["/usr/local/go/bin/go", "/usr/lib/go/bin/go", join(process.env.HOME || "/root", "go/bin/go")]);
}

/** Both servers are pure Go: no C compiler needed. */
export const goEnv = (extra = {}) => ({ ...process.env, CGO_ENABLED: "0", ...extra });
