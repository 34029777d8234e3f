# airbyte-wrapper: every target uses the committed Cargo.lock (--locked).
CARGO ?= cargo
BIN := target/release/airbyte-wrapper
STATIC_BIN := target/x86_64-unknown-linux-gnu/release/airbyte-wrapper
# Prism and Redocly CLI, pinned in tests/contract/package-lock.json; Schemathesis,
# openapi-python-client and kubernetes-validate, pinned in tests/contract/requirements.txt.
PRISM := tests/contract/node_modules/.bin/prism
REDOCLY := tests/contract/node_modules/.bin/redocly
VENV := .venv
# apt-get needs root; `make bench` installs wrk and nginx, `make scale-test` nginx, through sudo when
# run as another user.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SCHEMATHESIS := $(VENV)/bin/schemathesis
CLIENT_GENERATOR := $(VENV)/bin/openapi-python-client
KUBERNETES_VALIDATE := $(VENV)/bin/kubernetes-validate

.DEFAULT_GOAL := help
.PHONY: help build run demo test lint release static size scratch-test image image-test scale-test bench soak callgrind contract venv schemathesis client-check deploy-check fuzz

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

build: ## Build the debug binary
	$(CARGO) build --locked

run: ## Run the service (configure with environment variables; see README)
	$(CARGO) run --locked --release

demo: ## Start a fake Airbyte and the service, send the README's three requests, sync and wait for it (DEMO_API=public: the public API)
	$(CARGO) test --locked --test demo

# The tiny_http fork (.cargo/vendor/tiny_http, a workspace of its own with its own Cargo.lock): its
# unit tests and upstream tiny_http 0.12.0's suite, adapted (PATCHES.md, "Tests"). Built under
# target/ so that nothing lands in .cargo/vendor.
TINY_HTTP := .cargo/vendor/tiny_http
TINY_HTTP_TARGET := target/tiny_http

test: ## Run the unit and integration tests, then the tiny_http fork's (with upstream's suite)
	$(CARGO) test --locked
	$(CARGO) test --locked --manifest-path $(TINY_HTTP)/Cargo.toml --target-dir $(TINY_HTTP_TARGET)

lint: ## Check formatting and clippy warnings, here and in the tiny_http fork
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) fmt --check --manifest-path $(TINY_HTTP)/Cargo.toml
	$(CARGO) clippy --locked --all-targets --manifest-path $(TINY_HTTP)/Cargo.toml --target-dir $(TINY_HTTP_TARGET) -- -D warnings

release: ## Build the release binary (the request path built for speed, the rest for size)
	$(CARGO) build --locked --release
	@ls -l $(BIN)

static: ## Build the fully static binary for a scratch container (see .cargo/static.toml)
	$(CARGO) build --locked --release --config .cargo/static.toml
	@file $(STATIC_BIN) 2>/dev/null || true

size: static ## Print the static binary's size (budget: 3.5 MiB)
	@stat -c '%s bytes  $(STATIC_BIN)' $(STATIC_BIN)
	@awk -v b=$$(stat -c %s $(STATIC_BIN)) 'BEGIN { printf "%.2f MiB of the 3.5 MiB budget\n", b / 1048576 }'

scratch-test: static ## Run the static binary alone under chroot, as in a scratch container
	bash tests/scratch/run.sh

# The OCI image, without a daemon: buildah builds the Dockerfile with IMAGE_CONTEXT standing in for
# its build stage (the Dockerfile says how), the `make static` binary where that stage leaves its
# own, so both build the same final stage and nothing is pulled. Its own image store under target/:
# vfs needs no overlay or fuse, and no RUN step runs, so chroot isolation is all it needs. Tested as
# root. To use the image elsewhere: the OCI archive, or `$(BUILDAH) push $(IMAGE) docker://...`.
IMAGE := airbyte-wrapper
IMAGE_STORE := $(CURDIR)/target/containers
BUILDAH := buildah --root $(IMAGE_STORE)/storage --runroot $(IMAGE_STORE)/run --storage-driver vfs
IMAGE_CONTEXT := target/image-build-stage
IMAGE_ARCHIVE := target/airbyte-wrapper.oci.tar

