# airbyte-wrapper: every target uses the committed Cargo.lock (--locked).
CARGO ?= cargo
BIN := target/release/airbyte-wrapper
STATIC_BIN := target/x86_64-unknown-linux-gnu/release/airbyte-wrapper
# Prism, pinned in tests/contract/package-lock.json; Schemathesis, pinned in tests/contract/requirements.txt.
PRISM := tests/contract/node_modules/.bin/prism
VENV := .venv
SCHEMATHESIS := $(VENV)/bin/schemathesis

.DEFAULT_GOAL := help
.PHONY: help build run demo test lint release static size scratch-test contract venv schemathesis fuzz

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

build: ## Build the debug binary
	$(CARGO) build --locked

run: ## Run the service (configure with environment variables; see README)
	$(CARGO) run --locked --release

demo: ## Start a fake Airbyte and the service, send the README's three requests
	$(CARGO) test --locked --test demo

test: ## Run the unit and integration tests
	$(CARGO) test --locked

lint: ## Check formatting and clippy warnings
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

release: ## Build the size-optimised release binary
	$(CARGO) build --locked --release
	@ls -l $(BIN)

STATIC_BIN := target/x86_64-unknown-linux-gnu/release/airbyte-wrapper
# Prism, pinned in tests/contract/package-lock.json; Schemathesis, pinned in tests/contract/requirements.txt.
PRISM := tests/contract/node_modules/.bin/prism
VENV := .venv
SCHEMATHESIS := $(VENV)/bin/schemathesis

.DEFAULT_GOAL := help
.PHONY: help build run demo test lint release static size scratch-test contract venv schemathesis fuzz
