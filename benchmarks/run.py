#!/usr/bin/env python3
"""gaussgan benchmarks: every figure a ratio of two things measured side by side in one run.

    make bench            (python benchmarks/run.py --quick; make bench-full: every row, at full size)

Each row times the project's code and a floor written here (the least work that gives the same
result), or, in rows 9 and 10, gaussgan as it was before runs were trained together (benchmarks/today.py),
alternating them, and reports the median ratio over the repeats with its min-max.
torch and BLAS run on one thread unless a row says otherwise. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import os

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import argparse
import contextlib
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))  # today.py: the step as it was, the baseline of row 9

from gaussgan.data import datasets  # noqa: E402
from gaussgan.distributions import PARENTS, make_parent  # noqa: E402
from gaussgan.gan.checkpoint import build_state  # noqa: E402
from gaussgan.gan.options import TrainConfig  # noqa: E402
from gaussgan.gan.packed import Pack  # noqa: E402
from gaussgan.gan.training import train_steps  # noqa: E402
from gaussgan.system.interrupt import GracefulStop  # noqa: E402

torch.set_num_threads(1)
ROWS: list[tuple[str, str, str, bool]] = []  # (row, measured, target, met)


def report(name: str, values: list[float], target: float, unit: str = "x") -> None:
    median = statistics.median(values)
    measured = f"{median:.2f}{unit} ({min(values):.2f}-{max(values):.2f})" if len(values) > 1 else f"{median:.2f}{unit}"
    ROWS.append((name, measured, f"<= {target:g}{unit}", median <= target))
    print(f"  {name}: {measured}", file=sys.stderr, flush=True)


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def ratios(ours, floor, repeats: int) -> list[float]:
    """Alternate the two so that a busy spell on the machine hits both alike."""
    ours(), floor()  # warm-up: imports, caches, first allocations
    return [timed(ours) / timed(floor) for _ in range(repeats)]


# --- 1. Data generation ------------------------------------------------------------------------
def numpy_floor(parent, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """The least numpy work that draws from ``parent``: its own generator call (plus the Cholesky
    matmul when correlated, the inverse CDF for trunc_gauss), and nothing else."""
    if parent.name == "gauss":
        data = rng.standard_normal(shape)
        return data if parent.is_diagonal else data @ np.linalg.cholesky(parent.sigma).T
    if parent.name == "cauchy":
        return rng.standard_cauchy(shape)
    if parent.name == "uniform":
        return rng.uniform(parent.xlo, parent.xhi, shape)
    from scipy import special

    return special.ndtri(rng.uniform(special.ndtr(parent.xlo), special.ndtr(parent.xhi), shape))


def bench_generation(folder: Path, repeats: int, quick: bool) -> None:
    # Both sizes write 80 MB: at d = 10 with 10,000 samples the job takes ~20 ms and the file's
    # fixed costs (metadata arrays, the rename) would be the ratio rather than the data path.
    # Quick: the Gaussian parents at d = 1000 only (the other parents share their data path).
    for dim, n, batches in ((1000, 1000, 10),) if quick else ((1000, 1000, 10), (10, 100000, 10)):
        others = [] if quick else [(other, False) for other in PARENTS[1:]]
        for name, correlated in [("gauss", False), ("gauss", True), *others]:
            parent = make_parent(name, dim, sigma=(1.0, 0.5, 2) if correlated else (1.0, 0.0, 1))

            def ours():
                datasets.write_dataset(folder / "ours.h5", parent, n, batches, np.random.default_rng(0))

            def floor():
                data = numpy_floor(parent, (n * batches, dim), np.random.default_rng(0))
                np.linalg.norm(data, axis=1)  # the norms gen-samples reports and draws: part of the result
                with h5py.File(folder / "floor.h5", "w") as handle:
                    handle["data"] = data

            label = f"{name}{' (correlated)' if correlated else ''}"
            report(
                f"1. data generation, {label}, d={dim} n={n} b={batches} vs numpy+norms+h5py floor",
                ratios(ours, floor, 2 * repeats),
                1.3,
            )


FLOOR_SCRIPT = """
import sys
import h5py, numpy as np
data = np.random.default_rng(0).standard_normal((10000, 1000))
with h5py.File(sys.argv[1], "w") as handle:
    handle["data"] = data