image: static ## Build the OCI image (the static binary alone, uid 65532) from the Dockerfile with buildah, no daemon; print its size
	@command -v buildah >/dev/null || { echo "installing buildah (Debian package)"; $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah; }
	rm -rf $(IMAGE_CONTEXT) && mkdir -p $(IMAGE_CONTEXT)/src/$(dir $(STATIC_BIN))
	cp $(STATIC_BIN) $(IMAGE_CONTEXT)/src/$(STATIC_BIN)
	$(BUILDAH) build --quiet --isolation chroot --pull=never \
		--build-context build=$(IMAGE_CONTEXT) -f Dockerfile -t $(IMAGE) .
	@$(BUILDAH) rmi --prune >/dev/null
	@rm -f $(IMAGE_ARCHIVE)
	@$(BUILDAH) push --quiet $(IMAGE) oci-archive:$(IMAGE_ARCHIVE):$(IMAGE)
	@echo "image $(IMAGE): $$($(BUILDAH) images --format "{{.Size}}" $(IMAGE))"
	@stat -c "OCI archive $(IMAGE_ARCHIVE): %s bytes (layer compressed)" $(IMAGE_ARCHIVE)

image-test: image ## Run the image's root filesystem under chroot as uid 65532 against the fake Airbyte; check its user, entrypoint, port, environment and files
	BUILDAH="$(BUILDAH)" IMAGE=$(IMAGE) bash tests/scratch/image.sh

# Three replicas (the debug binary `make test` builds, so CI compiles nothing more) behind nginx
# configured as the Ingress is, in front of one fake Airbyte: tests/scale/.
scale-test: ## Three replicas behind nginx hashed on Idempotency-Key: one create per key, keys spread, a rolling restart under load that loses nothing
	@{ command -v nginx || test -x /usr/sbin/nginx; } >/dev/null || { echo "installing nginx-light (Debian package)"; $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nginx-light; }
	$(CARGO) test --locked --test scale

bench: static ## Measure the static binary against a fast fake Airbyte, side by side with direct calls and nginx (prints, asserts nothing)
	@command -v wrk >/dev/null || { echo "installing wrk (Debian package)"; $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk; }
	@{ command -v nginx || test -x /usr/sbin/nginx; } >/dev/null || { echo "installing nginx-light (Debian package)"; $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nginx-light; }
	BENCH_BIN=$(CURDIR)/$(STATIC_BIN) $(CARGO) test --locked --profile bench-harness --test bench

soak: static ## Run the static binary through SOAK_SECONDS (180) of mixed load with Airbyte faults and hang-ups, its memory sampled (prints; fails only if it crashes or stops answering)
	BENCH_BIN=$(CURDIR)/$(STATIC_BIN) $(CARGO) test --locked --profile bench-harness --test soak

# Instructions per warm request, counted by valgrind (README, "Performance"): the steady number to
# compare two builds by. A release build that keeps its symbols, in a directory of its own.
CALLGRIND_DIR := target/callgrind
callgrind: ## Count the instructions a warm POST /sink costs the service, and where they go (prints, asserts nothing)
	@command -v valgrind >/dev/null || { echo "installing valgrind (Debian package)"; $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq valgrind; }
	CARGO_TARGET_DIR=$(CALLGRIND_DIR) CARGO_PROFILE_RELEASE_STRIP=none CARGO_PROFILE_RELEASE_DEBUG=line-tables-only $(CARGO) build --locked --release
	$(CARGO) test --locked --profile bench-harness --test serve_fake --no-run
	tests/bench/callgrind.sh $(CALLGRIND_DIR)/release/airbyte-wrapper \
		"$$($(CARGO) test --locked --profile bench-harness --test serve_fake --no-run --message-format=json 2>/dev/null | sed -n 's/.*"executable":"\([^"]*serve_fake[^"]*\)".*/\1/p' | tail -n 1)"

