#!/usr/bin/env python3
"""Tables of docs/results.md from `dak adapt --compare` metrics files (scripts/results.sh).

Usage: results_table.py results/e10-s0.jsonl results/e10-s1.jsonl ...

A file named like e30-s0-extra.jsonl adds the methods its own `--compare` ran that the seed's
main file (e30-s0.jsonl) lacks: their accuracy rows, and their epochs to the per-epoch
validators' picks and the oracle. The EnsV pick stays the main run's (EnsV scores a candidate
against the average of the candidates it ran with), and the table says how many candidates it had.

Per epoch budget: every method's target accuracy (last epoch) as mean +- std over seeds, and its
run time; then, per validator, the target accuracy of the (method, epoch) it picks without
target labels, beside the oracle (the best target accuracy of any method and epoch) and the
source-only baseline. entropy / im / snd / source-val picks are recomputed from the epoch lines
(best epoch within a method, then the method whose pick scores best, as `dak adapt --select`
does); the ensv pick is the run's own (`--select ensv`: it needs the predictions).
"""
import json
import re
import statistics
import sys
from collections import defaultdict

# Published MNIST -> MNIST-M target accuracies (different networks and protocols: a reference
# point, not a like-for-like comparison).
PUBLISHED = {
    "source-only": "52.3 (Ganin et al. 2016)",
    "dann": "76.7 (Ganin et al. 2016)",
    "dan": "76.9 (MMD, as reported by Bousmalis et al. 2016)",
}

VALIDATORS = {
    "entropy": lambda e: None if e.get("entropy") is None else -e["entropy"],
    "im": lambda e: e.get("im"),
    "snd": lambda e: e.get("snd"),
    "source-val": lambda e: e.get("source_val_acc"),
}


def read(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def pick(epochs_by_method, score):
    """(method, epoch logs) a validator picks: best epoch per method, then best method."""
    best = None
    for method, epochs in epochs_by_method.items():
        scored = [(score(e), e) for e in epochs if score(e) is not None]
        if not scored:
            continue
        s, e = max(scored, key=lambda t: t[0])  # ties: the first (max keeps the first)
        if best is None or s > best[0]:
            best = (s, method, e)
    return None if best is None else (best[1], best[2])


def fmt(values, scale=100.0, digits=1):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    m = statistics.mean(values) * scale
    if len(values) == 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {statistics.stdev(values) * scale:.{digits}f}"


def main(paths):
    mains, extras = {}, defaultdict(list)  # (budget, seed) -> lines
    for p in paths:
        m = re.search(r"e(\d+)-s(\d+)(-extra)?\.jsonl$", p)
        if not m:
            sys.exit(f"{p}: expected a name like e10-s0.jsonl (or e10-s0-extra.jsonl)")
        key = (int(m.group(1)), int(m.group(2)))
        if m.group(3):
            extras[key].append(read(p))
        elif key in mains:
            sys.exit(
                f"{p}: a second file for {key[0]} epochs, seed {key[1]}; each seed's methods must be "
                "one `--compare` run (the EnsV pick compares them all), more in an -extra file"
            )
        else:
            mains[key] = read(p)
    runs = defaultdict(list)  # epochs budget -> [(seed, lines, EnsV candidates)]
    for key, lines in mains.items():
        have = {l["method"] for l in lines if l.get("type") == "summary"}
        candidates = len(have)
        for extra in extras.pop(key, []):
            added = {l["method"] for l in extra if l.get("type") == "summary"} - have
            lines = lines + [
                l for l in extra if l.get("type") in ("epoch", "summary") and l["method"] in added
            ]
            have |= added
        runs[key[0]].append((key[1], lines, candidates))
    if extras:
        sys.exit(f"-extra files without their main file: {sorted(extras)} (epochs, seed)")
    out = []
    for budget in sorted(runs):
        seeds = sorted(runs[budget], key=lambda t: t[0])
        out.append(f"## {budget} epochs, seeds {', '.join(str(s) for s, _, _ in seeds)}\n")
        methods, acc, secs = [], defaultdict(list), defaultdict(list)
        picks = defaultdict(list)
        for seed, lines, _ in seeds:
            epochs = defaultdict(list)
            for l in lines:
                if l.get("type") == "epoch":
                    epochs[l["method"]].append(l)
                if l.get("type") == "summary":
                    if l["method"] not in methods:
                        methods.append(l["method"])
                    acc[l["method"]].append(l["last"]["target_acc"])
                    secs[l["method"]].append(l["seconds"])
            oracle = max(e["target_acc"] for es in epochs.values() for e in es)
            picks["oracle"].append(oracle)
            so = epochs.get("source-only")
            picks["source-only"].append(so[-1]["target_acc"] if so else None)
            for v, score in VALIDATORS.items():
                p = pick(epochs, score)
                picks[v].append(None if p is None else p[1]["target_acc"])
                picks[v + " method"].append(None if p is None else f"{p[0]}@{p[1]['epoch']}")
            comp = [l for l in lines if l.get("type") == "comparison"]
            sel = comp[-1]["selected"] if comp else None
            picks["ensv"].append(sel["target_acc"] if sel else None)
            picks["ensv method"].append(f"{sel['method']}@{sel['epoch']}" if sel else None)
        out.append("| method | target acc % (last epoch) | minutes per run | published |")
        out.append("|---|---|---|---|")
        for m in methods:
            out.append(
                f"| `{m}` | {fmt(acc[m])} | {fmt(secs[m], 1 / 60, 1)} | {PUBLISHED.get(m, '-')} |"
            )
        out.append("")
        out.append("| validator | target acc % of its pick | picks (method@epoch, per seed) |")
        out.append("|---|---|---|")
        for v in ["entropy", "im", "snd", "source-val", "ensv"]:
            ps = ", ".join(str(p) for p in picks[v + " method"])
            if v == "ensv" and len({c for _, _, c in seeds}) > 1:
                ps += " (among " + ", ".join(str(c) for _, _, c in seeds) + " methods)"
            out.append(f"| `{v}` | {fmt(picks[v])} | {ps} |")
        out.append(f"| oracle (reads target labels) | {fmt(picks['oracle'])} | |")
        out.append(f"| source-only (last epoch) | {fmt(picks['source-only'])} | |")
        worst = [
            (s, e, o)
            for (s, _, _), e, o in zip(seeds, picks["ensv"], picks["source-only"])
            if e is not None and o is not None and e < o
        ]
        out.append("")
        out.append(
            "EnsV pick below source-only on seeds: "
            + (", ".join(f"{s} ({e:.3f} < {o:.3f})" for s, e, o in worst) or "none")
        )
        out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1:])
