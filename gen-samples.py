#!/usr/bin/env python3
"""Write datasets of samples from a known parent distribution, one HDF5 file per dimension."""

from __future__ import annotations

from gaussgan import cli

EPILOG = """\
output, for each dimension d:
  OUT_DIR/data_<dist>_dim<d><postfix>.h5   /data (n*b, d) float64 and /metadata (the parent)
  OUT_DIR/hist_<dist>_dim<d><postfix>.png  histogram of the norms ||x|| (chi(d) density for N(0, I))

example:
  python gen-samples.py -n 1000 -s gauss -b 10 -d 1 2 10
  python gen-samples.py -n 1000 -s gauss -b 10 -d 10 -c 1 0.5 2   # pairs correlated at 0.5
"""


def build_parser():
    parser = cli.make_parser("gen-samples.py", __doc__, EPILOG)
    parser.add_argument(
        "-n", "--n-samples", type=cli.positive_int, default=1000, help="samples per batch (default: %(default)s)"
    )
    parser.add_argument(
        "-b",
        "--n-batches",
        type=cli.positive_int,
        default=10,
        help="number of batches; the file holds n*b samples, memory holds one batch (default: %(default)s)",
    )
    parser.add_argument(
        "-s",
        "--dist",
        default="gauss",
        metavar="PARENT",
        help="parent distribution: gauss, trunc_gauss, cauchy or uniform (default: %(default)s)",
    )
    parser.add_argument(
        "-d",
        "--dims",
        type=cli.positive_int,
        nargs="+",
        default=[1, 2, 10],
        metavar="D",
        help="one or more dimensions, one file each (default: 1 2 10)",
    )
    cli.add_parent_shape_options(parser)
    parser.add_argument(
        "--seed",
        type=cli.seed_value,
        help="random seed; the same seed gives byte-identical data (default: drawn and printed)",
    )
    parser.add_argument("-o", "--out-dir", default="datasets", help="output folder (default: %(default)s)")
    parser.add_argument(
        "-p",
        "--postfix",
        type=cli.plain_name,
        default="",
        help="appended to the file names, e.g. _run2 (a plain name: no '/', '\\' or '..')",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace existing datasets and histograms (without it, an existing output is kept and nothing is written)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    args.sigma = cli.sigma_triple(parser, args.sigma)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from gaussgan.data.generation import GenerationConfig, generate
    from gaussgan.system.seeds import choose_seed

    generate(GenerationConfig(**{**vars(args), "seed": choose_seed(args.seed)}))
    return 0


if __name__ == "__main__":
    cli.run_main(main)
