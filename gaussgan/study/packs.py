"""Which runs of a sweep train together: runs that differ by their seed only, in packs of at most ``--pack``.

Runs trained together (:mod:`gaussgan.gan.packed`) share every option but the seed, so that the command
each records (``train.py ... --seed 1 2 3``) makes the whole pack again, with the same run names.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import replace

from gaussgan.gan.options import TrainConfig, train_command
from gaussgan.gan.packed import pack_key
from gaussgan.study.plan import PlannedRun


def shared_postfix(config: TrainConfig) -> str | None:
    """The postfix without its ``seedS`` tag, the part runs of one pack share; None when it has no such tag."""
    tag = f"seed{config.seed}"
    if config.postfix == tag:
        return ""
    if config.postfix.endswith("_" + tag):
        return config.postfix[: -len(tag) - 1]
    return None


def make_packs(runs: list[PlannedRun], alone: set[str], size: int, workers: int = 1) -> list[list[PlannedRun]]:
    """``runs`` in packs of at most ``size`` runs that differ by their seed only, as even as can be, and at
    least as many packs as ``workers`` where the runs allow it (a worker left idle costs more than a smaller
    pack); the runs named in ``alone`` (to be judged again), and every run when ``size`` is 1, alone."""
    groups: dict[object, list[PlannedRun]] = {}
    for run in runs:
        prefix = shared_postfix(run.config)
        if run.name in alone or size == 1 or prefix is None:
            groups[run.name] = [run]
            continue
        shared = (prefix, tuple(sorted((name, repr(value)) for name, value in pack_key(run.config).items())))
        groups.setdefault(shared, []).append(run)
    counts = {key: math.ceil(len(group) / size) for key, group in groups.items()}
    while sum(counts.values()) < workers:
        # One more pack for the group whose packs are largest, if it has runs to spare.
        largest = max(counts, key=lambda key: len(groups[key]) / counts[key])
        if len(groups[largest]) <= counts[largest]:
            break
        counts[largest] += 1
    return [group[index :: counts[key]] for key, group in groups.items() for index in range(counts[key])]


def pack_command(configs: list[TrainConfig]) -> str:
    """The train.py command that trains these runs together again (one run: its own command)."""
    if len(configs) == 1:
        return train_command(configs[0])
    prefix = shared_postfix(configs[0])
    words = shlex.split(train_command(replace(configs[0], postfix=prefix or "")))
    at = words.index("--seed")
    words[at + 1 : at + 2] = [str(config.seed) for config in configs]
    return shlex.join(words)
