"""``python -m gaussgan COMMAND``: the tools that have no script of their own.

* ``sample RUN_DIR -n N -o OUT``: samples from a trained generator.
* ``poc-figure NAIVE.txt ADVERSARIAL.txt OUT.png``: the README's proof-of-concept figure.
* ``sweep STUDY.toml``: every run of a study, in parallel through Dask (``gaussgan.sweep``).
* ``report RUNS_OR_STUDY... -o DIR``: tables, figures and index.html over many runs (``gaussgan.report``).
"""

from __future__ import annotations

from pathlib import Path

from gaussgan import cli, report, study


def main(argv=None) -> int:
    parser = cli.make_parser("python -m gaussgan", "gaussgan tools that have no script of their own.")
    # Sub-commands parse with the project's parser class: the same one-line error format.
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=cli.ArgumentParser)
    sample = commands.add_parser(
        "sample",
        help="draw samples from a trained run's generator",
        description="Write N samples of a run's generator: .h5 (the dataset layout, usable by train.py), .csv or .npy.",
    )
    sample.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by train.py")
    sample.add_argument(
        "-n", "--n-samples", type=cli.positive_int, default=10000, help="number of samples (default: %(default)s)"
    )
    sample.add_argument(
        "-o", "--out", default="generated.h5", help="output file, .h5, .csv or .npy (default: %(default)s)"
    )
    sample.add_argument("--seed", type=cli.seed_value, help="random seed (default: drawn; either way shown on stderr)")
    figure = commands.add_parser(
        "poc-figure",
        help="draw the README's naive vs adversarial figure",
        description="Draw the output of `naive.py ... generate` and `adversarial.py ... generate` over the N(0, 1) "
        "density (used by `make poc-figure`).",
    )
    figure.add_argument("naive_samples", type=Path, metavar="NAIVE.txt", help="output of `naive.py ... generate`")
    figure.add_argument(
        "adversarial_samples", type=Path, metavar="ADVERSARIAL.txt", help="output of `adversarial.py ... generate`"
    )
    figure.add_argument("out", type=Path, metavar="OUT.png", help="PNG file to write")
    study.add_sweep_command(commands)
    report.add_report_command(commands)
    args = parser.parse_args(argv)

    if args.command in ("sweep", "report"):
        return args.run(args)

    if args.command == "poc-figure":
        from gaussgan.poc_verdict import comparison_figure

        comparison_figure(args.naive_samples, args.adversarial_samples, args.out)
        print(f"wrote {args.out}")
        return 0

    from gaussgan.sampling import sample_run
    from gaussgan.seeds import choose_seed

    out = sample_run(args.run_dir, args.n_samples, args.out, choose_seed(args.seed))
    print(f"wrote {args.n_samples} samples to {out}")
    return 0


if __name__ == "__main__":
    cli.run_main(main)
