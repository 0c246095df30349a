"""The run directory: its name, config.json, training_details.csv, models and checkpoint.

    runs/<dist>_dim<d>_<latent_dim>_<latent_sigma>_<van|wass>[_<postfix>]/
        config.json  training_details.csv  checkpoint.pth.tar  test_corr.png
        training_model_losses.png  training_pvalues.png
        models/generator.pth.tar  models/discriminator.pth.tar
        samples/{comp_hist,corr,rhist,ks}_epochNNNNN.png

Every file is written atomically, and every checkpoint is read with ``weights_only=True``
so that loading a file from someone else can never run their code.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from gaussgan.errors import UserError
from gaussgan.files import atomic_path, check_writable_dir, load_torch_file, save_torch_file

CONFIG, CSV, CHECKPOINT = "config.json", "training_details.csv", "checkpoint.pth.tar"
GENERATOR, DISCRIMINATOR = "models/generator.pth.tar", "models/discriminator.pth.tar"


def run_name(dist: str, dim: int, latent_dim: int, latent_sigma: float, wasserstein: bool, postfix: str = "") -> str:
    """e.g. ``gauss_dim10_100_0.1_van``; the postfix, when given, after an underscore."""
    name = f"{dist}_dim{dim}_{latent_dim}_{latent_sigma:g}_{'wass' if wasserstein else 'van'}"
    return f"{name}_{postfix.lstrip('_')}" if postfix else name


class RunDirectory:
    """One training run's folder on disk."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.path)

    def file(self, name: str) -> Path:
        return self.path / name

    def figure(self, kind: str, epoch: int) -> Path:
        return self.path / "samples" / f"{kind}_epoch{epoch:05d}.png"

    def exists(self) -> bool:
        return self.file(CONFIG).exists()

    def prepare(self, force: bool, resume: bool) -> None:
        """Check the run can be written, and make its folders; call only once the input is valid."""
        check_writable_dir(self.path.parent, "runs directory")
        if resume:
            if not self.exists():
                raise UserError(f"--resume: there is no run to resume in {self.path} (no {CONFIG}); "
                                "expected the same options as the run you want to continue")
        elif self.exists() or (self.path.exists() and any(self.path.iterdir())):
            if not force:
                raise UserError(f"run {self.path} exists already; use --resume to continue it or --force to replace it")
            shutil.rmtree(self.path)
        (self.path / "models").mkdir(parents=True, exist_ok=True)
        (self.path / "samples").mkdir(exist_ok=True)

    def write_config(self, config: dict) -> None:
        with atomic_path(self.file(CONFIG)) as temporary:
            temporary.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")

    def read_config(self) -> dict:
        try:
            return json.loads(self.file(CONFIG).read_text())
        except (OSError, ValueError) as error:
            raise UserError(f"cannot read {self.file(CONFIG)}: {error}") from None

    def write_csv(self, rows: list[dict]) -> None:
        """The whole table, rewritten atomically each epoch (a few hundred rows: cheap, never torn)."""
        import pandas as pd

        with atomic_path(self.file(CSV)) as temporary:
            pd.DataFrame(rows).to_csv(temporary, index=False, float_format="%.6g")

    def read_csv(self) -> list[dict]:
        import pandas as pd

        if not self.file(CSV).exists():
            return []
        return pd.read_csv(self.file(CSV)).to_dict("records")

    def save_checkpoint(self, state: dict) -> None:
        save_torch_file(state, self.file(CHECKPOINT))

    def load_checkpoint(self) -> dict | None:
        if not self.file(CHECKPOINT).exists():
            return None
        return load_torch_file(self.file(CHECKPOINT), "checkpoint")
