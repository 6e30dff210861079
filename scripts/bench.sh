#!/usr/bin/env bash
# Run the benchmarks (docs/BENCHMARKS.md) against throwaway PostgreSQL and Redis on free ports.
# Arguments go to `python -m bench` (e.g. `--only pages,verify`); BENCH_SCALE=0.1 for a quick run.
# Unlike scripts/test.sh, PostgreSQL keeps fsync and synchronous_commit ON: the figures are
# meant to say what a durable production database does (docs/BENCHMARKS.md, "Set-up").
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_system_packages
ensure_python_env
compile_messages

TMP="$(mktemp -d /tmp/rp-bench.XXXXXX)"
chmod 755 "$TMP"
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PG_PORT="$(free_port)"
REDIS_PORT="$(free_port)"
cleanup() {
  redis_stop "$REDIS_PORT"
  pg_stop "$TMP/pg"
  rm -rf "$TMP"
}
trap cleanup EXIT

pg_start "$TMP/pg" "$PG_PORT"
# Durable defaults kept; only memory and checkpoint spacing raised (so that seeding a million
# rows is not one checkpoint after another). Applied with a restart.
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qAt \
  -c "ALTER SYSTEM SET shared_buffers = '512MB'" \
  -c "ALTER SYSTEM SET max_wal_size = '4GB'" \
  -c "ALTER SYSTEM SET work_mem = '16MB'" \
  -c "ALTER SYSTEM SET maintenance_work_mem = '256MB'" >/dev/null
pg_stop "$TMP/pg"
pg_start "$TMP/pg" "$PG_PORT"
pg_createdb "$PG_PORT" recovery_portal
redis_start "$TMP/redis" "$REDIS_PORT"  # append-only file on, as deployed

export DJANGO_SETTINGS_MODULE=recovery_portal.settings
export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/recovery_portal"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export RP_BENCH_PG_PORT="$PG_PORT" RP_BENCH_TMP="$TMP"
export SECRET_KEY="bench-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export TAP_ENCRYPTION_KEY="$(.venv/bin/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
export MFA_ENCRYPTION_KEYS="$(.venv/bin/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
export RP_HTTPS=false DEBUG=false RP_DEMO_MODE=false RP_LOCAL_DIR="$TMP/local"
# The intake's limits (10/h per IP, 3/d per account) would stop a load test after ten requests:
# raised for this run only. Every request uses its own account anyway.
export RP_INTAKE_RATE_PER_IP="1000000/h" RP_INTAKE_RATE_PER_UPN="1000000/h"
# Mail is rendered as usual but not sent anywhere (no SMTP server here).
export EMAIL_BACKEND=django.core.mail.backends.dummy.EmailBackend
export LOG_LEVEL=WARNING
mkdir -p "$TMP/local"

log "migrating a fresh database on port $PG_PORT"
.venv/bin/python manage.py migrate --noinput -v 0
.venv/bin/python -m bench "$@"
