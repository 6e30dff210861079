# Shared shell helpers for scripts/run.sh and scripts/test.sh. Source it; do not run it.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PGBIN="${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"

log() { printf '\033[1m[recovery-portal]\033[0m %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Debian/Ubuntu packages the portal needs, installed when missing (root only).
ensure_system_packages() {
  local want=(postgresql redis-server gettext "$@") missing=()
  for pkg in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    die "missing system packages: ${missing[*]} (install them, e.g. apt-get install ${missing[*]})"
  fi
  log "installing system packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
}

# The Python environment, from the lock file, with uv pointed at the system Python 3.11.
ensure_python_env() {
  local py
  py="$(command -v python3.11 || command -v python3)"
  py="$("$py" -c 'import sys; print(sys.executable)')"
  "$py" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
    || die "Python 3.11 is required (found $("$py" --version))"
  command -v uv >/dev/null || "$py" -m pip install --quiet uv || die "cannot install uv"
  local uvbin; uvbin="$(command -v uv || echo "$py -m uv")"
  (cd "$ROOT" && $uvbin sync --frozen --quiet --python "$py") || die "uv sync failed"
}

compile_messages() {
  # Catalogs are committed as .po; the .mo files are built here (git-ignored).
  find "$ROOT/locale" -name '*.po' 2>/dev/null | grep -q . || return 0
  (cd "$ROOT" && DEBUG=true SECRET_KEY=compilemessages-only-not-a-secret-000000000 \
    .venv/bin/python manage.py compilemessages --ignore=.venv -v 0) \
    || die "compilemessages failed"
}

# pg_start DIR PORT [test]: a project-local cluster on loopback, owned by the postgres user.
pg_start() {
  local dir="$1" port="$2" mode="${3:-}" opts
  mkdir -p "$dir"
  chown postgres:postgres "$dir" 2>/dev/null || true
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    runuser -u postgres -- "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 \
      --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || die "initdb failed: see $dir/initdb.log"
  fi
  opts="-p $port -k $dir -c listen_addresses=127.0.0.1"
  [ "$mode" = test ] && opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "$opts" start >/dev/null || die "PostgreSQL did not start: see $dir/server.log"
}

pg_stop() {
  local dir="$1"
  [ -f "$dir/data/postmaster.pid" ] || return 0
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

pg_createdb() {
  local port="$1" name="$2"
  psql -h 127.0.0.1 -p "$port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$name'" \
    | grep -q 1 || createdb -h 127.0.0.1 -p "$port" -U postgres "$name"
}

# redis_start DIR PORT [test]
redis_start() {
  local dir="$1" port="$2" mode="${3:-}" persist=(--appendonly yes)
  mkdir -p "$dir"
  [ "$mode" = test ] && persist=(--save '' --appendonly no)
  redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --dir "$dir" \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "${persist[@]}" || die "Redis did not start"
  for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "Redis did not answer on port $port"
}

redis_stop() { redis-cli -p "$1" shutdown nosave >/dev/null 2>&1 || true; }

# A random secret in a file, made once and kept (0600).
secret_file() {
  local path="$1"
  if [ ! -s "$path" ]; then
    umask 077
    "$ROOT/.venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))' >"$path"
  fi
}

fernet_key_file() {
  local path="$1"
  if [ ! -s "$path" ]; then
    umask 077
    "$ROOT/.venv/bin/python" -c \
      'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' >"$path"
  fi
}

# supervise NAME LOGFILE COMMAND...: run COMMAND (output appended to LOGFILE) and start it again
# whenever it exits, after a back-off that doubles with each recent crash (RP_SUPERVISE_BACKOFF
# seconds first, default 1). Gives up, returning 1, after RP_SUPERVISE_MAX_CRASHES exits (default
# 5) within RP_SUPERVISE_WINDOW seconds (default 60). SIGTERM, SIGINT or SIGHUP to the supervisor
# stops the child (SIGTERM, then waits for it) and returns 0 without a restart. The child runs in
# its own session: a Ctrl-C at the terminal reaches only run.sh, which stops each supervisor, so a
# child never dies of the Ctrl-C first and gets restarted during a deliberate shutdown.
supervise() {
  local name="$1" logfile="$2"; shift 2
  local backoff="${RP_SUPERVISE_BACKOFF:-1}" max="${RP_SUPERVISE_MAX_CRASHES:-5}"
  local window="${RP_SUPERVISE_WINDOW:-60}"
  local child="" stopping="" rc how delay t crashes=() recent=()
  set +m  # setsid must not fork: $! has to be the child itself
  trap 'stopping=yes; [ -z "$child" ] || kill -TERM "$child" 2>/dev/null || true' TERM INT HUP
  while [ -z "$stopping" ]; do
    setsid "$@" >>"$logfile" 2>&1 </dev/null &
    child=$!
    _supervise_say "$name" "$logfile" "started $name (pid $child)"
    rc=0
    # (stderr: bash's own "Killed" job notice; what exited is said below)
    wait "$child" 2>/dev/null || rc=$?
    while kill -0 "$child" 2>/dev/null; do  # a stop request woke us: wait for the child
      rc=0
      wait "$child" 2>/dev/null || rc=$?
    done
    # What the child left in its process group (gunicorn or Celery pool processes).
    kill -TERM -- "-$child" 2>/dev/null || true
    [ -z "$stopping" ] || break
    how="exit code $rc"
    if [ "$rc" -gt 128 ] && t="$(kill -l $((rc - 128)) 2>/dev/null)"; then how="signal $t"; fi
    recent=()
    for t in "${crashes[@]}"; do [ $((SECONDS - t)) -ge "$window" ] || recent+=("$t"); done
    crashes=("${recent[@]}" "$SECONDS")
    if [ "${#crashes[@]}" -ge "$max" ]; then
      _supervise_say "$name" "$logfile" \
        "$name exited ($how), ${#crashes[@]} times within ${window} s: giving up on it"
      trap - TERM INT HUP
      return 1
    fi
    delay="$(awk -v b="$backoff" -v n="${#crashes[@]}" 'BEGIN { print b * 2 ^ (n - 1) }')"
    _supervise_say "$name" "$logfile" "$name exited ($how): restarting it in ${delay} s"
    sleep "$delay" >/dev/null 2>&1 &
    wait $! || true  # a stop request ends the back-off at once
    kill -KILL -- "-$child" 2>/dev/null || true
  done
  _supervise_say "$name" "$logfile" "stopped $name"
  trap - TERM INT HUP
  return 0
}

_supervise_say() {
  log "$3"
  printf '[supervisor] %s %s\n' "$(date -u +%FT%TZ)" "$3" >>"$2"
}
