# Knutpunkt. `make help` lists the targets.
GO       ?= go
BIN      := bin/knut
DEMO_FLAGS ?= --once
FUZZTIME ?= 30s
LDFLAGS  ?= -X main.version=$(shell git describe --tags --always --dirty 2>/dev/null || echo dev) \
            -X main.commit=$(shell git rev-parse HEAD 2>/dev/null) \
            -X main.date=$(shell date -u +%Y-%m-%dT%H:%M:%SZ)

.PHONY: help build demo test vet fmt-check bench bench-ingest fuzz validate fmt clean

help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-z-]+:.*## /{printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/knut, stamped with version, commit and build date (knut version)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/knut

demo: build ## run the simulated municipality on loopback (DEMO_FLAGS= to keep serving)
	$(BIN) demo $(DEMO_FLAGS)

test: vet fmt-check ## vet and gofmt, then every test (content tests and the dependency rules included)
	$(GO) test -race -count=1 ./...

vet: ## go vet
	$(GO) vet ./...

validate: build ## check every pipeline, mapping and schema
	$(BIN) validate

bench: build ## ingest (1,000,000 visit lines through knut import), CSV import and lock events (1,000,000 rows each, SQLite and PostgreSQL), reconciliation of a city's month (2,000,000 visits, 4,000,000 lock events), order latency (200 orders/s for 60 s), memory under load, Go benchmarks
	bash testdata/bench/ingest.sh
	bash testdata/bench/import.sh tes_csv
	bash testdata/bench/import.sh lock_events
	bash testdata/bench/reconcile.sh
	bash testdata/bench/orders.sh
	bash testdata/bench/memory.sh
	$(GO) test -run '^$$' -bench . -benchmem ./internal/mapping/ ./internal/schema/

fuzz: ## a longer fuzz budget: every Fuzz target for FUZZTIME (default 30s), one after another (`make test` runs only their seeds)
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "$(GO) test -run '^$$' -fuzz '^$$t\$$' -fuzztime $(FUZZTIME) $$(dirname $$f)"; \
			$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$(dirname $$f); \
		done; \
	done

fmt-check: ## fail if a file is not gofmt'ed
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt'ed (run make fmt):"; echo "$$out"; exit 1; fi

fmt: ## gofmt every file
	gofmt -w $$(git ls-files '*.go')

clean: ## remove build output
	rm -rf bin