"""


def bench_generation_process(folder: Path, repeats: int) -> None:
    """What a user waits for: the whole gen-samples.py command, imports and histogram included."""
    command = [
        sys.executable,
        str(REPO / "gen-samples.py"),
        "-n",
        "1000",
        "-b",
        "10",
        "-d",
        "1000",
        "--seed",
        "1",
        "-q",
        "-o",
        str(folder / "process"),
    ]

    def ours():
        shutil.rmtree(folder / "process", ignore_errors=True)  # a fresh folder: nothing to replace
        subprocess.run(command, check=True, capture_output=True)

    def floor():
        subprocess.run([sys.executable, "-c", FLOOR_SCRIPT, str(folder / "floor.h5")], check=True, capture_output=True)

    report(
        "1. gen-samples.py -n 1000 -b 10 -d 1000, whole process vs a numpy+h5py script",
        ratios(ours, floor, repeats),
        2.5,
    )


# --- 2. Training steps -------------------------------------------------------------------------
class NoProgress:
    def update(self, _):
        pass


def bare_epoch(state, config, data: torch.Tensor) -> None:
    """The floor: same networks and optimisers, permutation slices, the update rule written out (its penalty
    included), nothing else."""
    generator, discriminator = state.generator, state.discriminator
    opt_g, opt_d = state.optimizer_g, state.optimizer_d
    permutation = torch.randperm(len(data))
    for index, start in enumerate(range(0, len(data), config.batch_size)):
        real = data[permutation[start : start + config.batch_size]]
        with torch.no_grad():
            fake = generator(torch.randn(len(real), config.latent_dim) * config.latent_sigma)
        if config.rule == "wgan-gp":
            weight = torch.rand(len(real), 1)
            mixed = (weight * real + (1 - weight) * fake).requires_grad_(True)
            (gradient,) = torch.autograd.grad(discriminator(mixed).sum(), mixed, create_graph=True)
            loss = (
                discriminator(fake).mean()
                - discriminator(real).mean()
                + config.gp_weight * ((gradient.norm(2, dim=1) - 1) ** 2).mean()
            )
        elif config.r1_weight:  # the R1 penalty on the real samples, as every default vanilla run has it
            real = real.detach().requires_grad_(True)
            d_real = discriminator(real)
            (gradient,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
            loss = F.softplus(-d_real).mean() + F.softplus(discriminator(fake)).mean()
            loss = loss + config.r1_weight / 2 * gradient.pow(2).sum(dim=1).mean()
        else:
            loss = F.softplus(-discriminator(real)).mean() + F.softplus(discriminator(fake)).mean()
        opt_d.zero_grad(set_to_none=True)
        loss.backward()
        opt_d.step()
        if (index + 1) % config.critic_steps == 0:
            discriminator.requires_grad_(False)
            scores = discriminator(generator(torch.randn(len(real), config.latent_dim) * config.latent_sigma))
            loss = -scores.mean() if config.rule == "wgan-gp" else F.softplus(-scores).mean()
            discriminator.requires_grad_(True)
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()


def bench_training_steps(repeats: int, quick: bool) -> None:
    for rule in ("vanilla", "wgan-gp"):
        for dim in (10,) if quick else (10, 100):
            config = TrainConfig(dataset="-", rule=rule, seed=1)
            data = torch.randn(10000, dim)
            ours_state, floor_state = (
                build_state(config, dim, torch.device("cpu")),
                build_state(config, dim, torch.device("cpu")),
            )

            def ours():
                with GracefulStop() as stop:
                    train_steps(Pack([ours_state], [config]), data, stop, NoProgress())

            report(
                f"2. training steps, {rule}, d={dim}, 10,000 samples, batch 64 vs bare loop",
                ratios(ours, lambda: bare_epoch(floor_state, config, data), 2 * repeats + 1),
                1.10,
            )


# --- 9. Runs trained together ------------------------------------------------------------------
def step_flops(config, dim: int) -> int:
    """Floating-point operations of one training step (matrix products, forward and backward), counted by
    torch's FlopCounterMode on one D-step and 1/critic_steps G-step of a run alone."""
    from torch.utils.flop_counter import FlopCounterMode

    state = build_state(config, dim, torch.device("cpu"))
    data = torch.randn(config.batch_size * config.critic_steps, dim)
    with FlopCounterMode(display=False) as counter, GracefulStop() as stop:
        train_steps(Pack([state], [config]), data, stop, NoProgress())
    return counter.get_total_flops() // config.critic_steps


