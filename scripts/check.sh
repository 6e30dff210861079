#!/usr/bin/env bash
# The static checks CI runs besides the tests (`make check`): ruff's lint rules, ruff's format,
# and mypy (django-stubs) on the packages pyproject.toml lists. Each runs even if one before failed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_python_env

failed=()
check() {
  local name="$1"; shift
  log "$name: $*"
  "$@" || failed+=("$name")
}
check lint .venv/bin/ruff check .
check format .venv/bin/ruff format --check .
# django-stubs loads the settings: a development configuration, no services needed.
check types env DEBUG=true SECRET_KEY=mypy-only-not-a-secret-00000000000000000000 .venv/bin/mypy
[ ${#failed[@]} -eq 0 ] || die "failed: ${failed[*]}"
log "all checks passed"
