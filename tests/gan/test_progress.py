"""What train.py shows while it works and when it ends.

On a terminal: a whole-run bar (epochs, with the time left) above the epoch's own bar (batches); with
--quiet, no bar at all; without a terminal (a log file, a pipe), no bar either, only the seed and one line per
epoch on stderr. At the end, on stdout: a summary (the final and the best epoch against the noise floors, the
run directory), then the verdict block (the metrics table, n* and a reading).

The terminal is a real pseudo-terminal (``pty.openpty``) on the child's stderr, where the bars are drawn;
stdout stays a pipe, as under ``python train.py ... | tee log``.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading

import pandas as pd
import pytest
from helpers import REPO, run_script

EPOCHS = 3
TRAIN = ("-f", "datasets/data_gauss_dim3.h5", "-c", "0.1", "--n-eval", "50", "--max-n", "1000")
TRAIN += ("--null-repeats", "250", "--seed", "1")
RUN = "runs/gauss_dim3_100_1_van"
EPOCH_LINE = re.compile(
    r"epoch (\d+): loss D -?[\d.]+ G -?[\d.]+  norm KS [\d.]+ \(floor [\d.]+\) p \S+  "
    r"components rejected \d/3 \(BH \d\)"
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("progress")
    made = run_script("gen-samples.py", "-n", "50", "-b", "2", "-d", "3", "--seed", "1", "-q", cwd=folder)
    assert made.returncode == 0, made.stderr
    return folder


def run_on_terminal(folder, *args: str) -> tuple[subprocess.CompletedProcess, str]:
    """train.py with its stderr on a 120-column pseudo-terminal; the finished process (stdout captured) and
    everything the terminal received."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    received: list[bytes] = []

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the last process holding the terminal has closed it
                return
            if not chunk:
                return
            received.append(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    try:
        process = subprocess.Popen(
            [sys.executable, str(REPO / "train.py"), *args],
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=terminal,
            env={**os.environ, "PYTHONHASHSEED": "0"},
            text=True,
        )
        os.close(terminal)
        stdout, _ = process.communicate(timeout=240)
        reader.join(timeout=10)
    finally:
        os.close(controller)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, None), b"".join(received).decode(
        errors="replace"
    )


@pytest.fixture(scope="module")
def on_terminal(dataset):
    return run_on_terminal(dataset, *TRAIN, "-n", str(EPOCHS), "-p", "tty")


@pytest.fixture(scope="module")
def without_terminal(dataset):
    """The same run with stderr a pipe: what a log file gets."""
    result = run_script("train.py", *TRAIN, "-n", str(EPOCHS), cwd=dataset)
    assert result.returncode == 0, result.stderr
    return result


def test_a_terminal_shows_the_whole_run_bar_above_the_epochs_bar(on_terminal):
    result, screen = on_terminal
    assert result.returncode == 0, screen
    # The whole run in epochs, with the time left (elapsed<remaining), up to all epochs done.
    assert re.search(r"\rrun: +0%\|[^|]*\| 0/3 \[", screen), screen
    assert re.search(r"\rrun: +\d+%\|[^|]*\| 1/3 \[\d\d:\d\d<\d\d:\d\d, +[\d.]+(epoch/s|s/epoch)\]", screen), screen
    assert re.search(r"\rrun: 100%\|[^|]*\| 3/3 \[", screen), screen
    # Each epoch's bar counts its batches (two of 64 and 36) on the line below, then moves the cursor back up.
    for epoch in range(EPOCHS):
        assert re.search(rf"\repoch {epoch}/{EPOCHS - 1}: +\d+%\|[^|]*\| \d/2 \[[^\]]*batch/s\]\x1b\[A", screen), screen
    first_run_bar, first_epoch_bar = screen.index("run:"), screen.index("epoch 0/2:")
    assert first_run_bar < first_epoch_bar
    # The per-epoch lines print above the bars, 0-based.
    assert [int(match) for match in re.findall(r"\repoch (\d+): loss D ", screen)] == list(range(EPOCHS))
    assert screen.startswith("seed 1\r\n")


