#!/usr/bin/env python3
"""The pair-suite table of docs/source_free.md from scripts/source_free_suite.sh's runs.

Per pair and seed: dak's plain source-only model, SHOT's source model (`--recipe shot`), SHOT
from it (last epoch, and what `--select safe` keeps), PyTorch's SHOT from the same model file
(scripts/shot_torch_suite.sh, last epoch; "-" where it has not run), TENT from it (one pass), and dak's
source-based pick on the same pair and seed: the `safe` column of docs/selection.md's results
(`dak adapt --compare dann,dann+mcc,cdan,mcc`, label-free selection; seeds 0 and 1 only).
Target-test accuracy in %, read from the runs' metrics files.

    python3 scripts/source_free_suite.py [RUNS_DIR]    # default results-source-free/suite
"""
import json
import os
import re
import sys


def rows(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def epochs(path):
    return [r for r in rows(path) if r.get("type") == "epoch"]


def last_acc(path):
    summary = [r for r in rows(path) if r.get("type") == "summary"]
    return summary[-1]["last"]["target_acc"] if summary else None


def safe(eps, summary):
    """The epoch `--select safe` keeps. A run made with `--select safe` says it in its summary
    (both of the rule's checks: MixVal and the pixel-neighbour kappa, whose bootstrap error is
    not in the metrics file); for a run made with another `--select`, the MixVal half of the
    rule: the last epoch unless its MixVal is below epoch 0's."""
    if summary.get("select") == "safe":
        return eps[summary["selected"]["epoch"]]
    first, last = eps[0], eps[-1]
    keep = first.get("mixval") is not None and last.get("mixval") is not None \
        and last["mixval"] < first["mixval"]
    return first if keep else last


def selection_picks(doc):
    """(pair, seed) -> the `safe` pick's accuracy and name from docs/selection.md's results."""
    picks = {}
    text = open(doc).read()
    block = text.split("<!-- results:begin -->")[1].strip().split("\n\n")[0]
    header = None
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            continue
        if set(line) <= set("|-"):
            continue
        rec = dict(zip(header, cells))
        m = re.match(r"([\d.]+) (.*)", rec["safe"])
        if m:
            picks[(rec["pair"], int(rec["seed"]))] = (float(m.group(1)), m.group(2))
    return picks


def main():
    runs = sys.argv[1] if len(sys.argv) > 1 else "results-source-free/suite"
    here = os.path.dirname(os.path.abspath(__file__))
    picks = selection_picks(os.path.join(here, "..", "docs", "selection.md"))
    print("| pair | seed | source-only | SHOT's source model | SHOT, last epoch | SHOT, `--select safe` | PyTorch SHOT, last epoch | TENT, one pass | dak source-based (`--compare`, safe pick) |")
    print("|---|---|---|---|---|---|---|---|---|")
    gains = {"shot": [], "safe": [], "tent": []}
    torch_gaps = []  # (dak's last epoch, dak's safe pick) minus PyTorch's last epoch
    for pair in sorted(os.listdir(runs)):
        d = os.path.join(runs, pair)
        seeds = sorted({int(m.group(1)) for f in os.listdir(d)
                        for m in [re.match(r"shot-recipe-s(\d+)\.jsonl$", f)] if m})
        for s in seeds:
            shot_path = f"{d}/shot-recipe-s{s}.jsonl"
            eps = epochs(shot_path)
            if not [r for r in rows(shot_path) if r.get("type") == "summary"]:
                continue  # a run still going
            plain = last_acc(f"{d}/source-only-plain-s{s}.jsonl")
            recipe = eps[0]["target_acc"]
            shot = eps[-1]["target_acc"]
            summary = [r for r in rows(shot_path) if r.get("type") == "summary"][-1]
            kept = safe(eps, summary)
            tent_path = f"{d}/tent-recipe-s{s}.jsonl"
            tent = epochs(tent_path)[-1]["target_acc"] if os.path.exists(tent_path) else None
            pick = picks.get((pair, s))
            torch_path = f"{d}/shot-torch-recipe-s{s}.json"
            torch_acc = None
            if os.path.exists(torch_path):
                torch_eps = json.load(open(torch_path))["epochs"]
                torch_acc = torch_eps[-1]["target_acc"]
                if abs(torch_eps[0]["target_acc"] - recipe) > 1e-3:
                    sys.exit(f"{torch_path}: epoch 0 {torch_eps[0]['target_acc']} is not dak's {recipe}")
                torch_gaps.append((shot - torch_acc, kept["target_acc"] - torch_acc))
            gains["shot"].append(shot - recipe)
            gains["safe"].append(kept["target_acc"] - recipe)
            if tent is not None:
                gains["tent"].append(tent - recipe)
            pct = lambda v: "-" if v is None else f"{100 * v:.1f}"
            print(f"| {pair} | {s} | {pct(plain)} | {pct(recipe)} | {pct(shot)} | "
                  f"{pct(kept['target_acc'])} (epoch {kept['epoch']}) | {pct(torch_acc)} | {pct(tent)} | "
                  f"{'-' if pick is None else f'{pick[0]:.1f} {pick[1]}'} |")
    mean = lambda v: 100 * sum(v) / len(v) if v else float("nan")
    print()
    print(f"Mean change from SHOT's source model over {len(gains['shot'])} runs: SHOT last epoch "
          f"{mean(gains['shot']):+.1f}, SHOT `--select safe` {mean(gains['safe']):+.1f}, "
          f"TENT {mean(gains['tent']):+.1f} points.")
    if torch_gaps:
        last = [g[0] for g in torch_gaps]
        kept = [g[1] for g in torch_gaps]
        print(f"dak's SHOT minus PyTorch's over {len(torch_gaps)} runs: last epoch mean "
              f"{mean(last):+.1f} (range {100 * min(last):+.1f} to {100 * max(last):+.1f}), "
              f"`--select safe` mean {mean(kept):+.1f} (range {100 * min(kept):+.1f} to "
              f"{100 * max(kept):+.1f}) points.")


if __name__ == "__main__":
    main()
