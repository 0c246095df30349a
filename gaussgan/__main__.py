"""``python -m gaussgan COMMAND``: the tools that have no script of their own.

* ``sample RUN_DIR -n N -o OUT``: samples from a trained generator.
* ``evaluate SAMPLES --parent DATASET.h5``: the calibrated verdict on samples from any generator.
* ``poc-figure NAIVE.txt ADVERSARIAL.txt OUT.png``: the proof-of-concept figure of docs/poc.md.
* ``sweep STUDY.toml``: every run of a study, in parallel through Dask (``gaussgan.study.sweep``).
* ``report RUNS_OR_STUDY... -o DIR``: tables, figures and index.html over many runs (``gaussgan.study.report``).
"""

from __future__ import annotations

from pathlib import Path

from gaussgan import cli
from gaussgan.stats.constants import MAX_N, MIN_NULL_REPEATS, NULL_REPEATS
from gaussgan.study import commands as study_commands
from gaussgan.study import report


def main(argv=None) -> int:
    parser = cli.make_parser("python -m gaussgan", "gaussgan tools that have no script of their own.")
    # Sub-commands parse with the project's parser class: the same one-line error format.
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=cli.ArgumentParser)
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
        "--mixture); best: the best epoch's averaged generator, by the headline metric (default: %(default)s)",
    )
    sample.add_argument("--force", action="store_true", help="replace an existing output file")
    evaluate = commands.add_parser(
        "evaluate",
        help="the calibrated verdict on samples from any generator",
        description="Every metric against its simulated noise floor and the distinguishability sample size n* "
        "for samples from any generator (another library's GAN, a flow, a hand-written sampler), against a "
        "parent given by a gen-samples dataset or by gen-samples options.",
    )
    add_evaluate_arguments(evaluate)
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
    study_commands.add_sweep_command(commands)
    report.add_report_command(commands)
    args = parser.parse_args(argv)

    if args.command in ("sweep", "report"):
        return args.run(args)
    if args.command == "evaluate":
        return run_evaluate(args, evaluate)
    if args.command == "poc-figure":
        from gaussgan.poc.reading import comparison_figure

        comparison_figure(args.naive_samples, args.adversarial_samples, args.out, args.force)
        print(f"wrote {args.out}")
        return 0

    from gaussgan.gan.sampling import sample_run
    from gaussgan.system.seeds import choose_seed

    out = sample_run(
        args.run_dir, args.n_samples, args.out, seed=choose_seed(args.seed), epoch=args.epoch, force=args.force
    )
    print(f"wrote {args.n_samples} samples to {out}")
    return 0


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
        "--max-n", type=cli.positive_int, default=MAX_N, help="largest sample size tested (default: %(default)s)"
    )
    parser.add_argument(
        "--null-repeats",
        type=cli.positive_int,
        default=NULL_REPEATS,
        help=f"honest samples drawn for each simulated null, at least {MIN_NULL_REPEATS} (default: %(default)s)",
    )
    parser.add_argument("--seed", type=cli.seed_value, help="seed of the reference samples and nulls (default: 0)")
    parser.add_argument("--cache-dir", metavar="DIR", help="keep simulated nulls here and reuse them (default: none)")
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
    )
    return 0


if __name__ == "__main__":
    cli.run_main(main)
