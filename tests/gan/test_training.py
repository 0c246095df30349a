"""The training loop's pieces, in process: batches, resume checks, BatchNorm recalibration."""

import signal

import numpy as np
import pytest
import torch

from gaussgan.gan.checkpoint import build_state
from gaussgan.gan.models import EMA, Generator, recalibrate_batch_norm
from gaussgan.gan.options import RULE_DEFAULTS, TrainConfig, hyperparameter_changes
from gaussgan.gan.packed import Pack
from gaussgan.gan.training import train_steps
from gaussgan.system import interrupt
from gaussgan.system.interrupt import GracefulStop, Terminated


class Count:
    def __init__(self):
        self.n = 0

    def update(self, k):
        self.n += k


def parameters(module):
    return [p.detach().clone() for p in module.parameters()]


def test_every_batch_trains_including_a_last_smaller_one():
    config = TrainConfig(dataset="x", latent_dim=4, epochs=1, batch_size=64, scale=0.1, seed=3).with_seed(3)
    state = build_state(config, dim=2, device=torch.device("cpu"))
    data = torch.randn(70, 2)  # batches of 64 and 6
    before_g, before_d = parameters(state.generator), parameters(state.discriminator)
    progress = Count()
    with GracefulStop() as stop:
        train_steps(Pack([state], [config]), data, stop, progress)
    assert progress.n == 2 and len(state.d_losses) == 2 and len(state.g_losses) == 2
    assert state.epoch == 1 and state.permutation is None
    assert all(not torch.equal(a, b) for a, b in zip(before_g, parameters(state.generator), strict=True))
    assert all(not torch.equal(a, b) for a, b in zip(before_d, parameters(state.discriminator), strict=True))
    assert all(np.isfinite(state.d_losses + state.g_losses))


def test_critic_steps_per_generator_step():
    config = TrainConfig(dataset="x", latent_dim=4, rule="wgan-gp", batch_size=10, scale=0.1, seed=1).with_seed(1)
    assert config.critic_steps == 5
    state = build_state(config, dim=3, device=torch.device("cpu"))
    with GracefulStop() as stop:
        train_steps(Pack([state], [config]), torch.randn(100, 3), stop, Count())
    assert len(state.d_losses) == 10 and len(state.g_losses) == 2  # counted over the run: steps 5 and 10


def test_resume_refuses_changed_hyperparameters_only():
    saved = TrainConfig(dataset="d.h5", epochs=10, seed=4).with_seed(4).__dict__
    same_but_longer = TrainConfig(dataset="d.h5", epochs=50, device="cpu", quiet=True).with_seed(4)
    assert hyperparameter_changes(saved, same_but_longer) == []
    changed = TrainConfig(dataset="d.h5", lr=1e-3, batch_size=32).with_seed(4)
    differences = hyperparameter_changes(saved, changed)
    assert len(differences) == 2 and any("batch_size: 64 -> 32" in d for d in differences)


def test_recalibrated_batch_norm_matches_batch_statistics():
    torch.manual_seed(0)
    generator = Generator(5, 3, [16, 16], batch_norm=True)
    ema = EMA(generator, 0.9)
    rng = torch.Generator().manual_seed(1)
    latent = lambda n: torch.randn(n, 5, generator=rng)
    recalibrate_batch_norm(ema.model, latent, batches=20, batch_size=2000)
    z = latent(20000)
    with torch.no_grad():
        in_eval = ema.model.eval()(z)
        with_batch_stats = ema.model.train()(z)
    ema.model.eval()
    assert torch.allclose(in_eval.std(0), with_batch_stats.std(0), rtol=0.03)
    assert torch.allclose(in_eval.mean(0), with_batch_stats.mean(0), atol=0.03)


def test_a_left_over_single_sample_joins_the_batch_before_it():
    from gaussgan.gan.start import batch_bounds

    assert batch_bounds(129, 64) == [(0, 64), (64, 129)]
    assert batch_bounds(130, 64) == [(0, 64), (64, 128), (128, 130)]
    assert batch_bounds(1, 64) == [(0, 1)]
    config = TrainConfig(dataset="x", latent_dim=4, batch_size=64, scale=0.1, seed=3).with_seed(3)
    state = build_state(config, dim=2, device=torch.device("cpu"))  # BatchNorm generator
    with GracefulStop() as stop:
        train_steps(Pack([state], [config]), torch.randn(65, 2), stop, Count())  # 64 + 1 would fail BatchNorm
    assert len(state.d_losses) == 1


