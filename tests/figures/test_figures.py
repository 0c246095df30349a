"""What the figures show: no legend over data, the bulk of heavy-tailed parents, marked clipping.

Every figure type is drawn from numbers as training and gen-samples.py draw it (``plots.*_figure``
builds the Figure that ``plots.*`` saves) for d = 1, 10, 100 and several parents, and checked in
display coordinates: no legend's box holds a data point, a point of a line or bar outline, or part
of an image, and every legend lies wholly inside the figure (readable, not cut).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from gaussgan.data.generation import LOG_NORM_EDGES, log_norm_counts
from gaussgan.distributions import make_parent
from gaussgan.figures import plots
from gaussgan.stats import diagnostics

DIMS = (1, 10, 100)
PARENTS = ("gauss", "cauchy", "trunc_gauss")
N = 500


@pytest.fixture(autouse=True)
def closed_figures():
    yield
    plots.close_reused()
    plots.pyplot().close("all")


def samples(name: str, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A parent sample and a 'generated' one that differs from it (narrower, shifted)."""
    parent = make_parent(name, dim)
    rng = np.random.default_rng(seed)
    return 0.8 * parent.sample(N, rng) + 0.1, parent.sample(N, rng)


def history_rows(dim: int, epochs: int = 30) -> list[dict]:
    """training_details.csv rows of a run that starts far from the parent and reaches its floor."""
    rng = np.random.default_rng(dim)
    rows = []
    for epoch in range(epochs):
        distance = np.exp(-epoch / 5)
        rows.append(
            {
                "epoch": epoch,
                "norm_ks_parent_D": 0.06 + 0.9 * distance + 0.01 * rng.random(),
                "norm_ks_parent_p": 10 ** (-300 * distance),
                "norm_ks_train_p": 10 ** (-250 * distance),
                "rejected_raw": round(dim * distance),
                "ks_floor_95": 0.086,
                "offdiag_std_generated": 0.045 + distance if dim > 1 else np.nan,
                "offdiag_std_parent": 0.045 if dim > 1 else np.nan,
            }
        )
    return rows


def figures(kind: str, dim: int, name: str):
    """The figure of type ``kind`` for a ``name`` parent in ``dim`` dimensions."""
    generated, fresh = samples(name, dim)
    comparison = diagnostics.compare(generated, fresh, fresh)
    rows = history_rows(dim)
    column = lambda key: np.array([row[key] for row in rows], dtype=float)
    if kind == "norm_histogram":
        norms = diagnostics.norms(make_parent(name, dim).sample(20_000, np.random.default_rng(1)))
        if name == "cauchy":  # as gen-samples.py counts heavy-tailed norms
            return plots.norm_histogram_figure(log_norm_counts(norms), LOG_NORM_EDGES, dim, "t", False, log_axis=True)
        counts, edges = np.histogram(norms, bins=4096)
        return plots.norm_histogram_figure(counts, edges, dim, "t", chi_density=name == "gauss")
    if kind == "component_histograms":
        return plots.component_histograms_figure(generated, fresh, 3)
    if kind == "ks_per_component":
        return plots.ks_per_component_figure(comparison.ks_statistic, comparison.ks_pvalue, comparison.ks_floor, 3)
    if kind == "norm_distributions":
        return plots.norm_distributions_figure(
            comparison.norms_generated, comparison.norms_parent, comparison.norm_ks_parent, 3
        )
    if kind == "correlations":
        return plots.correlations_figure(comparison.corr_generated, comparison.corr_parent, 3)
    if kind == "correlation_matrix":
        return plots.correlation_matrix_figure(comparison.corr_parent, "parent")
    if kind == "losses":
        steps = np.arange(1, 3001) / 100
        noise = np.random.default_rng(2).normal(0, 0.1, len(steps))
        return plots.losses_figure(steps, 1.4 + noise, steps, 0.7 + noise, rule="vanilla")  # with its references
    if kind == "pvalues":
        return plots.pvalues_figure(
            column("epoch"), column("norm_ks_parent_p"), column("norm_ks_train_p"), column("rejected_raw"), dim
        )
    if kind == "training_metrics":
        return plots.training_metrics_figure(rows)
    if kind == "poc_comparison":
        rng = np.random.default_rng(3)
        return plots.poc_comparison_figure(rng.normal(0, 0.005, 2000), rng.normal(0, 0.95, 2000))
    raise ValueError(kind)


