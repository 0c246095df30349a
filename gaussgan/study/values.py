"""A study file's values: its TOML read with the nesting bounded, the values of a [grid] option (a value, a list,
or an evenly spaced range) checked, and the number of runs a study makes bounded before any is planned.

Every problem is a one-line :class:`UserError` naming the key; nothing here builds more than the values
themselves, and a range's count is checked before its array is made.
"""

from __future__ import annotations

import math
from typing import Any

from gaussgan import cli
from gaussgan.errors import UserError
from gaussgan.gan.options import GRID_OPTIONS

# The most runs a study may make (datasets x grid points x seeds), counted before any is planned: beyond it a
# study is a typo or belongs in several studies (docs/studies.md).
MAX_RUNS = 100_000
# The deepest a study's values nest, in lists and tables below the file's top level: sigma in
# [[datasets.generate]] is 4 deep ([datasets], generate, its table, the list); one more is tolerated.
MAX_NESTING = 5


def toml_reader():
    """Python's tomllib (3.11+); on 3.10 the tomli package, its origin, when it is installed."""
    try:
        import tomllib

        return tomllib
    except ImportError:
        try:
            import tomli

            return tomli
        except ImportError:
            raise UserError(
                "study files need Python 3.11 or later (tomllib), or the tomli package on Python 3.10 "
                "(pip install tomli)"
            ) from None


class NotToml(UserError):
    """Text that is not TOML at all (a ``--set`` value may be a bare word instead)."""


def parse_toml(text: str, where: str) -> dict:
    """A TOML document, its values checked to nest at most :data:`MAX_NESTING` deep (tomllib's parser recurses
    once per level: a file nested thousands deep is an error line here, not a RecursionError)."""
    tomllib = toml_reader()
    try:
        content = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise NotToml(f"{where} is not valid TOML: {error}") from None
    except RecursionError:
        raise UserError(
            f"{where} nests lists or tables too deeply to read; expected a study's values: a value, a list, or "
            f"{{log = [start, stop, count]}} (at most {MAX_NESTING} deep)"
        ) from None
    check_nesting(content, where)
    return content


def check_nesting(content: dict, where: str) -> None:
    """Every value at most :data:`MAX_NESTING` lists or tables below the top level; walked without recursion."""
    pending: list[tuple[Any, int, str]] = [(content, 0, "")]
    while pending:
        value, depth, key = pending.pop()
        if depth > MAX_NESTING:
            raise UserError(
                f"{where}: {key} nests lists or tables more than {MAX_NESTING} deep; expected a study's values: a "
                "value, a list, or {log = [start, stop, count]}"
            )
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for name, item in items:
            if isinstance(item, (dict, list)):  # named by its table and key, as the other messages name them
                pending.append((item, depth + 1, str(name) if depth == 0 else f"[{key}] {name}" if depth == 1 else key))


def check_count(grid: dict[str, list], datasets: int, seeds: list, where: str, extra: list | None = None) -> None:
    """Refuse a study of more than :data:`MAX_RUNS` runs, counted by multiplying, before any run is planned
    (``extra``: the grids of its slices, counted on every dataset: an upper bound)."""
    points = sum(math.prod(len(values) for values in each.values()) for each in [grid, *(extra or [])])
    runs = datasets * points * len(seeds)
    if runs > MAX_RUNS:
        raise UserError(
            f"{where}: the study makes {runs:,} runs ({datasets:,} datasets x {points:,} grid points x "
            f"{len(seeds):,} seeds); expected at most {MAX_RUNS:,}: fewer values, or several studies"
        )


def check_list(values: list, test, expected: str, where: str, key: str) -> None:
    if not values:
        raise UserError(f"{where}: {key} is an empty list: the study would have no runs; expected {expected}")
    for value in values:
        if not test(value):
            raise UserError(f"{where}: {key}: expected {expected} (or a list of them), got {value!r}")


def grid_values(key: str, value, where: str) -> list:
    """The values of one [grid] option, as a list: a value, a list, or {log|linear = [start, stop, count]}."""
    kind = GRID_OPTIONS[key]
    if isinstance(value, dict):
        value = spaced(key, value, where)
    values = value if isinstance(value, list) else [value]
    check_list(values, kind.accepts, kind.expected, where, f"[grid] {key}")
    if kind.convert is float:  # a grid's integers (lr = 1) become floats, as train.py would parse them
        values = [float(number) for number in values]
    if len(set(map(repr, values))) != len(values):
        raise UserError(f"{where}: [grid] {key} = {values} repeats a value; expected each value once")
    return values


def spaced(key: str, table: dict, where: str) -> list:
    """{log = [start, stop, count]} or {linear = [...]}: evenly spaced values; integers rounded, repeats dropped."""
    import numpy as np

    if len(table) != 1 or next(iter(table)) not in ("log", "linear"):
        raise UserError(
            f"{where}: [grid] {key} = {table!r}; expected a value, a list, or {{log = [start, stop, count]}} "
            "or {linear = [start, stop, count]}"
        )
    spacing, bounds = next(iter(table.items()))
    if (
        not isinstance(bounds, list)
        or len(bounds) != 3
        or not all(cli.positive_float.accepts(number) for number in bounds[:2])
        or not cli.positive_int.accepts(bounds[2])
    ):
        raise UserError(
            f"{where}: [grid] {key} {spacing} = {bounds!r}; expected [start, stop, count]: two positive numbers "
            "and a positive integer"
        )
    start, stop, count = bounds
    # Counted before any array is made: a count of 10^9 is 8 GB of points.
    if count > MAX_RUNS:
        raise UserError(
            f"{where}: [grid] {key} {spacing} = {bounds!r} makes {count:,} values; a study makes at most "
            f"{MAX_RUNS:,} runs: expected fewer values, or several studies"
        )
    integers = GRID_OPTIONS[key].convert is int
    if integers and count > int(stop) - int(math.ceil(start)) + 1:
        raise UserError(
            f"{where}: [grid] {key} {spacing} = {bounds!r}: there are not {count} integers between {start} and {stop}"
        )
    points = np.geomspace(start, stop, count) if spacing == "log" else np.linspace(start, stop, count)
    if not integers:
        return [float(f"{point:.4g}") for point in points]
    # count distinct integers, as evenly spaced as integers allow: where rounding would repeat a value
    # (the low end of a log scale), the next integer.
    values: list[int] = []
    for point in points:
        values.append(max(int(round(point)), values[-1] + 1 if values else 1))
    return values