def test_generator_trains_when_an_epoch_is_shorter_than_critic_steps():
    config = TrainConfig(dataset="x", latent_dim=4, rule="wgan-gp", batch_size=64, scale=0.1, seed=1).with_seed(1)
    state = build_state(config, dim=3, device=torch.device("cpu"))
    with GracefulStop() as stop:
        for _ in range(5):  # 4 batches per epoch, 5 critic steps per generator step
            train_steps(Pack([state], [config]), torch.randn(200, 3), stop, Count())
    assert len(state.d_losses) == 20 and len(state.g_losses) == 4


def test_resume_command_drops_force():
    from gaussgan.gan.start import resume_command

    config = TrainConfig(dataset="x", command="python train.py -f 'a b.h5' --force -n 5")
    assert resume_command(config) == "python train.py -f 'a b.h5' -n 5 --resume"


def test_expected_shapes_are_those_of_the_networks():
    from gaussgan.gan.models import Discriminator, discriminator_shapes, generator_shapes

    for batch_norm in (True, False):
        generator = Generator(4, 3, [5, 6, 7], batch_norm=batch_norm)
        assert generator_shapes(generator.spec()) == {k: tuple(v.shape) for k, v in generator.state_dict().items()}
    discriminator = Discriminator(3, [5, 6])
    assert discriminator_shapes(discriminator.spec()) == {
        k: tuple(v.shape) for k, v in discriminator.state_dict().items()
    }


def test_the_memory_estimate_is_small_for_the_defaults_and_grows_with_the_options():
    from gaussgan.gan.start import memory_estimate

    default = memory_estimate(TrainConfig(dataset="x"), n_samples=100_000, dim=10)
    assert default < 200 * 2**20
    assert memory_estimate(TrainConfig(dataset="x", n_eval=10**8), 100_000, 10) > 100 * default
    assert memory_estimate(TrainConfig(dataset="x", scale=100.0), 100_000, 10) > 100 * default


def test_a_diverged_state_is_named_before_anything_is_saved():
    from gaussgan.gan.training import divergence

    config = TrainConfig(dataset="x", latent_dim=4, batch_size=8, scale=0.1, seed=3).with_seed(3)
    state = build_state(config, dim=2, device=torch.device("cpu"))
    assert divergence(state, 0, 0) == ""
    state.g_losses.append(float("nan"))
    assert divergence(state, 0, 0) == "the generator loss" and divergence(state, 0, 1) == ""
    with torch.no_grad():
        next(state.discriminator.parameters()).fill_(float("inf"))
    assert divergence(state, 0, 1) == "the discriminator's weights"


def test_d_lr_ratio_sets_the_discriminators_learning_rate_at_every_step():
    config = TrainConfig(
        dataset="x", latent_dim=4, epochs=2, batch_size=10, scale=0.1, lr=1e-3, d_lr_ratio=4.0, lr_schedule="linear"
    ).with_seed(2)
    assert config.r1_weight == RULE_DEFAULTS["vanilla"]["r1_weight"]  # the rule's default fills in what was not given
    state = build_state(config, dim=3, device=torch.device("cpu"))
    with GracefulStop() as stop:
        train_steps(Pack([state], [config]), torch.randn(100, 3), stop, Count())
    lr_d, lr_g = state.optimizer_d.param_groups[0]["lr"], state.optimizer_g.param_groups[0]["lr"]
    assert 0 < lr_g < 1e-3 and lr_d == 4.0 * lr_g  # decayed, and the ratio kept


