#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of the parsers that take untrusted input:
# Twilio Media Streams frames, Event Streams deliveries, webhook signatures, TwiML. The targets
# are in fuzz/fuzz_targets; each keeps its corpus in fuzz/corpus/<target>, in the repository, so
# every run starts where the last one stopped.
#
#   ./scripts/fuzz.sh                 # every target, 60 s each
#   ./scripts/fuzz.sh 600 twiml       # one target for ten minutes
#   RUNS=10000000 ./scripts/fuzz.sh   # every target until 10 million executions
#
# Needs a nightly toolchain (`rustup toolchain install nightly`) and cargo-fuzz
# (`cargo install cargo-fuzz --locked`). A crash is written to fuzz/artifacts/<target>/ and the
# run stops with its input; `cargo +nightly fuzz run <target> <file>` replays it. Each crash
# found becomes a regression test beside the code it broke.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-60}"
[ "$#" -gt 0 ] && shift
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  limit=(-max_total_time="$seconds")
  if [ -n "${RUNS:-}" ]; then
    limit=(-runs="$RUNS")
  fi
  printf '\n== %s\n' "$target"
  # The corpus directory is the first one named: what libFuzzer finds is added there.
  cargo +nightly fuzz run -O "$target" "corpus/$target" -- "${limit[@]}" -max_len=4096 -print_final_stats=1
done