# --- what lies where, in display coordinates (pixels) ---------------------------------------------------


def densified(points: np.ndarray, step: float = 3.0) -> np.ndarray:
    """The points of a polyline, with points added every ``step`` pixels along each segment."""
    points = points[np.all(np.isfinite(points), axis=1)]
    if len(points) < 2:
        return points
    pieces = [points[:1]]
    for start, end in zip(points[:-1], points[1:], strict=True):
        count = max(1, int(np.hypot(*(end - start)) / step))
        pieces.append(start + (end - start) * (np.arange(1, count + 1) / count)[:, None])
    return np.concatenate(pieces)


def data_in_display(axes) -> tuple[np.ndarray, list, list]:
    """Points drawn by the axes' data artists (visible part only), filled paths, and image boxes."""
    inside = axes.get_window_extent()
    points, filled, images = [np.empty((0, 2))], [], []
    for artist in axes.get_children():
        if not artist.get_visible() or artist is axes.patch:
            continue
        if isinstance(artist, Line2D):
            xy = artist.get_transform().transform(artist.get_xydata())
            points.append(xy if artist.get_linestyle() in ("None", "none", "") else densified(xy))
        elif isinstance(artist, LineCollection):
            for path in artist.get_paths():
                points.append(densified(artist.get_transform().transform(path.vertices)))
        elif isinstance(artist, PathCollection):
            points.append(artist.get_offset_transform().transform(artist.get_offsets()))
        elif isinstance(artist, Patch) and artist.axes is axes and artist.get_label() != "_nolegend_":
            path = artist.get_transform().transform_path(artist.get_path())
            points.append(densified(path.vertices))
            if artist.get_fill():
                filled.append(path)
        elif isinstance(artist, AxesImage):
            images.append(artist.get_window_extent())
    every = np.concatenate(points)
    visible = (
        (every[:, 0] >= inside.x0 - 1)
        & (every[:, 0] <= inside.x1 + 1)
        & (every[:, 1] >= inside.y0 - 1)
        & (every[:, 1] <= inside.y1 + 1)
    )
    return every[visible], filled, images


def legends(figure) -> list:
    found = list(figure.legends)
    found += [axes.get_legend() for axes in figure.axes if axes.get_legend() is not None]
    return found


def check_legends(figure) -> None:
    figure.canvas.draw()
    boxes = [legend.get_window_extent() for legend in legends(figure)]
    outer = figure.bbox
    for box in boxes:
        assert outer.x0 - 1 <= box.x0 and box.x1 <= outer.x1 + 1, ("legend cut at the figure's edge", box, outer)
        assert outer.y0 - 1 <= box.y0 and box.y1 <= outer.y1 + 1, ("legend cut at the figure's edge", box, outer)
    for axes in figure.axes:
        if not axes.get_visible():
            continue
        points, filled, images = data_in_display(axes)
        for box in boxes:
            shrunk = box.padded(-1)
            covered = (
                (points[:, 0] > shrunk.x0)
                & (points[:, 0] < shrunk.x1)
                & (points[:, 1] > shrunk.y0)
                & (points[:, 1] < shrunk.y1)
            )
            assert not covered.any(), f"legend {box} covers {covered.sum()} data points, e.g. {points[covered][:3]}"
            corners = np.array([[shrunk.x0, shrunk.y0], [shrunk.x1, shrunk.y1], [shrunk.x0, shrunk.y1]])
            for path in filled:
                assert not path.contains_points(corners).any(), f"legend {box} lies on a filled bar"
            for image in images:
                assert not image.overlaps(shrunk), f"legend {box} lies on an image"


