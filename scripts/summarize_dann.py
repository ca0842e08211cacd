#!/usr/bin/env python3
"""Mean +- sample std of the last-epoch target-test accuracy per method, from the JSONL files
that scripts/dann_benchmark.sh (dak adapt --metrics) wrote into DIR. Prints a Markdown table."""
import json
import statistics
import sys
from pathlib import Path


def runs(directory: Path):
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if row.get("type") == "summary":
                method = row["method"]
                if path.name.startswith("target-"):
                    method = "train-on-target"
                yield method, row


def main():
    directory = Path(sys.argv[1] if len(sys.argv) > 1 else "results/dann-benchmark")
    by_method = {}
    for method, row in runs(directory):
        by_method.setdefault(method, []).append(row)
    print("| method | seeds | target acc, last epoch (mean ± std) | per seed | minutes per run |")
    print("|---|---|---|---|---|")
    for method in ["source-only", "dann", "train-on-target"]:
        rows = sorted(by_method.get(method, []), key=lambda r: r["seed"])
        if not rows:
            continue
        accs = [r["last"]["target_acc"] for r in rows]
        std = statistics.stdev(accs) if len(accs) > 1 else float("nan")
        per_seed = ", ".join(f"{r['seed']}: {a:.3f}" for r, a in zip(rows, accs))
        minutes = statistics.mean(r["seconds"] for r in rows) / 60
        print(f"| {method} | {len(rows)} | {statistics.mean(accs):.3f} ± {std:.3f} | {per_seed} | {minutes:.1f} |")


if __name__ == "__main__":
    main()
