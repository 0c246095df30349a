"""Numbers in, PNG out: the per-run figures, the report's figures, the background figure worker.

Nothing here knows about training or files beyond the path it writes (atomically). Matplotlib is
imported on first use with the Agg backend. One-off figures are closed once saved; the per-epoch
training figures are built once and reused (:func:`gaussgan.figures.reuse.close_reused` closes them).
:mod:`gaussgan.figures.plots` names every per-run figure, whichever module draws it.

Each writing function ``name(..., path)`` draws through ``name_figure(...)``, which returns the
matplotlib Figure without saving it (tests inspect it). What every figure keeps:

* legends never cover data: they sit outside the axes, below them;
* values outside the drawn range are marked and counted (p-values below the axis, samples beyond
  the histogram's edges), never silently dropped;
* heavy-tailed data (Cauchy) are drawn over their bulk, with the share left outside stated, and
  positive heavy-tailed values (norms) on a log axis;
* histograms take their number of bins from the number of values.
"""