def matmul_rate() -> float:
    """This core's best matrix-product rate (FLOP/s): products of 512 x 512 matrices, the best of 5."""
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    torch.mm(a, b)
    seconds = min(timed(lambda: [torch.mm(a, b) for _ in range(10)]) for _ in range(5))
    return 10 * 2 * 512**3 / seconds


def bench_packing(repeats: int, quick: bool) -> None:
    """Steps per second per core of the step as it was (benchmarks/today.py) and of K runs trained together,
    and how far each is from the bare arithmetic (its matrix products at this core's rate)."""
    import today

    rate = matmul_rate()
    print(f"  matrix products: {rate / 1e9:.1f} GFLOP/s on one core", file=sys.stderr)
    sizes = (1, 4, 8) if quick else (1, 2, 4, 8, 16)
    for rule in ("vanilla", "wgan-gp"):
        for dim in (10,) if quick else (10, 100):
            data = torch.randn(2048, dim)  # 32 steps per pass
            steps = len(range(0, len(data), 64))
            base = TrainConfig(dataset="-", rule=rule, seed=1)
            arithmetic = step_flops(base, dim) / rate
            old = build_state(base, dim, torch.device("cpu"))
            for replicas in sizes:
                configs = [base.with_seed(seed) for seed in range(1, replicas + 1)]
                states = [build_state(config, dim, torch.device("cpu")) for config in configs]

                def ours():
                    with GracefulStop() as stop:
                        train_steps(Pack(states, configs), data, stop, NoProgress())

                # today's seconds per step / ours per run-step: the speed-up, each pass timed beside the other.
                # A pass alone takes a fifth of a second, where this shared machine's spells last longer: the
                # run alone (the target's row) gets three times the pairs, a few seconds more.
                pairs = 3 * repeats if replicas == 1 else repeats
                values = [replicas * value for value in ratios(lambda: today.epoch(old, base, data), ours, pairs)]
                speedup = statistics.median(values)
                ours_per_step = timed(ours) / (steps * replicas)
                name = f"9. run-steps/s vs today's step, {rule}, d={dim}, K={replicas}"
                # The target is a default run's (vanilla, d = 10) steps; the others are reported.
                target = 1.3 if (rule, dim, replicas) == ("vanilla", 10, 1) else 0
                measured = f"{speedup:.2f}x ({min(values):.2f}-{max(values):.2f}); {1 / ours_per_step:.0f}/s, {ours_per_step / arithmetic:.1f}x arithmetic"
                ROWS.append((name, measured, f">= {target:g}x" if target else "report", speedup >= target))
                print(f"  {name}: {measured}", file=sys.stderr, flush=True)


