"""The null cache proves itself or is drawn again: its file's mark, each entry's digest, length and finite
values, and a few fresh draws against what an entry claims. What is not a regular file of gaussgan's is
refused and left as it is. (The commands' side of it: tests/end_to_end/test_faults_evaluate.py.)"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from gaussgan.distributions import make_parent
from gaussgan.errors import UserError
from gaussgan.stats import nulls
from gaussgan.stats.metrics import METRICS, Context
from gaussgan.stats.nulls import NullCache

METRIC, CONTEXT = METRICS["projections"], Context(make_parent("gauss", 2), seed=1)
SIZES, REPEATS = (50, 60), 30


@pytest.fixture
def saved(tmp_path):
    """A cache file of two nulls, as gaussgan writes it; their values."""
    path = tmp_path / "null_cache.json"
    cache = NullCache(path)
    values = {n: nulls.null_values(METRIC, CONTEXT, n, REPEATS, cache) for n in SIZES}
    cache.save()
    return path, values


def key(n: int) -> str:
    return nulls.null_key(METRIC, CONTEXT, n, REPEATS)


def entries(path) -> dict:
    return json.loads(path.read_text())["nulls"]


def test_the_file_is_marked_and_each_null_carries_its_digest(saved):
    path, values = saved
    content = json.loads(path.read_text())
    assert (content["format"], content["layout"]) == (nulls.CACHE_FORMAT, nulls.CACHE_LAYOUT)
    for n in SIZES:
        entry = content["nulls"][key(n)]
        assert entry["values"] == list(values[n]) and entry["sha256"] == nulls.entry_digest(key(n), entry["values"])


def test_a_whole_plausible_cache_is_used_as_it_is(saved, capsys):
    path, values = saved
    before = path.read_bytes()
    cache = NullCache(path)
    for n in SIZES:
        np.testing.assert_array_equal(nulls.null_values(METRIC, CONTEXT, n, REPEATS, cache), values[n])
    cache.save()
    assert not cache.changed and path.read_bytes() == before and capsys.readouterr().err == ""


DAMAGE = {
    "value_changed": lambda entry: {**entry, "values": [2.0] + entry["values"][1:]},
    "nan": lambda entry: {**entry, "values": [float("nan")] * len(entry["values"])},
    # fewer values than the key's repeats, under their own digest
    "cut_short": lambda entry: {
        "values": entry["values"][:5],
        "sha256": nulls.entry_digest(key(50), entry["values"][:5]),
    },
    "text": lambda entry: {**entry, "values": ["0.1"] * len(entry["values"])},
    "booleans": lambda entry: {**entry, "values": [True] * len(entry["values"])},
    "no_digest": lambda entry: {"values": entry["values"]},
    "not_an_object": lambda entry: entry["values"],
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_an_entry_that_is_not_whole_is_dropped_with_one_note_and_drawn_again(saved, capsys, damage):
    path, values = saved
    content = json.loads(path.read_text())
    content["nulls"][key(50)] = DAMAGE[damage](content["nulls"][key(50)])
    path.write_text(json.dumps(content))
    cache = NullCache(path)
    assert set(cache.values) == {key(60)} and cache.changed
    assert capsys.readouterr().err.count("note: ") == 1
    np.testing.assert_array_equal(nulls.null_values(METRIC, CONTEXT, 50, REPEATS, cache), values[50])
    cache.save()
    assert entries(path)[key(50)]["values"] == list(values[50])


def test_a_key_that_does_not_say_what_it_is_for_is_dropped(saved):
    path, _ = saved
    content = json.loads(path.read_text())
    content["nulls"]["anything"] = content["nulls"][key(50)]
    path.write_text(json.dumps(content))
    assert set(NullCache(path).values) == {key(50), key(60)}


def test_a_whole_entry_that_fresh_draws_disagree_with_is_drawn_again(saved, capsys):
    """Its digest matches (written so), but its values are ten times the null's: the few fresh draws say so."""
    path, values = saved
    content = json.loads(path.read_text())
    scaled = [10 * v for v in content["nulls"][key(50)]["values"]]
    content["nulls"][key(50)] = {"values": scaled, "sha256": nulls.entry_digest(key(50), scaled)}
    path.write_text(json.dumps(content))
    cache = NullCache(path)
    assert cache.values[key(50)] == scaled  # whole: only its use tells
    np.testing.assert_array_equal(nulls.null_values(METRIC, CONTEXT, 50, REPEATS, cache), values[50])
    np.testing.assert_array_equal(nulls.null_values(METRIC, CONTEXT, 60, REPEATS, cache), values[60])
    err = capsys.readouterr().err
    assert err.count("note: ") == 1 and "projections at n = 50" in err and "disagrees with fresh draws" in err
    cache.save()
    assert entries(path)[key(50)]["values"] == list(values[50])


