"""Every figure type, for every parent and d = 1, 2, 10, 100, on one page: ``make figures``.

``python -m gaussgan.study.figure_sheet OUT_DIR [--force]`` writes tiny datasets and two-epoch runs (in
``OUT_DIR/work``), copies the figures of the last epoch into ``OUT_DIR`` under names that say what
they show (``comp_hist__cauchy__d10.png``), and writes ``OUT_DIR/index.html``: one section per
figure type, one row per parent, one column per dimension, so that a person reviews them all in a
minute. The runs are too short to learn anything: the sheet is about how the figures look.
"""

from __future__ import annotations

import contextlib
import html
import io
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gaussgan import cli

DIMS = (1, 2, 10, 100)
EPOCHS = 2
SAMPLES, BATCHES = 500, 2  # 1000 samples per dataset
# Figures of a run, by the name they have in it (the per-epoch ones of the last epoch).
EPOCH_FIGURES = ("comp_hist", "ks", "rhist", "corr")
RUN_FILES = ("training_pvalues.png", "training_model_losses.png", "test_corr.png")


@dataclass(frozen=True)
class Case:
    """One parent of the sheet: the name shown, and gen-samples' options for it."""

    label: str
    dist: str
    sigma: tuple[float, float, int] = (1.0, 0.0, 1)
    postfix: str = ""
    smallest_dim: int = 1


CASES = (
    Case("gauss", "gauss"),
    # Pairs correlated at 0.5 (the README's example); a pair needs two components.
    Case("gauss-correlated", "gauss", (1.0, 0.5, 2), "_corr", smallest_dim=2),
    Case("trunc_gauss", "trunc_gauss"),
    Case("cauchy", "cauchy"),
    Case("uniform", "uniform"),
)


