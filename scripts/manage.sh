#!/usr/bin/env bash
# manage.py with the environment of the running demo (written by scripts/run.sh to .local/env).
# Example: bash scripts/manage.sh demo_totp
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ENV_FILE="${RP_LOCAL_DIR:-$ROOT/.local}/env"
[ -f "$ENV_FILE" ] || { echo "No $ENV_FILE: start the portal once with 'make run'." >&2; exit 1; }
# shellcheck disable=SC1090
source "$ENV_FILE"
cd "$ROOT"
exec .venv/bin/python manage.py "$@"
