"""Each train.py option is declared once (gaussgan.gan.options): one more field in the table reaches the
parser, the study's checks, the equivalent train.py command, the run name and the report's columns."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, fields

import pytest

from gaussgan import cli
from gaussgan.gan import options
from gaussgan.gan.options import TrainConfig, option


@dataclass(frozen=True)
class WithGhost(TrainConfig):
    """TrainConfig with one option more, declared as every option is."""

    ghost_weight: float = option(
        0.5,
        "--ghost-weight",
        kind=cli.positive_float,
        grid=True,
        tag="ghost",
        column=21,
        before=0.0,
        help="a made-up weight (default: %(default)s)",
    )


def test_an_option_added_to_the_table_reaches_every_place_that_names_options():
    parser = cli.make_parser("train.py", "test")
    options.add_arguments(parser, WithGhost)
    assert parser.parse_args(["-f", "x.h5"]).ghost_weight == 0.5
    assert parser.parse_args(["-f", "x.h5", "--ghost-weight", "2"]).ghost_weight == 2.0
    assert "--ghost-weight" in parser.format_help()

    kind = options.grid_options(WithGhost)["ghost_weight"]
    assert kind.accepts(3) and not kind.accepts(-1) and not kind.accepts(True)
    assert "ghost_weight" not in options.grid_options()  # the real table is untouched

    config = WithGhost(dataset="x.h5", ghost_weight=2.0, seed=1)
    words = shlex.split(options.train_command(config))
    assert words[words.index("--ghost-weight") + 1] == "2"
    assert "--ghost-weight" not in options.train_command(WithGhost(dataset="x.h5", seed=1))  # the default: left out

    assert options.name_tag("ghost_weight", 2.0, WithGhost) == "ghost2"
    assert "ghost_weight" in options.config_columns(WithGhost)
    assert options.added_later(WithGhost)["ghost_weight"] == 0.0


def test_the_recorded_train_command_parses_back_to_the_same_options():
    import importlib.util

    from helpers import REPO

    spec = importlib.util.spec_from_file_location("train_script", REPO / "train.py")
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    config = TrainConfig(
        dataset="data.h5",
        rule="wgan-gp",
        batch_norm=False,
        lr=3e-4,
        lr_schedule="cosine",
        mixture=0.25,
        latent_dim=7,
        seed=5,
        runs_dir="runs",
        postfix="p",
    )
    words = shlex.split(options.train_command(config))
    assert words[:2] == ["python", "train.py"]
    parsed = script.build_parser().parse_args(words[2:])
    assert parsed.seed == [5]  # --seed takes several seeds (runs trained together): here the one
    again = TrainConfig(**{**vars(parsed), "seed": parsed.seed[0]})
    for field in fields(TrainConfig):
        if field.name not in ("threads", "quiet", "command"):  # how one process runs, set by the sweep
            assert getattr(again, field.name) == getattr(config, field.name), field.name


@pytest.mark.parametrize("name", list(options.GRID_OPTIONS))
def test_every_option_a_study_varies_is_on_the_command_line_and_in_run_names(name):
    spec = options.specs()[name]
    assert spec.flags, name
    assert spec.tag is not None or name in options.IN_RUN_NAME