KINDS_PER_PARENT = ("norm_histogram", "component_histograms", "ks_per_component", "norm_distributions", "correlations")
KINDS_ONCE = ("correlation_matrix", "losses", "pvalues", "training_metrics")


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("name", PARENTS)
@pytest.mark.parametrize("kind", KINDS_PER_PARENT)
def test_no_legend_covers_data(kind, name, dim):
    check_legends(figures(kind, dim, name))


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("kind", KINDS_ONCE)
def test_no_legend_covers_data_in_history_figures(kind, dim):
    check_legends(figures(kind, dim, "gauss"))


def test_no_legend_covers_data_in_the_poc_figure():
    check_legends(figures("poc_comparison", 1, "gauss"))


def test_the_checker_sees_a_legend_over_data():
    """The check can fail: a legend put over the data, as the figures had them, is found."""
    plt = plots.pyplot()
    figure, axes = plt.subplots()
    axes.plot(np.arange(10), np.full(10, 5.0), "o", label="points")
    axes.set_ylim(0, 10)
    axes.legend(loc="center left")
    with pytest.raises(AssertionError, match="covers"):
        check_legends(figure)


# --- heavy tails: the bulk is drawn ------------------------------------------------------------------


def largest_bar_share(stairs) -> float:
    """The share of the drawn mass in the tallest bar of a step histogram."""
    heights, edges, _ = stairs.get_data()
    mass = heights * np.diff(edges if stairs.axes.get_xscale() == "linear" else np.log10(edges))
    return float(mass.max() / mass.sum())


@pytest.mark.parametrize("dim", DIMS)
def test_cauchy_histograms_show_the_bulk(dim):
    """Most of the mass is never in one bar (before: one bar at 0 on an axis to millions)."""
    from matplotlib.patches import StepPatch

    for kind in ("norm_histogram", "component_histograms", "norm_distributions"):
        figure = figures(kind, dim, "cauchy")
        for axes in figure.axes:
            for stairs in [child for child in axes.get_children() if isinstance(child, StepPatch)]:
                if axes.get_visible() and stairs.get_label() in ("parent sample", f"samples (n = {20_000:,})"):
                    assert largest_bar_share(stairs) < 0.4, (kind, axes.get_title())


def test_cauchy_norms_are_drawn_on_a_log_axis_with_every_sample():
    figure = figures("norm_histogram", 10, "cauchy")
    assert figure.axes[0].get_xscale() == "log"
    (stairs,) = [child for child in figure.axes[0].patches if child.get_label().startswith("samples")]
    heights, edges, _ = stairs.get_data()
    assert np.sum(heights * np.diff(np.log10(edges))) == pytest.approx(1.0)  # every sample is in a bar


def test_component_histograms_count_what_lies_outside_the_drawn_range():
    figure = figures("component_histograms", 1, "cauchy")
    axes = figure.axes[0]
    counts = axes.get_title(loc="right")
    generated, _ = samples("cauchy", 1)
    low, high = axes.get_xlim()
    below, above = np.count_nonzero(generated < low), np.count_nonzero(generated > high)
    assert below and above and counts == f"◀{below} {above}▶"
    assert "outside it" in figure.get_suptitle()


# --- clipping is marked, titles say what is shown -------------------------------------------------------


def test_p_values_below_the_axis_are_marked_and_counted():
    figure = figures("pvalues", 10, "gauss")
    (clipped,) = [line for line in figure.axes[0].lines if line.get_marker() == "v"]
    below = [row["epoch"] for row in history_rows(10) if row["norm_ks_parent_p"] < plots.P_FLOOR]
    assert 0 < len(below) < 30 and list(clipped.get_xdata()) == below
    assert f"{len(below)} vs parent" in " ".join(text.get_text() for text in figure.legends[0].texts)


def test_a_100_percent_rejection_line_is_inside_the_frame():
    figure = figures("pvalues", 10, "gauss")
    share = figure.axes[1]
    assert share.get_ylim()[0] < 0 and share.get_ylim()[1] > 100


