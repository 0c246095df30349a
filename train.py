#!/usr/bin/env python3
"""Train a GAN (vanilla, or WGAN-GP with -w) on a dataset from gen-samples.py, and measure each
epoch how far the generated distribution is from the parent, against the sampling-noise floor."""

from __future__ import annotations

import shlex
import sys

from gaussgan import cli
from gaussgan.errors import UserError

EPILOG = """\
run directory: RUNS_DIR/<dist>_dim<d>_<latent_dim>_<latent_sigma>_<van|wass>[_<postfix>]/
  config.json, training_details.csv (one row per epoch), training_model_losses.png,
  training_pvalues.png, training_metrics.png (each metric / its noise floor), test_corr.png,
  checkpoint.pth.tar, models/generator.pth.tar (the final generator: the --mixture of the last
  epochs' averaged generators), models/discriminator.pth.tar (the last epoch),
  models/generator_best.pth.tar (the best epoch, by norm KS vs the parent), verdict.json (n*, every
  metric vs its floor), null_cache.json, samples/{comp_hist,rhist,ks}_epochNNNNN.png (every epoch),
  samples/corr_epochNNNNN.png (every --corr-every epochs and the last), tensorboard/ (--tensorboard)
epochs are numbered from 0: a 50-epoch run writes comp_hist_epoch00000.png ... comp_hist_epoch00049.png
and corr_epoch00000.png, corr_epoch00010.png, ... corr_epoch00040.png, corr_epoch00049.png

the original gaussGAN configuration (docs/defaults.md, "Choosing the defaults"):
  --lr 1e-4 --ema-decay 0 --mixture 0 --lr-schedule constant --beta1 0.5 --d-lr-ratio 1 --r1 0 -n 40

examples:
  python train.py -f datasets/data_gauss_dim10.h5 -d 100 -s 0.1 -n 100
  python train.py -f datasets/data_gauss_dim10.h5 -w
  python train.py -f datasets/data_gauss_dim10.h5 -w --resume     # continue after Ctrl-C
  python train.py -f datasets/data_gauss_dim10.h5 -w --verdict-only --max-n 20000
  python train.py -f datasets/data_gauss_dim10.h5 --seed 1 2 3 4   # four runs trained together
"""


def build_parser():
    """train.py's options, from the one table that declares them (gaussgan.gan.options)."""
    from gaussgan.gan.options import add_arguments

    parser = cli.make_parser("train.py", __doc__, EPILOG)
    add_arguments(parser)
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.force and args.resume:
        parser.error("--force and --resume contradict each other: choose one")
    if args.verdict_only and (args.force or args.resume):
        parser.error("--verdict-only reads an existing run: it takes neither --force nor --resume")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from gaussgan.gan.options import TrainConfig, seed_runs
    from gaussgan.gan.training import train, train_together

    command = shlex.join(
        ["python", sys.argv[0] if argv is None else "train.py", *(sys.argv[1:] if argv is None else argv)]
    )
    seeds = args.seed or [None]
    config = TrainConfig(**{**vars(args), "seed": seeds[0]}, command=command)
    if len(seeds) == 1:
        train(config)
        return 0
    failed = [(directory, why) for directory, why in train_together(seed_runs(config, seeds)) if why]
    if failed:
        raise UserError(
            f"{len(failed)} of {len(seeds)} runs failed; the others finished. "
            + "; ".join(f"{directory.path.name}: {why}" for directory, why in failed)
        )
    return 0


if __name__ == "__main__":
    cli.run_main(main)
