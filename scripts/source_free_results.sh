#!/usr/bin/env bash
# docs/results.md's source-free rows: on the bundled MNIST -> MNIST-M, per seed, a source-only
# model (`dak adapt --method source-only`), SHOT from it with no source image
# (`dak adapt --source-free --init`, the method's defaults: 30 epochs for digits) and DANN, the
# source-based default, with the same data and seed.
#
#   scripts/source_free_results.sh                         # seeds 0 1 2
#   SEEDS="0" SOURCE_EPOCHS=10 SHOT_EPOCHS=15 scripts/source_free_results.sh
#   PAIR=target/selection-suite/lowres-to-mnist OUT=results-source-free/lowres-to-mnist \
#       SEEDS=0 scripts/source_free_results.sh    # a pair of scripts/selection_suite.py
#
# Output: results-source-free/<run>-s<SEED>.jsonl (+ .log, .safetensors) and a table on
# stdout: target-test accuracy of the last epoch, and SHOT's selected epoch by --select.
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-"0 1 2"}
SOURCE_EPOCHS=${SOURCE_EPOCHS:-10}
SHOT_EPOCHS=${SHOT_EPOCHS:-}
RECIPES=${RECIPES:-"plain recipe"}
SHOT_FROM=${SHOT_FROM:-"plain recipe"}  # the source models SHOT adapts (the others: source-only only)
DANN=${DANN:-1}                         # 0: no DANN run (the pair suite cites docs/selection.md's)
SELECT=${SELECT:-safe}  # the default; the table reads its pick (other values: MixVal half only)
DAK=${DAK:-target/release/dak}
OUT=${OUT:-results-source-free}
[ -x "$DAK" ] || cargo build --release
mkdir -p "$OUT"
summary() { grep '"type":"summary"' "$1" | tail -1; }
# A suite pair's folders (the source only for the source model, the target for SHOT), or the
# bundled benchmark.
src_data=() tgt_data=()
if [ -n "${PAIR:-}" ]; then
    src_data=(--source "$PAIR/source/train" --source-test "$PAIR/source/test"
              --target "$PAIR/target/train" --target-test "$PAIR/target/test" --batch 32)
    tgt_data=(--target "$PAIR/target/train" --target-test "$PAIR/target/test")
fi
# source-only then SHOT from it: `plain` (dak's source model) and `recipe` (--recipe shot:
# SHOT's bottleneck Linear + BatchNorm1d, linear head, label smoothing 0.1).
pair() {
    local tag=$1 s=$2; shift 2
    local src="$OUT/source-only-$tag-s$s" shot="$OUT/shot-$tag-s$s"
    [ -s "$src.jsonl" ] && summary "$src.jsonl" >/dev/null ||
        "$DAK" adapt "${src_data[@]}" --method source-only --epochs "$SOURCE_EPOCHS" --seed "$s" --no-pad "$@" \
            --out "$src.safetensors" --metrics "$src.jsonl" > "$src.log" 2>&1
    case " $SHOT_FROM " in *" $tag "*) ;; *) return 0 ;; esac
    local epochs=()
    [ -n "$SHOT_EPOCHS" ] && epochs=(--epochs "$SHOT_EPOCHS")
    [ -s "$shot.jsonl" ] && summary "$shot.jsonl" >/dev/null ||
        "$DAK" adapt --source-free --init "$src.safetensors" "${tgt_data[@]}" --seed "$s" "${epochs[@]}" \
            --select "$SELECT" --out "$shot.safetensors" --metrics "$shot.jsonl" > "$shot.log" 2>&1
    # TENT needs BatchNorm: the recipe's bottleneck has one (one online pass, its defaults).
    if [ "$tag" = recipe ]; then
        local tent="$OUT/tent-$tag-s$s"
        [ -s "$tent.jsonl" ] && summary "$tent.jsonl" >/dev/null ||
            "$DAK" adapt --source-free --method tent --init "$src.safetensors" "${tgt_data[@]}" \
                --seed "$s" --select "$SELECT" --out "$tent.safetensors" --metrics "$tent.jsonl" \
                > "$tent.log" 2>&1
    fi
}
for s in $SEEDS; do
    for tag in $RECIPES; do
        case $tag in
            plain) pair plain "$s" ;;
            recipe) pair recipe "$s" --recipe shot ;;
        esac
    done
    [ "$DANN" = 1 ] || continue
    dann="$OUT/dann-s$s"
    [ -s "$dann.jsonl" ] && summary "$dann.jsonl" >/dev/null ||
        "$DAK" adapt "${src_data[@]}" --method dann --epochs "$SOURCE_EPOCHS" --seed "$s" --no-pad \
            --out "$dann.safetensors" --metrics "$dann.jsonl" > "$dann.log" 2>&1
