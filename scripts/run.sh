#!/usr/bin/env bash
# Run the whole portal locally: PostgreSQL, Redis, the simulated Entra tenant, gunicorn, a Celery
# worker and Celery beat, kept by supervisord (scripts/supervisord.conf says how a part that exits
# is started again, and when one is given up, which stops the whole run). Data is kept in .local/
# between runs. Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

export RP_LOCAL_DIR="${RP_LOCAL_DIR:-$ROOT/.local}"
LOCAL="$RP_LOCAL_DIR"
export RP_PG_PORT="${RP_PG_PORT:-54320}" RP_REDIS_PORT="${RP_REDIS_PORT:-63790}"
export RP_WEB_PORT="${RP_WEB_PORT:-8000}" RP_SIM_PORT="${RP_SIM_PORT:-8765}"
export RP_SIM_LOGIN_PORT="${RP_SIM_LOGIN_PORT:-8766}" WEB_CONCURRENCY="${WEB_CONCURRENCY:-3}"
mkdir -p "$LOCAL/logs" "$LOCAL/mail" "$LOCAL/redis"
chmod 755 "$LOCAL"

CONF="$ROOT/scripts/supervisord.conf"
PIDFILE="$LOCAL/supervisord.pid"
if [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  die "the portal is already running from $LOCAL (supervisord pid $(cat "$PIDFILE")): stop it first"
fi

ensure_system_packages
ensure_python_env
compile_messages
pg_init "$LOCAL/pg"
secret_file "$LOCAL/secret_key"
fernet_key_file "$LOCAL/tap_key"

export DJANGO_SETTINGS_MODULE=recovery_portal.settings
export DATABASE_URL="postgres://postgres@127.0.0.1:$RP_PG_PORT/recovery_portal"
export REDIS_URL="redis://127.0.0.1:$RP_REDIS_PORT/0"
export SECRET_KEY_FILE="$LOCAL/secret_key"
export TAP_ENCRYPTION_KEY_FILE="$LOCAL/tap_key"
export RP_DEMO_MODE=true RP_HTTPS=false DEBUG="${DEBUG:-false}"
export SITE_URL="http://127.0.0.1:$RP_WEB_PORT"
export EMAIL_BACKEND="${EMAIL_BACKEND:-django.core.mail.backends.filebased.EmailBackend}"
export EMAIL_FILE_PATH="$LOCAL/mail"
export SIMTENANT_URL="http://127.0.0.1:$RP_SIM_PORT"
export SIMTENANT_LOGIN_URL="https://127.0.0.1:$RP_SIM_LOGIN_PORT"
export SIMTENANT_CA_FILE="$LOCAL/simtenant/cert.pem"
# For scripts/supervisord.conf.
export PGBIN RP_RUN_AS="$(id -un)" RP_PG_USER=postgres
export RP_SIMULATED=true RP_CTL_PASSWORD
# supervisorctl's password, new each run (the socket is also the owner's only): without one
# supervisord warns on every start that its control socket checks no credentials.
RP_CTL_PASSWORD="$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
[ -z "${GRAPH_TENANT_ID:-}" ] || RP_SIMULATED=false

# The same environment for `bash scripts/manage.sh …` (demo_totp, shell, graph_check) and
# `bash scripts/ctl.sh …` (supervisorctl).
(umask 077; export -p | grep -E ' (DJANGO_SETTINGS_MODULE|DATABASE_URL|REDIS_URL|SECRET_KEY_FILE|TAP_ENCRYPTION_KEY_FILE|RP_[A-Z_]+|DEBUG|SITE_URL|EMAIL_[A-Z_]+|SIMTENANT_[A-Z_]+|GRAPH_[A-Z_]+|PGBIN|WEB_CONCURRENCY)=' \
  >"$LOCAL/env")

supervisord_pid=""
stop_all() {
  local rc=$?
  trap - INT TERM EXIT
  if [ -n "$supervisord_pid" ]; then
    if kill -0 "$supervisord_pid" 2>/dev/null; then
      log "stopping…"
      kill -TERM "$supervisord_pid" 2>/dev/null || true
    fi
    wait "$supervisord_pid" 2>/dev/null || true
  fi
  if [ -s "$LOCAL/gave-up" ]; then
    log "$(cat "$LOCAL/gave-up") kept crashing, so everything stopped; see $LOCAL/logs/"
    exit 1
  fi
  log "stopped."
  exit "$rc"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# await WHAT COMMAND…: poll COMMAND until it succeeds (0) or 60 s have passed (1); stops the run
# if supervisord ended meanwhile (it gave up on a part).
await() {
  local what="$1"; shift
  for _ in $(seq 1 300); do
    "$@" >/dev/null 2>&1 && return 0
    kill -0 "$supervisord_pid" 2>/dev/null || die "supervisord stopped while waiting for $what"
    sleep 0.2
  done
  log "$what is not up after 60 s: see $LOCAL/logs/"
  return 1
}

# A certificate left by the last run would pass for the new simulated tenant being up.
rm -f "$LOCAL/gave-up" "$SIMTENANT_CA_FILE"
"$ROOT/.venv/bin/supervisord" -c "$CONF" &
supervisord_pid=$!
PY="$ROOT/.venv/bin/python"
await PostgreSQL psql -h 127.0.0.1 -p "$RP_PG_PORT" -U postgres -c 'SELECT 1' postgres || exit 1
pg_createdb "$RP_PG_PORT" recovery_portal
await Redis redis-cli -p "$RP_REDIS_PORT" ping || exit 1
"$PY" manage.py migrate --noinput -v 0
"$PY" manage.py seed_demo
if [ "$RP_SIMULATED" = true ]; then
  await "the simulated tenant" test -s "$SIMTENANT_CA_FILE" || exit 1
fi
# A part given up on while starting: the event listener stops supervisord (see stop_all).
"$ROOT/.venv/bin/supervisorctl" -c "$CONF" start 'portal:*' || { wait "$supervisord_pid" || true; exit 1; }

# Ready means database, Redis and a worker heartbeat all answer (/health/ says 200).
await /health/ curl -fsS -o /dev/null "http://127.0.0.1:$RP_WEB_PORT/health/" || true
log "Recovery Portal is running: http://127.0.0.1:$RP_WEB_PORT/  (staff sign-in: /accounts/login/)"
log "logs: $LOCAL/logs/  ·  mails: $LOCAL/mail/  ·  TOTP codes: bash scripts/manage.sh demo_totp"
log "parts: bash scripts/ctl.sh status  ·  press Ctrl-C to stop"
wait "$supervisord_pid" || true
