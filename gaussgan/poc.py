"""The proof of concept behind ``naive.py`` and ``adversarial.py``.

One generator network maps uniform noise on [-0.5, 0.5] to samples meant to follow N(0, 1).
Two training rules share everything else (CLI, sampling, saving, the verdict):

* ``naive``: minimise the mean squared error between G(u) and target samples. The pairing of
  u with a target sample is arbitrary, so the minimiser is G(u) = E[x] = 0 for every u: the
  generator collapses to the mean. That failure is the point of the demonstration.
* ``adversarial``: a small discriminator learns to tell target samples from generated ones
  (binary cross-entropy) and the generator learns to fool it (non-saturating loss).

Heavy modules (torch, numpy, scipy, matplotlib) are imported inside the functions that use
them, so ``--help`` answers at once.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, NamedTuple, Sequence

from gaussgan.cli import ArgumentParser, Terminated, make_parser, positive_float, positive_int, seed_value
from gaussgan.errors import UserError

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

RULES = ("naive", "adversarial")

# Network and optimiser settings, chosen by measurement on a 2-core CPU (see the README):
# LeakyReLU, not the documented ReLU, whose generator stayed too narrow (std 0.94-0.95,
# KS D 0.033-0.035 after 2000 epochs, against 0.98 and 0.022-0.031 with LeakyReLU).
GENERATOR_HIDDEN = (64, 64)
DISCRIMINATOR_HIDDEN = (64, 64)
ACTIVATION = "leaky_relu"
# Two time scales: with equal rates the generator chases a discriminator that is never
# settled and oscillates; a faster discriminator gives it a steadier signal to follow.
DISCRIMINATOR_LR_FACTOR = 10.0
GAN_ADAM_BETAS = (0.5, 0.999)  # the usual GAN choice: less momentum than Adam's default 0.9
# Samples come from an exponential moving average of the generator's weights, taken over
# the last third of the steps so far (EMA_WARMUP) and at most ~1/(1 - EMA_DECAY) steps: the
# generator itself keeps circling the solution, its average sits close to it.
EMA_DECAY = 0.9995
EMA_WARMUP = 4

DEFAULT_BATCH_SIZE = 256
DEFAULT_EPOCHS = 2000  # with 1000 samples per epoch: ~20 s on one CPU core, KS D ~0.02
DEFAULT_LEARNING_RATE = 5e-4

VERDICT_SAMPLES = 10_000
COLLAPSED_STD = 0.2  # a spread this far below 1 means the generator outputs nearly one value
NOISE_P_VALUE = 0.05
CLOSE_KS = 0.03  # the "learned it" bar; the sampling-noise 95th percentile is ~0.014

MODEL_FORMAT = "gaussgan-poc-generator"
MODEL_VERSION = 1
GENERATE_CHUNK = 100_000  # rows generated and printed at a time, to bound memory


@dataclass(frozen=True)
class PocConfig:
    """Everything one run of naive.py / adversarial.py needs, as plain values."""

    rule: str
    command: str
    model_path: Path
    number: int
    in_shape: int | None  # None: 1 for train, the model's for generate
    out_shape: int | None
    batch_size: int
    epochs: int
    learning_rate: float
    dynamic_sample: bool
    seed: int | None  # None: draw one, shown on stderr once the input checks have passed
    device: str
    quiet: bool


def build_parser(rule: str) -> ArgumentParser:
    """The command line shared by naive.py and adversarial.py."""
    script = f"{rule}.py"
    how = (
        "by minimising the mean squared error between G(u) and N(0, 1) samples\n"
        "(which collapses G to the mean: the point of this script)"
        if rule == "naive"
        else "against a discriminator (binary cross-entropy,\nnon-saturating generator loss)"
    )
    parser = make_parser(
        script,
        description=f"Teach a generator G(u), u ~ uniform[-0.5, 0.5], to sample N(0, 1)\n{how}.",
        epilog=(
            "examples:\n"
            f"  python {script} --model-path=m.pt 1000 train        1000 target samples per epoch\n"
            f"  python {script} --model-path=m.pt 1000 generate > s.txt   1000 samples, one per line\n"
            "A model saved by naive.py or adversarial.py loads in either script.\n"
            "Exit status: 0 done, 2 bad input, 130 Ctrl-C, 143 SIGTERM (the model trained so far is saved)."
        ),
    )
    parser.add_argument("--model-path", required=True, type=Path, help="model file to write (train) or read (generate)")
    parser.add_argument(
        "number",
        type=positive_int,
        metavar="NUMBER",
        help="train: target samples per epoch; generate: samples to print",
    )
    parser.add_argument("command", choices=("train", "generate"), help="train a model, or print samples from one")
    parser.add_argument(
        "--in-shape", type=positive_int, help="uniform inputs per sample (train: default 1; generate: the model's)"
    )
    parser.add_argument(
        "--out-shape", type=positive_int, help="components per sample (train: default 1; generate: the model's)"
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE, help="samples per step (default %(default)s)"
    )
    parser.add_argument("--epochs", type=positive_int, default=DEFAULT_EPOCHS, help="epochs to train (default %(default)s)")
    parser.add_argument(
        "--learning-rate",
        type=positive_float,
        default=DEFAULT_LEARNING_RATE,
        help=f"generator's Adam learning rate; the discriminator's is {DISCRIMINATOR_LR_FACTOR:g}x this "
        "(default %(default)g)",
    )
    parser.add_argument(
        "--dynamic-sample",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="draw fresh target samples every epoch (default); --no-dynamic-sample re-uses one set drawn at the start",
    )
    parser.add_argument(
        "--seed", type=seed_value, help="seed for weights and samples (default: drawn and printed on stderr)"
    )
    parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto: CUDA when present (default)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None, rule: str) -> int:
    """Parse the command line of ``<rule>.py`` and train or generate; errors raise UserError."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}")
    args = build_parser(rule).parse_args(argv)
    config = PocConfig(
        rule=rule,
        command=args.command,
        model_path=args.model_path,
        number=args.number,
        in_shape=args.in_shape,
        out_shape=args.out_shape,
        batch_size=args.batch_size,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        dynamic_sample=args.dynamic_sample,
        seed=args.seed,
        device=args.device,
        quiet=args.quiet,
    )
    if config.command == "train":
        train(config)
    else:
        generate(config)
    return 0


