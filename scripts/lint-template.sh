#!/usr/bin/env bash
# `make lint`'s template check, offline: cfn-lint 1.53.3 (later versions stop translating
# SAM and miss errors in functions and the HTTP API) and `sam validate`. Before trusting
# a clean result it makes sure the linter still catches a broken !Ref.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/tools.sh
need_command cfn-lint 'cfn-lint==1.53.3' 'cfn-lint 1.53.3'
need_command sam aws-sam-cli
export AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0

broken="$(mktemp --suffix=.yaml)"
trap 'rm -f "$broken"' EXIT
sed '0,/!Ref Table$/s//!Ref NoSuchTable/' template.yaml > "$broken"
if cfn-lint "$broken" > /dev/null 2>&1; then
  echo "lint-template: cfn-lint accepted a template with a broken !Ref; it is not checking SAM" >&2
  exit 1
fi

cfn-lint template.yaml
sam validate --template template.yaml > /dev/null
echo "lint-template: template.yaml passes cfn-lint and sam validate"
