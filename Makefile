# Kerf's build. `make test` needs nothing but Go: it builds the control plane and installs the tools.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/kerf-autoscaler/kerf/pkg/operator.Version=$(VERSION)

.PHONY: all build run sandbox e2e test generate catalog verify lint bench control-plane tools

all: build

build: ## Build the controller and kerfctl into bin/.
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/kerf-controller ./cmd/controller
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/kerfctl ./cmd/kerfctl

sandbox: ## Run the whole system locally (control plane, kwok, awsim, Kerf), scale examples/inflate.yaml and watch; Ctrl-C stops it.
	$(GO) run ./hack/sandbox $(SANDBOXFLAGS)

run: sandbox ## Same as sandbox.

test: ## Build the test control plane and tools if needed, then run every test.
	assets="$$(hack/control-plane.sh)"; tools="$$(hack/tools.sh)"; \
	KUBEBUILDER_ASSETS="$$assets" PATH="$$tools:$$PATH" $(GO) test ./... $(TESTFLAGS)

e2e: ## End-to-end suites on the whole local stack (etcd, apiserver, scheduler, kwok, awsim, Kerf); build tag e2e.
	$(GO) test -tags e2e -count=1 -timeout 30m ./test/e2e/ $(E2EFLAGS)

generate: ## Regenerate deep copies, CRDs, chart CRDs and RBAC from the code.
	$(GO) generate ./pkg/apis/...
	rm -f charts/kerf/crds/*.yaml && cp pkg/apis/crds/*.yaml charts/kerf/crds/
	rm -rf charts/kerf/files/rbac && $(GO) tool controller-gen rbac:roleName=kerf paths=./... output:rbac:artifacts:config=charts/kerf/files/rbac

catalog: ## Regenerate the embedded AWS price and instance facts tables from ../shared/aws-catalog.
	$(GO) generate ./pkg/cloudprovider/aws/

verify: generate ## Fail when generated files are stale.
	@git diff --exit-code -- pkg/apis charts || { echo "generated files are stale: run make generate and commit" >&2; exit 1; }
	@untracked="$$(git ls-files --others --exclude-standard -- pkg/apis charts)"; \
	test -z "$$untracked" || { echo "$$untracked"; echo "generated files are untracked: run make generate and commit" >&2; exit 1; }

lint: ## go vet and gofmt.
	$(GO) vet ./...
	$(GO) vet -tags bench ./...
	$(GO) vet -tags e2e ./test/e2e/
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "files need gofmt" >&2; exit 1; }

bench: ## Benchmarks (behind the bench build tag).
	$(GO) test -tags bench -run '^$$' -bench . -benchmem ./...

control-plane: ## Build kube-apiserver and kube-scheduler, install etcd; print KUBEBUILDER_ASSETS.
	@hack/control-plane.sh

tools: ## Install helm; print its directory.
	@hack/tools.sh
