#!/usr/bin/env bash
# `cargo nextest` for the Makefile's test targets, installed first when this machine has
# none (cargo finds it in ~/.cargo/bin even when that is not on PATH).
set -euo pipefail
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "cargo-nextest is missing: installing it with 'cargo install --locked cargo-nextest' (once; about 6 minutes on 2 cores)…" >&2
  started=$SECONDS
  cargo install --locked --quiet cargo-nextest
  echo "cargo-nextest installed in $((SECONDS - started)) s" >&2
fi
exec cargo nextest "$@"
