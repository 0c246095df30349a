"""Learning-rate schedules: the factor that multiplies ``--lr`` at each point of a run.

A pure function of the run's progress (0 at the first step, 1 at the last), so nothing needs to
be checkpointed: a resumed run recomputes the same learning rate from its epoch and batch.
"""

from __future__ import annotations

import math

SCHEDULES = ("constant", "linear", "cosine")


def lr_factor(schedule: str, progress: float, floor: float = 0.0, warmup: float = 0.0) -> float:
    """The learning rate's multiplier at ``progress`` in [0, 1].

    ``floor``: the multiplier the decay ends at (linear, cosine). ``warmup``: the share of the run
    over which the multiplier first rises linearly from near 0 (any schedule), which keeps Adam's
    first steps, taken with poor moment estimates, small.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}")
    progress = min(max(progress, 0.0), 1.0)
    if schedule == "constant":
        decayed = 1.0
    elif schedule == "linear":
        decayed = 1.0 - (1.0 - floor) * progress
    else:
        decayed = floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if warmup > 0 and progress < warmup:
        return decayed * (progress + 1e-3) / (warmup + 1e-3)
    return decayed
