"""The command line of ``naive.py`` and ``adversarial.py``, the proof of concept.

One generator network maps uniform noise on [-0.5, 0.5] to samples meant to follow N(0, 1).
Two training rules share everything else (CLI, sampling, saving, the verdict):

* ``naive``: minimise the mean squared error between G(u) and target samples. The pairing of
  u with a target sample is arbitrary, so the minimiser is G(u) = E[x] = 0 for every u: the
  generator collapses to the mean. That failure is the point of the demonstration.
* ``adversarial``: a small discriminator learns to tell target samples from generated ones
  (binary cross-entropy) and the generator learns to fool it (non-saturating loss).

This module holds the parser and ``main``; the options are :class:`gaussgan.poc.config.PocConfig`; the work is in
:mod:`gaussgan.poc.train` (training, sampling), :mod:`gaussgan.poc.model` (the network and its
file) and :mod:`gaussgan.poc.reading`. It imports nothing heavy, so ``--help`` answers at once
and bad paths are refused before torch is loaded.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from gaussgan.cli import ArgumentParser, Kind, make_parser, positive_int, seed_value
from gaussgan.errors import UserError
from gaussgan.gan.options import DEVICES
from gaussgan.poc.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_LEARNING_RATE,
    DISCRIMINATOR_LR_FACTOR,
    MAX_LEARNING_RATE,
    RULES,
    PocConfig,
)
from gaussgan.system.files import check_destination, check_regular_file, refuse_existing

learning_rate = Kind(float, lambda value: 0 < value <= MAX_LEARNING_RATE, f"a number in (0, {MAX_LEARNING_RATE:g}]")


def build_parser(rule: str) -> ArgumentParser:
    """The command line shared by naive.py and adversarial.py."""
    script = f"{rule}.py"
    how = (
        "by minimising the mean squared error between G(u) and N(0, 1) samples\n"
        "(which collapses G to the mean: the point of this script)"
        if rule == "naive"
        else "against a discriminator (binary cross-entropy,\nnon-saturating generator loss)"
    )
    parser = make_parser(
        script,
        description=f"Teach a generator G(u), u ~ uniform[-0.5, 0.5], to sample N(0, 1)\n{how}.",
        epilog=(
            "examples:\n"
            f"  python {script} --model-path=m.pt 1000 train        1000 target samples per epoch\n"
            f"  python {script} --model-path=m.pt 1000 train --force   the same, replacing m.pt\n"
            f"  python {script} --model-path=m.pt 1000 generate > s.txt   1000 samples, one per line\n"
            "A model saved by naive.py or adversarial.py loads in either script.\n"
            "Exit status: 0 done, 2 bad input, 130 Ctrl-C, 143 SIGTERM (the model trained so far is saved)."
        ),
    )
    parser.add_argument("--model-path", required=True, type=Path, help="model file to write (train) or read (generate)")
    parser.add_argument(
        "number",
        type=positive_int,
        metavar="NUMBER",
        help="train: target samples per epoch; generate: samples to print",
    )
    parser.add_argument("command", choices=("train", "generate"), help="train a model, or print samples from one")
    parser.add_argument(
        "--in-shape", type=positive_int, help="uniform inputs per sample (train: default 1; generate: the model's)"
    )
    parser.add_argument(
        "--out-shape", type=positive_int, help="components per sample (train: default 1; generate: the model's)"
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE, help="samples per step (default %(default)s)"
    )
    parser.add_argument(
        "--epochs", type=positive_int, default=DEFAULT_EPOCHS, help="epochs to train (default %(default)s)"
    )
    parser.add_argument(
        "--learning-rate",
        type=learning_rate,
        default=DEFAULT_LEARNING_RATE,
        help=f"generator's Adam learning rate, at most {MAX_LEARNING_RATE:g}; the discriminator's is "
        f"{DISCRIMINATOR_LR_FACTOR:g}x this (default %(default)g)",
    )
    parser.add_argument(
        "--dynamic-sample",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="draw fresh target samples every epoch (default); --no-dynamic-sample re-uses one set drawn at the start",
    )
    parser.add_argument(
        "--seed", type=seed_value, help="seed for weights and samples (default: drawn; either way shown on stderr)"
    )
    parser.add_argument("--device", choices=DEVICES, default="auto", help="auto: CUDA when present (default)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--force", action="store_true", help="train: replace an existing model file (without it, it is kept)"
    )
    return parser


def main(argv: Sequence[str] | None, rule: str) -> int:
    """Parse the command line of ``<rule>.py`` and train or generate; errors raise UserError."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}")
    config = PocConfig(rule=rule, **vars(build_parser(rule).parse_args(argv)))
    if config.command == "train":
        check_destination(config.model_path)
        refuse_existing([config.model_path], config.force)
    else:
        check_model_file(config.model_path)
    from gaussgan.poc import train as poc_core  # torch: only once the command line is known to be good

    if config.command == "train":
        poc_core.train(config)
    else:
        poc_core.generate(config)
    return 0


def check_model_file(path: Path) -> None:
    """A model to read: present, and a regular file (a FIFO would hang the reader)."""
    if path.parent.is_dir() and not os.path.lexists(path):
        raise UserError(f"model file {str(path)!r} does not exist; make one with `train`")
    check_regular_file(path, "model file")


def add_poc_figure_command(commands) -> None:
    """The ``poc-figure`` sub-command on ``python -m gaussgan``'s sub-parsers (``make poc-figure``)."""
    figure = commands.add_parser(
        "poc-figure",
        help="draw the naive vs adversarial figure of docs/poc.md",
        description="Draw the output of `naive.py ... generate` and `adversarial.py ... generate` over the N(0, 1) "
        "density (used by `make poc-figure`).",
    )
    figure.add_argument("naive_samples", type=Path, metavar="NAIVE.txt", help="output of `naive.py ... generate`")
    figure.add_argument(
        "adversarial_samples", type=Path, metavar="ADVERSARIAL.txt", help="output of `adversarial.py ... generate`"
    )
    figure.add_argument("out", type=Path, metavar="OUT.png", help="PNG file to write")
    figure.add_argument("--force", action="store_true", help="replace an existing OUT.png")
    figure.set_defaults(run=run_poc_figure)


def run_poc_figure(args) -> int:
    from gaussgan.poc.reading import comparison_figure

    comparison_figure(args.naive_samples, args.adversarial_samples, args.out, args.force)
    print(f"wrote {args.out}")
    return 0
