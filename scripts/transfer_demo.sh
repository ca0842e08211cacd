#!/usr/bin/env bash
# Offline transfer-learning demo of docs/results.md (DESIGN §6 calibration), on the bundled
# MNIST -> MNIST-M pair at 32x32:
#   1. train VGG16 + head from scratch on source digits (Adam 1e-4, batch 32), save it;
#   2. train a new GAP + 1024 + 10 head on a small labelled part of the target domain with that
#      base frozen, and the same head on a randomly initialised frozen base; compare on the
#      MNIST-M test images.
#
#   scripts/transfer_demo.sh [--source-per-class N] [--source-epochs E] [--target-per-class N]
#                            [--head-epochs E] [--out DIR] [--seed S]
#   (defaults: 320 source images per class, 3 epochs; 50 target images per class, 10 epochs:
#    the calibration protocol of DESIGN §6)
set -euo pipefail
cd "$(dirname "$0")/.."
src_n=320 src_epochs=3 tgt_n=50 head_epochs=10 out=results/transfer-demo seed=0
while [[ $# -gt 0 ]]; do
    case $1 in
        --source-per-class) src_n=$2; shift 2 ;;
        --source-epochs) src_epochs=$2; shift 2 ;;
        --target-per-class) tgt_n=$2; shift 2 ;;
        --head-epochs) head_epochs=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$out"
cargo build --release --quiet
dak=$out/dak # a private copy: rebuilding during the runs must not change them
cp target/release/dak "$dak"
[[ -d $out/data/source ]] || $dak data mnist-m --size 32 --out "$out/data"

# The first N images (by name) of every class folder of $1, linked into $2.
subset() {
    local from=$1 to=$2 n=$3
    rm -rf "$to"
    for class in "$from"/*/; do
        class=$(basename "$class")
        mkdir -p "$to/$class"
        ls "$from/$class" | sort | head -n "$n" | while read -r f; do
            ln -s "$(realpath "$from/$class/$f")" "$to/$class/$f"
        done
    done
}
subset "$out/data/source/train" "$out/source-subset" "$src_n"
subset "$out/data/target/train" "$out/target-subset" "$tgt_n"

common=(--input-size 32 --batch 32 --optimizer adam --lr 1e-4 --preprocess unit --seed "$seed")
start=$SECONDS
$dak fine-tune "${common[@]}" --train "$out/source-subset" --val "$out/data/source/test" \
    --weights none --freeze none --backbone-lr-mult 1 --epochs "$src_epochs" \
    --out "$out/source-vgg16.safetensors" --metrics "$out/source.jsonl"
echo "source training: $((SECONDS - start)) s"
for base in source-vgg16 random; do
    weights=$out/source-vgg16.safetensors
    [[ $base == random ]] && weights=none
    start=$SECONDS
    $dak fine-tune "${common[@]}" --train "$out/target-subset" --val "$out/data/target/test" \
        --weights "$weights" --freeze base --epochs "$head_epochs" \
        --out "$out/head-on-$base.safetensors" --metrics "$out/head-on-$base.jsonl"
    echo "head on the $base base: $((SECONDS - start)) s"
    $dak evaluate --model "$out/head-on-$base.safetensors" --data "$out/data/target/test" --json \
        > "$out/head-on-$base.eval.json"
done
$dak evaluate --model "$out/source-vgg16.safetensors" --data "$out/data/source/test" --json > "$out/source-vgg16.source-test.json"
$dak evaluate --model "$out/source-vgg16.safetensors" --data "$out/data/target/test" --json > "$out/source-vgg16.target-test.json"
for f in "$out"/*.json; do
    printf '%-50s %s\n' "$(basename "$f")" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["accuracy"])' "$f")"
done
