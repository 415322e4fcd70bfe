#!/bin/sh
# Entrypoint of the Outreach image (Dockerfile).
#
#   <image> <service>      one process of services/<service> in the role OUTREACH_PROCESS_ROLE
#                          (all | api | worker; shared/settings.py), serving HTTP on
#                          OUTREACH_HTTP_HOST:OUTREACH_HTTP_PORT (0.0.0.0:8080 in the image)
#   <image> <command...>   anything else runs as given, e.g. python -m contacts.retention run
#
# An api process may serve its port from several server processes (OUTREACH_API_WORKERS > 1,
# through shared.runtime.serve, which keeps TCP_NODELAY on every connection); in Kubernetes one
# process per pod is the default and pods are what scales.
set -eu
app=${OUTREACH_APP_DIR:-/app}  # where the image keeps the code

usage() {
    echo "usage: <image> SERVICE | <image> COMMAND [ARG...]" >&2
    for main in "$app"/services/*/*/main.py; do
        [ -f "$main" ] && echo "  service: $(basename "$(dirname "$main")")" >&2
    done
    return 0
}

if [ "$#" -eq 0 ] || [ "$1" = "--help" ]; then
    usage
    exit 64
fi

if [ ! -f "$app/services/$1/$1/main.py" ]; then
    exec "$@"
fi

service=$1
shift
host=${OUTREACH_HTTP_HOST:-0.0.0.0}
port=${OUTREACH_HTTP_PORT:-8080}
workers=${OUTREACH_API_WORKERS:-1}

if [ "${OUTREACH_PROCESS_ROLE:-all}" = "api" ] && [ "$workers" -gt 1 ]; then
    exec python -m shared.runtime.serve "$service.main:create_app" \
        --host "$host" --port "$port" --workers "$workers" "$@"
fi
exec python -m uvicorn "$service.main:create_app" --factory \
    --host "$host" --port "$port" --no-access-log "$@"
