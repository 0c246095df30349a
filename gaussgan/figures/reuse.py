"""The per-epoch training figures, built once per process and redrawn with each epoch's data.

A grid of histograms costs far more to build than to draw, so each figure is built once per
process and later epochs only swap the data of its artists. Its layout is computed on the first
save, then frozen (constrained layout on every save would cost more than the drawing).
"""

from __future__ import annotations

from gaussgan.figures.style import pyplot
from gaussgan.system.files import atomic_path

PNG_COMPRESSION = 3  # the figures redrawn every epoch: zlib's level, 0-9
_figure_cache: dict[tuple, tuple] = {}
# id of a reused figure -> the text lines its layout was made for, and the layout engine it was built with
_frozen_layouts: dict[int, tuple[tuple[int, ...], object]] = {}


def close_reused() -> None:
    """Close every reused figure: the end of a run (or of the figure worker) owns them."""
    if _figure_cache:
        plt = pyplot()
        for figure, *_ in _figure_cache.values():
            plt.close(figure)
        _figure_cache.clear()
        _frozen_layouts.clear()


def reused(key: tuple, build):
    """The figure and artists that ``build()`` returns, built once per process and reused after."""
    if key not in _figure_cache:
        _figure_cache[key] = build()
    return _figure_cache[key]


def write_reused(figure, path, dpi: int) -> None:
    """Save a reused figure atomically (it stays open for the next epoch).

    Its layout is computed on the first save and then frozen, and computed again only when a title or
    label gains or loses a line (a frozen layout would let it run into the panels).
    """
    lines = _text_lines(figure)
    if id(figure) in _frozen_layouts:
        frozen_lines, engine = _frozen_layouts[id(figure)]
        if frozen_lines != lines:
            figure.set_layout_engine(engine)  # the engine it was built with, its settings (spacing) included
    else:
        engine = figure.get_layout_engine()
    with atomic_path(path) as temporary:
        # zlib level 3 rather than PIL's 6: a third less encoding time for files of about the same size.
        figure.savefig(temporary, dpi=dpi, pil_kwargs={"compress_level": PNG_COMPRESSION})
    # No engine at all, not set_layout_engine("none"): that leaves a placeholder engine, and savefig
    # runs a whole layout pass (text and ticks) before drawing any figure that has one. With these two
    # settings off, None means no engine.
    with pyplot().rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        figure.set_layout_engine(None)
    _frozen_layouts[id(figure)] = (lines, engine)


def _text_lines(figure) -> tuple[int, ...]:
    """How many lines each title and axis label of ``figure`` has."""
    texts = [figure._suptitle, *(text for axes in figure.axes for text in (axes.title, axes.xaxis.label))]
    return tuple(text.get_text().count("\n") if text is not None else -1 for text in texts)


def rescale(*axes_list) -> None:
    """Fit each axes' limits to the data it holds now (a reused figure keeps the last epoch's otherwise)."""
    for axes in axes_list:
        axes.relim()
        axes.autoscale_view()
