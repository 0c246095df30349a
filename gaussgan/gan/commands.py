"""The commands of one run's stage on ``python -m gaussgan``: ``sample`` (samples of a trained run's generator)
and ``evaluate`` (the calibrated verdict on samples from any generator). Parsing imports nothing heavy."""

from __future__ import annotations

from gaussgan import cli
from gaussgan.stats.constants import MAX_N, MIN_NULL_REPEATS, MIN_SAMPLES, NULL_REPEATS


def add_sample_command(commands) -> None:
    """The ``sample`` sub-command on ``python -m gaussgan``'s sub-parsers."""
    sample = commands.add_parser(
        "sample",
        help="draw samples from a trained run's generator",
        description="Write N samples of a run's generator: .h5 (the dataset layout, usable by train.py), .csv (with a "
        "header line x0,x1,...) or .npy. An existing output is kept unless --force.",
    )
    sample.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by train.py")
    sample.add_argument(
        "-n", "--n-samples", type=cli.positive_int, default=10000, help="number of samples (default: %(default)s)"
    )
    sample.add_argument(
        "-o", "--out", default="generated.h5", help="output file, .h5, .csv or .npy (default: %(default)s)"
    )
    sample.add_argument("--seed", type=cli.seed_value, help="random seed (default: drawn; either way shown on stderr)")
    sample.add_argument(
        "--epoch",
        choices=("last", "best"),
        default="last",
        help="last: the run's final generator (the mixture of its last epochs' averaged generators, train.py "
        "--mixture); best: the best epoch's averaged generator, by the norm KS distance to the parent (default: %(default)s)",
    )
    sample.add_argument("--force", action="store_true", help="replace an existing output file")
    sample.set_defaults(run=run_sample)


def run_sample(args) -> int:
    from gaussgan.gan.sampling import sample_run
    from gaussgan.system.seeds import choose_seed

    out = sample_run(
        args.run_dir, args.n_samples, args.out, seed=choose_seed(args.seed), epoch=args.epoch, force=args.force
    )
    print(f"wrote {args.n_samples} samples to {out}")
    return 0


def add_evaluate_command(commands) -> None:
    """The ``evaluate`` sub-command on ``python -m gaussgan``'s sub-parsers."""
    evaluate = commands.add_parser(
        "evaluate",
        help="the calibrated verdict on samples from any generator",
        description="Every metric against its simulated noise floor and the distinguishability sample size n* "
        "for samples from any generator (another library's GAN, a flow, a hand-written sampler), against a "
        "parent given by a gen-samples dataset or by gen-samples options.",
    )
    add_evaluate_arguments(evaluate)
    evaluate.set_defaults(run=lambda args: run_evaluate(args, evaluate))


def add_evaluate_arguments(parser) -> None:
    parser.add_argument("samples", metavar="SAMPLES", help="samples to judge: .h5 (dataset layout), .npy or .csv")
    parser.add_argument("--parent", metavar="DATASET.h5", help="dataset written by gen-samples.py: its parent")
    parser.add_argument(
        "-s", "--dist", metavar="PARENT", help="or the parent by name (gauss, trunc_gauss, cauchy, uniform) ..."
    )
    cli.add_parent_shape_options(parser, "... its ")
    parser.add_argument(
        "--train",
        action="store_true",
        help="the --parent dataset is the generator's training set: also test memorisation of its rows",
    )
    parser.add_argument(
        "--max-n",
        type=cli.at_least(MIN_SAMPLES),
        default=MAX_N,
        help=f"largest sample size tested, at least {MIN_SAMPLES} (default: %(default)s)",
    )
    parser.add_argument(
        "--null-repeats",
        type=cli.positive_int,
        default=NULL_REPEATS,
        help=f"honest samples drawn for each simulated null, at least {MIN_NULL_REPEATS} (default: %(default)s)",
    )
    parser.add_argument(
        "--draws",
        type=cli.positive_int,
        default=1,
        metavar="K",
        help="judge K disjoint blocks of the samples' rows (each of up to --max-n rows) and give n* as the median "
        "and range of the K draws (default: %(default)s)",
    )
    parser.add_argument("--seed", type=cli.seed_value, help="seed of the reference samples and nulls (default: 0)")
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="keep simulated nulls here (null_cache.json) and reuse those that prove themselves; a null_cache.json "
        "that gaussgan did not write is refused and kept as it is (default: none)",
    )
    parser.add_argument("-o", "--out", metavar="VERDICT.json", help="also write the verdict as JSON")
    parser.add_argument("--force", action="store_true", help="replace an existing -o file")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def run_evaluate(args, parser) -> int:
    from gaussgan.gan.judging import evaluate_samples

    if (args.parent is None) == (args.dist is None):
        parser.error("name the parent once: --parent DATASET.h5, or -s/--dist with gen-samples options")
    if args.train and args.parent is None:
        parser.error("--train needs --parent DATASET.h5 (the training set whose rows are checked)")
    if args.null_repeats < MIN_NULL_REPEATS:
        parser.error(
            f"--null-repeats {args.null_repeats}: expected at least {MIN_NULL_REPEATS} (with fewer, the smallest p-value "
            "a simulated null gives cannot pass the correction across metrics)"
        )
    spec = None
    if args.dist is not None:
        sigma = cli.sigma_triple(parser, args.sigma)
        spec = {"name": args.dist, "mu": args.mu, "sigma": sigma, "xlo": args.xlo, "xhi": args.xhi}
    evaluate_samples(
        args.samples,
        parent_dataset=args.parent,
        parent_spec=spec,
        memorisation=args.train,
        out=args.out,
        max_n=args.max_n,
        repeats=args.null_repeats,
        seed=0 if args.seed is None else args.seed,
        cache_dir=args.cache_dir,
        force=args.force,
        quiet=args.quiet,
        draws=args.draws,
    )
    return 0