def build_parser():
    parser = cli.make_parser(
        "python -m gaussgan.study.figure_sheet",
        "Render every figure type for every parent at d = 1, 2, 10, 100 from tiny runs, and an index.html "
        "that shows them side by side.",
    )
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="folder of the sheet (figures/ in make figures)")
    parser.add_argument(
        "--dims",
        type=cli.positive_int,
        nargs="+",
        default=list(DIMS),
        metavar="D",
        help="dimensions (default: 1 2 10 100)",
    )
    parser.add_argument(
        "--parents",
        nargs="+",
        choices=[case.label for case in CASES],
        default=[case.label for case in CASES],
        metavar="PARENT",
        help=f"parents (default: all of {', '.join(case.label for case in CASES)})",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing sheet in OUT_DIR")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from gaussgan.system.files import refuse_existing

    index = args.out_dir / "index.html"
    refuse_existing([index], args.force)
    started = time.perf_counter()
    cases = [case for case in CASES if case.label in args.parents]
    rows = render(args.out_dir, cases, sorted(set(args.dims)))
    write_index(index, rows)
    print(f"figure sheet: {index.resolve()} ({len(rows)} figures in {time.perf_counter() - started:.0f} s)")
    return 0


def render(
    out_dir: Path, cases: Sequence[Case] = CASES, all_dims: Sequence[int] = DIMS
) -> list[tuple[str, str, int, str]]:
    """Draw everything; return (figure type, parent, dimension, file name) for each figure."""
    from gaussgan.data.generation import GenerationConfig, generate, histogram_name
    from gaussgan.figures import plots
    from gaussgan.gan.options import TrainConfig
    from gaussgan.gan.rundir import RunDirectory
    from gaussgan.gan.training import train

    work = out_dir / "work"
    if work.exists():
        shutil.rmtree(work)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures: list[tuple[str, str, int, str]] = []

    def keep(kind: str, case: str, dim: int, source: Path) -> None:
        name = f"{kind}__{case}__d{dim}.png"
        shutil.copyfile(source, out_dir / name)
        figures.append((kind, case, dim, name))

    for case in cases:
        dims = [dim for dim in all_dims if dim >= case.smallest_dim]
        if not dims:
            continue
        print(f"{case.label}: datasets for d = {', '.join(map(str, dims))}", file=sys.stderr, flush=True)
        with contextlib.redirect_stdout(io.StringIO()):  # each command's own report: not needed here
            datasets = generate(
                GenerationConfig(
                    dist=case.dist,
                    dims=dims,
                    n_samples=SAMPLES,
                    n_batches=BATCHES,
                    sigma=case.sigma,
                    seed=1,
                    out_dir=str(work / "datasets"),
                    postfix=case.postfix,
                    quiet=True,
                )
            )
        for dim, dataset in zip(dims, datasets, strict=True):
            keep("hist", case.label, dim, dataset.with_name(histogram_name(case.dist, dim, case.postfix)))
            print(f"{case.label}: d = {dim}, {EPOCHS} epochs", file=sys.stderr, flush=True)
            with contextlib.redirect_stdout(io.StringIO()):
                run = train(
                    TrainConfig(
                        dataset=str(dataset),
                        latent_dim=8,
                        epochs=EPOCHS,
                        scale=0.25,
                        seed=1,
                        runs_dir=str(work / "runs"),
                        postfix=case.postfix,
                        n_eval=500,
                        corr_every=1,
                        quiet=True,
                        background_figures=False,
                    )
                ).path
            for kind in EPOCH_FIGURES:
                keep(kind, case.label, dim, max((run / "samples").glob(f"{kind}_epoch*.png")))
            for name in RUN_FILES:
                keep(name.removesuffix(".png"), case.label, dim, run / name)
            rows = RunDirectory(run).read_csv()
            plots.training_metrics(rows, work / f"metrics_{case.label}_{dim}.png")
            keep("training_metrics", case.label, dim, work / f"metrics_{case.label}_{dim}.png")
    poc_figure(out_dir, figures)
    return figures


def poc_figure(out_dir: Path, figures: list) -> None:
    """The proof of concept's figure, from stand-in samples shaped like the two scripts' (no training)."""
    import numpy as np

    from gaussgan.figures import plots

    rng = np.random.default_rng(1)
    plots.poc_comparison(rng.normal(0, 0.005, 10_000), rng.normal(0, 0.95, 10_000), out_dir / "poc__n01__d1.png")
    figures.append(("poc", "n01", 1, "poc__n01__d1.png"))


def write_index(index: Path, figures: list[tuple[str, str, int, str]]) -> None:
    """One section per figure type; rows: parents; columns: dimensions."""
    from gaussgan.system.files import atomic_path

    kinds = list(dict.fromkeys(kind for kind, *_ in figures))
    parts = [
        "<!doctype html><meta charset='utf-8'><title>gaussgan figure sheet</title>",
        "<style>body{font-family:sans-serif} td{vertical-align:top;width:25%} img{max-width:100%}</style>",
        f"<h1>gaussgan figure sheet</h1><p>{EPOCHS}-epoch runs on {SAMPLES * BATCHES} samples: how the figures "
        "look, not what a generator learns.</p>",
    ]
    for kind in kinds:
        columns = sorted({dim for figure_kind, _, dim, _ in figures if figure_kind == kind})
        parts.append(f"<h2>{html.escape(kind)}</h2><table><tr><th></th>")
        parts += [f"<th>d = {dim}</th>" for dim in columns]
        parts.append("</tr>")
        for case in dict.fromkeys(case for figure_kind, case, *_ in figures if figure_kind == kind):
            cells = {dim: name for figure_kind, label, dim, name in figures if figure_kind == kind and label == case}
            parts.append(f"<tr><th>{html.escape(case)}</th>")
            for dim in columns:
                name = cells.get(dim)
                parts.append(f"<td><a href='{name}'><img src='{name}'></a></td>" if name else "<td></td>")
            parts.append("</tr>")
        parts.append("</table>")
    with atomic_path(index) as temporary:
        temporary.write_text("\n".join(parts), encoding="utf-8")


if __name__ == "__main__":
    cli.run_main(main)
