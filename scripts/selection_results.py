#!/usr/bin/env python3
"""Scores the selection study (docs/selection.md, "Results") from the runs that
scripts/selection_runs.sh kept: every run folder's candidates are re-scored with every validator
by `dak select DIR --select all --json` (cached beside them as select.json; --rescore redoes it,
e.g. after a validator changed: no training), then each validator's pick is compared with the
oracle (the best candidate by target-test labels, reporting only) and with source-only.

    python3 scripts/selection_results.py [RUNS_DIR] [--dak target/release/dak] [--rescore]
                                         [--docs docs/selection.md]

Prints markdown tables: per pair and seed, the oracle, source-only and each validator's pick;
per validator, the mean and worst-case regret against the oracle (the best of all candidates,
every epoch of every method), the mean regret against the best final model (the best method
after its last epoch: the best of the models a --compare run writes) and the gain over
source-only.
"source-only" is the source-only model at its last epoch: what a user gets without adapting.
With --docs, the tables also replace what stands between the markers
<!-- results:begin --> and <!-- results:end --> in that file. Standard library only.
"""
import argparse
import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

ORDER = ["safe", "ensv", "ensv-soft", "mixval", "dev", "entropy", "im", "snd"]


def scored(run_dir: Path, dak: str, rescore: bool) -> dict:
    cache = run_dir / "select.json"
    if cache.exists() and not rescore:
        return json.loads(cache.read_text())
    out = subprocess.run(
        [dak, "select", str(run_dir), "--select", "all", "--json"],
        capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"dak select {run_dir}: {out.stderr.strip()}")
    tmp = cache.with_suffix(".json.tmp")
    tmp.write_text(out.stdout)
    tmp.replace(cache)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="?", default="target/selection-runs")
    ap.add_argument("--dak", default="target/release/dak")
    ap.add_argument("--rescore", action="store_true")
    ap.add_argument("--docs", help="markdown file whose results markers receive the tables")
    args = ap.parse_args()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tables(args)
    print(out.getvalue(), end="")
    if args.docs:
        doc = Path(args.docs).read_text()
        begin, end = "<!-- results:begin -->", "<!-- results:end -->"
        if begin not in doc or end not in doc:
            sys.exit(f"{args.docs}: no {begin} ... {end} markers")
        head, rest = doc.split(begin, 1)
        _, tail = rest.split(end, 1)
        tmp = Path(args.docs + ".tmp")
        tmp.write_text(f"{head}{begin}\n{out.getvalue()}{end}{tail}")
        tmp.replace(args.docs)


def tables(args) -> None:
    runs = sorted(p.parent for p in Path(args.runs).glob("*/seed*/candidates.json"))
    if not runs:
        sys.exit(f"no runs under {args.runs}; run scripts/selection_runs.sh first")
    rows = []
    for run in runs:
        s = scored(run, args.dak, args.rescore)
        cands = s["candidates"]
        oracle = max(cands, key=lambda c: c["target_acc"])
        so = [c for c in cands if c["method"] == "source-only"]
        so_last = max(so, key=lambda c: c["epoch"])
        by_method = {}
        for c in cands:
            last = by_method.get(c["method"])
            if last is None or c["epoch"] > last["epoch"]:
                by_method[c["method"]] = c
        picks = {p["validator"]: p for p in s["picks"]}
        best_final = max(by_method.values(), key=lambda c: c["target_acc"])
        rows.append({
            "pair": run.parent.name, "seed": run.name.removeprefix("seed"),
            "oracle": oracle, "source_only": so_last["target_acc"],
            "best_final": best_final["target_acc"],
            "last": {m: c["target_acc"] for m, c in by_method.items()},
            "picks": picks,
        })
    validators = [v for v in ORDER if all(v in r["picks"] for r in rows)]
    pct = lambda v: f"{100 * v:.1f}"

    print("| pair | seed | oracle | source-only | " + " | ".join(validators) + " |")
    print("|---|---|---|---|" + "---|" * len(validators))
    for r in rows:
        o = r["oracle"]
        cells = []
        for v in validators:
            p = r["picks"][v]
            flag = " ⚠" if p["target_acc"] < r["source_only"] - 0.01 else ""
            cells.append(f"{pct(p['target_acc'])} {p['method']}@{p['epoch']}{flag}")
        print(f"| {r['pair']} | {r['seed']} | {pct(o['target_acc'])} {o['method']}@{o['epoch']} "
              f"| {pct(r['source_only'])} | " + " | ".join(cells) + " |")

    print()
    print("| validator | mean regret vs oracle | worst regret vs oracle "
          "| mean regret vs best final model | mean vs source-only "
          "| worst vs source-only | picks below source-only − 1 |")
    print("|---|---|---|---|---|---|---|")
    for v in validators:
        reg = [100 * (r["oracle"]["target_acc"] - r["picks"][v]["target_acc"]) for r in rows]
        fin = [100 * (r["best_final"] - r["picks"][v]["target_acc"]) for r in rows]
        gain = [100 * (r["picks"][v]["target_acc"] - r["source_only"]) for r in rows]
        below = sum(g < -1.0 for g in gain)
        print(f"| `{v}` | {sum(reg) / len(reg):.1f} | {max(reg):.1f} | {sum(fin) / len(fin):.1f} "
              f"| {sum(gain) / len(gain):+.1f} | {min(gain):+.1f} | {below} of {len(rows)} |")
    methods = sorted({m for r in rows for m in r["last"]})
    print()
    print("| method (last epoch) | mean target acc | mean vs source-only | worst vs source-only |")
    print("|---|---|---|---|")
    for m in methods:
        acc = [100 * r["last"][m] for r in rows if m in r["last"]]
        gain = [100 * (r["last"][m] - r["source_only"]) for r in rows if m in r["last"]]
        print(f"| {m} | {sum(acc) / len(acc):.1f} | {sum(gain) / len(gain):+.1f} | {min(gain):+.1f} |")


if __name__ == "__main__":
    main()
