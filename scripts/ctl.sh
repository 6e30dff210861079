#!/usr/bin/env bash
# supervisorctl for the running `make run` (its environment from .local/env, written by run.sh).
# Examples: bash scripts/ctl.sh status · bash scripts/ctl.sh restart portal:worker
#           bash scripts/ctl.sh tail -f portal:web
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ENV_FILE="${RP_LOCAL_DIR:-$ROOT/.local}/env"
[ -f "$ENV_FILE" ] || { echo "No $ENV_FILE: start the portal once with 'make run'." >&2; exit 1; }
# shellcheck disable=SC1090
source "$ENV_FILE"
exec "$ROOT/.venv/bin/supervisorctl" -c "$ROOT/scripts/supervisord.conf" "$@"
