#!/bin/sh
# Starts nats-server with one of the configs beside this script, handing it the credentials from
# a Docker secret through the environment (not the command line, which `ps` shows):
#
#   sh start.sh <config file> [nats-server flags...]      e.g. start.sh /etc/nats/cluster.conf --server_name nats1
#
#   NATS_USER            the clients' user name [positionpal]
#   NATS_PASSWORD_FILE   the secret holding the password (also read by every PositionPal process)
#   NATS_ROUTE_HOSTS     host:port of every cluster node, comma-separated (cluster.conf only)
#
# The password may hold letters, digits and . _ ~ - only (`openssl rand -hex 32`): it then needs no
# escaping in the config or in a route URL. Anything else stops the server with exit code 78.
set -eu

config="${1:?usage: start.sh <config file> [nats-server flags...]}"
shift
: "${NATS_PASSWORD_FILE:?NATS_PASSWORD_FILE must name the file (Docker secret) that holds the NATS password}"
password="$(cat "$NATS_PASSWORD_FILE")"
user="${NATS_USER:-positionpal}"
case "$password" in
	"" | *[!A-Za-z0-9._~-]*)
		echo "nats: $NATS_PASSWORD_FILE must hold a password of letters, digits and . _ ~ - only (openssl rand -hex 32)" >&2
		exit 78
		;;
esac
case "$user" in
	"" | *[!A-Za-z0-9._~-]*)
		echo "nats: NATS_USER must be letters, digits and . _ ~ - only" >&2
		exit 78
		;;
esac

# nats-server parses a variable's value as config: quoted, "12e45..." stays a string, not a number.
NATS_USER="\"$user\""
NATS_PASSWORD="\"$password\""
export NATS_USER NATS_PASSWORD

if [ -n "${NATS_ROUTE_HOSTS:-}" ]; then
	routes=""
	for host in $(printf '%s' "$NATS_ROUTE_HOSTS" | tr ',' ' '); do
		routes="${routes:+$routes, }\"nats://route:$password@$host\""
	done
	NATS_ROUTES="[$routes]"
	export NATS_ROUTES
fi

exec nats-server --config "$config" "$@"
