"""``train.py --tensorboard``: every CSV column as a TensorBoard scalar, the run's figures as images, read back
from the event file with TensorBoard's own reader; and a clean error when the package is not installed."""

from __future__ import annotations

import math
import os

import pandas as pd
import pytest
from helpers import assert_clean_error, run_script, snapshot

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator", reason="the tensorboard extra is not installed"
)

EPOCHS = 3
TRAIN = ("-f", "datasets/data_gauss_dim2.h5", "-n", str(EPOCHS), "-c", "0.1", "--n-eval", "50")
TRAIN += ("--max-n", "1000", "--null-repeats", "250", "--seed", "1", "-q", "--tensorboard")
RUN = "runs/gauss_dim2_100_1_van"
FIGURES = ("training_metrics", "training_pvalues", "training_model_losses", "test_corr")


def make_dataset(folder) -> None:
    made = run_script("gen-samples.py", "-n", "50", "-b", "2", "-d", "2", "--seed", "1", "-q", cwd=folder)
    assert made.returncode == 0, made.stderr


def test_every_csv_column_and_the_run_figures_are_in_the_event_file(workdir):
    make_dataset(workdir)
    trained = run_script("train.py", *TRAIN, cwd=workdir)
    assert trained.returncode == 0, trained.stderr
    run = workdir / RUN
    assert [path.name.startswith("events.out.tfevents.") for path in (run / "tensorboard").iterdir()] == [True]

    events = event_accumulator.EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    table = pd.read_csv(run / "training_details.csv")
    assert table["epoch"].tolist() == list(range(EPOCHS))
    columns = [name for name in table.columns if name != "epoch"]
    assert {"d_loss", "norm_ks_parent_D", "rejected_raw", "m_components", "m_mmd_p", "lr", "seconds_total"} <= set(
        columns
    )
    assert set(events.Tags()["scalars"]) == set(columns)
    for name in columns:
        # One value per epoch at step = epoch; a costly metric only at the epochs it was computed (NaN elsewhere).
        expected = [(int(epoch), value) for epoch, value in zip(table["epoch"], table[name], strict=True)]
        expected = [(epoch, value) for epoch, value in expected if math.isfinite(value)]
        logged = [(event.step, event.value) for event in events.Scalars(name)]
        assert [step for step, _ in logged] == [epoch for epoch, _ in expected], name
        for (_, value), (epoch, csv_value) in zip(logged, expected, strict=True):
            # The CSV keeps 6 significant digits (a relative error up to 5e-6), the event file a float32.
            assert math.isclose(value, csv_value, rel_tol=1e-5, abs_tol=1e-30), (name, epoch, value, csv_value)
    assert len(events.Scalars("m_mmd")) == 1  # computed at epoch 0 only (every --eval-every 5)

    from matplotlib import image

    assert set(events.Tags()["images"]) == set(FIGURES)
    for name in FIGURES:
        (logged,) = events.Images(name)  # once, when the run ends
        height, width = image.imread(run / f"{name}.png").shape[:2]
        assert (logged.step, logged.width, logged.height) == (EPOCHS - 1, width, height), name


def test_without_the_package_it_is_one_error_and_nothing_written(workdir, tmp_path_factory):
    make_dataset(workdir)
    hidden = tmp_path_factory.mktemp("hide") / "tensorboard"
    hidden.mkdir()
    (hidden / "__init__.py").write_text("raise ImportError(\"No module named 'tensorboard' (hidden by the test)\")\n")
    path = os.pathsep.join(filter(None, [str(hidden.parent), os.environ.get("PYTHONPATH")]))
    before = snapshot(workdir)

    result = run_script("train.py", *TRAIN, cwd=workdir, env={"PYTHONPATH": path})

    assert_clean_error(result, "--tensorboard", "tensorboard package", "pip install")
    assert result.stderr.strip().splitlines() == [result.stderr.strip()], result.stderr  # one line, no seed
    assert result.stdout == ""
    assert snapshot(workdir) == before and not (workdir / "runs").exists()
