#!/usr/bin/env python3
"""Where a run's time goes, today's run against runs trained together: the bound that puts on a sweep.

    python benchmarks/run_parts.py [--epochs 10] [--pack 3] [--length 80] [--repeats 2]

Trains the default 10-d run (10,000 samples, vanilla) with today's train.py (benchmarks/today.py: gaussgan
before packing), one run, and with ours a pack of --pack runs (train.py --seed 1 2 3), one after the other,
--repeats times. Both draw their figures inline, as a sweep's runs do. From each run's CSV and verdict.json,
per run, in seconds:
- steps: the epochs' seconds_train (a pack's pass shared among its runs);
- first epoch: the rest of epoch 0 (its nulls simulated, its figures built);
- each later epoch: the rest of the others (diagnostics, the sample figures, the history figures when due,
  models and checkpoint);
- verdict: the end-of-run verdict's seconds (its nulls simulated).
Then the ratio of runs per hour those parts give for a run of --length epochs, today's against packed: what a
sweep of such runs approaches, its start-up, scheduling and idle tail left out. Shown, not held to a target: it
is a projection from measured parts, not a sweep (benchmarks/sweep.py --full measures those). Today's history
figures were drawn every epoch and grow with the run, so at --length beyond --epochs today's later epochs cost
more than measured here: the projection leans towards packing's disadvantage.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import today  # noqa: E402

PARTS = ("steps/epoch", "first epoch", "later epoch", "verdict")


def train(source: Path, seeds: list[int], folder: Path, epochs: int) -> list[dict[str, float]]:
    """Train ``seeds`` together with ``source``'s train.py; each run's parts (see the module's docstring)."""
    runs = folder / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    command = [sys.executable, str(source / "train.py"), "-f", "datasets/data_gauss_dim10.h5", "-n", str(epochs)]
    command += ["--seed", *map(str, seeds), "-o", str(runs), "--quiet", "--inline-figures"]
    subprocess.run(command, cwd=folder, check=True, capture_output=True)
    parts = []
    for run in sorted(runs.iterdir()):
        rows = pd.read_csv(run / "training_details.csv")
        rest = (rows["seconds_total"] - rows["seconds_train"]).to_numpy()
        parts.append(
            {
                "steps/epoch": float(rows["seconds_train"].mean()),
                "first epoch": float(rest[0]),
                "later epoch": float(rest[1:].mean()),
                "verdict": float(json.loads((run / "verdict.json").read_text())["seconds"]),
            }
        )
    return parts


def run_seconds(parts: dict[str, float], length: int) -> float:
    """A run of ``length`` epochs from its parts."""
    return parts["steps/epoch"] * length + parts["first epoch"] + parts["later epoch"] * (length - 1) + parts["verdict"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10, help="epochs trained and measured (default: 10)")
    parser.add_argument("--pack", type=int, default=3, help="runs trained together (default: 3, a defaults pack)")
    parser.add_argument("--length", type=int, default=80, help="epochs of the projected runs (default: 80)")
    parser.add_argument("--repeats", type=int, default=2, help="today's and ours, alternated (default: 2)")
    args = parser.parse_args()
    measured: dict[str, list[dict[str, float]]] = {"today": [], "packed": []}
    with tempfile.TemporaryDirectory(prefix="gaussgan-bench-") as temporary:
        folder = Path(temporary)
        try:
            tree = today.source_tree(folder)
        except today.Unavailable as why:
            print(f"not measured: {why}", file=sys.stderr)
            return 1
        subprocess.run(
            [sys.executable, str(REPO / "gen-samples.py"), "-n", "1000", "-b", "10", "-d", "10", "--seed", "1", "-q"],
            cwd=folder, check=True, capture_output=True,
        )  # fmt: skip
        for repeat in range(args.repeats):
            measured["today"] += train(tree, [1], folder, args.epochs)
            measured["packed"] += train(REPO, list(range(1, args.pack + 1)), folder, args.epochs)
            print(f"  repeat {repeat + 1} of {args.repeats} done", file=sys.stderr, flush=True)
    medians = {
        name: {part: statistics.median(run[part] for run in runs) for part in PARTS} for name, runs in measured.items()
    }
    print(f"\nper run, seconds (median of {args.repeats} today's runs and {args.repeats * args.pack} packed runs):")
    print(f"{'':<24}" + "".join(f"{part:>14}" for part in PARTS) + f"{f'{args.length}-epoch run':>16}")
    for name, label in (("today", "today's train.py"), ("packed", f"packed, {args.pack} runs")):
        row = "".join(f"{medians[name][part]:>14.2f}" for part in PARTS)
        print(f"{label:<24}{row}{run_seconds(medians[name], args.length):>16.1f}")
    for length in sorted({args.epochs, 20, args.length}):
        ratio = run_seconds(medians["today"], length) / run_seconds(medians["packed"], length)
        print(f"runs per hour at {length} epochs, packed vs today's, from these parts: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
