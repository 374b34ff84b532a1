#!/usr/bin/env bash
# `make doctor`: every prerequisite of make dev, make test, make build and make deploy, one
# line each, with the command that fixes what is missing. Installs nothing; exits non-zero
# when something a make target needs is missing.
set -uo pipefail
cd "$(dirname "$0")/.."

missing=0
ok() { printf '  ok       %-36s %s\n' "$1" "$2"; }
miss() { printf '  MISSING  %-36s fix: %s\n' "$1" "$2"; missing=$((missing + 1)); }
note() { printf '  note     %-36s %s\n' "$1" "$2"; }
first_line() { "$@" 2>/dev/null | head -n1; }

echo "Rust (every target)"
if command -v cargo >/dev/null 2>&1; then ok cargo "$(first_line cargo --version)"; else
  miss cargo "curl https://sh.rustup.rs -sSf | sh   (or: apt-get install rustup && rustup default stable)"; fi
for component in fmt:rustfmt clippy:clippy; do
  if cargo "${component%%:*}" --version >/dev/null 2>&1; then ok "${component#*:}" "$(first_line cargo "${component%%:*}" --version)"
  else miss "${component#*:}" "rustup component add ${component#*:}"; fi
done
if cargo nextest --version >/dev/null 2>&1; then ok cargo-nextest "$(first_line cargo nextest --version)"
else miss cargo-nextest "cargo install --locked cargo-nextest   (make test installs it when missing, ~6 min on 2 cores)"; fi
if rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
  ok "target aarch64 (make build)" aarch64-unknown-linux-gnu
else miss "target aarch64 (make build)" "rustup target add aarch64-unknown-linux-gnu"; fi

echo "Python and its tools (make dev, make test, make build, make deploy)"
if command -v "${PYTHON:-python3}" >/dev/null 2>&1; then
  # The same interpreter and PATH the scripts use (a virtualenv's when one is active).
  . scripts/tools.sh
  ok python3 "$("$py" --version 2>&1) at $(command -v "$py")"
  if "$py" -m pip --version >/dev/null 2>&1; then ok pip "$("$py" -m pip --version | cut -d' ' -f1-2)"
  else miss pip "$py -m ensurepip --upgrade   (Debian: apt-get install python3-pip)"; fi
  module() { # label imports condition fix
    if "$py" -c "import sys, $2; sys.exit(not ($3))" 2>/dev/null; then ok "$1" "importable by $py"
    else miss "$1" "$py -m pip install $4"; fi
  }
  command_at() { # label command version-line fix [--version command]
    local v
    v="$(first_line ${5:-$2} --version)"
    if [ -n "$v" ] && { [ -z "$3" ] || [ "$v" = "$3" ]; }; then ok "$1" "$v ($(command -v "$2"))"
    else miss "$1" "$py -m pip install $4"; fi
  }
  module "moto[server] (DynamoDB)" 'moto.server, werkzeug, flask_cors' True "'moto[server]'"
  command_at "cargo-lambda (dev, build)" cargo-lambda "" cargo-lambda "cargo lambda"
  if command -v zig >/dev/null 2>&1; then ok "zig (cross builds)" "$(zig version) ($(command -v zig))"
  elif "$py" -c 'import ziglang' 2>/dev/null; then ok "zig (cross builds)" "ziglang $("$py" -m ziglang version) for $py"
  else miss "zig (cross builds)" "$py -m pip install ziglang"; fi
  command_at "cfn-lint (lint)" cfn-lint "cfn-lint 1.53.3" "'cfn-lint==1.53.3'"
  command_at "sam (lint, deploy)" sam "" aws-sam-cli
  module "schemathesis (fuzz)" schemathesis "schemathesis.__version__ == '4.32.5'" "'schemathesis==4.32.5'"
else
  miss python3 "apt-get install python3 python3-pip python3-venv   (then make doctor again for its tools)"
fi

echo "Other tools"
pg_bin="$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n1)"
if [ -n "$pg_bin" ] && [ -x "$(dirname "$pg_bin")/pg_ctl" ]; then ok "PostgreSQL (tests, STORE=postgres)" "$("$pg_bin" --version) ($(dirname "$pg_bin"))"
else miss "PostgreSQL (tests, STORE=postgres)" "apt-get install postgresql   (initdb and pg_ctl; no server needs to run)"; fi
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then ok "Node and npm (make types)" "node $(node --version), npm $(npm --version)"
else miss "Node and npm (make types)" "apt-get install nodejs npm   (Node 18 or later)"; fi
for tool in curl openssl; do
  if command -v "$tool" >/dev/null 2>&1; then ok "$tool" "$(command -v "$tool")"; else miss "$tool" "apt-get install $tool"; fi
done

echo "Ports (make dev)"
port_free() { "${py:-python3}" -c 'import socket, sys; s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null; }
for p in "${DEV_PORT:-9000}:the functions" "${DEV_MOTO_PORT:-8000}:DynamoDB of STORE=dynamodb"; do
  if port_free "${p%%:*}"; then ok "port ${p%%:*} free" "${p#*:}"
  else miss "port ${p%%:*} free" "stop what listens there (ss -ltnp 'sport = :${p%%:*}'), or run make dev with DEV_PORT=/DEV_MOTO_PORT= another port"; fi
done

echo "Deploy"
if [ -n "${AWS_ACCESS_KEY_ID:-}${AWS_PROFILE:-}" ] || [ -f "${AWS_SHARED_CREDENTIALS_FILE:-$HOME/.aws/credentials}" ]; then
  ok "AWS credentials (make deploy)" "found"
else note "AWS credentials (make deploy)" "none yet; make deploy asks sam for them (aws configure, or AWS_PROFILE)"; fi

if [ "$missing" -gt 0 ]; then
  echo "doctor: $missing missing; run the commands above, then make doctor again"
  exit 1
fi
echo "doctor: everything make dev, make test, make build and make deploy need is here"
