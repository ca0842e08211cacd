#!/usr/bin/env bash
# Issue 15's results: every adaptation method on the bundled MNIST -> MNIST-M, side by side
# (`dak adapt --compare`), for each seed and epoch budget; then the tables of docs/results.md.
#
#   scripts/results.sh                 # seeds 0 1 2, 10 and 30 epochs, every method
#   SEEDS="0" EPOCHS="10" scripts/results.sh
#   METHODS="dann,mcc" scripts/results.sh
#   EXTRA="--limit 500" OUT=/tmp/smoke scripts/results.sh   # a quick smoke run
#
# Every run holds out 10% of the source (`--source-val-split 0.1`, so `source-val` can be
# scored; every method trains on the same 90%) and saves the EnsV pick (`--select ensv`); the
# other validators' picks are recomputed from the per-epoch scores in the metrics files.
# Output: results/e<EPOCHS>-s<SEED>.jsonl (+ .log), then results/tables.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-"0 1 2"}
EPOCHS=${EPOCHS:-"10 30"}
DAK=${DAK:-target/release/dak}
OUT=${OUT:-results}
[ -x "$DAK" ] || cargo build --release
if [ -z "${METHODS:-}" ]; then
    # Every registered method: the list `--method` accepts (the error names them).
    METHODS=$("$DAK" adapt --method '?' --out /dev/null 2>&1 | sed -n 's/.*accepted: //p' | tr -d ' ' || true)
fi
mkdir -p "$OUT"
for e in $EPOCHS; do
    for s in $SEEDS; do
        run="$OUT/e$e-s$s"
        if [ -s "$run.jsonl" ] && grep -q '"type":"comparison"' "$run.jsonl"; then
            echo "$run: done already"
            continue
        fi
        echo "$run: --compare $METHODS --epochs $e --seed $s"
        "$DAK" adapt --compare "$METHODS" --epochs "$e" --seed "$s" --select ensv \
            --source-val-split 0.1 --out "$run.safetensors" --metrics "$run.jsonl" ${EXTRA:-} \
            > "$run.log" 2>&1
    done
done
python3 scripts/results_table.py "$OUT"/e*-s*.jsonl > "$OUT/tables.md"
echo "tables written to $OUT/tables.md"