# --- randomness -----------------------------------------------------------------------------


def choose_seed(seed: int | None) -> tuple[int, bool]:
    """``seed``, or a fresh one; the flag says whether it was drawn (and must be shown)."""
    if seed is not None:
        return seed, False
    import secrets

    return secrets.randbelow(2**63), True


def announce_seed(seed: int) -> None:
    """Show a drawn seed on stderr, so the run can be repeated."""
    print(f"seed: {seed} (pass --seed {seed} to repeat this run)", file=sys.stderr)


def stream_seeds(seed: int) -> tuple[int, int, int]:
    """Three independent seeds from one: weights, training samples, verdict / generated samples.

    Deriving them (rather than re-using ``seed``) keeps the streams unrelated to each other.
    """
    import numpy as np

    weights, training, sampling = np.random.SeedSequence(seed).generate_state(3, dtype=np.uint64)
    return int(weights), int(training), int(sampling)


def torch_rng(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    import torch

    return torch.Generator(device=device).manual_seed(seed)


def uniform_inputs(count: int, in_shape: int, rng: torch.Generator) -> torch.Tensor:
    """Generator input: uniform on [-0.5, 0.5], on the generator's device."""
    import torch

    return torch.rand(count, in_shape, generator=rng, device=rng.device) - 0.5


def target_samples(count: int, out_shape: int, rng: torch.Generator) -> torch.Tensor:
    """The target distribution: N(0, 1) in each component, independent components."""
    import torch

    return torch.randn(count, out_shape, generator=rng, device=rng.device)


# --- the networks and the two training rules --------------------------------------------------


def make_activation(name: str) -> Callable[[], nn.Module]:
    from torch import nn

    activations: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2)}
    if name not in activations:
        raise UserError(f"unknown activation {name!r}; expected one of {', '.join(activations)}")
    return activations[name]


