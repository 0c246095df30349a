"""``python -m gaussgan sweep``: its options, and the command that plans a study and runs what is left.

Parsing imports nothing heavy; Dask and torch load only once a sweep really runs (:mod:`gaussgan.study.sweep`).
"""

from __future__ import annotations

import difflib

from gaussgan import cli
from gaussgan.errors import UserError
from gaussgan.study.cluster import SchedulerAddress, parse_scheduler
from gaussgan.study.plan import GRID_OPTIONS, load_study, plan, study_datasets
from gaussgan.study.values import NotToml, parse_toml

# --- The options ------------------------------------------------------------------------------
SWEEP_EPILOG = """\
every run is an ordinary train.py run in RUNS_DIR (the study's runs_dir), named as train.py names it, with
a postfix for the options its name does not show (and _seedS with several seeds). Relaunching the same
command skips finished runs and resumes unfinished ones; Ctrl-C / SIGTERM stop at once, leaving every run
resumable. Exit status: 0 every run succeeded, 1 some failed (listed), 2 bad input (nothing written),
130 / 143 stopped.

examples:
  python -m gaussgan sweep studies/quick.toml --workers 2
  python -m gaussgan sweep studies/quick.toml --dry-run
  python -m gaussgan sweep studies/width.toml --set latent_dim=1,10 --seeds 1 2 3 -o runs/width-small
  python -m gaussgan sweep studies/dimension.toml --scheduler tls://10.0.0.1:8786 \\
      --tls-ca-file ~/.dask-tls/cert.pem --tls-cert ~/.dask-tls/cert.pem --tls-key ~/.dask-tls/key.pem

A Dask scheduler runs whatever its clients send, on every worker, and the sweep runs what its scheduler
sends back: --scheduler takes tls:// (with the cluster's certificate files) or tcp:// on this machine's
loopback; plain TCP to another machine only with --insecure (docs/studies.md).
"""


def add_sweep_command(commands):
    """The ``sweep`` sub-command on ``python -m gaussgan``'s sub-parsers."""
    parser = commands.add_parser(
        "sweep",
        help="run every configuration of a study (a TOML file) in parallel, restartable",
        description="Train every run of a study through Dask: a local cluster of worker processes, or an "
        "existing Dask cluster (--scheduler).",
        epilog=SWEEP_EPILOG,
        formatter_class=cli.argparse.RawDescriptionHelpFormatter,
    )
    add_sweep_arguments(parser)
    parser.set_defaults(run=sweep_command)
    return parser


def add_sweep_arguments(parser) -> None:
    """The options of ``python -m gaussgan sweep`` (parsing only: nothing heavy is imported)."""
    parser.add_argument("study", metavar="STUDY.toml", help="study file (see studies/)")
    parser.add_argument(
        "--workers",
        type=cli.positive_int,
        help="local Dask worker processes, one torch thread each (default: the number of cores, at most one per run)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on an existing Dask cluster: tls://HOST:PORT with the three --tls-* files, or tcp://127.0.0.1:PORT "
        "on this machine (its workers must see the same file system)",
    )
    for flag, what in (
        ("--tls-ca-file", "the certificate of the cluster's certificate authority"),
        ("--tls-cert", "this sweep's certificate, signed by that authority"),
        ("--tls-key", "that certificate's private key (readable by you only)"),
    ):
        parser.add_argument(flag, metavar="PEM", help=f"with a tls:// --scheduler: {what}")
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="allow a plain tcp:// --scheduler on another machine (no encryption, no authentication: only on a "
        "network nobody else can reach)",
    )
    parser.add_argument(
        "--pack",
        type=cli.positive_int,
        default=8,
        metavar="K",
        help="train up to K runs that differ by their seed only together, in one process (stacked networks: "
        "several times the runs per hour of one at a time; each still writes its own run directory); 1: each "
        "run alone (default: %(default)s)",
    )
    parser.add_argument("--dry-run", action="store_true", help="list the runs and which are done; run nothing")
    parser.add_argument("--seeds", type=cli.seed_value, nargs="+", metavar="S", help="replace the study's seeds")
    parser.add_argument("--epochs", type=cli.positive_int, help="replace the study's epochs (every run)")
    parser.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="OPTION=V1,V2",
        help="replace one [grid] option's values, e.g. --set latent_dim=1,10,100 --set rule=wgan-gp",
    )
    parser.add_argument("-o", "--runs-dir", help="where the run directories go (default: the study's runs_dir)")
    parser.add_argument("--datasets-dir", help="where generated datasets go (default: the study's [datasets] dir)")
    parser.add_argument(
        "--background-figures",
        action="store_true",
        help="draw each run's figures in a process of its own, for workers with a spare core (default: inline, "
        "faster with one worker per core)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no line per run")


