#!/usr/bin/env python3
"""Sweep benchmarks: studies through `python -m gaussgan sweep`, as a user runs them.

    make bench        python benchmarks/sweep.py          (a few minutes: rows 2, 3 and 6 on a small study)
    make bench-full   python benchmarks/sweep.py --full   (hours: every row, the studies at full size)

Rows, each from sweeps timed in this one process run (the datasets made once beforehand, so that every
sweep times its runs only). The quick variant sweeps a small seed study (the default 10-d run, 8 seeds,
5 epochs, a shorter verdict); --full sweeps --study (studies/quick.toml) for rows 1-5 and 7, and the
defaults study and a 32-run seed study for row 6:
1. throughput: runs per hour on 2 local workers vs on 1 (target >= 1.7x; --full);
2. per-run overhead inside a sweep: a run's wall time in its worker minus the sum of its epochs'
   seconds_total and its verdict's seconds (verdict.json; the verdict is the run's own work) (loading the
   data, building the networks, config.json and the first figure; target: median <= 2 s, the maximum
   shown). A run trained in a pack has the pack's wall time shared among its runs, so the row shows each
   run's share of its pack's start;
3. the whole sweep's overhead per run: (workers x wall time - every epoch's seconds_total) / runs, which
   adds the cluster's start and stop, scheduling and the idle tail (shown);
4. each run's figures drawn inline (the sweep's default) vs in a process of its own (--background-figures),
   2 workers: runs per hour, inline / background (shown: which is faster; --full);
5. the same runs' epochs, timed in their CSVs, on 2 workers vs 1: 1.00 when the two cores are free; more
   when other processes take them (a shared machine), which lowers row 1 by as much (--full);
6. runs trained together: runs per hour of the sweep's default packs (--pack 8: runs that differ by their
   seed only, trained together) vs today's sweep (gaussgan before packing, benchmarks/today.py: its own
   code, its own Dask workers), 2 workers, the same study. With --full, on the defaults study
   (studies/defaults.toml) and a 32-run seed study at d = 10 (the defaults, 10,000 samples), each at its
   own length (about three hours in all on 2 cores, most of it today's sweeps; target >= 2.5x), or at
   --epochs N for a shorter look (per-run costs, the verdict's among them, then weigh more);
7. the same packs vs each run alone with this code's step (--pack 1), 2 workers: what packing itself
   gives (shown; --full).
Exit status 1 when a target is missed (or today's code is not in this checkout's history).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

sys.path.insert(0, str(REPO / "benchmarks"))  # today.py: gaussgan before packing, the baseline of row 6

import today  # noqa: E402

from gaussgan.study.plan import load_study, study_datasets  # noqa: E402
from gaussgan.study.sweep import generate_datasets  # noqa: E402


def seed_study(name: str, seeds: int, **grid) -> str:
    """A study of the default run (vanilla, d = 10, 10,000 samples) over ``seeds`` seeds; ``grid``: options
    set for every run (their TOML values)."""
    options = "".join(f"{option} = {value}\n" for option, value in grid.items())
    return f"""
