#!/usr/bin/env bash
# Run the whole portal locally: PostgreSQL, Redis, the simulated Entra tenant, gunicorn, a Celery
# worker and Celery beat. Data is kept in .local/ between runs. A part that exits is started again
# (scripts/lib.sh: supervise); one that keeps crashing stops the whole run. Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

LOCAL="${RP_LOCAL_DIR:-$ROOT/.local}"
PG_PORT="${RP_PG_PORT:-54320}"
REDIS_PORT="${RP_REDIS_PORT:-63790}"
WEB_PORT="${RP_WEB_PORT:-8000}"
SIM_PORT="${RP_SIM_PORT:-8765}"
SIM_LOGIN_PORT="${RP_SIM_LOGIN_PORT:-8766}"
mkdir -p "$LOCAL/logs" "$LOCAL/mail"
chmod 755 "$LOCAL"

ensure_system_packages
ensure_python_env
compile_messages

pids=()
# start NAME COMMAND...: a supervised long-running part, its output in logs/NAME.log.
start() {
  local name="$1"; shift
  supervise "$name" "$LOCAL/logs/$name.log" "$@" &
  pids+=($!)
}
cleanup() {
  trap - INT TERM EXIT
  log "stopping…"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  redis_stop "$REDIS_PORT"
  pg_stop "$LOCAL/pg"
  log "stopped."
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pg_start "$LOCAL/pg" "$PG_PORT"
pg_createdb "$PG_PORT" recovery_portal
redis_start "$LOCAL/redis" "$REDIS_PORT"
secret_file "$LOCAL/secret_key"
fernet_key_file "$LOCAL/tap_key"

export DJANGO_SETTINGS_MODULE=recovery_portal.settings
export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/recovery_portal"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export SECRET_KEY_FILE="$LOCAL/secret_key"
export TAP_ENCRYPTION_KEY_FILE="$LOCAL/tap_key"
export RP_DEMO_MODE=true RP_HTTPS=false DEBUG="${DEBUG:-false}"
export RP_LOCAL_DIR="$LOCAL"
export SITE_URL="http://127.0.0.1:$WEB_PORT"
export EMAIL_BACKEND="${EMAIL_BACKEND:-django.core.mail.backends.filebased.EmailBackend}"
export EMAIL_FILE_PATH="$LOCAL/mail"
export SIMTENANT_URL="http://127.0.0.1:$SIM_PORT" SIMTENANT_LOGIN_URL="https://127.0.0.1:$SIM_LOGIN_PORT"
export SIMTENANT_CA_FILE="$LOCAL/simtenant/cert.pem"

# The same environment for `bash scripts/manage.sh …` (demo_totp, shell, graph_check).
export -p | grep -E ' (DJANGO_SETTINGS_MODULE|DATABASE_URL|REDIS_URL|SECRET_KEY_FILE|TAP_ENCRYPTION_KEY_FILE|RP_[A-Z_]+|DEBUG|SITE_URL|EMAIL_[A-Z_]+|SIMTENANT_[A-Z_]+|GRAPH_[A-Z_]+)=' \
  >"$LOCAL/env"

PY="$ROOT/.venv/bin/python"
if [ -z "${GRAPH_TENANT_ID:-}" ] && [ -f "$ROOT/simtenant/__main__.py" ]; then
  log "starting the simulated Entra tenant on 127.0.0.1:$SIM_PORT (token endpoint :$SIM_LOGIN_PORT)"
  start simtenant "$PY" -m simtenant --graph-port "$SIM_PORT" --login-port "$SIM_LOGIN_PORT" \
    --data-dir "$LOCAL/simtenant" --seed demo
  for _ in $(seq 1 100); do [ -s "$LOCAL/simtenant/cert.pem" ] && break; sleep 0.1; done
fi

"$PY" manage.py migrate --noinput -v 0
"$PY" manage.py seed_demo

start web "$ROOT/.venv/bin/gunicorn" recovery_portal.wsgi:application --bind "127.0.0.1:$WEB_PORT" \
  --workers "${WEB_CONCURRENCY:-3}" --timeout 30 --access-logfile -
start worker "$ROOT/.venv/bin/celery" -A recovery_portal worker --concurrency 2 --loglevel INFO
start beat "$ROOT/.venv/bin/celery" -A recovery_portal beat --loglevel INFO \
  --schedule "$LOCAL/celerybeat-schedule"

# Ready means database, Redis and a worker heartbeat all answer (/health/ says 200).
healthy=no
for _ in $(seq 1 300); do
  curl -fsS -o /dev/null "http://127.0.0.1:$WEB_PORT/health/" 2>/dev/null && { healthy=yes; break; }
  sleep 0.2
done
[ "$healthy" = yes ] || log "not every part is up yet: see http://127.0.0.1:$WEB_PORT/health/"
log "Recovery Portal is running: http://127.0.0.1:$WEB_PORT/  (staff sign-in: /accounts/login/)"
log "logs: $LOCAL/logs/  ·  mails: $LOCAL/mail/  ·  TOTP codes: bash scripts/manage.sh demo_totp"
log "press Ctrl-C to stop"
# A supervisor returns only when it gave up on its part: stop the rest rather than run half a portal.
wait -n "${pids[@]}" || true
log "a part kept crashing, so everything stops; see $LOCAL/logs/"
exit 1