def test_ks_figure_marks_p_values_below_the_axis():
    statistic, pvalue = np.array([0.5, 0.02, 0.9]), np.array([1e-30, 0.6, 0.0])
    figure = plots.ks_per_component_figure(statistic, pvalue, 0.06, 0)
    (clipped,) = [line for line in figure.axes[1].lines if line.get_marker() == "v"]
    assert list(clipped.get_xdata()) == [0, 2]
    assert figure.axes[1].get_ylim()[0] < plots.P_FLOOR


@pytest.mark.parametrize("dim, rows", [(1, 1), (2, 1), (10, 2), (100, 4), (1000, 4)])
def test_component_grid_is_readable_at_every_dimension(dim, rows):
    """Several rows of panels of a readable size, tick labels, the component index in each title;
    beyond 20 components, a subset that the title explains, the worst by KS among them."""
    generated, fresh = samples("gauss", dim)
    generated[:, dim - 1] += 2  # the worst component, whichever the subset
    figure = plots.component_histograms_figure(generated, fresh, 0)
    panels = [axes for axes in figure.axes if axes.get_visible()]
    assert len(panels) == min(dim, 20)
    assert len({round(axes.get_position().y0, 3) for axes in panels}) == rows
    figure.canvas.draw()
    width = min(axes.get_window_extent().width for axes in panels) / figure.dpi
    assert width > 1.5, "panels narrower than 1.5 inches"
    assert all(any(label.get_text() for label in axes.get_xticklabels()) for axes in panels)
    titles = [axes.get_title(loc="left") for axes in panels]
    assert f"x{dim - 1}" in " ".join(titles)
    if dim > 20:
        assert f"20 of {dim:,} components" in figure.get_suptitle() and "largest KS D" in figure.get_suptitle()


def test_bins_follow_the_number_of_values():
    assert plots.bin_count(45) == 8 and plots.bin_count(1000) == 20 and plots.bin_count(10**7) == 60
    figure = plots.correlations_figure(*[diagnostics.correlation(s) for s in samples("gauss", 10)], 0)
    (parent, _) = [child for child in figure.axes[1].patches if child.get_label().startswith(("parent", "gen"))]
    assert len(parent.get_data()[0]) == plots.bin_count(45)


def test_a_handful_of_correlations_are_drawn_one_by_one():
    figure = plots.correlations_figure(*[diagnostics.correlation(s) for s in samples("gauss", 2)], 0)
    assert any(isinstance(child, LineCollection) for child in figure.axes[1].get_children())


@pytest.mark.parametrize(
    "options, expected",
    [
        (("gauss", 10), "N(0, I) in 10-d"),
        (("gauss", 10, 0.0, (2.0, 0.0, 1)), "N(0, 2·I) in 10-d"),
        (
            ("gauss", 10, 0.0, (1.0, 0.5, 2)),
            "N(0, Σ) in 10-d: variance 1, correlation 0.5 within blocks of 2 components",
        ),
        (("gauss", 10, 0.0, (1.0, 0.3, -1)), "correlation 0.3 between neighbouring components (a band)"),
        (("trunc_gauss", 3, 0.0, (1.0, 0.0, 1), -1.0, 2.0), "N(0, 1) truncated to [-1, 2] in 3-d"),
        (("cauchy", 1), "Cauchy(location 0, scale 1) in 1-d"),
        (("uniform", 2), "U[-1.5, 1.5] in 2-d"),
    ],
)
def test_titles_describe_the_parent(options, expected):
    assert expected in plots.describe_parent(make_parent(*options))


def test_plural():
    assert plots.plural(1, "degree") == "1 degree" and plots.plural(2, "degree") == "2 degrees"
    assert plots.plural(1000, "component") == "1,000 components"


# --- training_metrics: each metric ÷ its floor --------------------------------------------------------


def test_training_metrics_draws_today_s_headline_numbers_over_their_floors():
    rows = history_rows(10)
    figure = plots.training_metrics_figure(rows)
    lines = {line.get_label(): line for line in figure.axes[0].lines}
    norm = lines["norm KS D ÷ the KS floor (ks_floor_95)"]
    np.testing.assert_allclose(norm.get_ydata(), [row["norm_ks_parent_D"] / 0.086 for row in rows])
    assert "off-diagonal correlation std ÷ the parent sample's" in lines
    (floor,) = [line for line in figure.axes[0].lines if "noise floor" in line.get_label()]
    assert list(floor.get_ydata()) == [1, 1] and figure.axes[0].get_yscale() == "log"


