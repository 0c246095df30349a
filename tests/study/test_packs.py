"""Which runs of a sweep train together: those that differ by their seed only, in even packs, as many packs
as workers where the runs allow; the command a packed run records makes its whole pack again."""

from __future__ import annotations

import os
import shlex

from builders import tiny_study_text

from gaussgan.study.packs import make_packs, pack_command, shared_postfix
from gaussgan.study.plan import load_study, plan


def planned(tmp_path, seeds: str = "[1, 2, 3, 4, 5]"):
    path = tmp_path / "study.toml"
    path.write_text(tiny_study_text(seeds=seeds, latent_dim="[2, 4]", epochs="2"))
    return plan(load_study(path))


def names(packs) -> list[list[str]]:
    return [[run.name for run in pack] for pack in packs]


def test_runs_that_differ_by_their_seed_only_train_together(tmp_path):
    runs = planned(tmp_path)  # 2 latent sizes x 5 seeds
    packs = make_packs(runs, set(), size=8)
    assert sorted(len(pack) for pack in packs) == [5, 5]
    for pack in packs:
        assert len({run.config.latent_dim for run in pack}) == 1
        assert sorted(run.config.seed for run in pack) == [1, 2, 3, 4, 5]
    # At most --pack runs in a pack, as even as can be; every run in exactly one pack.
    assert sorted(len(pack) for pack in make_packs(runs, set(), size=2)) == [1, 1, 2, 2, 2, 2]
    assert sorted(name for pack in make_packs(runs, set(), size=3) for name in names([pack])[0]) == sorted(
        run.name for run in runs
    )
    # --pack 1: every run alone; a run to be judged again, alone.
    assert all(len(pack) == 1 for pack in make_packs(runs, set(), size=1))
    alone = make_packs(runs, {runs[0].name}, size=8)
    assert [runs[0].name] in names(alone) and sorted(len(pack) for pack in alone) == [1, 4, 5]


def test_there_are_as_many_packs_as_workers_where_the_runs_allow(tmp_path):
    runs = planned(tmp_path)
    assert sorted(len(pack) for pack in make_packs(runs, set(), size=8, workers=4)) == [2, 2, 3, 3]
    assert len(make_packs(runs, set(), size=8, workers=20)) == 10  # one run each, no more


def test_the_command_of_a_packed_run_makes_its_whole_pack(tmp_path):
    runs = planned(tmp_path, seeds="[3, 7]")
    pack = make_packs(runs, set(), size=8)[0]
    assert [shared_postfix(run.config) for run in pack] == ["", ""]
    words = shlex.split(pack_command([run.config for run in pack]))
    at = words.index("--seed")
    assert words[at + 1 : at + 3] == ["3", "7"] and words[at + 3].startswith("-")
    assert "-p" not in words  # train.py names them ..._seed3 and ..._seed7 itself, as the study does
    assert pack_command([pack[0].config]) == shlex.join(shlex.split(pack[0].config.command))


def worker_environment(names: tuple[str, ...]) -> dict:
    import os

    return {name: os.environ.get(name) for name in names}


def test_the_sweeps_workers_keep_glibcs_adaptive_memory_thresholds():
    """Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536, which made packed training spend as long
    in the kernel as in arithmetic; the sweep's local workers do without it, and keep Dask's thread counts."""
    from gaussgan.study.cluster import Cluster

    cluster = Cluster(None, 1)
    try:
        names = ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")
        (seen,) = cluster.client.run(worker_environment, names).values()
    finally:
        cluster.close()
    assert seen["MALLOC_TRIM_THRESHOLD_"] == os.environ.get("MALLOC_TRIM_THRESHOLD_") and seen["OMP_NUM_THREADS"] == "1"
