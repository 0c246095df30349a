"""The one way to choose a run's seed and show it.

A seed given with ``--seed`` is used as it is; without one, a seed is drawn from the operating
system's entropy. Either way it is shown as ``seed N`` on stderr: stdout may carry data (the
PoC's ``generate`` prints samples there), and the line lets any run be repeated exactly.

Seeds lie in [0, 2**63), the range ``--seed`` accepts (:func:`gaussgan.cli.seed_value`): every
value there is a valid ``numpy.random.SeedSequence`` entropy and ``torch.Generator.manual_seed``
argument, and fits the signed 64-bit integers that HDF5 attributes and JSON readers expect.
"""

from __future__ import annotations

import secrets
import sys

SEED_BITS = 63


def choose_seed(seed: int | None) -> int:
    """``seed``, or a fresh one drawn when it is None; announced as ``seed N`` on stderr."""
    if seed is None:
        seed = secrets.randbits(SEED_BITS)
    elif not 0 <= seed < 2**SEED_BITS:
        raise ValueError(f"seed {seed} is outside [0, 2**{SEED_BITS})")
    print(f"seed {seed}", file=sys.stderr, flush=True)
    return seed
