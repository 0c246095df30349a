"""Frictions from issue 25: what a run prints each epoch, and the losses figure's references."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gaussgan.figures import plots
from gaussgan.gan import outputs

ROW = {
    "epoch": 4,
    "d_loss": 1.3862,
    "g_loss": 0.6931,
    "norm_ks_parent_D": 0.0921,
    "norm_ks_parent_p": 0.000419,
    "ks_floor_95": 0.0432,
    "rejected_raw": 2,
    "rejected_bh": 1,
}


def test_the_epoch_line_names_the_losses_and_shows_the_ks_floor():
    line = outputs.epoch_line(ROW, 10)
    assert "\n" not in line
    assert line.startswith("epoch 4: loss D 1.386 G 0.693  ")
    assert "norm KS 0.092 (floor 0.043)" in line
    assert "norm KS D" not in line  # D is the discriminator's, not the KS statistic
    assert "p 0.000419" in line and "2/10" in line and "BH 1" in line


@pytest.fixture
def closed_figures():
    yield
    plots.close_reused()
    plots.pyplot().close("all")


def reference_levels(figure) -> dict[str, float]:
    """The horizontal reference lines of the losses figure: label -> level."""
    levels = {}
    for line in figure.axes[0].lines:
        y = np.asarray(line.get_ydata(), dtype=float)
        if len(y) == 2 and y[0] == y[1] and "optimal discriminator" in line.get_label():
            levels[line.get_label()] = float(y[0])
    return levels


def test_the_losses_figure_of_a_vanilla_gan_shows_the_optimal_discriminator_s_losses(closed_figures):
    steps = np.arange(1, 301) / 10
    noise = np.random.default_rng(0).normal(0, 0.05, len(steps))
    vanilla = reference_levels(plots.losses_figure(steps, 1.4 + noise, steps, 0.7 + noise, rule="vanilla"))
    assert sorted(vanilla.values()) == pytest.approx([math.log(2), 2 * math.log(2)])
    (d_label,) = [label for label, level in vanilla.items() if level == pytest.approx(2 * math.log(2))]
    (g_label,) = [label for label, level in vanilla.items() if level == pytest.approx(math.log(2))]
    assert "discriminator loss" in d_label and "2 ln 2" in d_label
    assert "generator loss" in g_label and "ln 2" in g_label
    wgan = plots.losses_figure(steps, -0.1 + noise, steps, 0.2 + noise, rule="wgan-gp")
    assert reference_levels(wgan) == {}
    assert not any("ln 2" in line.get_label() for line in wgan.axes[0].lines)


def losses_job(directory, rule):
    """The losses job of history_figures for a fresh run's state (real networks, a few recorded losses)."""
    import torch

    from gaussgan.gan.checkpoint import build_state
    from gaussgan.gan.options import TrainConfig

    state = build_state(TrainConfig(dataset="x", latent_dim=4, scale=0.1, seed=1).with_seed(1), 3, torch.device("cpu"))
    state.d_losses, state.d_epoch = [1.5, 1.4, 1.39], [0.3, 0.6, 1.0]
    state.g_losses, state.g_epoch = [0.8, 0.7, 0.69], [0.3, 0.6, 1.0]
    rows = [{**ROW, "epoch": 0, "norm_ks_train_p": 0.01}]
    jobs = outputs.history_figures(directory, state, rows, 3, rule)
    (job,) = [job for job in jobs if job[0] is plots.losses]
    return job


@pytest.mark.parametrize("rule", ["vanilla", "wgan-gp"])
def test_history_figures_pass_the_run_s_rule_to_the_losses_figure(tmp_path, closed_figures, rule):
    from gaussgan.gan.rundir import RunDirectory

    directory = RunDirectory(tmp_path / "run")
    directory.path.mkdir()
    function, arguments = losses_job(directory, rule)
    assert arguments[-1] == rule
    function(*arguments)  # as the figure worker calls it
    assert (tmp_path / "run" / "training_model_losses.png").read_bytes().startswith(b"\x89PNG")
