"""``train.py --tensorboard``: every column of training_details.csv as TensorBoard scalars, and the
run's figures as images at the end, in RUN/tensorboard/ (``tensorboard --logdir runs``)."""

from __future__ import annotations

import math

from gaussgan.errors import UserError
from gaussgan.gan.rundir import TENSORBOARD, RunDirectory
from gaussgan.gan.rundir import WHOLE_RUN_FIGURES as FIGURES

# The figures logged when the run ends: the run-level ones (the per-epoch figures stay PNG files).


def check_available() -> None:
    """Refuse ``--tensorboard`` at once, before any work, when the package is not installed."""
    try:
        import tensorboard  # noqa: F401
        from torch.utils import tensorboard as _  # noqa: F401
    except ImportError:
        raise UserError(
            "--tensorboard needs the tensorboard package: pip install 'tensorboard>=2.14' "
            "(or the project's extra: pip install '.[tensorboard]')"
        ) from None


class TensorBoard:
    """An event-file writer for one run; a context manager that closes the file."""

    def __init__(self, run: RunDirectory):
        from torch.utils.tensorboard import SummaryWriter

        folder = self.folder = run.folder(TENSORBOARD)  # a real folder inside the run, never a link out of it
        try:
            self.writer = SummaryWriter(log_dir=str(folder))
        except OSError as error:
            raise UserError(f"cannot write the TensorBoard log in {folder}: {error.strerror or error}") from None

    def add_row(self, row: dict) -> None:
        """One epoch: every numeric column as a scalar at step ``row['epoch']``."""
        step = int(row["epoch"])
        for name, value in row.items():
            if name != "epoch" and isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(name, value, step)
        self.writer.flush()

    def add_figures(self, run: RunDirectory, step: int) -> None:
        """The run-level figures as images (read back from their PNG files, inside the run: never through a link)."""
        from matplotlib import image

        for name in FIGURES:
            path = run.file(name)
            if path.is_file():
                self.writer.add_image(name.removesuffix(".png"), image.imread(path)[..., :3], step, dataformats="HWC")
        self.writer.flush()

    def __enter__(self) -> TensorBoard:
        return self

    def __exit__(self, *exc) -> None:
        self.writer.close()
