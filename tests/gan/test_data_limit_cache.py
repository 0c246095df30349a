"""The data limit of a training set: computed once, cached beside the dataset, and a cache that does not prove
itself computed again."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from gaussgan.distributions import Parent
from gaussgan.gan import data_limit as module
from gaussgan.gan.data_limit import cache_path, data_limit
from gaussgan.stats.nulls import NullCache

SMALL = {"max_n": 1000, "repeats": 250}


@pytest.fixture
def training_set(tmp_path):
    parent = Parent("gauss", 2)
    rows = parent.sample(300, np.random.default_rng(0)).astype(np.float32)
    (tmp_path / "datasets").mkdir()
    dataset = tmp_path / "datasets" / "data_gauss_dim2.h5"
    dataset.write_bytes(b"")  # only its name and folder matter here
    return dataset, rows, parent, NullCache(tmp_path / "nulls.json")


def limit_of(training_set):
    dataset, rows, parent, cache = training_set
    return data_limit(dataset, rows, parent, cache=cache, **SMALL)


def count_computations(monkeypatch) -> list:
    calls: list = []
    compute = module.compute
    monkeypatch.setattr(module, "compute", lambda *a, **k: calls.append(1) or compute(*a, **k))
    return calls


def test_computed_once_then_read_from_its_cache(training_set, monkeypatch, capsys):
    calls = count_computations(monkeypatch)
    first = limit_of(training_set)
    assert "data limit: the n* of the training set's own Gaussian fit" in capsys.readouterr().out
    assert first["n_train"] == 300 and first["largest"] == 1000 and calls == [1]
    assert limit_of(training_set) == first and calls == [1]
    content = json.loads(cache_path(training_set[0]).read_text())
    assert content["limit"] == first and content["key"]["max_n"] == 1000


def test_the_same_rows_give_the_same_limit_whoever_computes_it(training_set, tmp_path):
    first = limit_of(training_set)
    cache_path(training_set[0]).unlink()
    dataset, rows, parent, _ = training_set
    assert data_limit(dataset, rows, parent, cache=NullCache(tmp_path / "other.json"), **SMALL) == first


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text.replace('"n_train": 300', '"n_train": 301'),  # the digest no longer matches
        lambda text: text[: len(text) // 2],  # cut short
        lambda text: text.replace('"max_n": 1000', '"max_n": 2000'),  # another verdict's limit
        lambda text: "[]",
    ],
)
def test_a_cache_that_does_not_prove_itself_is_computed_again(training_set, monkeypatch, damage):
    first = limit_of(training_set)
    path = cache_path(training_set[0])
    path.write_text(damage(path.read_text()))
    calls = count_computations(monkeypatch)
    assert limit_of(training_set) == first and calls == [1]
    assert json.loads(path.read_text())["limit"] == first  # and put right


def test_a_link_in_the_caches_place_is_neither_read_nor_followed(training_set, tmp_path, monkeypatch):
    first = limit_of(training_set)
    path = cache_path(training_set[0])
    elsewhere = tmp_path / "elsewhere.json"
    path.rename(elsewhere)
    path.symlink_to(elsewhere)
    kept = elsewhere.read_bytes()
    calls = count_computations(monkeypatch)
    assert limit_of(training_set) == first and calls == [1]
    assert not path.is_symlink() and elsewhere.read_bytes() == kept


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_a_folder_that_cannot_be_written_gets_no_cache(training_set, capsys):
    folder = training_set[0].parent
    folder.chmod(0o555)
    try:
        assert limit_of(training_set)["n_train"] == 300
        assert not cache_path(training_set[0]).exists()
    finally:
        folder.chmod(0o755)