def test_quiet_draws_nothing_on_a_terminal(dataset):
    result, screen = run_on_terminal(dataset, *TRAIN, "-n", "1", "-q", "-p", "quiet")
    assert result.returncode == 0, screen
    assert screen == "seed 1\r\n", screen  # the seed only: no bar, no epoch line, no verdict bar
    assert "n* " in result.stdout


def test_without_a_terminal_stderr_holds_only_the_seed_and_one_line_per_epoch(without_terminal):
    lines = without_terminal.stderr.splitlines()
    assert lines[0] == "seed 1", lines
    epochs = [EPOCH_LINE.fullmatch(line) for line in lines[1:]]
    assert all(epochs), lines  # no bar, no carriage return, nothing else
    assert [int(match.group(1)) for match in epochs] == list(range(EPOCHS))
    assert "\r" not in without_terminal.stderr and "\x1b" not in without_terminal.stderr


def test_the_run_ends_with_a_summary_then_the_verdict(dataset, without_terminal):
    out = without_terminal.stdout.splitlines()
    table = pd.read_csv(dataset / RUN / "training_details.csv")
    final, best = table.iloc[-1], table.iloc[int(table["norm_ks_parent_D"].to_numpy().argmin())]

    start = next(i for i, line in enumerate(out) if line.startswith("summary:"))
    summary, verdict = out[start : start + 3], out[start + 3 :]
    # The data limit, computed once per dataset (by the first of this module's runs), before the verdict proper.
    if verdict[0].startswith("data limit: the n* of the training set's own Gaussian fit (once per dataset"):
        verdict.pop(0)
    assert re.fullmatch(rf"summary: {EPOCHS} epochs in \d+ s; run directory {RUN}", summary[0]), summary
    # The final epoch: each headline number next to what honest samples give.
    assert summary[1].startswith(
        f"  final epoch {EPOCHS - 1}: norm KS D {final.norm_ks_parent_D:.3f} (floor {final.ks_floor_95:.3f}), "
        f"components rejected {int(final.rejected_bh)}/3 after BH (~0 for honest samples), "
        f"off-diagonal correlation spread {final.offdiag_std_generated:.3f} "
        f"(a parent sample: {final.offdiag_std_parent:.3f})"
    ), summary
    assert summary[2].startswith(
        f"  best epoch {int(best.epoch)} (by norm KS vs the parent): D {best.norm_ks_parent_D:.3f}; "
        "its generator is models/generator_best.pth.tar"
    ), summary

    # Then the verdict: the metrics table, n*, the reading, where it was written.
    # ... of the run's final generator: the mixture of the second half of the run (--mixture 0.5).
    assert verdict[0] == (
        f"verdict: testing up to 1,000 samples of the mixture of the averaged generators of epochs "
        f"{EPOCHS // 2} to {EPOCHS - 1} against the parent ..."
    ), verdict
    assert re.match(r"metric +value +floor +p +level +\(n = (100|200|500|1,000)\)", verdict[1]), verdict
    n_star = next(i for i, line in enumerate(verdict) if line.startswith("n* "))
    assert re.fullmatch(r"n\* (= (100|200|500|1,000)|> 1,000)", verdict[n_star]), verdict
    assert re.match(r"(not distinguished|distinguishable) ", verdict[n_star + 1]), verdict
    assert verdict[n_star + 2].startswith("spectrum: covariance eigenvalues "), verdict
    assert re.match(r"data limit: n\* .*; the training set's own Gaussian fit ", verdict[n_star + 3]), verdict
    assert verdict[n_star + 4] == f"wrote {RUN}/verdict.json" and verdict[-1] == f"done: {RUN}", verdict
    assert out[:start] == [f"run directory {RUN}"], out
