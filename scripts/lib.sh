# Shared shell helpers for scripts/run.sh, test.sh and bench.sh. Source it; do not run it.
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
  local uvbin="$py -m uv"
  if command -v uv >/dev/null; then
    uvbin="$(command -v uv)"
  elif ! "$py" -m uv --version >/dev/null 2>&1; then
    "$py" -m pip install --quiet uv || die "cannot install uv"
  fi
  (cd "$ROOT" && $uvbin sync --frozen --quiet --python "$py") || die "uv sync failed"
}

compile_messages() {
  # Catalogs are committed as .po; the .mo files are built here (git-ignored), when one is
  # missing or older than its .po.
  local po stale=""
  for po in "$ROOT"/locale/*/LC_MESSAGES/*.po; do
    [ -e "$po" ] && [ ! "${po%.po}.mo" -nt "$po" ] && stale=yes
  done
  [ -n "$stale" ] || return 0
  (cd "$ROOT" && DEBUG=true SECRET_KEY=compilemessages-only-not-a-secret-000000000 \
    .venv/bin/python manage.py compilemessages --ignore=.venv -v 0) \
    || die "compilemessages failed"
}

# pg_init DIR: a project-local cluster in DIR/data (made once), owned by the postgres user.
pg_init() {
  local dir="$1"
  mkdir -p "$dir"
  chown postgres:postgres "$dir" 2>/dev/null || true
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    runuser -u postgres -- "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 \
      --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || die "initdb failed: see $dir/initdb.log"
  fi
}

# pg_start DIR PORT [test]: that cluster started in the background (pg_ctl), on loopback.
pg_start() {
  local dir="$1" port="$2" mode="${3:-}" opts
  pg_init "$dir"
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
