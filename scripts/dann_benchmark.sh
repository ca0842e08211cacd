#!/usr/bin/env bash
# The bundled MNIST -> MNIST-M benchmark of docs/results.md: per seed, source-only and DANN
# (`dak adapt --compare`, same seed and initial weights) and the train-on-target upper bound
# (the same network trained on the labelled MNIST-M training images), then a summary table.
#
#   scripts/dann_benchmark.sh [--epochs E] [--out DIR] [--only compare|target] SEED...
#   (default: 10 epochs, seeds 0 1 2, results in results/dann-benchmark/)
#
# Each run appends to DIR/<kind>-seed<S>.jsonl; scripts/summarize_dann.py DIR prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=10 out=results/dann-benchmark only=""
while [[ $# -gt 0 && $1 == --* ]]; do
    case $1 in
        --epochs) epochs=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
seeds=("$@"); [[ ${#seeds[@]} -gt 0 ]] || seeds=(0 1 2)
mkdir -p "$out"
cargo build --release --quiet
dak=$out/dak # a private copy: rebuilding during the runs must not change them
cp target/release/dak "$dak"
# Train-on-target needs the target domain as labelled folders: the same in-memory benchmark,
# written out once.
if [[ $only != compare && ! -d $out/data/target ]]; then
    $dak data mnist-m --out "$out/data"
fi
for s in "${seeds[@]}"; do
    if [[ $only != target ]]; then
        $dak adapt --compare --epochs "$epochs" --batch 64 --seed "$s" \
            --out "$out/dann-seed$s.safetensors" --metrics "$out/compare-seed$s.jsonl"
    fi
    if [[ $only != compare ]]; then
        $dak adapt --method source-only --epochs "$epochs" --batch 64 --seed "$s" --no-pad \
            --source "$out/data/target/train" --target-test "$out/data/target/test" \
            --out "$out/target-only-seed$s.safetensors" --metrics "$out/target-seed$s.jsonl"
    fi
done
python3 scripts/summarize_dann.py "$out"
