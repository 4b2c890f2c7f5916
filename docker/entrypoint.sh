#!/bin/sh
# Entrypoint of the PositionPal image: turns the deployment's environment into what the code
# reads, then runs the Moleculer runner on the compiled services that SERVICES names.
#
#   SERVICES             comma-separated service names ("users,location"), or "all" [all]
#   SERVICEDIR           where the compiled services are [dist/services]
#   MONGO_URL_FILE       a file (Docker secret) holding the whole MONGO_URL; or
#   MONGO_PASSWORD_FILE  a file holding the password of MONGO_USERNAME, from which MONGO_URL is
#                        built: mongodb://MONGO_USERNAME:<password>@MONGO_HOSTS/?authSource=MONGO_AUTH_SOURCE
#                        (MONGO_HOSTS [mongo:27017], MONGO_AUTH_SOURCE [admin])
#
# Arguments starting with "-" go to moleculer-runner (e.g. --repl); any other command runs as
# given with the same environment (`docker run IMAGE sh`).
set -eu

SERVICEDIR="${SERVICEDIR:-dist/services}"
export SERVICEDIR

# The code reads MONGO_URL only; Docker secrets arrive as files.
if [ -n "${MONGO_URL_FILE:-}" ]; then
	MONGO_URL="$(cat "$MONGO_URL_FILE")"
	export MONGO_URL
elif [ -n "${MONGO_PASSWORD_FILE:-}" ]; then
	: "${MONGO_USERNAME:?MONGO_USERNAME must be set with MONGO_PASSWORD_FILE}"
	# Node percent-encodes the credentials, so a password may hold any character.
	MONGO_URL="$(node -e '
		const env = process.env;
		const password = require("node:fs").readFileSync(env.MONGO_PASSWORD_FILE, "utf8").trim();
		if (!password) {
			console.error(`entrypoint: ${env.MONGO_PASSWORD_FILE} (MONGO_PASSWORD_FILE) is empty`);
			process.exit(1);
		}
		const user = encodeURIComponent(env.MONGO_USERNAME) + ":" + encodeURIComponent(password);
		const authSource = encodeURIComponent(env.MONGO_AUTH_SOURCE || "admin");
		process.stdout.write(`mongodb://${user}@${env.MONGO_HOSTS || "mongo:27017"}/?authSource=${authSource}`);
	')"
	export MONGO_URL
fi

# moleculer-runner takes a plain name like "gateway" for the folder dist/services/gateway/ (the
# gateway's helpers, no service in it) and then silently starts nothing: give it file names, and
# refuse a name that has no service file.
requested="${SERVICES:-all}"
if [ "$requested" = "all" ]; then
	SERVICES="*.service.js"
else
	SERVICES=""
	set -f # no globbing of the names
	for name in $(printf '%s' "$requested" | tr ',' ' '); do
		case "$name" in
			*.js) file="$name" ;;
			*) file="$name.service.js" ;;
		esac
		if [ ! -f "$SERVICEDIR/$file" ]; then
			set +f
			echo "entrypoint: SERVICES names \"$name\" but $SERVICEDIR/$file does not exist; available:" \
				"$(cd "$SERVICEDIR" && ls -- *.service.js | sed 's/\.service\.js$//' | tr '\n' ' ')" >&2
			exit 64
		fi
		SERVICES="${SERVICES:+$SERVICES,}$file"
	done
	set +f
	if [ -z "$SERVICES" ]; then
		echo "entrypoint: SERVICES=\"$requested\" names no service" >&2
		exit 64
	fi
fi
export SERVICES

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	# exec: the runner is the container's main process and receives SIGTERM itself, so the broker
	# stops gracefully (finishes in-flight requests, leaves the cluster) on `docker service update`.
	exec node node_modules/moleculer/bin/moleculer-runner.mjs --config dist/moleculer.config.js "$@"
fi
exec "$@"
