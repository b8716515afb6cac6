# issuemesh: make demo shows two real nodes syncing; make test runs everything.
GO      ?= go
BIN     := bin/issuemesh
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all build package demo test test-unit lint fuzz clean redmine rt gitea redmine-stop rt-stop gitea-stop stop-trackers bench bench-quick soak

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/issuemesh

## package: bin/issuemesh_VERSION_ARCH.deb (binary, hardened systemd unit,
## default config, maintainer scripts that create the user issuemesh),
## built with nfpm (cached outside the clone); see README, Run as a service.
package:
	bash scripts/package.sh

## demo: two node processes on loopback sync an issue both ways.
demo: build
	BIN=$(CURDIR)/$(BIN) bash scripts/demo.sh

## test: lint, unit, fuzz seeds, e2e with real processes (and, as root, the
## tests that need system services); prints what it skipped and why.
test:
	bash scripts/test.sh

## redmine, rt: install (Debian packages, as root), configure and start a
## test Redmine on 127.0.0.1:3000 / RT on 127.0.0.1:8080; idempotent. They
## print how to point a node and the tests at it.
redmine:
	bash scripts/redmine.sh

rt:
	bash scripts/rt.sh

## gitea: build Gitea from the Go module proxy once (cached by version in
## /var/cache/issuemesh-test/gitea, about 12 minutes the first time), then
## run it headless on 127.0.0.1:3300 as an unprivileged user, as root;
## idempotent; prints the env of the tests against it.
gitea:
	bash scripts/gitea.sh

gitea-stop:
	bash scripts/stop-trackers.sh gitea

## redmine-stop, rt-stop, stop-trackers: stop the test Redmine, RT, or both
## (their data stays; make redmine / make rt start them again).
redmine-stop:
	bash scripts/stop-trackers.sh redmine

rt-stop:
	bash scripts/stop-trackers.sh rt

stop-trackers:
	bash scripts/stop-trackers.sh

## lint: gofmt, go vet, staticcheck.
lint:
	bash scripts/test.sh lint

## fuzz: run each fuzz target for FUZZTIME (default 30s).
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./replica/ -run '^$$' -fuzz FuzzUnmarshalEvent -fuzztime $(FUZZTIME)
	$(GO) test ./replica/ -run '^$$' -fuzz FuzzUnmarshalAcks -fuzztime $(FUZZTIME)
	$(GO) test ./replica/ -run '^$$' -fuzz FuzzReadFrame -fuzztime $(FUZZTIME)
	$(GO) test ./replica/ -run '^$$' -fuzz FuzzAttachMessages -fuzztime $(FUZZTIME)
	$(GO) test ./replica/ -run '^$$' -fuzz 'FuzzUnmarshal$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pairing/ -run '^$$' -fuzz FuzzPairMessages -fuzztime $(FUZZTIME)
	$(GO) test ./mesh/ -run '^$$' -fuzz FuzzCatchUpMessages -fuzztime $(FUZZTIME)
	$(GO) test ./discovery/ -run '^$$' -fuzz FuzzAddrsMessages -fuzztime $(FUZZTIME)
	$(GO) test ./p2p/ -run '^$$' -fuzz FuzzOpenEvent -fuzztime $(FUZZTIME)
	$(GO) test ./store/ -run '^$$' -fuzz FuzzTwinDecode -fuzztime $(FUZZTIME)

## bench: the performance figures against the stack's own limit (DESIGN
## section 9; a few minutes). bench-quick: every figure with smaller counts.
## BENCHFLAGS passes flags, e.g. BENCHFLAGS="-only throughput -cpuprofile cpu.out".
bench:
	$(GO) run ./bench $(BENCHFLAGS)

bench-quick:
	$(GO) run ./bench -quick $(BENCHFLAGS)

## soak: two real node processes under continuous edits, creates and
## comments for SOAK (default 10m); RSS and home sizes every 30 s as a
## table, then the targets (home < 100 MB, RSS < 150 MB). SOAKFLAGS passes
## flags, e.g. SOAKFLAGS="-nodes 3 -workers 8".
SOAK ?= 10m
soak:
	$(GO) run ./bench/soak -duration $(SOAK) $(SOAKFLAGS)

clean:
	rm -rf bin
