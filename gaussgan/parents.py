"""The parents' names and default bounds, importable without numpy (command lines and study checks read them)."""

PARENTS = ("gauss", "trunc_gauss", "cauchy", "uniform")
# Bounds of trunc_gauss and uniform when none are given (data units), in gen-samples.py and in
# datasets of the original layout that do not record them.
DEFAULT_XLO, DEFAULT_XHI = -1.5, 1.5
