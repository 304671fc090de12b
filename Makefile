# firedrill — run `make help` for the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO            ?= go
BIN_DIR       ?= _out/bin
FIREDRILL     := $(BIN_DIR)/firedrill
STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME      ?= 10s
TEST_TIMEOUT  ?= 40m
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS       := -X github.com/firedrill/firedrill/cmd/firedrill/cli.version=$(VERSION)

export GOTOOLCHAIN := local

.PHONY: help
help: ## Show this help.
	@echo "firedrill make targets:"
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

.PHONY: build
build: ## Build the firedrill CLI into _out/bin.
	@mkdir -p $(BIN_DIR)
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(FIREDRILL) ./cmd/firedrill

.PHONY: tools
tools: ## Build the pinned Kubernetes, etcd and runc binaries into the tool cache (once per pin).
	hack/tools.sh

.PHONY: test
test: ## Run every test this machine can run: unit, fuzz (short), integration on the real local cluster.
	hack/test.sh

.PHONY: test-unit
test-unit: ## Run the unit tests only (no root, no cluster).
	$(GO) test -short -count=1 ./...

.PHONY: fuzz
fuzz: ## Fuzz the drill loader for FUZZTIME (default 10s).
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./drills

.PHONY: lint
lint: ## go vet plus staticcheck (pinned version).
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed on:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

.PHONY: demo
demo: build ## Run the main job end to end on the embedded local cluster (see README for what it covers today).
	hack/demo.sh

.PHONY: bench
bench: ## Run the benchmarks (local cluster up time and RSS, loader speed).
	hack/bench.sh

.PHONY: clean
clean: ## Remove build output (not the tool cache).
	rm -rf _out

.PHONY: demo-up
demo-up: build ## Bring the demo stack up (local cluster, PostgreSQL, Prometheus, payment v1) and keep it.
	hack/tools.sh
	$(FIREDRILL) demo up

.PHONY: demo-down
demo-down: build ## Remove everything demo-up started.
	$(FIREDRILL) demo down
