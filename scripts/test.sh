#!/usr/bin/env bash
# Run the test suite against throwaway PostgreSQL and Redis (other ports, a temporary folder),
# browser tests included (Debian's Chromium through Playwright). Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_system_packages chromium docker-compose
ensure_python_env
compile_messages
# The whole suite (CI) starts with the known-vulnerability audit of uv.lock (scripts/audit_deps.sh).
[ $# -eq 0 ] && bash "$ROOT/scripts/audit_deps.sh"

TMP="$(mktemp -d /tmp/rp-test.XXXXXX)"
chmod 755 "$TMP"
# Free ports picked at run time, so that several test runs can share a machine.
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PG_PORT="${RP_TEST_PG_PORT:-$(free_port)}"
REDIS_PORT="${RP_TEST_REDIS_PORT:-$(free_port)}"
cleanup() {
  redis_stop "$REDIS_PORT"
  pg_stop "$TMP/pg"
  rm -rf "$TMP"
}
trap cleanup EXIT

pg_start "$TMP/pg" "$PG_PORT" test
redis_start "$TMP/redis" "$REDIS_PORT" test

export DJANGO_SETTINGS_MODULE=recovery_portal.settings
export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/recovery_portal"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export RP_TEST_PG_DIR="$TMP/pg" RP_TEST_REDIS_DIR="$TMP/redis" RP_TEST_PG_PORT="$PG_PORT"
export RP_TEST_REDIS_PORT="$REDIS_PORT" PGBIN
export SECRET_KEY="test-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export TAP_ENCRYPTION_KEY="$(.venv/bin/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
export MFA_ENCRYPTION_KEYS="$(.venv/bin/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
export RP_HTTPS=false DEBUG=false RP_DEMO_MODE=false RP_LOCAL_DIR="$TMP/local"
export EMAIL_BACKEND=django.core.mail.backends.locmem.EmailBackend
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
export DJANGO_ALLOW_ASYNC_UNSAFE=true
mkdir -p "$TMP/local"

set +e
.venv/bin/pytest "$@"
rc=$?
set -e
exit $rc
