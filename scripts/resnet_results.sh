#!/usr/bin/env bash
# docs/resnet.md's results: ResNet-18 trained from scratch at 32x32 on the bundled
# MNIST -> MNIST-M, source-only and DANN side by side (`dak adapt --compare`), next to the
# paper's digits network with the same data, epochs and seeds.
#
#   scripts/resnet_results.sh                      # seeds 0 1 2, 4 epochs, 2,000 images a set
#   SEEDS="0" EPOCHS=10 LIMIT=4000 scripts/resnet_results.sh
#
# Output: results-resnet/<backbone>-s<SEED>.jsonl (+ .log); the comparison rows hold the
# target-test accuracy of the last epoch (`--select last`: no selection in this table).
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-"0 1 2"}
EPOCHS=${EPOCHS:-4}
LIMIT=${LIMIT:-2000}
DAK=${DAK:-target/release/dak}
OUT=${OUT:-results-resnet}
[ -x "$DAK" ] || cargo build --release
mkdir -p "$OUT"
for backbone in digits resnet18; do
    size=()
    [ "$backbone" = resnet18 ] && size=(--input-size 32)
    for s in $SEEDS; do
        run="$OUT/$backbone-s$s"
        if [ -s "$run.jsonl" ] && grep -q '"type":"comparison"' "$run.jsonl"; then
            echo "$run: done already"
            continue
        fi
        echo "$run"
        "$DAK" adapt --backbone "$backbone" "${size[@]}" --compare source-only,dann \
            --epochs "$EPOCHS" --limit "$LIMIT" --seed "$s" --select last \
            --out "$run.safetensors" --metrics "$run.jsonl" > "$run.log" 2>&1
    done
done