def build_network(sizes: list[int], activation: str, rng: torch.Generator | None = None) -> nn.Sequential:
    """A fully connected network; with ``rng``, its initial weights come from that generator.

    The initialisation is PyTorch's default for Linear, U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    redrawn from ``rng`` so a seed fixes the weights without touching torch's global RNG.
    """
    import torch
    from torch import nn

    from gaussgan.models import mlp

    network = mlp(sizes, activation=make_activation(activation))
    if rng is not None:
        with torch.no_grad():
            for layer in network.modules():
                if isinstance(layer, nn.Linear):
                    bound = 1.0 / math.sqrt(layer.in_features)
                    layer.weight.uniform_(-bound, bound, generator=rng)
                    layer.bias.uniform_(-bound, bound, generator=rng)
    return network


def adam(
    parameters: Iterable[nn.Parameter], learning_rate: float, betas: tuple[float, float] = (0.9, 0.999)
) -> torch.optim.Adam:
    """Adam, fused into one kernel per step where this torch build can (measured ~15% faster here)."""
    import torch

    parameters = list(parameters)
    try:
        return torch.optim.Adam(parameters, lr=learning_rate, betas=betas, fused=True)
    except RuntimeError:  # older torch: no fused Adam on the CPU
        return torch.optim.Adam(parameters, lr=learning_rate, betas=betas)