done
[ "$DANN" = 1 ] && [ "$SHOT_FROM" = "plain recipe" ] || exit 0  # scripts/source_free_suite.py tables the rest
RECIPES="$RECIPES" python3 - "$OUT" $SEEDS <<'PY'
import json, sys
out, seeds = sys.argv[1], sys.argv[2:]
def summary(path):
    rows = [json.loads(l) for l in open(path)]
    return [r for r in rows if r.get("type") == "summary"][-1]
import os
sys.path.insert(0, "scripts")
from source_free_suite import safe  # the one reading of --select safe's pick


def safe_pick(epochs, rows):
    return safe(epochs, [r for r in rows if r.get("type") == "summary"][-1])


print("| source model | seed | source-only (= SHOT epoch 0) | SHOT, best epoch (oracle) | SHOT, last epoch | SHOT, `--select safe` | DANN |")
print("|---|---|---|---|---|---|---|")
for tag in os.environ.get("RECIPES", "plain recipe").split():
    cols = {k: [] for k in ("so", "best", "shot", "safe", "dann")}
    for s in seeds:
        so = summary(f"{out}/source-only-{tag}-s{s}.jsonl")["last"]["target_acc"]
        rows = [json.loads(l) for l in open(f"{out}/shot-{tag}-s{s}.jsonl")]
        epochs = [r for r in rows if r.get("type") == "epoch"]
        first, last = epochs[0], epochs[-1]
        best = max(epochs, key=lambda r: r["target_acc"])
        safe = safe_pick(epochs, rows)
        dn = summary(f"{out}/dann-s{s}.jsonl")["last"]["target_acc"]
        for k, v in (("so", so), ("best", best["target_acc"]), ("shot", last["target_acc"]),
                     ("safe", safe["target_acc"]), ("dann", dn)):
            cols[k].append(v)
        print(f"| {tag} | {s} | {100*so:.1f} | {100*best['target_acc']:.1f} (epoch {best['epoch']}) | "
              f"{100*last['target_acc']:.1f} | {100*safe['target_acc']:.1f} (epoch {safe['epoch']}) | {100*dn:.1f} |")
    m = lambda v: 100 * sum(v) / len(v)
    print(f"| {tag} | mean | {m(cols['so']):.1f} | {m(cols['best']):.1f} | {m(cols['shot']):.1f} | {m(cols['safe']):.1f} | {m(cols['dann']):.1f} |")
if "recipe" in os.environ.get("RECIPES", "plain recipe").split():
    print()
    print("| source model | seed | source-only (= TENT epoch 0) | TENT, one pass | TENT, `--select safe` |")
    print("|---|---|---|---|---|")
    acc = {k: [] for k in ("so", "tent", "safe")}
    for s in seeds:
        rows = [json.loads(l) for l in open(f"{out}/tent-recipe-s{s}.jsonl")]
        epochs = [r for r in rows if r.get("type") == "epoch"]
        first, last = epochs[0], epochs[-1]
        safe = safe_pick(epochs, rows)
        for k, v in (("so", first["target_acc"]), ("tent", last["target_acc"]), ("safe", safe["target_acc"])):
            acc[k].append(v)
        print(f"| recipe | {s} | {100*first['target_acc']:.1f} | {100*last['target_acc']:.1f} | "
              f"{100*safe['target_acc']:.1f} (epoch {safe['epoch']}) |")
    m = lambda v: 100 * sum(v) / len(v)
    print(f"| recipe | mean | {m(acc['so']):.1f} | {m(acc['tent']):.1f} | {m(acc['safe']):.1f} |")
PY