# --- 10. A default run, as train.py trains it ------------------------------------------------------
def bench_default_run(folder: Path, repeats: int) -> None:
    """Training steps per second of a default run (vanilla, d = 10, 10,000 samples, train.py's own background
    figures), by its CSV's seconds_train: ours against today's train.py (benchmarks/today.py), run one after
    the other, ``repeats`` times."""
    import today

    name = "10. a default run's training steps/s (train.py, d=10, 6 epochs) vs today's train.py"
    try:
        tree = today.source_tree(folder)
    except today.Unavailable as why:
        ROWS.append((name, f"not measured: {why}", "report", True))
        return
    subprocess.run(
        [sys.executable, str(REPO / "gen-samples.py"), "-n", "1000", "-s", "gauss", "-b", "10", "-d", "10", "--seed", "1"],
        cwd=folder, check=True, capture_output=True,
    )  # fmt: skip
    steps = len(range(0, 10000, 64))

    def steps_per_second(source: Path) -> float:
        runs = folder / "default-runs"
        shutil.rmtree(runs, ignore_errors=True)
        command = [sys.executable, str(source / "train.py"), "-f", "datasets/data_gauss_dim10.h5", "-n", "6"]
        command += ["--seed", "1", "-o", str(runs), "--quiet", "--max-n", "1000"]  # a short verdict: not timed
        subprocess.run(command, cwd=folder, check=True, capture_output=True)
        seconds = pd.read_csv(next(runs.glob("*/training_details.csv")))["seconds_train"].to_numpy()[1:]
        return len(seconds) * steps / seconds.sum()  # epoch 0 left out: it includes the first allocations

    # Shown, not held to the target: the same step as row 9's vanilla d=10 K=1 (which is), timed as a user
    # meets it, whole processes one after the other beside their figure workers, so far noisier.
    values = [steps_per_second(REPO) / steps_per_second(tree) for _ in range(repeats)]
    measured = f"{statistics.median(values):.2f}x ({min(values):.2f}-{max(values):.2f})"
    ROWS.append((name, measured, "report", True))
    print(f"  {name}: {measured}", file=sys.stderr, flush=True)


# --- 3. A whole epoch as train.py runs it ------------------------------------------------------
def bench_whole_epoch(folder: Path, repeats: int, quick: bool) -> None:
    from gaussgan.gan.training import train

    for dim, target in ((10, 1.5), (100, 1.5), (1000, 2.0)):
        if quick and dim != 10:
            continue
        parent = make_parent("gauss", dim)
        path = folder / f"data{dim}.h5"
        datasets.write_dataset(path, parent, 10000, 1, np.random.default_rng(0))
        base = TrainConfig(dataset=str(path), runs_dir=str(folder / "runs"), quiet=True, seed=1, force=True)
        # From epoch 5 on the figure worker has started, imported matplotlib and built its grids
        # (a few seconds, several epochs when an epoch takes a third of a second).
        epochs, steady = 10, 5
        config = base
        floor_state = build_state(config, dim, torch.device("cpu"))
        data = torch.from_numpy(datasets.load_dataset(path, np.float32)[0])
        floor_epoch = lambda: timed(lambda: bare_epoch(floor_state, config, data))
        values = []
        for _ in range(2 if quick else repeats):  # quick: 2 runs of 10 epochs, about a minute
            # train.py's own account of each epoch (seconds_total: steps, diagnostics, waiting for
            # figures, saving), after the start-up transient, against bare epochs timed just before
            # and after, so that a slow spell of this shared machine touches both.
            floors = [floor_epoch()]
            with contextlib.redirect_stdout(io.StringIO()):  # train() prints the run directory
                run = train(TrainConfig(**{**base.__dict__, "epochs": epochs}))
            floors.append(floor_epoch())
            seconds = pd.read_csv(run.file("training_details.csv"))["seconds_total"].to_numpy()[steady:]
            values.append(statistics.median(seconds) / statistics.median(floors))
        report(
            f"3. whole epoch (train.py: steps + diagnostics + figures), vanilla, d={dim} vs bare loop", values, target
        )


