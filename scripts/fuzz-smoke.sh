#!/usr/bin/env bash
# A short fuzz run, for the test script: every target in fuzz/fuzz_targets for SECONDS (default
# 10) from its committed corpus. Built on the suite's own stable toolchain with libFuzzer's
# coverage instrumentation (the flags cargo-fuzz passes, without its AddressSanitizer, which
# needs nightly; the targets' crates hold no unsafe code) and debug assertions and overflow
# checks on, so it needs neither nightly nor cargo-fuzz. The long runs and the 60-second run
# developers use are ./scripts/fuzz.sh.
#
#   ./scripts/fuzz-smoke.sh          # every target, 10 s each
#   ./scripts/fuzz-smoke.sh 30 twiml # one target, 30 s
#
# Inputs found are written to target/fuzz-smoke/new/<target>, not into the repository's corpus;
# a crash fails the run, its input left in target/fuzz-smoke/artifacts/<target>/ (replay it with
# the binary the script prints, or with `cargo +nightly fuzz run <target> <file>`).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-10}"
[ "$#" -gt 0 ] && shift
root="$PWD/target/fuzz-smoke"
host="$(rustc -vV | sed -n 's/^host: //p')"

# Only the targets' code is instrumented: with an explicit --target, RUSTFLAGS skip build
# scripts and proc macros, as under cargo-fuzz.
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
  cargo build --quiet --locked --manifest-path fuzz/Cargo.toml --target "$host" \
  --target-dir "$root/build" --bins
bin="$root/build/$host/debug"

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(find fuzz/fuzz_targets -name '*.rs' -printf '%f\n' | sed 's/\.rs$//' | sort)
fi
for target in "${targets[@]}"; do
  new="$root/new/$target"
  artifacts="$root/artifacts/$target"
  mkdir -p "$new" "$artifacts"
  # The first corpus directory named takes what is found: a scratch one, then the committed one.
  if ! "$bin/$target" "$new" "fuzz/corpus/$target" -max_total_time="$seconds" -max_len=4096 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 >"$root/$target.log" 2>&1; then
    tail -n 40 "$root/$target.log" >&2
    echo "fuzz target $target failed: input in $artifacts, binary $bin/$target" >&2
    exit 1
  fi
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$root/$target.log")"
  echo "fuzz $target: ${runs:-?} runs in ${seconds} s, no crash"
done
