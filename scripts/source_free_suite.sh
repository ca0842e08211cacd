#!/usr/bin/env bash
# docs/source_free.md's pair-suite table: for every pair of scripts/selection_suite.py and each
# seed, dak's plain source-only model, SHOT's source model (`--recipe shot`), SHOT and TENT from
# it (scripts/source_free_results.sh with PAIR=, its defaults, no DANN: the source-based
# methods' numbers on the same pairs are docs/selection.md's), then the table
# (scripts/source_free_suite.py).
#
#   scripts/source_free_suite.sh                       # all built pairs, seeds 0 1 2
#   SEEDS=0 PAIRS="lowres-to-mnist" scripts/source_free_suite.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SUITE=${SUITE:-target/selection-suite}
OUT=${OUT:-results-source-free/suite}
SEEDS=${SEEDS:-"0 1 2"}
[ -d "$SUITE" ] || python3 scripts/selection_suite.py --out "$SUITE"
PAIRS=${PAIRS:-$(ls "$SUITE")}
# Seed by seed, so that a run stopped early has every pair at the first seeds.
for s in $SEEDS; do
    for p in $PAIRS; do
        [ -d "$SUITE/$p/source" ] || continue
        echo "== $p seed $s ($(date +%H:%M:%S))"
        PAIR="$SUITE/$p" OUT="$OUT/$p" SEEDS="$s" SHOT_FROM=recipe DANN=0 \
            scripts/source_free_results.sh
    done
done
python3 scripts/source_free_suite.py "$OUT"
