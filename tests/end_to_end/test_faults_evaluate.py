"""Fault injection for `python -m gaussgan evaluate` and the verdict's null cache, through the real commands.

Every case asserts the exit status, the message and the state of every file afterwards. The inputs: what a
samples file claims is checked before anything is built from it (rows, columns, the parent's covariance),
values are finite and within range, a CSV's first row is never lost. The outputs: -o is never one of the
command's inputs. The cache: a null_cache.json is used only once it proves itself, is redrawn with a note
when it does not, and is refused, untouched, when it is not a regular file of gaussgan's. The limits: a
verdict on fewer than 100 samples is refused, and so is a parent whose options would be dropped.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_clean_error, run_module, run_script, snapshot

DATA = "datasets/data_gauss_dim3.h5"
REPEATS = ("--null-repeats", "250")
PARENT = ("--parent", DATA, *REPEATS, "-q")
TINY = ("-n", "2", "-d", "2", "-c", "0.1", "--n-eval", "100", "--max-n", "1000", *REPEATS, "--seed", "1", "-q")
RUN = "runs/gauss_dim3_2_1_van"
CACHE = "null_cache.json"


def evaluate(folder: Path, *args, timeout: float = 120):
    return run_module("evaluate", *args, cwd=folder, timeout=timeout)


def one_line_error(result, *words) -> None:
    assert_clean_error(result, *words)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def verdict_of(path: Path) -> dict:
    """What a verdict says, without what differs between two honest runs of it (the time, the source)."""
    content = json.loads(path.read_text())
    return {key: content[key] for key in ("n_star", "reading", "tested_n", "results")}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A dataset (N(0, I) in 3-d), honest samples and samples with two bumps, with their verdicts and nulls, a tiny run."""
    folder = tmp_path_factory.mktemp("faults_evaluate")
    assert run_script("gen-samples.py", "-n", 100, "-b", 2, "-d", 3, "--seed", 1, "-q", cwd=folder).returncode == 0
    rng = np.random.default_rng(5)
    honest = rng.standard_normal((300, 3))
    np.save(folder / "honest.npy", honest)
    # Two bumps at ±0.95 along the diagonal, the right mean and covariance: only the projection test, whose
    # null is simulated, tells them apart (at every size: a poisoned null changes the verdict).
    diagonal = np.ones(3) / np.sqrt(3)
    along = honest @ diagonal
    bumped = rng.choice([-0.95, 0.95], 300) + np.sqrt(1 - 0.95**2) * along
    np.save(folder / "bumps.npy", honest + np.outer(bumped - along, diagonal))
    np.savetxt(folder / "honest.csv", honest, delimiter=",", fmt="%.17g")
    for name in ("honest", "bumps"):
        result = evaluate(folder, f"{name}.npy", *PARENT, "--cache-dir", "reference", "-o", f"{name}.json")
        assert result.returncode == 0, result.stderr
    assert run_script("train.py", "-f", DATA, *TINY, cwd=folder).returncode == 0
    return folder


def test_the_references_are_what_the_cases_need(folder):
    assert verdict_of(folder / "honest.json")["n_star"] is None
    bumps = verdict_of(folder / "bumps.json")
    assert bumps["n_star"] == 100 and bumps["reading"].startswith("distinguishable at n = 100 by the projection test (")
    assert all(
        [j["name"] for j in bumps["results"][n] if j["rejected"]] == ["projections"] for n in ("100", "200", "300")
    )


# --- the null cache of evaluate --------------------------------------------------------------------------
def reference_nulls(folder: Path) -> dict[str, list[float]]:
    content = json.loads((folder / "reference" / CACHE).read_text())
    if content.get("format") == "gaussgan null cache":
        return {key: entry["values"] for key, entry in content["nulls"].items()}
    return content  # the layout before digests (the code these tests were first run against)


def huge(values):
    return [1e6 + 1e6 * value for value in values]


def nan(values):
    return [float("nan")] * len(values)


def older_layout(nulls: dict, change) -> str:
    """A cache as gaussgan wrote it before its nulls carried digests, its values changed."""
    return json.dumps({key: change(values) for key, values in nulls.items()})


def with_digests(nulls: dict, change, digest_of_the_change: bool = True) -> str:
    """A cache in today's layout, its values changed; each entry's digest over the new values (a file that is
    whole but wrong) or over the old ones (a file changed after it was written)."""
    from gaussgan.stats.nulls import CACHE_FORMAT, CACHE_LAYOUT, entry_digest

    entries = {
        key: {"values": change(values), "sha256": entry_digest(key, change(values) if digest_of_the_change else values)}
        for key, values in nulls.items()
    }
    return json.dumps({"format": CACHE_FORMAT, "layout": CACHE_LAYOUT, "nulls": entries})


