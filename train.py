#!/usr/bin/env python3
"""Train a GAN (vanilla, or WGAN-GP with -w) on a dataset from gen-samples.py, and measure each
epoch how far the generated distribution is from the parent, against the sampling-noise floor."""

from __future__ import annotations

import shlex
import sys

from gaussgan import cli

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

the original gaussGAN configuration (README "Choosing the defaults"):
  --lr 1e-4 --ema-decay 0 --mixture 0 --lr-schedule constant --beta1 0.5 --d-lr-ratio 1 --r1 0 -n 40

examples:
  python train.py -f datasets/data_gauss_dim10.h5 -d 100 -s 0.1 -n 100
  python train.py -f datasets/data_gauss_dim10.h5 -w
  python train.py -f datasets/data_gauss_dim10.h5 -w --resume     # continue after Ctrl-C
  python train.py -f datasets/data_gauss_dim10.h5 -w --verdict-only --max-n 20000
"""


def build_parser():
    from gaussgan.config import RULE_DEFAULTS
    from gaussgan.config import TrainConfig as defaults

    van, wass = RULE_DEFAULTS["vanilla"], RULE_DEFAULTS["wgan-gp"]
    parser = cli.make_parser("train.py", __doc__, EPILOG)
    parser.add_argument(
        "-f", "--file", dest="dataset", metavar="FILE", required=True, help="dataset (.h5) written by gen-samples.py"
    )
    parser.add_argument(
        "-d",
        "--latent-dim",
        type=cli.positive_int,
        default=defaults.latent_dim,
        help="dimension of the generator's latent space (default: %(default)s)",
    )
    parser.add_argument(
        "-s",
        "--latent-sigma",
        type=cli.positive_float,
        default=defaults.latent_sigma,
        help="width (sigma) of the Gaussian latent distribution, every component (default: %(default)s)",
    )
    parser.add_argument(
        "-n",
        "--epochs",
        type=cli.positive_int,
        default=defaults.epochs,
        help="number of epochs, numbered 0 to N-1 in file names, the CSV and messages (default: %(default)s)",
    )
    parser.add_argument(
        "-w",
        "--wasserstein",
        dest="rule",
        action="store_const",
        const="wgan-gp",
        default="vanilla",
        help="WGAN-GP: Wasserstein loss with gradient penalty (default: vanilla GAN)",
    )
    parser.add_argument(
        "-b",
        "--batch-size",
        type=cli.positive_int,
        default=defaults.batch_size,
        help="batch size (default: %(default)s)",
    )
    parser.add_argument(
        "-c",
        "--scale",
        type=cli.positive_float,
        default=defaults.scale,
        help="width multiplier of both networks' hidden layers (default: %(default)s: 3 layers of 128)",
    )
    parser.add_argument(
        "--lr",
        type=cli.positive_float,
        help="Adam learning rate of the generator, and of the discriminator times --d-lr-ratio "
        f"(default: {van['lr']:g} vanilla, {wass['lr']:g} WGAN-GP)",
    )
    parser.add_argument(
        "--lr-schedule",
        choices=("constant", "linear", "cosine"),
        default=defaults.lr_schedule,
        help="learning rate over the run: constant, or decayed linearly or along a cosine to --lr-floor x --lr "
        "at the last step (default: %(default)s)",
    )
    parser.add_argument(
        "--lr-floor",
        type=cli.fraction,
        default=defaults.lr_floor,
        help="where a decaying schedule ends, as a fraction of --lr, in [0, 1) (default: %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=cli.fraction,
        default=defaults.warmup,
        help="share of the run, in [0, 1), over which the learning rate first rises linearly from 0 to the "
        "schedule's value, whatever the schedule (default: %(default)s, none)",
    )
    parser.add_argument("--beta1", type=cli.fraction, default=defaults.beta1, help="Adam beta1 (default: %(default)s)")
    parser.add_argument("--beta2", type=cli.fraction, default=defaults.beta2, help="Adam beta2 (default: %(default)s)")
    parser.add_argument(
        "--critic-steps",
        type=cli.positive_int,
        help="discriminator steps per generator step, counted over the whole run "
        f"(default: {van['critic_steps']} vanilla, {wass['critic_steps']} WGAN-GP)",
    )
    parser.add_argument(
        "--gp-weight",
        type=cli.positive_float,
        default=defaults.gp_weight,
        help="gradient penalty weight lambda (default: %(default)s)",
    )
    parser.add_argument(
        "--d-lr-ratio",
        type=cli.positive_float,
        help="the discriminator's learning rate as a multiple of --lr: a two time-scale update rule "
        f"(default: {van['d_lr_ratio']:g} vanilla, {wass['d_lr_ratio']:g} WGAN-GP)",
    )
    parser.add_argument(
        "--r1",
        dest="r1_weight",
        type=cli.non_negative_float,
        help="weight gamma of the R1 penalty gamma/2 * E||grad D(real)||^2 on the discriminator, either rule; "
        f"0 turns it off (default: {van['r1_weight']:g} vanilla, {wass['r1_weight']:g} WGAN-GP)",
    )
    parser.add_argument(
        "--ema-decay",
        type=cli.fraction,
        default=defaults.ema_decay,
        help="decay of the moving average of the generator's weights, used for evaluation and sampling; "
        "0 turns it off (default: %(default)s)",
    )
    parser.add_argument(
        "--mixture",
        type=cli.share,
        default=defaults.mixture,
        metavar="SHARE",
        help="the run's final generator (saved, sampled, judged by the verdict) is a mixture of the averaged "
        "generator at each of the last SHARE x epochs epochs, samples taking turns among them; 0: the last "
        "epoch's alone (default: %(default)s, the second half of the run)",
    )
    parser.add_argument(
        "--batch-norm",
        action=cli.argparse.BooleanOptionalAction,
        default=defaults.batch_norm,
        help="BatchNorm in the generator's hidden layers (default: on, as in the original gaussGAN)",
    )
    parser.add_argument(
        "--seed",
        type=cli.seed_value,
        help="random seed; same seed, same results on CPU (default: drawn, printed, recorded)",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default=defaults.device,
        help="auto: CUDA when present (default: %(default)s)",
    )
    parser.add_argument(
        "--threads",
        type=cli.positive_int,
        default=defaults.threads,
        help="CPU threads for torch; figures are drawn in another process (default: %(default)s)",
    )
    parser.add_argument(
        "-o", "--runs-dir", default=defaults.runs_dir, help="where run directories go (default: %(default)s)"
    )
    parser.add_argument(
        "-p",
        "--postfix",
        type=cli.plain_name,
        default="",
        help="appended to the run directory's name (a plain name: no '/', '\\' or '..')",
    )
    parser.add_argument(
        "--n-eval",
        type=cli.positive_int,
        default=defaults.n_eval,
        help="samples drawn for each epoch's diagnostics (default: %(default)s)",
    )
    parser.add_argument(
        "--corr-every",
        type=cli.positive_int,
        default=defaults.corr_every,
        help="draw the correlation figure at epochs 0, N, 2N, ... and at the last (default: %(default)s)",
    )
    parser.add_argument(
        "--eval-every",
        type=cli.positive_int,
        default=defaults.eval_every,
        help="compute the costly calibrated metrics (MMD, classifier) at epochs 0, N, 2N, ...; the others every "
        "epoch, and the end-of-run verdict all of them (default: %(default)s)",
    )
    parser.add_argument(
        "--max-n",
        type=cli.positive_int,
        default=defaults.max_n,
        help="largest number of generated samples the end-of-run verdict tests, on the grid 1k, 2k, 5k, 10k, ... "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--null-repeats",
        type=cli.positive_int,
        default=defaults.null_repeats,
        help="honest parent samples drawn to simulate each metric's null distribution, which gives its floor and "
        "p-value; at least 150 (default: %(default)s)",
    )
    parser.add_argument(
        "--verdict-only",
        action="store_true",
        help="recompute the verdict (verdict.json) of the existing run these options name, without training "
        "(--max-n and --null-repeats may differ from the run's)",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing run directory")
    parser.add_argument(
        "--resume", action="store_true", help="continue the run from its last checkpoint (a larger -n extends it)"
    )
    parser.add_argument(
        "--inline-figures",
        dest="background_figures",
        action="store_false",
        help="draw figures in the training process instead of a background worker (slower)",
    )
    parser.add_argument(
        "--tensorboard",
        action="store_true",
        help="also log every CSV column (each epoch) and the run's figures (at the end) for TensorBoard, in "
        "RUN/tensorboard/ (tensorboard --logdir RUNS_DIR); needs the tensorboard package: pip install '.[tensorboard]'",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bars and no per-epoch line; the summary and the verdict still print (without a terminal, "
        "the bars stay silent anyway)",
    )
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.force and args.resume:
        parser.error("--force and --resume contradict each other: choose one")
    if args.verdict_only and (args.force or args.resume):
        parser.error("--verdict-only reads an existing run: it takes neither --force nor --resume")
    from gaussgan.config import MIN_NULL_REPEATS as MIN_REPEATS

    if args.null_repeats < MIN_REPEATS:
        parser.error(
            f"--null-repeats {args.null_repeats}: expected at least {MIN_REPEATS} (below it a simulated p-value "
            "cannot pass Holm's first step among all the metrics)"
        )
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from gaussgan.config import TrainConfig
    from gaussgan.training import train

    command = shlex.join(
        ["python", sys.argv[0] if argv is None else "train.py", *(sys.argv[1:] if argv is None else argv)]
    )
    train(TrainConfig(**vars(args), command=command))
    return 0


if __name__ == "__main__":
    cli.run_main(main)
