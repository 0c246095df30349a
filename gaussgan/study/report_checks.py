"""What the report accepts from a run directory: the checks between reading a file and using a number.

A run written by train.py passes them all. A run whose config.json, parent or training table holds what
train.py never writes (a missing or absurd dimension, an option outside its kind, text where a number
belongs, a floor that is not a floor) fails with one line naming the file and the field, and the report
skips that run; a damaged verdict.json only loses the run its verdict.
"""

from __future__ import annotations

import math
from pathlib import Path
from reprlib import repr as shown

from gaussgan.errors import UserError
from gaussgan.gan.options import OPTION_COLUMNS, specs
from gaussgan.parents import PARENTS

# The parent's numbers in config.json (distributions.Parent.to_dict writes them all).
PARENT_NUMBERS = ("mu", "xlo", "xhi", "sigma_diag", "sigma_offdiag_max")
# The training table's columns the report reads, besides the calibrated metrics' m_<name>[_floor|_p].
MEASURED = (
    "norm_ks_parent_D",
    "offdiag_std_generated",
    "rejected_raw",
    "rejected_bh",
    "comp_ks_max_D",
    "seconds_total",
)
P_VALUES = ("norm_ks_parent_p",)
# Each floor and the value divided by it: where the value is measured, its floor is a positive number.
FLOORS = {"ks_floor_95": "norm_ks_parent_D", "offdiag_std_parent": "offdiag_std_generated"}
# A floor of 0 is real for one metric: honest samples never fall outside a bounded parent's bounds
# (stats.metrics.support.Outside), so any sample outside them is infinitely far above the floor.
ZERO_FLOOR_METRICS = ("m_outside",)
# And a spread of one number is 0 on both sides: at d = 2 the single off-diagonal correlation has no spread,
# generated or parent (the ratio is then not defined, and shown as n/a).
NO_SPREAD = "offdiag_std_generated"


def _is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_config(config: dict, where: Path) -> None:
    """The options the report shows, by the kinds train.py parses them with; the parent, as
    distributions.Parent.to_dict writes it; the data's fingerprint, when there is one, agreeing with it."""
    options = specs()
    for name in OPTION_COLUMNS:
        kind = options[name].kind
        if kind is not None and not kind.accepts(config.get(name)):
            raise UserError(f"{where}: {name} is {shown(config.get(name))}, expected {kind.expected}")
    parent = config["parent"]  # an object: rundir's record checks say so
    for key in ("dist", "dim", *PARENT_NUMBERS):
        if key not in parent:
            raise UserError(f"{where}: parent has no {shown(key)}; expected the parent train.py records")
    if parent["dist"] not in PARENTS:
        raise UserError(f"{where}: parent.dist is {shown(parent['dist'])}, expected one of {', '.join(PARENTS)}")
    if not _is_integer(parent["dim"]) or parent["dim"] < 1:
        raise UserError(f"{where}: parent.dim is {shown(parent['dim'])}, expected an integer of at least 1")
    for key in PARENT_NUMBERS:
        if not _is_number(parent[key]):
            raise UserError(f"{where}: parent.{key} is {shown(parent[key])}, expected a finite number")
    data = config.get("data")
    if data is None:  # runs recorded before the fingerprint: nothing to compare
        return
    if not isinstance(data, dict):
        raise UserError(f"{where}: data is {shown(data)}, expected an object (the dataset's fingerprint)")
    if "dim" in data and data["dim"] != parent["dim"]:
        raise UserError(
            f"{where}: parent.dim is {shown(parent['dim'])} but data.dim is {shown(data['dim'])}; expected the same dimension"
        )
    if "samples" in data and (not _is_integer(data["samples"]) or data["samples"] < 1):
        raise UserError(f"{where}: data.samples is {shown(data['samples'])}, expected an integer of at least 1")


def read_columns(table) -> list[str]:
    """The columns of a training table that the report turns into numbers."""
    columns = [*MEASURED, *P_VALUES, *FLOORS]
    for name in metric_names(table):
        columns += [name, f"{name}_floor", f"{name}_p"]
    return [column for column in dict.fromkeys(columns) if column in table]


def metric_names(table) -> list[str]:
    """The calibrated metrics of a table: every m_<name> column that has its m_<name>_floor."""
    import re

    return [
        column
        for column in table.columns
        if re.fullmatch(r"m_\w+", str(column))
        and not str(column).endswith(("_floor", "_p", "_ratio"))
        and f"{column}_floor" in table.columns
    ]


def check_table(table, where: Path) -> None:
    """Numbers where the report reads numbers: each finite or missing (not measured that epoch), p-values
    in [0, 1], and a floor wherever its value is measured, a positive finite number."""
    import numpy as np
    import pandas as pd

    epochs = table["epoch"].to_numpy()
    if len(epochs) and epochs.min() < 0:
        raise UserError(f"{where}: epoch {epochs.min()} is negative; expected epochs numbered from 0 or 1")
    for column in read_columns(table):
        numbers = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
        text = np.isnan(numbers) & table[column].notna().to_numpy()
        if text.any() or pd.api.types.is_bool_dtype(table[column]):
            row = int(np.argmax(text)) if text.any() else 0
            raise UserError(f"{where}: {_at(table, column, row, shown(table[column].iloc[row]))}, expected numbers")
        probability = column.endswith("_p") or column in P_VALUES
        wrong = np.isinf(numbers) | (probability & ((numbers < 0) | (numbers > 1)))
        if wrong.any():
            row = int(np.argmax(wrong))
            expected = "a p-value in [0, 1]" if probability else "a finite number"
            raise UserError(f"{where}: {_at(table, column, row, f'{numbers[row]:g}')}, expected {expected} or nothing")
    for floor, value in _floors(table).items():
        floors = table[floor].to_numpy(dtype=float)
        measured = np.isfinite(table[value].to_numpy(dtype=float))
        zero_allowed = value in ZERO_FLOOR_METRICS
        wrong = measured & ~(np.isfinite(floors) & ((floors >= 0) if zero_allowed else (floors > 0)))
        if value == NO_SPREAD:
            wrong &= ~((floors == 0) & (table[value].to_numpy(dtype=float) == 0))
        if wrong.any():
            row = int(np.argmax(wrong))
            found = "missing" if np.isnan(floors[row]) else f"{floors[row]:g}"
            least = "a finite number >= 0" if zero_allowed else "a positive finite number"
            raise UserError(
                f"{where}: {_at(table, floor, row, found)}, where {value} is measured; expected a floor, {least}"
            )


def _floors(table) -> dict[str, str]:
    """Each floor column of the table and the column of the value it divides."""
    pairs = {floor: value for floor, value in FLOORS.items() if floor in table and value in table}
    return pairs | {f"{name}_floor": name for name in metric_names(table)}


def _at(table, column: str, row: int, found: str) -> str:
    return f"{column} is {found} at epoch {table['epoch'].iloc[row]}"


def verdict_problem(verdict: dict) -> str:
    """Why a verdict.json is not one train.py writes ('' when it is)."""
    for key in ("n_star", "max_n", "n_star_min", "n_star_max", "draws"):
        value = verdict.get(key)
        if value is not None and (not _is_integer(value) or value < 1):
            return f"{key} is {shown(value)}, expected an integer of at least 1 or null"
    if verdict.get("reading") is not None and not isinstance(verdict["reading"], str):
        return f"reading is {shown(verdict['reading'])}, expected text"
    results = verdict.get("results", {})
    if not isinstance(results, dict) or not all(isinstance(entries, list) for entries in results.values()):
        return "results is not an object of lists (the metrics judged at each n)"
    return ""
