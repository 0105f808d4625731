#!/bin/bash
# `make fuzz SECS=N`: every libFuzzer target in fuzz/ for N seconds each
# (default 60), one job at a time. Needs the nightly toolchain (cargo-fuzz
# builds with -Zsanitizer) and cargo-fuzz, which is installed from the
# registry when missing. The targets are built as the guest runs: release,
# without debug assertions (-O; a dependency's debug_assert! on malformed
# MIME would otherwise stop the mime target: fuzz/regressions/mime).
#
# New corpus entries go to fuzz/corpus/<target>/ (minimised at the end with
# cargo fuzz cmin); a crash's reproducer is copied to
# fuzz/regressions/<target>/. Commit both: `cargo test -p guest` replays the
# guest's (guest/src/fuzzing.rs), `cargo test -p imapd` the host's (the
# host_* targets, host/src/fuzzing.rs). The MIME target also reads the shared MIME corpus
# ($IMAPD_MIME_CORPUS, default /work/shared/corpus/mime) when it is there.
#
# Environment: SECS (per target), TARGETS="a b" (a subset), FUZZ_ARGS
# (extra libFuzzer flags).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECS=${SECS:-60}
[[ $SECS =~ ^[0-9]+$ ]] || { echo "fuzz: SECS=$SECS is not a number of seconds" >&2; exit 2; }
ALL="reader session mime store_files snapshot_restore host_config host_passwd host_sasl host_master host_wire host_guest_bytes"
TARGETS=${TARGETS:-$ALL}
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: no nightly toolchain (rustup toolchain install nightly); cargo-fuzz needs it" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked || exit 2
fi
# The targets make mail trees under TMPDIR: tmpfs where there is one.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
# Seeds the fixtures make (store files, a live snapshot; the host's
# password lines, SCRAM exchanges, reports), where missing (a stable build,
# in the usual target directory).
cargo test -q -p guest write_fuzz_seeds -- --ignored >/dev/null || exit 1
cargo test -q -p imapd --lib write_host_fuzz_seeds -- --ignored >/dev/null || exit 1
# Nightly, sanitizer-coverage builds go to a directory of their own.
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$ROOT/target/fuzz}
# The host crate embeds a guest component (host/build.rs), which no target
# runs: an empty one, which also keeps the build script from running (and
# the host crate from being rebuilt) for every target.
if [ -z "${IMAPD_GUEST_WASM:-}" ]; then
  mkdir -p "$CARGO_TARGET_DIR"
  : >>"$CARGO_TARGET_DIR/no-guest.wasm"
  export IMAPD_GUEST_WASM=$CARGO_TARGET_DIR/no-guest.wasm
fi
for t in $TARGETS; do
  cargo +nightly fuzz build -O -s none "$t" || exit 1
done
MIME_CORPUS=${IMAPD_MIME_CORPUS:-/work/shared/corpus/mime}
summary=()
status=0
for t in $TARGETS; do
  mkdir -p "fuzz/corpus/$t" "fuzz/regressions/$t"
  extra=()
  if [ "$t" = mime ] && [ -d "$MIME_CORPUS" ]; then
    # The shared corpus's messages that add coverage join ours (committed).
    cargo +nightly fuzz run -O -s none "$t" "fuzz/corpus/$t" "$MIME_CORPUS" -- -merge=1 \
      >"$CARGO_TARGET_DIR/fuzz-$t-merge.log" 2>&1
    extra=("$MIME_CORPUS")
  fi
  before=$(ls "fuzz/artifacts/$t" 2>/dev/null | wc -l)
  log="$CARGO_TARGET_DIR/fuzz-$t.log"
  echo "fuzz: $t for $SECS s"
  # One job in this process: a crash ends the target's run (its reproducer
  # is kept). -fork=1 would go on after crashes, but ran the store_files
  # target at a hundredth of its speed here.
  cargo +nightly fuzz run -O -s none "$t" "fuzz/corpus/$t" "${extra[@]}" -- \
    -max_total_time="$SECS" -timeout=20 -rss_limit_mb=2048 ${FUZZ_ARGS:-} \
    >"$log" 2>&1
  rc=$?
  runs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' | tail -1)
  # The last status line's coverage (edges) and features.
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
  crashes=0
  for f in fuzz/artifacts/"$t"/*; do
    [ -f "$f" ] || continue
    cp -n "$f" "fuzz/regressions/$t/" && crashes=$((crashes + 1))
  done
  after=$(ls "fuzz/artifacts/$t" 2>/dev/null | wc -l)
  if [ $rc -ne 0 ]; then
    status=1
    echo "fuzz: $t stopped (exit $rc); the end of $log:" >&2
    tail -30 "$log" >&2
  fi
  summary+=("$t: ${SECS}s, ${runs:-?} runs, ${cov:-cov: ?}, $((after - before)) new reproducers (fuzz/regressions/$t), exit $rc")
done
for t in $TARGETS; do
  # Minimise the committed corpus: what make test replays stays small.
  cargo +nightly fuzz cmin -O -s none "$t" "fuzz/corpus/$t" >/dev/null 2>&1 \
    || echo "fuzz: cmin of $t failed; its corpus is not minimised" >&2
done
printf 'fuzz: %s\n' "${summary[@]}"
exit $status