POISONED = {
    # the reviewer's: huge values made distinguishable samples read "indistinguishable", NaN made honest ones
    # "distinguishable"
    "older_huge": ("bumps", lambda nulls: older_layout(nulls, huge)),
    "older_nan": ("honest", lambda nulls: older_layout(nulls, nan)),
    # whole entries (their digests match) whose values are not draws of the null: fresh draws disagree
    "whole_but_scaled": ("bumps", lambda nulls: with_digests(nulls, lambda v: [10 * x for x in v])),
    # entries that are not whole: NaN, changed after their digest (more in tests/stats/test_null_cache.py)
    "nan_tokens": ("honest", lambda nulls: with_digests(nulls, nan)),
    "changed_after_digest": ("bumps", lambda nulls: with_digests(nulls, huge, digest_of_the_change=False)),
}


@pytest.mark.parametrize("case", POISONED)
def test_a_cache_that_does_not_prove_itself_is_drawn_again_with_a_note(folder, tmp_path, case):
    samples, make = POISONED[case]
    nulls = reference_nulls(folder)
    cache = folder / f"poisoned_{case}"
    cache.mkdir()
    (cache / CACHE).write_text(make(nulls))
    result = evaluate(folder, f"{samples}.npy", *PARENT, "--cache-dir", cache.name, "-o", f"{cache.name}.json")
    assert result.returncode == 0, result.stderr
    assert verdict_of(folder / f"{cache.name}.json") == verdict_of(folder / f"{samples}.json")
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and CACHE in notes[0], result.stderr
    # rewritten as ours, with the honest draws
    assert json.loads((cache / CACHE).read_text())["format"] == "gaussgan null cache"
    redrawn = {key: entry["values"] for key, entry in json.loads((cache / CACHE).read_text())["nulls"].items()}
    assert redrawn and redrawn == {key: nulls[key] for key in redrawn}  # those this verdict needs, drawn as before


def test_a_cache_that_proves_itself_is_used_without_a_note(folder):
    before = snapshot(folder / "reference")
    result = evaluate(folder, "honest.npy", *PARENT, "--cache-dir", "reference")
    assert result.returncode == 0 and "note" not in result.stderr, result.stderr
    assert snapshot(folder / "reference") == before  # nothing drawn, nothing written


FOREIGN = {
    "notes": b'{"my": "notes"}\n',
    "list": b"[1, 2, 3]",
    "other_format": b'{"format": "someone else\'s cache", "nulls": {}}',
    "text": b"not JSON at all\n",
    "empty": b"",
}


@pytest.mark.parametrize("kind", FOREIGN)
def test_a_null_cache_json_gaussgan_did_not_write_is_kept_and_refused(folder, kind):
    cache = folder / f"foreign_{kind}"
    cache.mkdir()
    (cache / CACHE).write_bytes(FOREIGN[kind])
    before = snapshot(folder)
    result = evaluate(folder, "honest.npy", *PARENT, "--cache-dir", cache.name, "-o", f"{cache.name}.json")
    one_line_error(result, "not a null cache written by gaussgan", "kept as it is", "--cache-dir")
    assert snapshot(folder) == before and (cache / CACHE).read_bytes() == FOREIGN[kind]


def not_a_file(cache: Path, kind: str) -> None:
    target = cache / CACHE
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    elif kind == "link_out":
        shutil.copy(cache.parent / "reference" / CACHE, cache.parent / "elsewhere.json")
        target.symlink_to(cache.parent / "elsewhere.json")
    elif kind == "device":
        target.symlink_to("/dev/zero")


NOT_A_FILE = {"fifo": "not a regular file", "folder": "folder", "link_out": "symbolic link", "device": "symbolic link"}


@pytest.mark.parametrize("kind", NOT_A_FILE)
def test_a_cache_path_that_is_not_a_regular_file_is_never_opened(folder, kind):
    cache = folder / f"not_a_file_{kind}"
    cache.mkdir()
    not_a_file(cache, kind)
    before = snapshot(folder)
    result = evaluate(folder, "honest.npy", *PARENT, "--cache-dir", cache.name, timeout=60)  # a FIFO hung it
    one_line_error(result, NOT_A_FILE[kind])
    assert snapshot(folder) == before and os.path.lexists(cache / CACHE)


