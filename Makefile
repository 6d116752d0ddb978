# contain: a containers-from-scratch toolkit. `make help` lists the targets.

# sudo resets PATH (secure_path), which usually drops Go: fall back to its standard place.
GO      ?= $(or $(shell command -v go 2>/dev/null),/usr/local/go/bin/go)
export PATH := $(dir $(GO)):$(PATH)
BIN     := bin
COMMIT  := $(shell git -c safe.directory='$(CURDIR)' rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.commit=$(COMMIT)
# urfave/cli's man-page generator (blackfriday) costs ~1.7 ms of package init in every
# process, including each container's init: contain does not generate docs, so leave it out.
TAGS    := urfave_cli_no_docs
# Go 1.26's garbage collector (Green Tea) is left out of what this Makefile builds: its spans of
# small objects keep their mark bits at their end, so a fresh span is written at both ends and
# costs two page faults where it cost one; contain's processes live milliseconds and never
# collect. A single run is about 0.5 ms faster without it on the development VM
# (docs/performance.md). Go 1.27 is expected to drop the opt-out: a toolchain that does not
# know it refuses the name, and then the build goes on with the default. A GOEXPERIMENT of the
# caller's own, in the environment or saved with `go env -w`, is left as it is.
ifeq ($(shell $(GO) env GOEXPERIMENT 2>/dev/null),)
export GOEXPERIMENT := $(shell GOEXPERIMENT=nogreenteagc $(GO) env GOEXPERIMENT 2>/dev/null)
endif
# Root tests run for real when root; CONTAIN_TESTS=require turns their skips into failures.
# -p 1: packages one at a time, because each root test checks that the machine is as it found
# it (mounts, links, run dirs), and another package's containers would look like its leaks.
TESTFLAGS ?= -v -count=1 -p 1 -timeout 20m
SUMMARY := bash .ci/summary
# The project's packages and Go files, without the learners' exercises in work/ (gitignored,
# but Go's ./... and gofmt do not read .gitignore): a half-written exercise, or an
# instructor's deliberately broken copy of a step, is not the project's test or lint failure.
PKGS     = $(shell $(GO) list -e ./... | grep -v '^github.com/containkit/contain/work/')
GOFILES  = $(shell find . -name '*.go' -not -path './work/*' -not -path './.git/*')

.DEFAULT_GOAL := help
.PHONY: help build run test test-root test-engines lint bench conformance clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# -buildvcs=false: Go's own stamping runs git, which refuses root (sudo make) in a clone a
# user owns ("dubious ownership") and fails the build; the commit comes from COMMIT instead.
build: ## build bin/contain, bin/workshop and the static bin/probe
	CGO_ENABLED=0 $(GO) build -buildvcs=false -trimpath -tags $(TAGS) -ldflags '$(LDFLAGS)' -o $(BIN)/contain ./cmd/contain
	CGO_ENABLED=0 $(GO) build -buildvcs=false -trimpath -tags $(TAGS) -ldflags '-s -w' -o $(BIN)/workshop ./cmd/workshop
	CGO_ENABLED=0 $(GO) build -buildvcs=false -trimpath -ldflags '-s -w' -o $(BIN)/probe ./cmd/probe
	@# Built by root through sudo (`sudo make run`) in a clone a user owns, bin/ goes back to
	@# that user: a later `make build` without sudo must be able to replace its files.
	@if [ "$$(id -u)" = 0 ] && [ -n "$${SUDO_UID:-}" ] && [ "$$(stat -c %u .)" = "$$SUDO_UID" ]; then \
		chown -R "$$SUDO_UID:$${SUDO_GID:-$$SUDO_UID}" $(BIN); fi

run: build ## (root) set up and start a shell in a container on the default rootfs
	$(BIN)/contain run -t -- sh

# The engines run after the Go tests, so that no leak check sees an engine's containers; one
# summary line counts both.
test: build ## (root for the full suite) every test: pure, root, end to end, then podman and containerd
	{ $(GO) test $(TESTFLAGS) $(PKGS) 2>&1; echo "summary-status go-test $$?"; \
	  bash tests/engines.sh $(BIN)/contain 2>&1; echo "summary-status engines $$?"; } | $(SUMMARY) go-test engines

test-root: ## (root) every test, failing instead of skipping what needs root or an engine
	CONTAIN_TESTS=require ENGINES=require $(MAKE) --no-print-directory test

test-engines: build ## (root) only podman and containerd running bin/contain (tests/engines.sh)
	bash tests/engines.sh $(BIN)/contain

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $(GOFILES))" || { gofmt -l $(GOFILES); echo 'run: gofmt -w FILE...'; exit 1; }
	$(GO) vet $(PKGS)

# The benchmarks read contain's binary back from disk first, as crun's files are read here: on
# the development VM a just-written binary starts faster (tests/bench-lib.sh, from_disk).
bench: build ## (root; ../shared/tools) run and create+start+delete speed, memory, against runc and crun
	bash -c '. tests/bench-lib.sh && from_disk "$$1"' from_disk $(BIN)/contain
	bash $(or $(PEER_BENCH),../shared/tools/peer-bench.sh) $(CURDIR)/$(BIN)/contain contain; \
		status=$$?; bash tests/release-hierarchies.sh; exit $$status
	bash tests/lifecycle-bench.sh $(CURDIR)/$(BIN)/contain
	bash tests/turns-bench.sh $(CURDIR)/$(BIN)/contain
	bash tests/spacing-bench.sh $(CURDIR)/$(BIN)/contain

conformance: build ## (root) the OCI runtime-tools validation suite (../shared/tools); see docs/conformance.md
	bash $(or $(OCI_VALIDATE),../shared/tools/oci-validate.sh) $(CURDIR)/$(BIN)/contain $(or $(OUTDIR),/tmp/contain-conformance); \
		status=$$?; bash tests/release-hierarchies.sh; exit $$status

clean: ## remove built binaries
	rm -rf $(BIN)
