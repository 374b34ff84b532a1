#!/usr/bin/env bash
# Runs a command with the local configuration (dev.env under the caller's environment).
set -euo pipefail
. "$(dirname "$0")/env.sh"
exec "$@"