def test_a_cache_folder_is_made_when_needed_and_never_left_empty(folder):
    failed = evaluate(folder, "missing.npy", *PARENT, "--cache-dir", "new/cache")
    one_line_error(failed, "does not exist")
    assert not (folder / "new").exists()
    done = evaluate(folder, "honest.npy", *PARENT, "--cache-dir", "new/cache")
    assert done.returncode == 0, done.stderr
    assert json.loads((folder / "new/cache" / CACHE).read_text())["format"] == "gaussgan null cache"


# --- train.py --verdict-only: the run's own cache ---------------------------------------------------------
@pytest.fixture
def run_copy(folder, tmp_path) -> Path:
    """The tiny run in a folder of its own (the dataset path in its config.json is absolute)."""
    shutil.copytree(folder / "runs", tmp_path / "runs")
    return tmp_path


def verdict_only(work: Path, folder: Path):
    return run_script("train.py", "-f", folder / DATA, *TINY, "--verdict-only", cwd=work, timeout=120)


@pytest.mark.parametrize("kind", ["fifo", "link_out"])
def test_verdict_only_never_opens_a_cache_that_is_not_a_regular_file(folder, run_copy, kind):
    cache = run_copy / RUN / CACHE
    cache.unlink()
    not_a_file(run_copy / RUN, kind) if kind == "fifo" else cache.symlink_to(folder / "reference" / CACHE)
    before = snapshot(run_copy)
    one_line_error(verdict_only(run_copy, folder), NOT_A_FILE[kind])
    assert snapshot(run_copy) == before


def test_verdict_only_refuses_a_foreign_cache_and_keeps_it(folder, run_copy):
    (run_copy / RUN / CACHE).write_bytes(FOREIGN["notes"])
    before = snapshot(run_copy)
    one_line_error(verdict_only(run_copy, folder), "not a null cache written by gaussgan", "run directory")
    assert snapshot(run_copy) == before


@pytest.mark.parametrize("poison", ["older_huge", "nan_tokens"])
def test_verdict_only_redraws_a_poisoned_cache_and_gives_the_runs_verdict(folder, run_copy, poison):
    cache = run_copy / RUN / CACHE
    content = json.loads(cache.read_text())
    nulls = {key: entry["values"] for key, entry in content["nulls"].items()} if "format" in content else content
    cache.write_text(older_layout(nulls, huge) if poison == "older_huge" else with_digests(nulls, nan))
    result = verdict_only(run_copy, folder)
    assert result.returncode == 0, result.stderr
    assert verdict_of(run_copy / RUN / "verdict.json") == verdict_of(folder / RUN / "verdict.json")
    assert sum(line.startswith("note: ") for line in result.stderr.splitlines()) == 1, result.stderr


# --- -o is never an input ---------------------------------------------------------------------------------
def test_o_is_never_the_parent_dataset_even_with_force(folder):
    shutil.copy(folder / DATA, folder / "parent.json")  # a dataset under a name -o accepts
    before = snapshot(folder)
    result = evaluate(folder, "honest.npy", "--parent", "parent.json", *REPEATS, "-q", "-o", "parent.json", "--force")
    one_line_error(result, "is an input of this command", "parent.json")
    assert snapshot(folder) == before


@pytest.mark.parametrize("input_name", ["honest.npy", DATA])
def test_o_is_never_an_input_under_another_name(folder, input_name):
    alias = f"alias_of_{Path(input_name).stem}.json"
    os.link(folder / input_name, folder / alias)
    before = snapshot(folder)
    one_line_error(evaluate(folder, "honest.npy", *PARENT, "-o", alias, "--force"), "is an input of this command")
    assert snapshot(folder) == before


def test_o_is_never_the_cache_it_reads(folder):
    shutil.copytree(folder / "reference", folder / "own_cache")
    before = snapshot(folder)
    result = evaluate(folder, "honest.npy", *PARENT, "--cache-dir", "own_cache", "-o", f"own_cache/{CACHE}", "--force")
    one_line_error(result, "is an input of this command")
    assert snapshot(folder) == before


