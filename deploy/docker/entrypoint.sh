#!/bin/sh
# Every container of this project's images starts here (the Dockerfile's ENTRYPOINT), then runs its command.
# REDIS_PASSWORD_FILE set (docker compose's Redis clients): Redis' password is exported from that file, the one Redis
# itself was given (deploygen/redis_auth.py writes both), whatever REDIS_PASSWORD .env holds.
set -eu
if [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
    REDIS_PASSWORD="$(cat "$REDIS_PASSWORD_FILE")"
    export REDIS_PASSWORD
fi
exec "$@"