def test_honest_nulls_pass_the_plausibility_check():
    for n in (50, 200):
        for metric in (METRICS["projections"], METRICS["frechet"], METRICS["mmd"]):
            values = nulls.draw_null(metric, CONTEXT, n, 150, CONTEXT.rng(f"null {metric.name} {n}"))
            assert nulls.plausible(metric, CONTEXT, n, values), (metric.name, n)
            assert not nulls.plausible(metric, CONTEXT, n, 10 * values + values.std()), (metric.name, n)


def test_a_cache_of_the_layout_before_digests_is_drawn_again_and_rewritten(saved, capsys):
    path, values = saved
    path.write_text(json.dumps({key(n): [1e300] * REPEATS for n in SIZES}))  # the old layout, poisoned
    cache = NullCache(path)
    assert cache.values == {} and "older gaussgan" in capsys.readouterr().err
    np.testing.assert_array_equal(nulls.null_values(METRIC, CONTEXT, 50, REPEATS, cache), values[50])
    cache.save()
    assert json.loads(path.read_text())["format"] == nulls.CACHE_FORMAT and list(entries(path)) == [key(50)]


def test_a_marked_file_of_another_layout_is_drawn_again(saved, capsys):
    path, _ = saved
    path.write_text(json.dumps({"format": nulls.CACHE_FORMAT, "layout": 99, "nulls": []}))
    assert NullCache(path).values == {} and "layout" in capsys.readouterr().err


def test_non_finite_draws_are_never_saved(tmp_path):
    cache = NullCache(tmp_path / "null_cache.json")
    cache.put("x", np.array([1.0, np.nan]))
    cache.put(key(50), np.arange(3.0))
    cache.save()
    assert list(entries(tmp_path / "null_cache.json")) == [key(50)]


@pytest.mark.parametrize("kind", ["fifo", "folder", "link_inside", "link_out", "dangling_link"])
def test_a_path_that_is_not_a_regular_file_is_refused_and_left_as_it_is(saved, tmp_path, kind):
    path, _ = saved
    target = tmp_path / "cache" / "null_cache.json"
    target.parent.mkdir()
    if kind == "fifo":
        os.mkfifo(target)  # opened without O_NONBLOCK, it would wait for a writer for ever
    elif kind == "folder":
        target.mkdir()
    else:
        target.symlink_to({"link_inside": path, "link_out": "/dev/zero", "dangling_link": "nowhere"}[kind])
    with pytest.raises(UserError, match="not a regular file|folder|symbolic link"):
        NullCache(target, remedy="choose another place")
    assert os.path.lexists(target) and path.exists()


def test_a_foreign_file_is_refused_with_the_callers_remedy(tmp_path):
    path = tmp_path / "null_cache.json"
    path.write_text('{"someone": "else"}')
    with pytest.raises(UserError, match="not a null cache written by gaussgan; it is kept as it is: use another"):
        NullCache(path, remedy="use another")
    assert path.read_text() == '{"someone": "else"}'