# --- what a samples file claims, checked before anything is built from it ----------------------------------
def write_inputs(folder: Path) -> None:
    if (folder / "inputs_written").exists():
        return
    honest = np.load(folder / "honest.npy")
    np.save(folder / "magnitude.npy", honest * 1e154)  # eigenvalues did not converge
    np.savetxt(folder / "magnitude.csv", honest * 1e154, delimiter=",")
    np.save(folder / "one_row.npy", np.zeros((1, 60_000)))
    (folder / "one_line.csv").write_text(",".join(["0.5"] * 300_000) + "\n")
    # 100 rows of 200,000 columns: a sparse file of zeros, whose parent's covariance would need a terabyte
    np.lib.format.open_memmap(folder / "wide.npy", mode="w+", dtype=np.float64, shape=(100, 200_000)).flush()
    np.save(folder / "short.npy", honest)
    (folder / "short.npy").write_bytes((folder / "short.npy").read_bytes()[:2000])
    np.save(folder / "scalar.npy", np.float64(1.0))
    np.save(folder / "booleans.npy", honest > 0)
    (folder / "damaged_first_row.csv").write_text("0.1,x,0.3\n" + (folder / "honest.csv").read_text())
    (folder / "inputs_written").touch()


BAD_INPUTS = [
    (("magnitude.npy", "-s", "gauss"), ["300 samples hold values beyond ±1e+150", "row 0"]),
    (("magnitude.csv", "-s", "gauss"), ["values beyond ±1e+150"]),
    (("one_row.npy", "-s", "gauss"), ["holds 1 sample;", "at least 100"]),
    (("one_line.csv", "-s", "gauss"), ["holds 1 sample at most (1 line)", "at least 100"]),
    (("wide.npy", "-s", "gauss"), ["dimension 200,000", "memory"]),
    (("short.npy", "-s", "gauss"), ["shorter than its header claims"]),
    (("scalar.npy", "-s", "gauss"), ["shape ()"]),
    (("booleans.npy", "-s", "gauss"), ["bool", "real numbers"]),
    (("damaged_first_row.csv", "-s", "gauss"), ["not a table of numbers"]),
    (("honest.npy", "-s", "gauss", "-c", "1", "2", "1"), ["OFFDIAG = 2 with BLOCK = 1", "dropped"]),
    (("honest.npy", "-s", "gauss", "--max-n", "10"), ["--max-n", "at least 100", "got 10"]),
    (("honest.npy", "-s", "gauss", "--max-n", "99"), ["--max-n", "at least 100"]),
]


@pytest.mark.parametrize("args, words", BAD_INPUTS, ids=[" ".join(args) for args, _ in BAD_INPUTS])
def test_bad_input_is_one_line_before_anything_is_built(folder, args, words):
    write_inputs(folder)
    before = snapshot(folder)
    one_line_error(evaluate(folder, *args, *REPEATS, "-q", "-o", "never.json"), *words)
    assert snapshot(folder) == before


@pytest.mark.parametrize("header", [False, True])
def test_a_csv_loses_no_row_to_its_byte_order_mark(folder, header):
    """Without a header, the mark made the first data row look like one (tests/gan/test_evaluate.py: no mark)."""
    name = f"csv_bom_header{int(header)}.csv"
    text = ("x0,x1,x2\n" if header else "") + (folder / "honest.csv").read_text()
    (folder / name).write_text(text, encoding="utf-8-sig")
    result = evaluate(folder, name, *PARENT, "-o", name.replace(".csv", ".json"))
    assert result.returncode == 0, result.stderr
    verdict = json.loads((folder / name.replace(".csv", ".json")).read_text())
    assert verdict["samples_available"] == 300
    assert verdict["results"] == json.loads((folder / "honest.json").read_text())["results"]


# --- the same parent checks as gen-samples, the same --max-n floor as evaluate ---------------------------------
def test_gen_samples_refuses_the_offdiag_evaluate_refuses(tmp_path):
    result = run_script(
        "gen-samples.py", "-n", 100, "-b", 2, "-d", 3, "-s", "gauss", "-c", 1, 2, 1, "--seed", 1, "-q", cwd=tmp_path
    )
    assert_clean_error(result, "OFFDIAG = 2 with BLOCK = 1")  # after its "seed 1" line, as always
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("extra", [("--verdict-only",), ()])
def test_train_refuses_a_verdict_on_fewer_than_100_samples(folder, run_copy, extra):
    options = [word if word != "1000" else "10" for word in TINY]  # --max-n 10
    before = snapshot(run_copy)
    result = run_script("train.py", "-f", folder / DATA, *options, *extra, cwd=run_copy)
    one_line_error(result, "--max-n", "at least 100")
    assert snapshot(run_copy) == before
