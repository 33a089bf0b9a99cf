# Confab — make run starts the server on its embedded defaults; make test
# installs what the tests need and runs them all.

GO        ?= go
BIN       := bin/confab
PKGS      := ./...
TEST_FLAGS ?= -race -count=1 -timeout 30m

.PHONY: all run cert build test test-go deps bench lint fuzz fmt vet clean

all: build

## run: start the server with its embedded defaults (http://localhost:8080)
run:
	$(GO) run ./cmd/confab

## cert: write a self-signed certificate for trials on a LAN (HOST=192.168.1.10)
cert:
	$(GO) run ./cmd/confab cert -host "$(HOST)" -out .

## build: build bin/confab
build:
	$(GO) build -o $(BIN) ./cmd/confab

## deps: install what the tests need (Go modules; Chromium for the browser tests)
deps:
	$(GO) mod download
	./scripts/ensure-chromium.sh

## test: install test dependencies, check formatting and vet, run every test
## under the race detector inside a network namespace with only loopback
## (where the machine allows one), so no test can reach anything else
test: deps vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) test -race -count=1 -run XXX_build_only ./... > /dev/null
	./scripts/loopback-only.sh $(GO) test $(TEST_FLAGS) $(PKGS)

## bench: Go benchmarks of the forwarding path, then short load runs of the
## real binary (1×200, 10×10; under 2 minutes) and their table
bench:
	GO=$(GO) ./scripts/bench.sh

## bench-load: the full load table of docs/benchmarks.md (about 8 minutes)
.PHONY: bench-load
bench-load:
	GO=$(GO) BENCH_GO_BENCH=0 \
	BENCH_SCENARIOS="1×50:1:50:60s 1×200:1:200:60s 1×500:1:500:60s 10×10:10:0:60s 25×25:25:0:60s" \
	BENCH_WARMUP=5s ./scripts/bench.sh

## vet: go vet
vet:
	$(GO) vet ./...

## lint: gofmt check, go vet and staticcheck (fetched through the module proxy)
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint: vet
	@test -z "$$(gofmt -l .)" || (gofmt -l . && exit 1)
	$(GO) run $(STATICCHECK) ./...

## fuzz: run each fuzz target for FUZZTIME (their seeds run in every go test)
FUZZTIME ?= 60s
FUZZMINIMIZE ?= 100x
FUZZ_TARGETS = ./internal/protocol:FuzzDecodeRequest ./sfu:FuzzDirectReceive \
	./sfu:FuzzFindSenderReport ./sfu:FuzzReception ./sfu:FuzzBatchPlan ./sfu:FuzzPeerAnswer \
	./signaling:FuzzSession
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $${t%%:*}; \
	done

## fmt: gofmt the tree
fmt:
	gofmt -w .

clean:
	rm -rf bin