# --- 4. Peak memory ----------------------------------------------------------------------------
def peak_rss_mb(arguments: list[str], folder: Path, module: bool = False) -> float:
    """Peak resident memory of a script's process (``module``: of ``python -m arguments[0]``), in MB.

    Read from /proc (VmHWM, reset by exec): getrusage's ru_maxrss would report this benchmark's
    own size, which a forked child inherits.
    """
    run = (
        "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)"
        if module
        else ("runpy.run_path(sys.argv[0], run_name='__main__')")
    )
    code = (
        "import runpy, sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "sys.argv = sys.argv[1:]\n"
        f"try:\n    {run}\n"
        "except SystemExit:\n    pass\n"
        "line = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print(int(line.split()[1]) / 1024)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *arguments], cwd=folder, capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip().splitlines()[-1])


def bench_memory(folder: Path, quick: bool) -> None:
    if quick:
        return
    generate = str(REPO / "gen-samples.py")
    peak = peak_rss_mb([generate, "-n", "10000", "-b", "100", "-d", "1000", "--seed", "1", "-q", "-o", "big"], folder)
    report("4. peak memory, gen-samples.py -n 10000 -b 100 -d 1000 (8 GB written)", [peak], 500, " MB")
    for path in (folder / "big").iterdir():
        path.unlink()
    subprocess.run(
        [sys.executable, generate, "-n", "1000", "-b", "1", "-d", "10", "--seed", "1", "-q", "-o", "small"],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    # Figures drawn in-process, so that a figure leak would show in the one process measured.
    train_script = [
        str(REPO / "train.py"),
        "-f",
        "small/data_gauss_dim10.h5",
        "--seed",
        "1",
        "-q",
        "--force",
        "--inline-figures",
    ]
    five, fifty = (peak_rss_mb([*train_script, "-n", str(n), "-p", f"m{n}"], folder) for n in (5, 50))
    ROWS.append(
        (
            "4. train.py peak memory, 50 epochs vs 5 epochs",
            f"{fifty:.0f} MB vs {five:.0f} MB",
            "< +10%",
            fifty < 1.1 * five,
        )
    )
    print(f"  train.py peak memory: {five:.0f} MB at 5 epochs, {fifty:.0f} MB at 50", file=sys.stderr)


# --- 5. Start-up -------------------------------------------------------------------------------
def bench_startup(repeats: int) -> None:
    for script in ("train.py", "gen-samples.py"):
        times = [
            timed(
                lambda: subprocess.run([sys.executable, str(REPO / script), "--help"], check=True, capture_output=True)
            )
            for _ in range(repeats)
        ]
        report(f"5. start-up, python {script} --help", times, 1.0, " s")


# --- 6. GPU ------------------------------------------------------------------------------------
def bench_gpu(repeats: int) -> None:
    if not torch.cuda.is_available():
        ROWS.append(("6. CUDA vs CPU steps/s, d=100", "no GPU on this machine", "-", True))
        return
    for batch in (64, 1024):
        config = TrainConfig(dataset="-", batch_size=batch, seed=1)
        timings = {}
        for device in ("cpu", "cuda"):
            state = build_state(config, 100, torch.device(device))
            data = torch.randn(10000, 100, device=device)

            def epoch():
                with GracefulStop() as stop:
                    train_steps(Pack([state], [config]), data, stop, NoProgress())
                if device == "cuda":
                    torch.cuda.synchronize()

            epoch()
            timings[device] = statistics.median(timed(epoch) for _ in range(repeats))
        speedup = timings["cpu"] / timings["cuda"]
        ROWS.append(
            (f"6. CUDA vs CPU (1 thread) steps/s, vanilla, d=100, batch {batch}", f"{speedup:.2f}x", "report", True)
        )


# --- 7. Calibrated metrics ---------------------------------------------------------------------
def bench_metrics(folder: Path, repeats: int, quick: bool) -> None:
    """What the metrics cost during training: the metric columns of each epoch and the nulls simulated once
    per run, at d = 100."""
    from gaussgan.gan import judging
    from gaussgan.gan.training import train
    from gaussgan.stats.metrics import Context
    from gaussgan.stats.nulls import NullCache

    dim = 100
    parent = make_parent("gauss", dim)
    path = folder / f"metrics{dim}.h5"
    datasets.write_dataset(path, parent, 10000, 1, np.random.default_rng(0))
    # (a) train.py's own account of its epochs: the metric columns (seconds_metrics) against the rest of
    # the epoch, the costly ones (MMD, classifier) in one epoch of eval_every as by default. Left out: the
    # epochs that simulate nulls (the first, and the first costly one), which (b) measures.
    shares = []
    for _ in range(2 if quick else repeats):  # quick: 2 runs of 11 epochs at d = 100, about a minute
        # The end-of-run verdict on 1,000 samples only: it is not what this row measures. Epochs 0 to
        # 2 x eval_every, so that a costly epoch (the second) is past the one that simulates its nulls.
        every = TrainConfig(dataset="-").eval_every
        config = TrainConfig(
            dataset=str(path), runs_dir=str(folder / "runs"), quiet=True, seed=1, force=True,
            epochs=2 * every + 1, max_n=1000,
        )  # fmt: skip
        with contextlib.redirect_stdout(io.StringIO()):  # train() prints the run directory and the verdict
            run = train(config)
        table = pd.read_csv(run.file("training_details.csv")).set_index("epoch")
        every = config.eval_every
        cheap = [epoch for epoch in table.index if epoch > 1 and epoch % every]
        costly = [epoch for epoch in table.index if epoch > every and not epoch % every]
        metrics = (
            (every - 1) * table.loc[cheap, "seconds_metrics"].mean() + table.loc[costly, "seconds_metrics"].mean()
        ) / every
        rest = (table["seconds_total"] - table["seconds_metrics"]).loc[cheap + costly].mean()
        shares.append(100 * metrics / rest)
    report(
        f"7. per-epoch metrics, n_eval=1000, d={dim}: added to a default epoch (vanilla, 10,000 samples)",
        shares,
        20,
        "%",
    )

    # (b) the first epoch's columns with an empty cache: every simulated null (the costly metrics' too).
    generated = parent.sample(1000, np.random.default_rng(1)) * 1.01
    first, later = [], []
    for seed in range(repeats):
        context, cache = Context(parent, seed=seed), NullCache()
        first.append(timed(lambda: judging.epoch_columns(generated, context, cache, costly=True)))
        later.append(timed(lambda: judging.epoch_columns(generated, context, cache, costly=True)))
    report(f"7. null simulation, once per run: first epoch's metrics (empty cache), d={dim}", first, 10, " s")
    print(f"  the same epoch again (nulls cached): {statistics.median(later):.2f} s", file=sys.stderr)


# --- 8. n* as an instrument: what a verdict costs, and what it tells apart --------------------------------
def evaluate_command(samples: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "gaussgan", "evaluate", str(samples), "-s", "gauss", "-q", *options]


def bench_verdict(folder: Path, repeats: int, quick: bool) -> None:
    """The whole `evaluate` process on 10,000 honest samples at d = 100 and 1,000 (time, and peak memory at
    1,000); n* of two generators of different quality at d = 100 and 1,000 (the grid from 100 ranks them);
    the end-of-run verdict's share of a default run at d = 10."""
    import json

    rng = np.random.default_rng(2)
    for dim, target in ((100, 10), (1000, 60)):
        if quick and dim == 1000:
            continue
        samples = folder / f"honest{dim}.npy"
        np.save(samples, rng.standard_normal((10_000, dim)))
        command = evaluate_command(samples)
        seconds = [
            timed(lambda: subprocess.run(command, check=True, capture_output=True, cwd=REPO))
            for _ in range(repeats if dim < 1000 else 1)
        ]
        report(f"8. python -m gaussgan evaluate, 10,000 samples of d={dim} (whole process)", seconds, target, " s")
        if dim == 1000:
            peak = peak_rss_mb(["gaussgan", "evaluate", str(samples), "-s", "gauss", "-q"], folder, module=True)
            report(f"8. peak memory, evaluate on 10,000 samples of d={dim}", [peak], 1000, " MB")
        samples.unlink()
    # Two "generators" whose samples are too narrow by 3% and by 0.5% in every direction: a GAN's typical
    # defect. On the grid from 1,000 the first read n* = 1,000 at any d >= 100; the grid from 100 ranks them.
    for dim in (100,) if quick else (100, 1000):
        found = {}
        for shrink in (0.97, 0.995):
            samples = folder / f"narrow{dim}.npy"
            np.save(samples, shrink * rng.standard_normal((10_000, dim)))
            out = folder / f"narrow{dim}.json"
            subprocess.run(
                [*evaluate_command(samples), "-o", str(out), "--force"], check=True, capture_output=True, cwd=REPO
            )
            found[shrink] = json.loads(out.read_text())["n_star"]
        apart = found[0.97] is not None and (found[0.995] is None or found[0.97] < found[0.995])
        ROWS.append(
            (
                f"8. n* of samples 3% vs 0.5% too narrow, d={dim}",
                f"{found[0.97]} vs {found[0.995]}",
                "smaller first",
                apart,
            )
        )
        print(f"  n* at d={dim}: 3% too narrow {found[0.97]}, 0.5% too narrow {found[0.995]}", file=sys.stderr)
    if quick:
        return
    # A default run at d = 10: its verdict (verdict.json's seconds) against its training (the CSV's).
    generate = str(REPO / "gen-samples.py")
    subprocess.run(
        [sys.executable, generate, "-n", "1000", "-b", "10", "-d", "10", "--seed", "1", "-q", "-o", "d10"],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            sys.executable,
            str(REPO / "train.py"),
            "-f",
            "d10/data_gauss_dim10.h5",
            "--seed",
            "1",
            "-q",
            "--force",
            "-o",
            "runs10",
        ],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    run = next((folder / "runs10").iterdir())
    verdict_seconds = json.loads((run / "verdict.json").read_text())["seconds"]
    training_seconds = float(pd.read_csv(run / "training_details.csv")["seconds_total"].sum())
    report(
        "8. a default run's end-of-run verdict / its training, d=10",
        [100 * verdict_seconds / training_seconds],
        10,
        "%",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="about 6 minutes: Gaussian data only; rows 2, 3 and 9 at d=10 (packs of K=1, 4, 8), rows 3 and 7 on two "
        "runs each; no memory rows, no row 10",
    )
    parser.add_argument("--only", nargs="*", type=int, help="run only these rows (1-10)")
    args = parser.parse_args()
    repeats = 3
    wanted = set(args.only or range(1, 11))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gaussgan-bench-") as temporary:
        folder = Path(temporary)
        steps = [
            (1, lambda: (bench_generation(folder, repeats, args.quick), bench_generation_process(folder, repeats))),
            (2, lambda: bench_training_steps(repeats, args.quick)),
            (3, lambda: bench_whole_epoch(folder, repeats, args.quick)),
            (4, lambda: bench_memory(folder, args.quick)),
            (5, lambda: bench_startup(repeats)),
            (6, lambda: bench_gpu(repeats)),
            (7, lambda: bench_metrics(folder, repeats, args.quick)),
            (8, lambda: bench_verdict(folder, repeats, args.quick)),
            (9, lambda: bench_packing(repeats, args.quick)),
            (10, lambda: bench_default_run(folder, repeats)),
        ]
        for number, step in steps:
            if number in wanted and not (args.quick and number == 10 and not args.only):
                print(f"row {number}...", file=sys.stderr, flush=True)
                began = time.perf_counter()
                step()
                print(f"row {number}: {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    width = max(len(row[0]) for row in ROWS)
    print(f"\n{'benchmark'.ljust(width)}  {'measured: median (min-max)':<28}  {'target':<10}  ok")
    for name, measured, target, met in ROWS:
        print(f"{name.ljust(width)}  {measured:<28}  {target:<10}  {'yes' if met else 'MISSED'}")
    print(
        f"\n{len(ROWS)} rows in {time.perf_counter() - started:.0f} s; torch {torch.__version__}, {os.cpu_count()} cores, 1 thread"
    )
    return 0 if all(row[3] for row in ROWS) else 1


if __name__ == "__main__":
    sys.exit(main())