def test_training_metrics_reads_m_columns_with_missing_values_and_zero_floors():
    rows = []
    for epoch in range(6):
        rows.append(
            {
                "epoch": epoch,
                "m_energy": 2.0 / (epoch + 1),
                "m_energy_floor": 0.5,
                "m_energy_p": 0.01,
                "m_c2st": 0.7 if epoch % 3 == 0 else float("nan"),  # costly: every third epoch
                "m_c2st_floor": 0.55,
                "m_c2st_p": float("nan"),
                "m_outside": 0.01 if epoch == 2 else 0.0,  # a truncation bound: floor 0
                "m_outside_floor": 0.0,
                "m_undefined": float("nan"),
                "m_undefined_floor": float("nan"),
                "norm_ks_parent_D": 0.5,
                "ks_floor_95": 0.1,
            }
        )
    figure = plots.training_metrics_figure(rows)
    lines = {line.get_label(): line for line in figure.axes[0].lines}
    assert set(lines) >= {"energy ÷ its floor", "c2st ÷ its floor (epochs where measured)"}
    assert not any("norm KS" in label or "undefined" in label for label in lines)  # m_* columns win
    assert list(lines["c2st ÷ its floor (epochs where measured)"].get_xdata()) == [0, 3]
    assert lines["c2st ÷ its floor (epochs where measured)"].get_linestyle() == "None"
    np.testing.assert_allclose(lines["energy ÷ its floor"].get_ydata(), [4 / (epoch + 1) for epoch in range(6)])
    assert "outside" in " ".join(text.get_text() for text in figure.texts)
    check_legends(figure)


def test_training_metrics_draws_values_at_or_below_zero_inside_the_axes():
    """A negative MMD² (an unbiased estimate can be) is drawn at 0.001 inside the axes, and its label says ≤ 0."""
    rows = [
        {"epoch": epoch, "m_mmd": value, "m_mmd_floor": 0.01, "m_energy": 2.0, "m_energy_floor": 0.5}
        for epoch, value in enumerate((0.05, 0.02, -0.002, 0.008))
    ]
    figure = plots.training_metrics_figure(rows)
    axes = figure.axes[0]
    low, high = axes.get_ylim()
    for line in axes.lines:
        values = np.asarray(line.get_ydata(), dtype=float)
        assert np.all((values >= low) & (values <= high)), (line.get_label(), values, (low, high))
    labels = [line.get_label() for line in axes.lines]
    assert "mmd ÷ its floor ≤ 0 (drawn at 0.001)" in labels
    assert not any("= 0" in label for label in labels)
    check_legends(figure)
    # A metric never above 0 (one epoch so far, say) is drawn too.
    only = plots.training_metrics_figure([{"epoch": 0, "m_mmd": -0.001, "m_mmd_floor": 0.01}])
    (line,) = [line for line in only.axes[0].lines if "≤ 0" in line.get_label()]
    low, high = only.axes[0].get_ylim()
    assert low <= line.get_ydata()[0] <= high


def test_training_metrics_takes_csv_strings(tmp_path):
    """Rows as csv.DictReader gives them (strings), and a file written atomically."""
    rows = [{key: str(value) for key, value in row.items()} for row in history_rows(3)]
    plots.training_metrics(rows, tmp_path / "training_metrics.png")
    assert (tmp_path / "training_metrics.png").read_bytes().startswith(b"\x89PNG")
    assert [path.name for path in tmp_path.iterdir()] == ["training_metrics.png"]
    assert plots.pyplot().get_fignums() == []


def test_ks_statistics_of_every_column_are_scipy_s():
    from scipy import stats

    generated, fresh = samples("gauss", 7)
    expected = [stats.ks_2samp(generated[:, column], fresh[:, column]).statistic for column in range(7)]
    np.testing.assert_allclose(plots.ks_statistics(generated, fresh), expected, rtol=1e-12)


