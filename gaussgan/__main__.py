"""``python -m gaussgan COMMAND``: the tools that have no script of their own.

* ``sample RUN_DIR -n N -o OUT``: samples from a trained generator.
* ``evaluate SAMPLES --parent DATASET.h5``: the calibrated verdict on samples from any generator.
* ``poc-figure NAIVE.txt ADVERSARIAL.txt OUT.png``: the proof-of-concept figure of docs/poc.md.
* ``sweep STUDY.toml``: every run of a study, in parallel through Dask (``gaussgan.study.sweep``).
* ``report RUNS_OR_STUDY... -o DIR``: tables, figures and index.html over many runs (``gaussgan.study.report``).
"""

from __future__ import annotations

from gaussgan import cli
from gaussgan.gan import commands as run_commands
from gaussgan.poc import cli as poc_cli
from gaussgan.study import commands as study_commands
from gaussgan.study import report


def main(argv=None) -> int:
    parser = cli.make_parser("python -m gaussgan", "gaussgan tools that have no script of their own.")
    # Sub-commands parse with the project's parser class: the same one-line error format. Each stage
    # declares its own commands; this only dispatches.
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=cli.ArgumentParser)
    run_commands.add_sample_command(commands)
    run_commands.add_evaluate_command(commands)
    poc_cli.add_poc_figure_command(commands)
    study_commands.add_sweep_command(commands)
    report.add_report_command(commands)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    cli.run_main(main)
