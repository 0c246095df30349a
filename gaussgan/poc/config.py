"""The proof of concept's options as one plain config object, and their defaults."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RULES = ("naive", "adversarial")

DEFAULT_BATCH_SIZE = 256
DEFAULT_EPOCHS = 2000  # with 1000 samples per epoch: ~20 s on one CPU core, KS D ~0.02
DEFAULT_LEARNING_RATE = 5e-4
# Adam moves every weight by about the learning rate each step, whatever the gradient's size: above 1 a
# single step moves each weight further than its whole initial range, and the run only diverges (at 1e39
# the step no longer fits in float32 at all). --learning-rate is refused above this bound.
MAX_LEARNING_RATE = 1.0
# Two time scales: with equal rates the generator chases a discriminator that is never
# settled and oscillates; a faster discriminator gives it a steadier signal to follow.
DISCRIMINATOR_LR_FACTOR = 10.0


@dataclass(frozen=True)
class PocConfig:
    """Everything one run of naive.py / adversarial.py needs, as plain values.

    Field names are the parser's ``dest`` names: ``PocConfig(rule=rule, **vars(args))``.
    """

    rule: str
    command: str
    model_path: Path
    number: int
    in_shape: int | None = None  # None: 1 for train, the model's for generate
    out_shape: int | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    epochs: int = DEFAULT_EPOCHS
    learning_rate: float = DEFAULT_LEARNING_RATE
    dynamic_sample: bool = True
    seed: int | None = None  # None: draw one (gaussgan.system.seeds.choose_seed shows it on stderr)
    device: str = "auto"
    quiet: bool = False
    force: bool = False  # train: replace an existing model file

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"unknown rule {self.rule!r}; expected one of {', '.join(RULES)}")
