#!/usr/bin/env bash
# Runs a command with a PostgreSQL database for it: `DATABASE_URL` as given, or else a
# throw-away cluster made with the distribution's `initdb`/`pg_ctl` (run as the `postgres`
# user when the caller is root, as PostgreSQL refuses to run as root) on a free port of
# its own, stopped and removed afterwards. The command sees `DATABASE_URL`, and, when
# `openssl` is there to make a certificate for 127.0.0.1 (the cluster then also speaks TLS),
# `PG_TEST_CA`: that certificate, for the tests that connect with `sslmode=require`.
set -euo pipefail
if [ -n "${DATABASE_URL:-}" ]; then
  exec "$@"
fi
# Debian keeps the server's binaries off PATH, under /usr/lib/postgresql/<version>/bin.
if ! command -v initdb >/dev/null 2>&1; then
  for bin in /usr/lib/postgresql/*/bin; do [ -x "$bin/initdb" ] && PATH="$bin:$PATH"; done
fi
for tool in initdb pg_ctl; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "with-postgres: $tool is missing; install PostgreSQL's server binaries (Debian: apt-get install postgresql), or set DATABASE_URL" >&2
    exit 1
  }
done
port="${PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
dir="$(mktemp -d)"
as_owner=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$dir"
  as_owner=(runuser -u postgres --)
fi
stop() {
  "${as_owner[@]}" pg_ctl -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
"${as_owner[@]}" initdb -D "$dir/data" -U wiizo --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; echo "with-postgres: initdb failed" >&2; exit 1; }
ssl=""
# A CA of its own, and the server's certificate for 127.0.0.1 signed by it.
if command -v openssl >/dev/null 2>&1 && {
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=wiizo test CA" \
      -keyout "$dir/ca.key" -out "$dir/ca.crt" &&
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$dir/server.key" -out "$dir/server.csr" &&
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$dir/server.ext" &&
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
      -days 2 -extfile "$dir/server.ext" -out "$dir/server.crt"
  } >/dev/null 2>&1; then
  chmod 600 "$dir/server.key"
  [ "${#as_owner[@]}" = 0 ] || chown postgres "$dir/server.key" "$dir/server.crt"
  ssl="-c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key"
  export PG_TEST_CA="$dir/ca.crt"
fi
"${as_owner[@]}" pg_ctl -D "$dir/data" -l "$dir/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c full_page_writes=off -c synchronous_commit=off $ssl" start >/dev/null \
  || { cat "$dir/server.log" >&2; echo "with-postgres: the cluster did not start" >&2; exit 1; }
# Plain text by default: the certificate is the TLS test's, trusted by nothing else.
export DATABASE_URL="postgres://wiizo@127.0.0.1:$port/postgres?sslmode=disable"
# Told to stop (Ctrl-C, TERM), the command is told too, and the cluster stops after it.
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null || true' INT TERM
set +e
wait "$child"
status=$?
while kill -0 "$child" 2>/dev/null; do
  wait "$child"
  status=$?
done
exit "$status"
