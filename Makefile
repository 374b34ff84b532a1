# WiizoChat backend. `make dev` runs every function locally; `make test` checks everything.
SHELL := /bin/bash
COMPANY ?=
ROLE ?= owner

.PHONY: dev token migrate test fmt fmt-check clippy lint unit e2e build clean

## dev: serve every function at http://127.0.0.1:9000/lambda-url/<function>/… on the SQLite store
dev:
	@scripts/dev.sh

## token: print a JWT for COMPANY (created if needed) with ROLE (owner|admin|agent|viewer)
token:
	@scripts/with-env.sh cargo run --quiet -p shared --bin wiizo -- token --company "$(COMPANY)" --role "$(ROLE)"

## migrate: apply the store's migrations
migrate:
	@scripts/with-env.sh cargo run --quiet -p shared --bin wiizo -- migrate

## test: formatting, lints, every test, and the end-to-end check of `make dev`
test: fmt-check clippy unit e2e

fmt:
	cargo fmt --all

fmt-check:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

lint: fmt-check clippy

## unit: the in-process, store conformance and multi-process suites
unit:
	@rm -rf "$${TMPDIR:-/tmp}/wiizo-tests"
	cargo nextest run --workspace --no-fail-fast

## e2e: `make dev` for real: cargo lambda watch, curl, the README's walkthrough
e2e:
	scripts/e2e.sh

## build: release bootstraps for Lambda (arm64)
build:
	cargo lambda build --release --arm64

clean:
	cargo clean
	rm -rf .wiizo