# --- make figures: the sheet -------------------------------------------------------------------------

SHEET_KINDS = (
    "hist",
    "comp_hist",
    "ks",
    "rhist",
    "corr",
    "training_pvalues",
    "training_model_losses",
    "test_corr",
    "training_metrics",
    "poc",
)


def sheet(folder, *options) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gaussgan.study.figure_sheet", str(folder), *options],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_figure_sheet_draws_every_figure_type_and_an_index(tmp_path):
    result = sheet(tmp_path / "figures", "--dims", "2", "--parents", "cauchy")
    assert result.returncode == 0, result.stderr
    index = (tmp_path / "figures/index.html").read_text()
    assert f"figure sheet: {(tmp_path / 'figures/index.html').resolve()}" in result.stdout
    for kind in SHEET_KINDS:
        name = f"{kind}__cauchy__d2.png" if kind != "poc" else "poc__n01__d1.png"
        assert (tmp_path / "figures" / name).read_bytes().startswith(b"\x89PNG"), name
        assert f"src='{name}'" in index
    # A second time: the sheet exists; --force replaces it.
    assert_refused = sheet(tmp_path / "figures", "--dims", "2", "--parents", "cauchy")
    assert assert_refused.returncode == 2 and "--force" in assert_refused.stderr


@pytest.mark.slow
def test_make_figures_sheet_covers_every_parent_and_dimension(tmp_path):
    result = sheet(tmp_path / "figures")
    assert result.returncode == 0, result.stderr
    names = {path.name for path in (tmp_path / "figures").glob("*.png")}
    for parent in ("gauss", "gauss-correlated", "trunc_gauss", "cauchy", "uniform"):
        for dim in (1, 2, 10, 100):
            if parent == "gauss-correlated" and dim == 1:
                continue
            assert {f"{kind}__{parent}__d{dim}.png" for kind in SHEET_KINDS if kind != "poc"} <= names


def title_clear_of_panels(figure) -> None:
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    title_bottom = figure._suptitle.get_window_extent(renderer).y0
    panels_top = max(axes.get_tightbbox(renderer).y1 for axes in figure.axes if axes.get_visible())
    assert title_bottom >= panels_top - 1, (title_bottom, panels_top)


def test_a_reused_figure_keeps_its_title_clear_of_the_panels_epoch_after_epoch(tmp_path):
    """Layouts are computed once and frozen (cheaper epochs): the title must stay where the layout put it,
    and a title that gains lines gets a new layout."""
    for epoch in range(2):
        generated, fresh = samples("uniform", 100, seed=epoch)
        plots.component_histograms(generated, fresh, epoch, tmp_path / f"{epoch}.png")
        title_clear_of_panels(plots.component_histograms_figure(generated, fresh, epoch))
    figure = plots.component_histograms_figure(generated, fresh, 2)
    figure._suptitle.set_text(figure.get_suptitle() + "\none line more\nand another")
    plots._write(figure, tmp_path / "longer.png", dpi=72)
    title_clear_of_panels(figure)


def test_a_reused_figure_is_drawn_once_per_save_after_its_first(tmp_path):
    """A frozen layout keeps no layout engine: even a placeholder one makes savefig run a whole layout
    pass (every text and tick measured) before the real drawing, a fifth or more of an epoch's figures."""
    generated, fresh = samples("gauss", 10, seed=0)
    plots.component_histograms(generated, fresh, 0, tmp_path / "0.png")
    figure = plots.component_histograms_figure(generated, fresh, 1)
    draws = []
    figure.canvas.mpl_connect("draw_event", draws.append)
    plots._write(figure, tmp_path / "1.png", dpi=72)
    assert len(draws) == 1
    figure._suptitle.set_text(figure.get_suptitle() + "\none line more")
    plots._write(figure, tmp_path / "2.png", dpi=72)
    assert len(draws) == 3  # a new layout for the new line: one pass for it, one to draw
    assert figure.get_layout_engine() is None
