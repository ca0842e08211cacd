#!/usr/bin/env bash
# Trains the selection study's candidates: for every pair of the suite (scripts/selection_suite.py)
# and every seed, `dak adapt --compare` with every epoch of every method kept as a candidate
# (--candidates). Runs that finished are skipped, so the script resumes where it stopped and a new
# validator never needs new training: `dak select DIR --select all --json` re-scores a run.
#
#   scripts/selection_runs.sh [SUITE_DIR] [RUNS_DIR]
#
# Environment: DAK (the binary; default target/release/dak), SEEDS (default "0 1"), PAIRS
# (default: every pair in SUITE_DIR), METHODS (default source-only,dann,dann+mcc,cdan,mcc),
# EPOCHS (default 10), BATCH (images per domain per step on the suite's pairs, default 32: 10
# epochs over their 2,000 source images then make 620 steps, as 10 epochs of the bundled
# benchmark's 4,000 at its default 64 do), BUNDLED=1 to add the bundled MNIST -> MNIST-M pair
# (default batch).
set -euo pipefail
cd "$(dirname "$0")/.."
suite=${1:-target/selection-suite}
runs=${2:-target/selection-runs}
dak=${DAK:-target/release/dak}
seeds=${SEEDS:-0 1}
methods=${METHODS:-dann,dann+mcc,cdan,mcc}
epochs=${EPOCHS:-10}
batch=${BATCH:-32}
pairs=${PAIRS:-$(cd "$suite" && ls -d */ | tr -d /)}
[ -x "$dak" ] || { echo "selection_runs: $dak not found; cargo build --release first" >&2; exit 2; }
[ -n "$pairs" ] || { echo "selection_runs: no pairs in $suite; run python3 scripts/selection_suite.py" >&2; exit 2; }
if [ "${BUNDLED:-0}" = 1 ]; then pairs="$pairs bundled"; fi
for seed in $seeds; do
  for pair in $pairs; do
    out="$runs/$pair/seed$seed"
    if [ -f "$out/candidates.json" ]; then echo "$pair seed $seed: done"; continue; fi
    rm -rf "$out"; mkdir -p "$out"
    data=()
    if [ "$pair" != bundled ]; then
      p="$suite/$pair"
      data=(--source "$p/source/train" --source-test "$p/source/test"
            --target "$p/target/train" --target-test "$p/target/test" --batch "$batch")
    fi
    start=$(date +%s)
    "$dak" adapt "${data[@]}" --compare "$methods" --epochs "$epochs" --seed "$seed" \
      --candidates "$out" --out "$out/model.safetensors" --metrics "$out/metrics.jsonl" \
      --no-pad > "$out/log.txt" 2>&1 || { echo "$pair seed $seed: FAILED (see $out/log.txt)"; continue; }
    echo "$pair seed $seed: $(( $(date +%s) - start )) s"
  done
done
