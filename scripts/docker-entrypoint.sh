#!/bin/sh
# Container entrypoint. In demo mode, make the secret key and the TAP key once, on the shared
# volume, so that `docker compose up` needs no preparation. Production passes real *_FILE paths.
set -eu
if [ "${RP_DEMO_MODE:-false}" = "true" ]; then
  mkdir -p /data/keys
  for name in secret_key tap_key; do
    path="/data/keys/$name"
    if [ ! -s "$path" ]; then
      tmp="$(mktemp /data/keys/.new.XXXXXX)"
      if [ "$name" = tap_key ]; then
        python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' >"$tmp"
      else
        python -c 'import secrets; print(secrets.token_urlsafe(48))' >"$tmp"
      fi
      chmod 600 "$tmp"
      # mv -n: when two containers race, the first key wins and the other is discarded.
      mv -n "$tmp" "$path" 2>/dev/null || true
      rm -f "$tmp"
    fi
  done
fi
exec "$@"