def test_the_mixture_starts_at_its_share_of_the_run_and_never_moves_back():
    config = TrainConfig(dataset="x.h5")
    assert config.mixture == 0.5 and config.mixture_start() == 40  # epochs 40 to 79 of 80
    assert TrainConfig(dataset="x.h5", epochs=15).mixture_start() == 7  # ceil(7.5) = 8 epochs: 7 to 14
    assert TrainConfig(dataset="x.h5", epochs=15, mixture=0).mixture_start() == 14  # the last epoch alone
    assert TrainConfig(dataset="x.h5", epochs=15, mixture=1).mixture_start() == 0
    assert TrainConfig(dataset="x.h5", epochs=100, mixture=0.07).mixture_start() == 93  # 0.07 x 100 = 7.000000000000001
    for share in (0.0, 0.3, 0.5, 0.77, 1.0):  # extending a run (resume, larger -n) never needs a dropped epoch
        starts = [TrainConfig(dataset="x.h5", epochs=n, mixture=share).mixture_start() for n in range(1, 200)]
        assert starts == sorted(starts) and all(0 <= start < n for n, start in zip(range(1, 200), starts, strict=True))


def test_snapshots_keep_the_averaged_generator_of_the_mixtures_epochs_only():
    config = TrainConfig(dataset="x.h5", epochs=6, seed=1, latent_dim=4, batch_size=8)
    state = build_state(config, 2, torch.device("cpu"))
    data = torch.randn(16, 2)
    kept = []
    for _ in range(6):
        train_steps(Pack([state], [config]), data, GracefulStop(), Count())
        state.take_snapshot(config)
        kept.append([snapshot["epoch"] for snapshot in state.snapshots])
    assert kept == [[], [], [], [3], [3, 4], [3, 4, 5]]
    last = state.snapshots[-1]["state_dict"]
    assert all(torch.equal(last[name], value) for name, value in state.ema.model.state_dict().items())
    longer = TrainConfig(dataset="x.h5", epochs=8, seed=1, latent_dim=4, batch_size=8)  # resumed with -n 8
    train_steps(Pack([state], [longer]), data, GracefulStop(), Count())
    state.take_snapshot(longer)
    assert [snapshot["epoch"] for snapshot in state.snapshots] == [4, 5, 6]


def test_a_mixture_draws_sample_i_from_member_i_mod_k():
    from gaussgan.gan.models import GeneratorMixture

    members = []
    for value in (1.0, 2.0, 3.0):
        member = Generator(4, 2, [5], batch_norm=True)
        with torch.no_grad():
            for parameter in member.parameters():
                parameter.zero_()
            member.net[-1].bias.fill_(value)  # a constant output: the member's number
        members.append(member.eval())
    mixture = GeneratorMixture(members).eval()
    with torch.no_grad():
        out = mixture(torch.randn(7, 4))
        assert out[:, 0].tolist() == [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0]
        assert mixture(torch.randn(2, 4))[:, 1].tolist() == [1.0, 2.0]  # fewer samples than members


def test_a_record_from_before_an_option_existed_reads_with_what_training_did_then():
    from dataclasses import asdict

    from gaussgan.gan.options import ADDED_LATER
    from gaussgan.gan.rundir import check_record, record_problems

    current = TrainConfig(dataset="x.h5", seed=1)
    old = {name: value for name, value in asdict(current).items() if name not in ADDED_LATER} | {
        "parent": {},
        "gaussgan": "0.1.0",
    }
    assert record_problems(old) == []
    read = check_record(old, "config.json")
    assert (read["mixture"], read["d_lr_ratio"], read["r1_weight"], read["lr_schedule"]) == (0.0, 1.0, 0.0, "constant")
    # A resume with today's defaults says what differs instead of calling the run foreign.
    assert "mixture: 0.0 -> 0.5" in hyperparameter_changes(read, current)


def test_a_stop_during_an_epochs_last_batch_completes_the_epoch():
    # One batch per epoch: the stop is seen after it, and the checkpoint must not be "in epoch 0 at batch 1".
    config = TrainConfig(dataset="x.h5", epochs=3, seed=1, latent_dim=4, batch_size=8)
    state = build_state(config, 2, torch.device("cpu"))
    stop = GracefulStop()
    stop.requested = signal.SIGTERM
    train_steps(Pack([state], [config]), torch.randn(8, 2), stop, Count())
    assert (state.epoch, state.step, state.permutation) == (1, 0, None)