description = "train.py's defaults (vanilla), d = 10, 10,000 samples, {seeds} seeds"
seeds = [{", ".join(str(seed) for seed in range(1, seeds + 1))}]
runs_dir = "runs/{name}"
[datasets]
dir = "datasets"
[[datasets.generate]]
dist = "gauss"
dims = [10]
n_samples = 1000
n_batches = 10
seed = 1
[grid]
rule = ["vanilla"]
{options}"""


DONE = re.compile(r"^\[\d+/\d+\] done (\S+) \(([\d.]+) s\)$", re.MULTILINE)


def sweep(study: Path, folder: Path, name: str, workers: int, *options: str, env: dict | None = None) -> dict:
    """One sweep into its own runs directory; its wall time, and per run its task time and epochs' time.
    ``env``: the environment of the sweep's process (today.environment: today's sweep)."""
    runs_dir = folder / name
    command = [sys.executable, "-m", "gaussgan", "sweep", str(study), "--workers", str(workers)]
    command += ["-o", str(runs_dir), "--datasets-dir", str(folder / "datasets"), *options]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, env=env or {**os.environ})
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"sweep failed ({result.returncode}):\n{result.stderr[-3000:]}")
    tasks = {run: float(seconds) for run, seconds in DONE.findall(result.stderr)}
    epochs = {run: run_seconds(runs_dir / run) for run in tasks}
    print(f"  {name}: {len(tasks)} runs in {wall:.1f} s on {workers} workers", file=sys.stderr, flush=True)
    return {"wall": wall, "workers": workers, "tasks": tasks, "epochs": epochs}


def run_seconds(run: Path) -> float:
    """What the run itself cost: its epochs' seconds_total and its end-of-run verdict's seconds."""
    seconds = float(pd.read_csv(run / "training_details.csv")["seconds_total"].sum())
    verdict = run / "verdict.json"
    if verdict.exists():
        seconds += float(json.loads(verdict.read_text()).get("seconds") or 0)
    return seconds


def today_sweep(study: Path, folder: Path, env: dict | None, workers: int, *options: str) -> dict | None:
    """Today's sweep of ``study`` (None when today's code is unavailable): the package before packing, in the
    environment ``env`` (today.environment), with the options it had then."""
    return None if env is None else sweep(study, folder, f"{study.stem}-today", workers, *options, env=env)


def per_hour(measured: dict) -> float:
    return len(measured["tasks"]) / measured["wall"] * 3600


def throughput_row(name: str, ours: dict, baseline: dict, target: float) -> tuple[str, str, str, bool]:
    """A row of runs per hour, ``ours`` against ``baseline``; ``target`` 0: shown, not held to one."""
    ratio = per_hour(ours) / per_hour(baseline)
    measured = f"{ratio:.2f}x ({per_hour(ours):.0f} vs {per_hour(baseline):.0f} runs/h)"
    return name, measured, f">= {target:g}x" if target else "-", ratio >= target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--study",
        type=Path,
        default=REPO / "studies" / "quick.toml",
        help="with --full: the study of rows 1-5 and 7 (default: studies/quick.toml)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="every row: --study for rows 1-5 and 7, the defaults study and a 32-run seed study for row 6",
    )
    parser.add_argument(
        "--epochs", type=int, help="with --full: those two studies at this many epochs (a shorter look)"
    )
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    rows: list[tuple[str, str, str, bool]] = []
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gaussgan-bench-") as temporary:
        folder = Path(temporary)
        try:
            old = today.environment(today.source_tree(folder))
        except today.Unavailable as why:
            old, unavailable = None, str(why)
        if args.full:
            study = args.study
        else:  # a few minutes: 8 runs in 2 packs of 4, 5 epochs, a verdict up to n = 2,000
            study = folder / "seeds8.toml"
            study.write_text(seed_study("seeds8", 8, epochs=5, n_eval=500, max_n=2000))
        generate_datasets(study_datasets(load_study(study, {"datasets_dir": str(folder / "datasets")})))
        two = sweep(study, folder, "two-workers", 2)
        packing = [(study.name, two, today_sweep(study, folder, old, 2), 0.0)]
        one = background = alone = None
        if args.full:
            alone = sweep(study, folder, "two-workers-alone", 2, "--pack", "1")
            one = sweep(study, folder, "one-worker", 1)
            background = sweep(study, folder, "two-workers-background", 2, "--background-figures")
            seeds = folder / "seeds32.toml"
            seeds.write_text(seed_study("seeds32", 32))
            shorter = ("--epochs", str(args.epochs)) if args.epochs else ()
            for full in (REPO / "studies" / "defaults.toml", seeds):
                generate_datasets(study_datasets(load_study(full, {"datasets_dir": str(folder / "datasets")})))
                packed = sweep(full, folder, f"{full.stem}-packed", 2, *shorter)
                packing.append((full.name + (f", {args.epochs} epochs" if args.epochs else ""), packed,
                                today_sweep(full, folder, old, 2, *shorter), 2.5))  # fmt: skip

    if one is not None:
        rows.append(throughput_row(f"1. runs per hour, {study.name}, 2 workers vs 1", two, one, 1.7))
    overheads = [two["tasks"][run] - two["epochs"][run] for run in two["tasks"]]
    median = statistics.median(overheads)
    rows.append(
        (
            "2. per-run overhead in a sweep (run's wall - its epochs' and verdict's seconds), 2 workers",
            f"median {median:.2f} s (max {max(overheads):.2f} s)",
            "median <= 2 s",
            median <= 2,
        )
    )
    for measured in [m for m in (one, two) if m is not None]:
        whole = (measured["workers"] * measured["wall"] - sum(measured["epochs"].values())) / len(measured["tasks"])
        rows.append(
            (
                f"3. whole sweep's overhead per run (start, stop, idle tail), {measured['workers']} worker(s)",
                f"{whole:.2f} s",
                "-",
                True,
            )
        )
    if one is not None and background is not None:
        inline = per_hour(two) / per_hour(background)
        faster = "inline faster" if inline > 1 else "background faster"
        rows.append(
            (
                "4. figures inline vs --background-figures, 2 workers (runs per hour)",
                f"{inline:.2f}x ({faster})",
                "-",
                True,
            )
        )
        # Two workers on two cores run each run as fast as one worker does, unless something else takes the cores
        # (another user's processes on a shared machine): this row shows it, so that row 1 can be read.
        slowdown = sum(two["epochs"].values()) / sum(one["epochs"].values())
        rows.append(
            (
                "5. epochs' time of the same runs, 2 workers vs 1 (1.00 = two free cores)",
                f"{slowdown:.2f}x (load average {os.getloadavg()[0]:.1f} at the end)",
                "-",
                True,
            )
        )

    for name, packed, before, target in packing:
        row = f"6. runs per hour, {name}, packed (--pack 8) vs today's sweep, 2 workers"
        if before is None:
            rows.append((row, f"not measured: {unavailable}", f">= {target:g}x" if target else "-", False))
            continue
        rows.append(throughput_row(row, packed, before, target))
    if alone is not None:
        row = f"7. runs per hour, {study.name}, packed (--pack 8) vs each run alone (--pack 1), 2 workers"
        rows.append(throughput_row(row, two, alone, 0.0))

    width = max(len(row[0]) for row in rows)
    print(f"{'benchmark':<{width}}  {'measured':<40}  {'target':<14}  ok")
    for name, measured, target, met in rows:
        print(f"{name:<{width}}  {measured:<40}  {target:<14}  {'yes' if met else 'NO'}")
    print(f"\n{len(rows)} rows in {time.perf_counter() - began:.0f} s; {cores} cores")
    return 0 if all(row[3] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