class Trainer(NamedTuple):
    """One training rule: ``step(real, inputs)`` updates the networks and returns its losses;
    ``sampler`` is the network to sample from and to save."""

    step: Callable[[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]
    sampler: nn.Module


def naive_trainer(generator: nn.Module, learning_rate: float) -> Trainer:
    """Fit G(u) to target samples by mean squared error."""
    from torch.nn import functional

    optimizer = adam(generator.parameters(), learning_rate)

    def step(real: torch.Tensor, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        loss = functional.mse_loss(generator(inputs), real)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"mse": loss.detach()}

    return Trainer(step, generator)


def adversarial_trainer(generator: nn.Module, out_shape: int, learning_rate: float, rng: torch.Generator) -> Trainer:
    """The classic GAN: one discriminator step, then one generator step, per batch.

    Samples come from an exponential moving average of the generator's weights: the generator
    itself keeps circling the solution, the average sits close to it.
    """
    import torch
    from torch.nn import functional

    from gaussgan.models import EMA

    discriminator = build_network([out_shape, *DISCRIMINATOR_HIDDEN, 1], ACTIVATION, rng)
    discriminator.to(next(generator.parameters()).device)
    generator_optimizer = adam(generator.parameters(), learning_rate, GAN_ADAM_BETAS)
    discriminator_optimizer = adam(discriminator.parameters(), learning_rate * DISCRIMINATOR_LR_FACTOR, GAN_ADAM_BETAS)
    average = EMA(generator, EMA_DECAY)
    steps_done = 0

    def step(real: torch.Tensor, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        nonlocal steps_done
        fake = generator(inputs)
        real_label = torch.ones(len(real), 1, device=real.device)
        fake_label = torch.zeros(len(fake), 1, device=real.device)

        # Discriminator: target samples are 1, generated ones 0; both halves in one pass, which
        # is cheaper than two for networks this small. detach(): this step must not move G.
        discriminator_loss = functional.binary_cross_entropy_with_logits(
            discriminator(torch.cat([real, fake.detach()])), torch.cat([real_label, fake_label])
        )
        discriminator_optimizer.zero_grad(set_to_none=True)
        discriminator_loss.backward()
        discriminator_optimizer.step()

        # Generator, non-saturating form: maximise log D(G(u)) rather than minimise
        # log(1 - D(G(u))), whose gradient vanishes while D easily rejects the fakes.
        generator_loss = functional.binary_cross_entropy_with_logits(discriminator(fake), real_label)
        generator_optimizer.zero_grad(set_to_none=True)
        generator_loss.backward()
        generator_optimizer.step()

        # A fixed decay would leave short runs sampling from weights close to the initial ones.
        steps_done += 1
        average.decay = min(EMA_DECAY, (1 + steps_done) / (EMA_WARMUP + steps_done))
        average.update(generator)
        return {"D": discriminator_loss.detach(), "G": generator_loss.detach()}

    return Trainer(step, average.model)


# --- train and generate -------------------------------------------------------------------------


def train(config: PocConfig) -> None:
    """Train a generator with ``config.rule``, save it, print a verdict on fresh samples.

    Ctrl-C or SIGTERM stop training: the model trained so far is saved (when at least one
    epoch ended) and the interruption goes on up to the script, which exits 130 / 143.
    """
    check_destination(config.model_path)
    import torch
    from tqdm import tqdm

    from gaussgan.models import resolve_device

    device = resolve_device(config.device)
    if device.type == "cpu":
        # These networks are tiny: a second thread costs more in hand-over than it computes.
        torch.set_num_threads(1)
    in_shape, out_shape = config.in_shape or 1, config.out_shape or 1
    seed, drawn = choose_seed(config.seed)
    weights_seed, training_seed, sampling_seed = stream_seeds(seed)
    weights_rng, training_rng = torch_rng(weights_seed), torch_rng(training_seed, device)

    generator = build_network([in_shape, *GENERATOR_HIDDEN, out_shape], ACTIVATION, weights_rng).to(device)
    if config.rule == "naive":
        trainer = naive_trainer(generator, config.learning_rate)
    else:
        trainer = adversarial_trainer(generator, out_shape, config.learning_rate, weights_rng)

    def save(epochs_done: int) -> None:
        save_model(config.model_path, trainer.sampler, config.rule, in_shape, out_shape, epochs_done)

    fixed_target = None if config.dynamic_sample else target_samples(config.number, out_shape, training_rng)
    if drawn:  # shown only now, as the epochs start: setting up takes a second or two
        announce_seed(seed)
    progress = tqdm(
        range(config.epochs),
        desc=f"{config.rule} training",
        unit="epoch",
        file=sys.stderr,
        disable=config.quiet or not sys.stderr.isatty(),
    )
    epochs_done = 0
    started = time.perf_counter()
    try:
        for _ in progress:
            if fixed_target is None:
                target = target_samples(config.number, out_shape, training_rng)
            else:  # the same samples every epoch, in a new order
                target = fixed_target[torch.randperm(config.number, generator=training_rng, device=device)]
            for real in torch.split(target, config.batch_size):
                losses = trainer.step(real, uniform_inputs(len(real), in_shape, training_rng))
            epochs_done += 1
            if not progress.disable:
                progress.set_postfix({name: f"{loss.item():.3f}" for name, loss in losses.items()}, refresh=False)
    except (KeyboardInterrupt, Terminated):
        progress.close()
        if epochs_done:
            save(epochs_done)
            print(
                f"stopped after {epochs_done} of {config.epochs} epochs; model so far saved to {config.model_path}",
                file=sys.stderr,
            )
        else:
            print("stopped before the first epoch ended; no model saved", file=sys.stderr)
        raise
    progress.close()
    seconds = time.perf_counter() - started
    save(epochs_done)
    print(
        f"trained the {config.rule} generator for {epochs_done} epochs of {config.number} samples "
        f"in {seconds:.1f} s; model saved to {config.model_path}"
    )
    samples = sample(trainer.sampler, VERDICT_SAMPLES, in_shape, torch_rng(sampling_seed, device))
    print(f"verdict on {VERDICT_SAMPLES:,} fresh samples against N(0, 1):")
    for line in verdict_lines(samples):
        print(f"  {line}")


def generate(config: PocConfig) -> None:
    """Print ``config.number`` samples from a saved model on stdout, one per line."""
    generator, info = load_model(config.model_path)
    import numpy as np

    from gaussgan.models import resolve_device

    device = resolve_device(config.device)
    for option, key, what in (("--in-shape", "in_shape", "input"), ("--out-shape", "out_shape", "output")):
        given = getattr(config, key)
        if given is not None and given != info[key]:
            raise UserError(
                f"model {str(config.model_path)!r} has {info[key]} {what} component(s), but {option} {given} was given; "
                f"leave {option} out to use the model's"
            )
    generator.to(device)
    seed, drawn = choose_seed(config.seed)
    if drawn:
        announce_seed(seed)
    rng = torch_rng(stream_seeds(seed)[2], device)
    try:
        for start in range(0, config.number, GENERATE_CHUNK):
            rows = sample(generator, min(GENERATE_CHUNK, config.number - start), info["in_shape"], rng)
            np.savetxt(sys.stdout, rows, fmt="%.9g", delimiter="\t")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (`... generate | head`): that is not an error. Point stdout
        # at /dev/null so the interpreter's final flush does not complain again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def sample(generator: nn.Module, count: int, in_shape: int, rng: torch.Generator) -> np.ndarray:
    """``count`` samples from ``generator`` as a (count, out_shape) float64 array."""
    import torch

    with torch.no_grad():
        return generator(uniform_inputs(count, in_shape, rng)).cpu().double().numpy()


# --- the verdict ---------------------------------------------------------------------------------


def verdict_lines(samples: np.ndarray) -> list[str]:
    """Mean, std, KS statistic and p-value against N(0, 1), and a reading, per component."""
    from scipy import stats

    lines = []
    for index, values in enumerate(samples.T):
        test = stats.kstest(values, "norm")
        mean, std = float(values.mean()), float(values.std())
        prefix = f"component {index + 1}: " if samples.shape[1] > 1 else ""
        lines.append(
            f"{prefix}mean {mean:+.4f}  std {std:.4f}  KS D {test.statistic:.4f}  p {test.pvalue:.3g}"
            f"  -> {reading(mean, std, test.statistic, test.pvalue)}"
        )
    return lines


def reading(mean: float, std: float, ks_statistic: float, p_value: float) -> str:
    """One line that says what the numbers mean for a sample of VERDICT_SAMPLES values."""
    if std < COLLAPSED_STD:
        where = "the mean" if abs(mean) < COLLAPSED_STD else f"the single value {mean:+.2f}"
        return f"collapsed to {where}: nearly one value whatever the input"
    if p_value >= NOISE_P_VALUE:
        return "matches N(0,1) within sampling noise"
    if ks_statistic < CLOSE_KS:
        return "close to N(0,1): KS D < 0.03, but 10,000 samples still tell them apart"
    flaws = []
    if abs(mean) > 0.1:
        flaws.append(f"shifted by {mean:+.2f}")
    if std < 0.9:
        flaws.append("too narrow")
    elif std > 1.1:
        flaws.append("too wide")
    return f"differs from N(0,1): {', '.join(flaws) or 'wrong shape'}"


# --- the model file ----------------------------------------------------------------------------


def check_destination(path: Path, what: str = "--model-path") -> None:
    """Fail before the work, not after it, when its result could not be saved at ``path``."""
    folder = path.parent
    if path.is_dir():
        raise UserError(f"{what} {str(path)!r} is a folder; expected a file name")
    if not folder.is_dir():
        raise UserError(f"the folder of {what} {str(path)!r} does not exist; create {str(folder)!r} first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"cannot write in {str(folder)!r}, the folder of {what} {str(path)!r}")


def save_model(path: Path, generator: nn.Module, rule: str, in_shape: int, out_shape: int, epochs: int) -> None:
    """Write the generator atomically: plain values and tensors only, readable with weights_only=True."""
    from gaussgan.files import save_torch_file

    checkpoint = {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "rule": rule,
        "in_shape": in_shape,
        "out_shape": out_shape,
        "hidden": list(GENERATOR_HIDDEN),
        "activation": ACTIVATION,
        "epochs": epochs,
        "state_dict": {name: tensor.detach().cpu() for name, tensor in generator.state_dict().items()},
    }
    save_torch_file(checkpoint, path)  # same seed, same bytes


def load_model(path: Path) -> tuple[nn.Module, dict]:
    """Read a model saved by either script; anything else is a UserError, never code run.

    Returns the generator (on the CPU, in eval mode) and the checkpoint's plain values.
    """
    if not path.exists():  # checked before importing torch, so the answer is immediate
        raise UserError(f"model file {str(path)!r} does not exist; make one with `train`")
    if path.is_dir():
        raise UserError(f"--model-path {str(path)!r} is a folder; expected a model file")
    import torch

    try:
        with warnings.catch_warnings():  # torch warns about some foreign files; the error below says it all
            warnings.simplefilter("ignore")
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as error:
        raise UserError(f"cannot read model file {str(path)!r}: {error.strerror}") from None
    except Exception as error:  # torch.load raises many types on foreign or forbidden content
        raise UserError(
            f"{str(path)!r} is not a model saved by naive.py or adversarial.py ({type(error).__name__})"
        ) from None

    not_ours = UserError(f"{str(path)!r} is not a model saved by naive.py or adversarial.py")
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != MODEL_FORMAT:
        raise not_ours
    if checkpoint.get("version") != MODEL_VERSION:
        raise UserError(
            f"model file {str(path)!r} has version {checkpoint.get('version')!r}; this code reads {MODEL_VERSION}"
        )
    in_shape, out_shape, hidden = checkpoint.get("in_shape"), checkpoint.get("out_shape"), checkpoint.get("hidden")
    if not isinstance(hidden, list) or not isinstance(checkpoint.get("state_dict"), dict):
        raise not_ours
    sizes = [in_shape, *hidden, out_shape]
    if not all(isinstance(size, int) and size > 0 for size in sizes):
        raise not_ours
    damaged = UserError(f"model file {str(path)!r} is damaged: its weights do not fit its recorded shapes")
    # Count before building: recorded sizes alone must not make us allocate a huge network.
    weights = checkpoint["state_dict"].values()
    stored = sum(tensor.numel() for tensor in weights if isinstance(tensor, torch.Tensor))
    if stored != sum(width_in * width_out + width_out for width_in, width_out in zip(sizes[:-1], sizes[1:])):
        raise damaged
    generator = build_network(sizes, str(checkpoint.get("activation")))
    try:
        generator.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, TypeError, KeyError):
        raise damaged from None
    info = {key: value for key, value in checkpoint.items() if key != "state_dict"}
    return generator.eval(), info


# --- the README figure ---------------------------------------------------------------------------


def _figure_main(argv: Sequence[str] | None = None) -> int:
    """``python -m gaussgan.poc figure NAIVE.txt ADVERSARIAL.txt OUT.png`` (used by `make poc-figure`)."""
    parser = make_parser("python -m gaussgan.poc", "Draw the README's naive vs adversarial figure from `generate` output.")
    parser.add_argument("command", choices=("figure",))
    parser.add_argument("naive_samples", type=Path, help="output of `naive.py ... generate`")
    parser.add_argument("adversarial_samples", type=Path, help="output of `adversarial.py ... generate`")
    parser.add_argument("out", type=Path, help="PNG file to write")
    args = parser.parse_args(argv)
    import numpy as np

    arrays = []
    for path in (args.naive_samples, args.adversarial_samples):
        try:
            arrays.append(np.loadtxt(path, ndmin=1))
        except (OSError, ValueError) as error:
            raise UserError(f"cannot read samples from {str(path)!r}: {error}") from None
    check_destination(args.out, "the figure file")
    from gaussgan.plots import poc_comparison

    poc_comparison(*arrays, args.out)
    return 0


if __name__ == "__main__":
    from gaussgan.cli import run_main

    run_main(_figure_main)
