"""``python -m gaussgan sample RUN_DIR -n N -o OUT``: samples from a trained generator."""
from __future__ import annotations

import secrets

from gaussgan import cli


def main(argv=None) -> int:
    parser = cli.make_parser("python -m gaussgan", "gaussgan tools that have no script of their own.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sample = commands.add_parser(
        "sample", help="draw samples from a trained run's generator",
        description="Write N samples of a run's generator: .h5 (the dataset layout, usable by train.py), .csv or .npy.",
    )
    sample.error = parser.error  # the project's one-line error format for the sub-command too
    sample.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by train.py")
    sample.add_argument("-n", "--n-samples", type=cli.positive_int, default=10000, help="number of samples (default: %(default)s)")
    sample.add_argument("-o", "--out", default="generated.h5", help="output file, .h5, .csv or .npy (default: %(default)s)")
    sample.add_argument("--seed", type=cli.seed_value, help="random seed (default: drawn and printed)")
    args = parser.parse_args(argv)
    from gaussgan.sampling import sample_run

    seed = secrets.randbits(32) if args.seed is None else args.seed
    out = sample_run(args.run_dir, args.n_samples, args.out, seed)
    print(f"seed {seed}\nwrote {args.n_samples} samples to {out}")
    return 0


if __name__ == "__main__":
    cli.run_main(main)
