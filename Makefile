# WiizoChat backend. `make dev` runs every function locally; `make test` checks everything.
SHELL := /bin/bash
COMPANY ?=
ROLE ?= owner
# STORE=dynamodb runs `make dev` and `make token` on a local DynamoDB server (moto);
# STORE=postgres on DATABASE_URL, or a throw-away PostgreSQL cluster `make dev` starts.
STORE ?= sqlite
# The store `make build` links into the bootstraps (each function links one store).
DEPLOY_STORE ?= dynamodb
FUNCTIONS := leads-management whatsapp-api webhooks openai-proxy analytics accounts events-worker
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
export STORE

.PHONY: doctor openapi dev token migrate test fmt fmt-check clippy features lint template unit e2e fuzz types build deploy bench clean

## doctor: every prerequisite of dev, test, build and deploy, one line each, with its fix
doctor:
	@scripts/doctor.sh

## dev: serve every function at http://127.0.0.1:9000/lambda-url/<function>/… (STORE=sqlite|dynamodb|postgres)
dev:
	@scripts/dev.sh

## openapi: write openapi.json, the contract made from the route tables (a test keeps it current)
openapi:
	cargo run --quiet -p wiizo-tests --bin openapi > openapi.json

## token: print a JWT for COMPANY (created if needed) with ROLE (owner|admin|agent|viewer)
token:
	@scripts/with-env.sh cargo run --quiet -p shared --bin wiizo -- token --company "$(COMPANY)" --role "$(ROLE)"

## migrate: apply the store's migrations
migrate:
	@scripts/with-env.sh cargo run --quiet -p shared --bin wiizo -- migrate

## test: formatting, lints (code and template), every test, the end-to-end check of `make dev`,
## and the contract fuzzed against it
test: lint unit e2e fuzz types

fmt:
	cargo fmt --all

fmt-check:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

## lint: cargo fmt --check, clippy -D warnings, each store's build alone, and the SAM template
## checked offline
lint: fmt-check clippy features template

## features: every function built with one store only (as `make build` deploys it), linted,
## and the library's own tests run on that store's build
features:
	@for store in sqlite dynamodb postgres; do \
	  echo "features: $$store alone"; \
	  cargo clippy $(FUNCTIONS:%=-p %) --no-default-features --features $$store -- -D warnings || exit 1; \
	  scripts/nextest.sh run -p shared --no-default-features --features $$store --lib --no-tests=pass || exit 1; \
	done

template:
	scripts/lint-template.sh

## unit: the in-process, store conformance (SQLite, DynamoDB on moto, PostgreSQL on a
## throw-away cluster) and multi-process suites
unit:
	@rm -rf "$${TMPDIR:-/tmp}/wiizo-tests"
	scripts/with-moto.sh scripts/with-postgres.sh scripts/nextest.sh run --workspace --no-fail-fast

## e2e: `make dev` for real: cargo lambda watch, curl, the README's walkthrough
e2e:
	STORE=sqlite scripts/e2e.sh
	STORE=dynamodb scripts/e2e.sh
	STORE=postgres scripts/e2e.sh

## fuzz: schemathesis against `make dev` on SQLite: every route, all phases and checks, two companies
fuzz:
	scripts/fuzz.sh

## types: TypeScript types for the web app from openapi.json (types/wiizo-api.d.ts), then
## `tsc --noEmit` over them and types/example.ts
types:
	cd types && npm ci --silent --no-audit --no-fund && npx openapi-typescript ../openapi.json -o wiizo-api.d.ts && npx tsc -p .

## build: release bootstraps for Lambda (arm64), one per function in target/lambda/<function>/,
## each linking the store it deploys (DEPLOY_STORE=dynamodb|postgres|sqlite)
build:
	@. scripts/tools.sh && need_command cargo-lambda cargo-lambda && set -x && cargo lambda build --release --arm64 $(FUNCTIONS:%=-p %) --no-default-features --features $(DEPLOY_STORE)
	@for f in $(FUNCTIONS); do \
	  ls -l "$${CARGO_TARGET_DIR:-target}/lambda/$$f/bootstrap" | awk -v f=$$f '{ printf "%-18s %6.1f MB\n", f, $$5 / 1048576 }'; done

## deploy: build with SAM and deploy, asking for the stack's parameters (secrets are NoEcho)
deploy:
	@. scripts/tools.sh && need_command sam aws-sam-cli && need_command cargo-lambda cargo-lambda && \
	  set -x && sam build && sam deploy --guided

## bench: the release binaries through a local Lambda Runtime API beside a hello-world floor
## (STORE=sqlite|dynamodb|postgres); prints a table and writes $(TARGET_DIR)/bench/latest.json
bench:
	cargo build --release -p leads-management -p accounts -p webhooks -p openai-proxy -p analytics \
	  --no-default-features --features $(STORE)
	cargo build --release -p wiizo-bench
	$(if $(filter dynamodb,$(STORE)),scripts/with-moto.sh)$(if $(filter postgres,$(STORE)),scripts/with-postgres.sh) "$(TARGET_DIR)/release/wiizo-bench" \
	  --bin-dir "$(TARGET_DIR)/release" --events events --out "$(TARGET_DIR)/bench/latest.json" --store $(STORE) \
	  --lambda-dir "$(TARGET_DIR)/lambda"

clean:
	cargo clean
	rm -rf .wiizo
