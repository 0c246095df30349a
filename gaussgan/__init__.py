"""gaussgan: how well does a GAN learn a distribution that is known exactly?

Kept import-light on purpose: `--help` must answer in well under a second, so the
heavy modules (torch, scipy, matplotlib, h5py) are imported where they are used.
"""

from gaussgan._version import __version__
from gaussgan.errors import UserError

__all__ = ["__version__", "UserError"]
