# imapd: `make run` starts a demo server, `make test` runs every test.
CARGO      ?= cargo
GUEST_WASM := target/wasm32-wasip2/guest-release/guest.wasm
HOSTILE_WASM := target/wasm32-wasip2/guest-hostile/guest.wasm
IMAPD      := target/debug/imapd

.PHONY: all build guest hostile-guest toolchain run test test-clients lint fmt clippy bench release clean-data stress fuzz soak

all: build

# rustup's auto-install is off on these machines; this is a no-op when the
# target is already there.
toolchain:
	@rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2

guest: toolchain
	$(CARGO) build -p guest --target wasm32-wasip2 --profile guest-release

# The same guest with test-only commands that misbehave on purpose
# (panic, spin, allocate, probe the filesystem): the sandbox tests load it
# with guest_module.
hostile-guest: toolchain
	$(CARGO) build -p guest --target wasm32-wasip2 --profile guest-hostile --features hostile

build: guest
	$(CARGO) build -p imapd

release: guest
	$(CARGO) build --release -p imapd

run: build
	@sh scripts/demo.sh $(IMAPD)

# The store fsyncs on every change; tests don't need that durability
# (their crashes are kill -9, not power loss), so they run on tmpfs.
TEST_TMPDIR ?= $(shell [ -d /dev/shm ] && [ -w /dev/shm ] && echo /dev/shm || echo /tmp)

# Real clients the end-to-end tests drive (imapflow, from npm); a machine
# without npm skips those tests with a message.
test-clients:
	@cd tests/clients/imapflow && (npm install --no-package-lock --no-audit --no-fund --silent >/dev/null 2>&1 || echo "make: imapflow not installed; its test will be skipped")

test: build hostile-guest test-clients
	TMPDIR=$(TEST_TMPDIR) $(CARGO) test -p guest
	TMPDIR=$(TEST_TMPDIR) $(CARGO) test -p imapd-acl
	TMPDIR=$(TEST_TMPDIR) $(CARGO) test -p imapd
	TMPDIR=$(TEST_TMPDIR) $(CARGO) test -p imapd-tests

lint: fmt clippy

fmt:
	$(CARGO) fmt --all -- --check

clippy: guest
	$(CARGO) clippy -p imapd -p imapd-acl -p imapd-tests -p imapd-bench --all-targets -- -D warnings
	$(CARGO) clippy -p guest --all-targets -- -D warnings
	$(CARGO) clippy -p guest --target wasm32-wasip2 -- -D warnings

# The same workloads against imapd, Dovecot and Cyrus, alternating, printed
# as medians and imapd/best-peer ratios (also target/bench/latest.json).
# `make bench QUICK=1` is the short run; WORKLOADS=a,d SERVERS=imapd,dovecot
# pick subsets. Installs the peers with apt, so it wants root. bench/README.md.
bench: release hostile-guest
	$(CARGO) build --release -p imapd-bench
	QUICK=$(QUICK) bash scripts/bench.sh

# The state-checking stress tester (tests/stress/): CLIENTS clients on
# MAILBOXES shared mailboxes for SECS seconds against a server of its own
# (127.0.0.1, a port the server picks, a fresh data directory), every
# response checked; prints ops/s, errors and the server's RSS. SEED=n
# replays a run's commands; STRESS_ARGS for the rest (--help).
SECS      ?= 60
CLIENTS   ?= 50
MAILBOXES ?= 4
TARGET_DIR = $(or $(CARGO_TARGET_DIR),target)
stress: build
	$(CARGO) build -p imapd-tests --bin imapd-stress
	TMPDIR=$(TEST_TMPDIR) $(TARGET_DIR)/debug/imapd-stress --secs $(SECS) --clients $(CLIENTS) --mailboxes $(MAILBOXES) $(if $(SEED),--seed $(SEED)) $(STRESS_ARGS)

# kill -9 at scale: the crash test (tests/all/store_crash.rs) with KILLS
# kills instead of 15: writers APPEND, STORE, EXPUNGE, COPY and RENAME
# while the server is killed at random moments and restarted; after each
# kill every mailbox must open with nothing acknowledged lost and no UID or
# MODSEQ reused. Under a second a kill (1,000: about 15 minutes).
KILLS ?= 1000
soak: build
	IMAPD_CRASH_KILLS=$(KILLS) TMPDIR=$(TEST_TMPDIR) $(CARGO) test -p imapd-tests --test all -- --exact store_crash::kill_dash_nine_under_load_loses_nothing_acknowledged --nocapture

# libFuzzer targets (fuzz/, guest/src/fuzzing.rs, host/src/fuzzing.rs),
# SECS seconds each, one job; needs the nightly toolchain. Corpora and crash
# reproducers land in fuzz/corpus and fuzz/regressions, which `make test`
# replays on stable.
fuzz:
	SECS=$(or $(SECS),60) bash scripts/fuzz.sh

clean-data:
	rm -rf data
