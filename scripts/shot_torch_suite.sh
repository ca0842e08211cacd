#!/usr/bin/env bash
# PyTorch's SHOT beside dak's on the pair suite: for every pair and seed where
# scripts/source_free_suite.sh made SHOT's source model (`source-only-recipe-s<seed>`), run
# scripts/shot_torch_reference.py from that same dak model file on the same target images
# (its epoch 0 must equal dak's: the port of the network and the data is checked), and write
# `shot-torch-recipe-s<seed>.json` beside dak's runs. scripts/source_free_suite.py then puts its
# last epoch beside dak's. Finished runs are skipped, so running it again continues.
#
#   scripts/shot_torch_suite.sh                          # every pair and seed made so far
#   SEEDS=0 PAIRS="lowres-to-mnist" scripts/shot_torch_suite.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SUITE=${SUITE:-target/selection-suite}
OUT=${OUT:-results-source-free/suite}
SEEDS=${SEEDS:-"0 1 2"}
PAIRS=${PAIRS:-$(ls "$OUT")}
for s in $SEEDS; do
    for p in $PAIRS; do
        init="$OUT/$p/source-only-recipe-s$s.safetensors"
        out="$OUT/$p/shot-torch-recipe-s$s.json"
        [ -f "$init" ] && [ -d "$SUITE/$p/target" ] || continue
        [ -f "$out" ] && continue
        echo "== $p seed $s ($(date +%H:%M:%S))"
        python3 scripts/shot_torch_reference.py --init "$init" --data "$SUITE/$p" \
            --epochs 30 --seed "$s" --threads 1 --out "$out" > "$OUT/$p/shot-torch-recipe-s$s.log"
    done
done
python3 scripts/source_free_suite.py "$OUT"
