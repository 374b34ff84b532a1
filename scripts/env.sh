# Sourced by the Makefile's scripts: exports dev.env's variables that the caller has not
# set, and makes the SQLite path absolute so every process finds the same file.
# STORE=dynamodb switches to the local DynamoDB server `make dev STORE=dynamodb` runs;
# STORE=postgres to DATABASE_URL, or else to the throw-away cluster `make dev STORE=postgres`
# runs on port DEV_PG_PORT.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${STORE:-sqlite}" = postgres ]; then
  export WIIZO_STORE=postgres
  if [ -z "${DATABASE_URL:-}" ]; then
    export PG_PORT="${DEV_PG_PORT:-5433}" WIIZO_DEV_CLUSTER=1
    export DATABASE_URL="postgres://wiizo@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
  fi
fi
if [ "${STORE:-sqlite}" = dynamodb ]; then
  export WIIZO_STORE=dynamodb
  export WIIZO_TABLE="${WIIZO_TABLE:-wiizo-dev}"
  export AWS_ENDPOINT_URL_DYNAMODB="${AWS_ENDPOINT_URL_DYNAMODB:-http://127.0.0.1:${DEV_MOTO_PORT:-8000}}"
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
  export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_EC2_METADATA_DISABLED=true
fi
while IFS= read -r _line || [ -n "$_line" ]; do
  case "$_line" in ''|'#'*) continue ;; esac
  _key="${_line%%=*}"
  [ -z "${!_key+x}" ] && export "$_key=${_line#*=}"
done < "$_root/dev.env"
case "$WIIZO_SQLITE_PATH" in /*) ;; *) export WIIZO_SQLITE_PATH="$_root/$WIIZO_SQLITE_PATH" ;; esac
unset _root _line _key