def overrides_from(args) -> dict:
    """The study values the command line replaces."""
    grid: dict = {}
    for assignment in args.assignments:
        key, equals, text = assignment.partition("=")
        key = key.strip().replace("-", "_")
        if not equals or not key or not text.strip():
            raise UserError(f"--set {assignment!r}: expected OPTION=VALUE or OPTION=V1,V2,...")
        if key not in GRID_OPTIONS:
            close = difflib.get_close_matches(key, tuple(GRID_OPTIONS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UserError(f"--set: unknown option {key!r}{hint}; expected one of {', '.join(GRID_OPTIONS)}")
        values = []
        for item in text.split(","):
            try:  # a TOML value (number, true/false, "string"); a bare word is a string
                values.append(parse_toml(f"value = {item.strip()}", f"--set {key}")["value"])
            except NotToml:
                values.append(item.strip())
        grid[key] = values if len(values) > 1 else values[0]
    if args.epochs is not None:
        grid["epochs"] = args.epochs
    overrides: dict = {"grid": grid}
    if args.seeds:
        overrides["seeds"] = list(args.seeds)
    if args.runs_dir:
        overrides["runs_dir"] = args.runs_dir
    if args.datasets_dir:
        overrides["datasets_dir"] = args.datasets_dir
    return overrides


# --- The command -------------------------------------------------------------------------------------------
def sweep_command(args) -> int:
    """``python -m gaussgan sweep``: plan, check, then run what is left; exit 0 when every run succeeded."""
    from gaussgan.study.sweep import available_cores, check_datasets, print_plan, run_state, run_sweep

    if args.scheduler and args.workers:
        raise UserError("--workers sets the local cluster's size; with --scheduler the cluster's own workers run")
    scheduler = scheduler_from(args)
    cores = available_cores()
    if args.workers and args.workers > cores:
        raise UserError(
            f"--workers {args.workers}: this machine has {cores} cores; expected at most {cores} "
            "(each worker trains on one core)"
        )
    study = load_study(args.study, overrides_from(args))
    datasets = study_datasets(study)
    runs = plan(study, datasets, background_figures=args.background_figures)
    missing = check_datasets(datasets)
    states = {run.name: run_state(run) for run in runs}
    if args.dry_run:
        print_plan(study, runs, states, missing)
        return 0
    changed = [run for run in runs if states[run.name].kind == "changed"]
    if changed:
        listed = "; ".join(f"{run.name} ({states[run.name].why})" for run in changed[:3])
        more = f"; and {len(changed) - 3} more (see --dry-run)" if len(changed) > 3 else ""
        raise UserError(
            f"{len(changed)} run directories of the study were made with other options, not mixed: {listed}{more}. "
            "Expected the study as it was, another -o/--runs-dir, or those runs moved away"
        )
    todo = [run for run in runs if states[run.name].kind != "finished"]
    if not todo:
        print(f"study {study.name}: all {len(runs)} runs are done in {study.runs_dir}; nothing to do")
        return 0
    return run_sweep(study, runs, todo, states, missing, args, scheduler)


def scheduler_from(args) -> SchedulerAddress | None:
    """``--scheduler`` and its security options, checked before the study is read."""
    tls_files = (args.tls_ca_file, args.tls_cert, args.tls_key)
    if args.scheduler:
        return parse_scheduler(args.scheduler, insecure=args.insecure, tls_files=tls_files)
    given = [flag for flag, value in (("--insecure", args.insecure), ("--tls-*", any(tls_files))) if value]
    if given:
        raise UserError(
            f"{' and '.join(given)} go with --scheduler; expected --scheduler ADDRESS (the local cluster listens on "
            "loopback only and needs neither)"
        )
    return None