# Fuzzing, not in CI (README.md, "Fuzzing"): cargo-fuzz and libFuzzer over request parsing and
# validation, from tests/fuzz. cargo-fuzz passes nightly -Z flags; there is no nightly toolchain, so
# RUSTC_BOOTSTRAP=1 lets stable accept them. AddressSanitizer works that way too (stable ships its
# runtime), so cargo-fuzz's default `--sanitizer address` is kept. The corpus is minimised on edge
# coverage alone (-use_counters=0): the same edges in a tenth of the files, small enough to commit.
CARGO_FUZZ_VERSION := 0.13.2
FUZZ_DIR := tests/fuzz
FUZZ_TARGETS ?= parse_bodies input_fields request_framing
FUZZ_SECONDS ?= 600
FUZZ := RUSTC_BOOTSTRAP=1 $(CARGO) fuzz

fuzz: ## Fuzz request framing and body parsing, FUZZ_SECONDS (600) per target, then minimise the corpus
	@$(CARGO) fuzz --version 2>/dev/null | grep -qx 'cargo-fuzz $(CARGO_FUZZ_VERSION)' \
		|| $(CARGO) install cargo-fuzz --locked --version $(CARGO_FUZZ_VERSION)
	$(CARGO) fetch --locked --manifest-path $(FUZZ_DIR)/Cargo.toml
	set -e; for t in $(FUZZ_TARGETS); do \
		seeds=$(FUZZ_DIR)/seeds; [ $$t != request_framing ] || seeds=$(FUZZ_DIR)/seeds-framing; \
		mkdir -p $(FUZZ_DIR)/corpus/$$t; \
		$(FUZZ) run --fuzz-dir $(FUZZ_DIR) $$t $(FUZZ_DIR)/corpus/$$t $$seeds \
			-- -max_total_time=$(FUZZ_SECONDS); \
		$(FUZZ) cmin --fuzz-dir $(FUZZ_DIR) $$t $(FUZZ_DIR)/corpus/$$t -- -use_counters=0; \
	done

contract: $(PRISM) ## Run the service against Prism mocks of Airbyte's spec (../shared/airbyte)
	$(CARGO) build --locked
	tests/contract/run.sh

schemathesis: $(SCHEMATHESIS) ## Run Schemathesis against the service's own /openapi.json
	$(CARGO) build --locked
	tests/contract/schemathesis.sh

client-check: $(CLIENT_GENERATOR) $(REDOCLY) ## Generate a Python client from the served /openapi.json and use it; lint the document with Redocly
	$(CARGO) build --locked
	tests/contract/client_check.sh

# The manifests in deploy/ against the schemas of the oldest Kubernetes they are written for
# (1.30: the preStop sleep action is on by default) and of the newest kubernetes-validate knows.
DEPLOY_KUBERNETES := 1.30.0 1.37.0

deploy-check: $(KUBERNETES_VALIDATE) ## Validate deploy/*.yaml against Kubernetes' schemas (strictly) and what the service needs of them
	$(VENV)/bin/python tests/deploy/check.py $(addprefix --kubernetes ,$(DEPLOY_KUBERNETES)) deploy/*.yaml

venv: $(SCHEMATHESIS) $(CLIENT_GENERATOR) $(KUBERNETES_VALIDATE) ## Make .venv with the pinned Schemathesis, openapi-spec-validator, openapi-python-client and kubernetes-validate

# One install each (grouped targets): npm ci brings Prism and Redocly, pip the Python tools.
$(PRISM) $(REDOCLY) &: tests/contract/package.json tests/contract/package-lock.json
	cd tests/contract && npm ci --no-audit --no-fund
	@touch $(PRISM) $(REDOCLY)

$(SCHEMATHESIS) $(CLIENT_GENERATOR) $(KUBERNETES_VALIDATE) &: tests/contract/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/contract/requirements.txt
	@touch $(SCHEMATHESIS) $(CLIENT_GENERATOR) $(KUBERNETES_VALIDATE)
