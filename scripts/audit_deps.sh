#!/usr/bin/env bash
# Known vulnerabilities in the locked dependencies (uv.lock, dev group included): `uv audit`
# asks an OSV vulnerability service (https://api.osv.dev by default; RP_VULN_SERVICE_URL for a
# mirror) about every locked package and version.
#
# Exit 0: no known vulnerability, or the service could not be reached and RP_AUDIT_REQUIRED is
#         not 1 (then a loud "NOT CHECKED" says so; nothing was verified).
# Exit 1: at least one known vulnerability (the report names package, version, advisory, fix).
# Exit 2: the service could not be reached and RP_AUDIT_REQUIRED=1 (release pipelines).
# RP_VULN_IGNORE: advisory ids to ignore, space-separated (each needs a reason in docs/SECURITY.md).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

[ -x .venv/bin/uv ] || ensure_python_env  # uv is pinned in the dev group: `uv audit` is recent
args=(audit --frozen --preview-features audit-command)
[ -n "${RP_VULN_SERVICE_URL:-}" ] && args+=(--service-url "$RP_VULN_SERVICE_URL")
for id in ${RP_VULN_IGNORE:-}; do args+=(--ignore "$id"); done

report="$(mktemp)"
trap 'rm -f "$report"' EXIT
set +e
.venv/bin/uv "${args[@]}" >"$report" 2>&1
status=$?
set -e
case "$status" in
  0)
    log "dependency audit: $(grep -m1 -E '^Found ' "$report" || echo 'no known vulnerabilities')"
    ;;
  1)
    cat "$report" >&2
    log "dependency audit FAILED: known vulnerabilities in locked dependencies (see above)"
    exit 1
    ;;
  *)
    sed 's/^/    /' "$report" >&2
    if [ "${RP_AUDIT_REQUIRED:-0}" = 1 ]; then
      log "dependency audit FAILED: the vulnerability service could not be asked (exit $status)"
      exit 2
    fi
    log "dependency audit NOT CHECKED: the vulnerability service could not be asked (exit $status);"
    log "  nothing was verified. Set RP_VULN_SERVICE_URL to a reachable OSV mirror, or"
    log "  RP_AUDIT_REQUIRED=1 to make this fatal."
    ;;
esac
