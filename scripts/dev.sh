#!/usr/bin/env bash
# `make dev`: every function under `cargo lambda watch`, on the local SQLite store.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
if ! command -v cargo-lambda >/dev/null 2>&1; then
  echo "installing cargo-lambda (pip install cargo-lambda)…" >&2
  python3 -m pip install --quiet cargo-lambda
  hash -r
fi
cargo run --quiet -p shared --bin wiizo -- migrate >&2
echo "serving every function at http://${DEV_HOST:-127.0.0.1}:${DEV_PORT:-9000}/lambda-url/<function>/… (store: $WIIZO_SQLITE_PATH)" >&2
exec cargo lambda watch -A "${DEV_HOST:-127.0.0.1}" -P "${DEV_PORT:-9000}"