@pytest.mark.parametrize("signum, exception", [(signal.SIGTERM, Terminated), (signal.SIGINT, KeyboardInterrupt)])
def test_a_stop_whose_exception_was_swallowed_still_stops_at_the_next_check(monkeypatch, signum, exception):
    # Seen: SIGTERM during a run's start-up raised Terminated inside numpy's lazy import of numpy.random,
    # which lost it, and the run trained on for 1,000 epochs.
    monkeypatch.setattr(interrupt, "received", None)
    with GracefulStop() as stop:
        assert stop.requested is None  # nothing received: nothing to honour
    previous = signal.signal(signum, interrupt.raise_for_signal)
    try:
        try:
            signal.raise_signal(signum)
        except exception:
            pass  # swallowed where it landed
        with GracefulStop() as stop, pytest.raises(exception):
            stop.raise_if_requested()
    finally:
        signal.signal(signum, previous)


def test_a_signal_that_lands_while_the_handlers_go_in_is_kept(monkeypatch):
    # Seen in CI: Ctrl-C right after gen-samples printed its seed, and the run went on to exit 0. The
    # signal reached the new handler inside __enter__, whose next line then reset the flag.
    monkeypatch.setattr(interrupt, "received", None)
    install, sent = signal.signal, []

    def install_then_signal(signum, handler):
        previous = install(signum, handler)
        if signum == signal.SIGTERM and not sent:  # the last handler in, on the way in
            sent.append(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)
        return previous

    monkeypatch.setattr(signal, "signal", install_then_signal)
    with GracefulStop() as stop:
        assert stop.requested == signal.SIGINT
    with pytest.raises(KeyboardInterrupt):
        stop.raise_if_requested()


@pytest.mark.parametrize("rule", ["vanilla", "wgan-gp"])
def test_runs_trained_together_end_where_each_alone_would(rule):
    """A pack of runs with their own seeds, learning rates and penalty weights: each run's networks, moving
    average, optimiser state and losses after two passes are those of the run trained alone, up to the
    rounding of batched against plain matrix products, which Adam's normalised step can turn into a
    difference of up to a step's size (the learning rate) where a gradient component is near zero."""
    data = torch.randn(200, 3)
    configs = [
        TrainConfig(dataset="x", rule=rule, latent_dim=4, scale=0.25, epochs=2, batch_size=32, seed=1),
        TrainConfig(dataset="x", rule=rule, latent_dim=4, scale=0.25, epochs=2, batch_size=32, seed=2, lr=2e-4,
                    gp_weight=3.0, r1_weight=1.0, d_lr_ratio=2.0),
        TrainConfig(dataset="x", rule=rule, latent_dim=4, scale=0.25, epochs=2, batch_size=32, seed=3, lr=2e-4),
    ]  # fmt: skip
    together = [build_state(config, 3, torch.device("cpu")) for config in configs]
    alone = [build_state(config, 3, torch.device("cpu")) for config in configs]
    for _ in range(2):
        train_steps(Pack(together, configs), data, GracefulStop(), Count())
        for state, config in zip(alone, configs, strict=True):
            train_steps(Pack([state], [config]), data, GracefulStop(), Count())
    step = 2 * max(config.lr * config.d_lr_ratio for config in configs)
    for packed, solo in zip(together, alone, strict=True):
        assert packed.epoch == solo.epoch == 2
        for a, b in zip(packed.generator.state_dict().values(), solo.generator.state_dict().values(), strict=True):
            assert torch.allclose(a.float(), b.float(), atol=step)
        for a, b in zip(packed.ema.model.parameters(), solo.ema.model.parameters(), strict=True):
            assert torch.allclose(a, b, atol=step)
        for a, b in zip(packed.discriminator.parameters(), solo.discriminator.parameters(), strict=True):
            assert torch.allclose(a, b, atol=step)
        moments = lambda state: [s["exp_avg_sq"] for s in state.optimizer_d.state.values()]
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(moments(packed), moments(solo), strict=True))
        assert np.allclose(packed.d_losses, solo.d_losses, atol=1e-3) and packed.d_epoch == solo.d_epoch
        assert packed.optimizer_g.param_groups[0]["lr"] == solo.optimizer_g.param_groups[0]["lr"]
    # Far apart from one another: each run its own.
    assert (together[0].generator.net[0].weight - together[1].generator.net[0].weight).abs().max() > 10 * step
