"""`python -m gaussgan sweep`: a study's runs through Dask, restartable, stoppable, on a local or external cluster.

The fast tests use tiny studies (50-sample datasets, 2-4 epochs); those marked slow run studies/quick.toml
as the issue asks (complete, relaunch, kill midway and compare with an uninterrupted sweep) and an
external `dask scheduler` with two `dask worker` processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from builders import tiny_study_text
from helpers import REPO, assert_clean_error, in_a_browser, run_module, snapshot

from gaussgan.study.cluster import parse_scheduler

TINY = tiny_study_text(name="tiny")
TINY_NAMES = [f"gauss_dim3_{latent}_1_van_seed{seed}" for latent in (2, 4) for seed in (1, 2)]


gaussgan = run_module  # python -m gaussgan ARGS in cwd, as a user runs it


@contextlib.contextmanager
def started_sweep(*args, cwd: Path) -> Iterator[subprocess.Popen]:
    """A sweep in a session of its own, so that a test can signal its process group as a terminal's Ctrl-C does;
    whatever is left of the group when the test ends is killed (a failing test leaves nothing running)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gaussgan", "sweep", *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def stopped_output(process: subprocess.Popen) -> str:
    """The sweep's stderr once it has exited; not waiting for the pipes' end, which a survivor would hold open."""
    process.wait(timeout=60)
    os.set_blocking(process.stderr.fileno(), False)
    return process.stderr.read() or ""


def csv_rows(run_dir: Path) -> int:
    path = run_dir / "training_details.csv"
    return len(pd.read_csv(path)) if path.exists() else 0


def assert_no_process_left(group: int, timeout: float = 10) -> None:
    """Nothing of the sweep's process group survives it (its Dask workers included)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    survivors = subprocess.run(["ps", "-o", "pid,cmd", "-g", str(group)], capture_output=True, text=True).stdout
    pytest.fail(f"processes of the sweep outlived it:\n{survivors}")


def assert_done(runs_dir: Path, names: list[str], epochs: int) -> None:
    assert sorted(path.name for path in runs_dir.iterdir() if not path.name.startswith(".")) == sorted(names)
    for name in names:
        config = json.loads((runs_dir / name / "config.json").read_text())
        assert config["threads"] == 1 and config["quiet"] and config["epochs"] == epochs
        assert csv_rows(runs_dir / name) == epochs


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory) -> Path:
    """A tiny study swept once on two local workers (shared by the tests that need finished runs)."""
    folder = tmp_path_factory.mktemp("tiny")
    (folder / "tiny.toml").write_text(TINY.format(epochs=2))
    result = gaussgan("sweep", "tiny.toml", "--workers", "2", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder


def test_sweep_runs_every_configuration_on_two_local_workers(tiny_study):
    runs_dir = tiny_study / "runs" / "tiny"
    assert_done(runs_dir, TINY_NAMES, epochs=2)
    assert (tiny_study / "datasets" / "tiny" / "data_gauss_dim3.h5").is_file()
    for name in TINY_NAMES:  # each run an ordinary train() run, with the options the study gave it
        config = json.loads((runs_dir / name / "config.json").read_text())
        assert config["seed"] == int(name[-1]) and config["scale"] == 0.1 and config["n_eval"] == 50
        assert config["postfix"] == f"seed{config['seed']}" and "train.py" in config["command"]
    assert not [path for path in tiny_study.rglob("*") if ".tmp" in path.name]


def test_a_run_of_a_sweep_is_the_run_its_recorded_train_command_makes(tiny_study, tmp_path):
    """Each run's config.json records the train.py command that makes it by hand: the same numbers."""
    run_dir = tiny_study / "runs" / "tiny" / TINY_NAMES[-1]
    words = shlex.split(json.loads((run_dir / "config.json").read_text())["command"])
    assert words[:2] == ["python", "train.py"]
    words[words.index("-o") + 1] = str(tmp_path / "by-hand")
    made = subprocess.run([sys.executable, str(REPO / "train.py"), *words[2:]], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    swept = pd.read_csv(run_dir / "training_details.csv")
    by_hand = pd.read_csv(tmp_path / "by-hand" / TINY_NAMES[-1] / "training_details.csv")
    numbers = [column for column in swept if not column.startswith("seconds")]
    pd.testing.assert_frame_equal(swept[numbers], by_hand[numbers])


def test_relaunching_a_finished_sweep_does_nothing(tiny_study):
    before = snapshot(tiny_study)
    result = gaussgan("sweep", "tiny.toml", "--workers", "2", cwd=tiny_study)
    assert result.returncode == 0, result.stderr
    assert "all 4 runs are done" in result.stdout and "nothing to do" in result.stdout
    assert snapshot(tiny_study) == before


def test_dry_run_lists_the_runs_and_which_are_done(tiny_study, tmp_path):
    before = snapshot(tiny_study)
    result = gaussgan("sweep", "tiny.toml", "--dry-run", "--epochs", "3", cwd=tiny_study)
    assert result.returncode == 0, result.stderr
    # A larger epochs extends the finished runs: they are partial now, resumed by the next sweep.
    assert "4 partial" in result.stdout
    assert all(f"partial   {name}" in result.stdout and "epoch 2/3" in result.stdout for name in TINY_NAMES)
    assert snapshot(tiny_study) == before
    (tmp_path / "tiny.toml").write_text(TINY.format(epochs=2))
    fresh = gaussgan("sweep", "tiny.toml", "--dry-run", cwd=tmp_path)
    assert fresh.returncode == 0 and "4 new" in fresh.stdout and "datasets to generate" in fresh.stdout
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tiny.toml"]


def test_a_study_changed_under_finished_runs_is_reported_not_mixed(tiny_study):
    before = snapshot(tiny_study)
    result = gaussgan("sweep", "tiny.toml", "--set", "lr=0.001", cwd=tiny_study)
    assert_clean_error(result, "4 run directories", "other options", "lr: 5e-05 -> 0.001")
    assert snapshot(tiny_study) == before
    listed = gaussgan("sweep", "tiny.toml", "--set", "lr=0.001", "--dry-run", cwd=tiny_study)
    assert listed.returncode == 0 and "4 changed" in listed.stdout


def test_an_existing_dataset_made_with_other_options_is_an_error(tiny_study):
    changed = (tiny_study / "tiny.toml").read_text().replace("n_samples = 50", "n_samples = 60")
    (tiny_study / "other.toml").write_text(changed.replace('runs_dir = "runs/tiny"', 'runs_dir = "runs/other"'))
    before = snapshot(tiny_study)
    result = gaussgan("sweep", "other.toml", cwd=tiny_study)
    assert_clean_error(result, "data_gauss_dim3.h5", "samples 100 (the study: 120)")
    assert snapshot(tiny_study) == before


def test_a_failed_run_is_reported_and_the_others_complete(tmp_path):
    """A dataset of one sample cannot train: its run fails with train's one-line error, the other runs finish,
    and the exit status is 1."""
    made = subprocess.run(
        [sys.executable, str(REPO / "gen-samples.py"), "-n", "1", "-b", "1", "-d", "2", "-p", "_one", "-q"]
        + ["--seed", "1", "-o", "data"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    study = TINY.format(epochs=1).replace(
        'dir = "datasets/tiny"', 'dir = "datasets/tiny"\nfiles = ["data/data_gauss_dim2_one.h5"]'
    )
    (tmp_path / "tiny.toml").write_text(study.replace("seeds = [1, 2]", "seeds = [1]").replace("[2, 4]", "[2]"))
    result = gaussgan("sweep", "tiny.toml", "--workers", "1", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "failed: gauss_dim2_2_1_van: " in result.stderr and "training needs at least 2" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: 1 of 2 runs failed")
    assert "Traceback" not in result.stderr
    assert csv_rows(tmp_path / "runs" / "tiny" / "gauss_dim3_2_1_van") == 1


@pytest.mark.parametrize(
    "signum, status, whole_group, options",
    [(signal.SIGINT, 130, True, []), (signal.SIGTERM, 143, False, ["--background-figures"])],
    ids=["ctrl-c to the process group", "sigterm to the sweep alone, figures in processes of their own"],
)
def test_a_stopped_sweep_exits_at_once_leaving_every_run_resumable(tmp_path, signum, status, whole_group, options):
    (tmp_path / "tiny.toml").write_text(TINY.format(epochs=40))
    runs_dir = tmp_path / "runs" / "tiny"
    with started_sweep("tiny.toml", "--workers", "2", *options, cwd=tmp_path) as process:
        deadline = time.monotonic() + 120
        while not any(csv_rows(path) >= 2 for path in runs_dir.glob("gauss_*")):
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.1)
        if whole_group:  # meanwhile, a second sweep of the same study is refused, naming the first
            second = gaussgan("sweep", "tiny.toml", "--workers", "1", cwd=tmp_path)
            assert_clean_error(second, "is being written by another process", f"PID {process.pid}")
        (os.killpg if whole_group else os.kill)(process.pid, signum)
        stopped = time.monotonic()
        stderr = stopped_output(process)
        assert process.returncode == status, stderr
        assert time.monotonic() - stopped < 10, "the sweep should stop at once, not wait for its runs"
        assert "Run the same command again to continue" in stderr and "Traceback" not in stderr
        assert "leaked" not in stderr and "Exception" not in stderr, stderr
        assert_no_process_left(process.pid)
    states = gaussgan("sweep", "tiny.toml", "--dry-run", cwd=tmp_path)
    assert states.returncode == 0 and "changed" not in states.stdout and "partial" in states.stdout
    assert "finished" not in states.stdout  # 40 epochs: none could finish before the stop


@pytest.mark.slow
def test_an_external_scheduler_with_two_workers_runs_the_study(tmp_path):
    """`dask scheduler` and two `dask worker` processes started separately; the sweep connects with --scheduler."""
    dask = Path(sys.executable).with_name("dask")
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    started = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", "s.json"]
            + ["--dashboard-address", "127.0.0.1:0"],  # its HTTP endpoint too: on every interface by default
            cwd=tmp_path,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "s.json").exists():
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        time.sleep(0.2)  # written whole by now
        address = json.loads((tmp_path / "s.json").read_text())["address"]
        for _ in range(2):
            started.append(
                subprocess.Popen(
                    [dask, "worker", "--scheduler-file", "s.json", "--nthreads", "1", "--no-dashboard"]
                    + ["--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0"],
                    cwd=tmp_path,
                    env=environment,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        (tmp_path / "tiny.toml").write_text(TINY.format(epochs=2))
        result = gaussgan("sweep", "tiny.toml", "--scheduler", address, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert f"on the Dask cluster at {address}" in result.stdout
        assert_done(tmp_path / "runs" / "tiny", TINY_NAMES, epochs=2)
        again = gaussgan("sweep", "tiny.toml", "--scheduler", address, cwd=tmp_path)
        assert again.returncode == 0 and "nothing to do" in again.stdout
        # Stopped, the sweep cancels its runs and restarts the workers training them: nothing is written after.
        (tmp_path / "long.toml").write_text(TINY.format(epochs=40).replace("runs/tiny", "runs/long"))
        with started_sweep("long.toml", "--scheduler", address, cwd=tmp_path) as process:
            deadline = time.monotonic() + 120
            while not any(csv_rows(path) >= 2 for path in (tmp_path / "runs" / "long").glob("gauss_*")):
                assert process.poll() is None and time.monotonic() < deadline, process.communicate()
                time.sleep(0.1)
            os.kill(process.pid, signal.SIGINT)
            stderr = stopped_output(process)
            assert process.returncode == 130, stderr
        written = snapshot(tmp_path / "runs" / "long")
        time.sleep(3)
        assert snapshot(tmp_path / "runs" / "long") == written
        states = gaussgan("sweep", "long.toml", "--dry-run", cwd=tmp_path)
        assert states.returncode == 0 and "partial" in states.stdout and "changed" not in states.stdout
    finally:
        for process in reversed(started):
            with_group = os.getpgid(process.pid) if process.poll() is None else None
            if with_group:
                os.killpg(with_group, signal.SIGTERM)
            process.wait(timeout=30)


def test_an_unreachable_scheduler_is_an_error_and_nothing_is_written(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "tiny.toml").write_text(TINY.format(epochs=2))
    before = snapshot(tmp_path)
    result = gaussgan("sweep", "tiny.toml", "--scheduler", f"tcp://127.0.0.1:{port}", cwd=tmp_path, timeout=60)
    assert_clean_error(result, "cannot reach the Dask scheduler", f"127.0.0.1:{port}")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "given, url, loopback, insecure",
    [
        ("127.0.0.1:8786", "tcp://127.0.0.1:8786", True, False),  # no scheme: Dask's default, tcp
        ("tcp://127.0.0.2:9", "tcp://127.0.0.2:9", True, False),  # all of 127.0.0.0/8 is loopback
        ("tcp://[::1]:8786", "tcp://[::1]:8786", True, False),
        ("tcp://LocalHost:8786", "tcp://localhost:8786", True, False),
        ("tcp://head-node.cluster:8786", "tcp://head-node.cluster:8786", False, True),  # allowed with --insecure
        ("tcp://[fd00::5]:8786", "tcp://[fd00::5]:8786", False, True),
    ],
)
def test_scheduler_addresses_are_read_as_dask_writes_them(given, url, loopback, insecure):
    """What --scheduler accepts, in-process: loopback by its address or the name localhost (no name is looked
    up), anything else only with --insecure (the refusals are end_to_end/test_faults_sweep.py's)."""
    address = parse_scheduler(given, insecure=insecure)
    assert (address.url, address.loopback, address.tls) == (url, loopback, None)


# --- The quick study, as the "Done when" asks (slow: about a minute per sweep on 2 cores) ---------
@pytest.fixture(scope="module")
def quick_uninterrupted(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("quick")
    result = gaussgan("sweep", REPO / "studies" / "quick.toml", "--workers", "2", cwd=folder, timeout=900)
    assert result.returncode == 0, result.stderr
    return folder


def quick_names() -> list[str]:
    return [
        f"gauss_dim{dim}_{latent}_1_{rule}_c{scale}_seed{seed}"
        for dim in (4, 16)
        for latent in (2, 16)
        for rule in ("van", "wass")
        for scale in ("0.25", "1")
        for seed in (1, 2)
    ]


@pytest.mark.slow
def test_quick_study_completes_with_two_workers_and_a_relaunch_does_nothing(quick_uninterrupted):
    assert_done(quick_uninterrupted / "runs" / "quick", quick_names(), epochs=6)
    before = snapshot(quick_uninterrupted)
    again = gaussgan("sweep", REPO / "studies" / "quick.toml", "--workers", "2", cwd=quick_uninterrupted)
    assert again.returncode == 0 and "all 32 runs are done" in again.stdout
    assert snapshot(quick_uninterrupted) == before


@pytest.mark.slow
def test_the_quick_studys_report_opens_with_the_answer_and_the_n_star_heatmap(quick_uninterrupted, tmp_path):
    """As a new user runs it: sweep the quick study, report it, look at the first screen."""
    reported = gaussgan("report", REPO / "studies" / "quick.toml", "-o", tmp_path / "report", cwd=quick_uninterrupted)
    assert reported.returncode == 0, reported.stderr
    page = (tmp_path / "report" / "index.html").read_text()
    answer = re.search(r'<p class="answer" id="answer">([^<]*)</p>', page).group(1)
    assert answer.startswith(("Best configuration (", "No configuration is indistinguishable")), answer
    assert "6 epochs each" in page  # the title's facts, from the runs
    _, placed = in_a_browser(tmp_path / "report" / "index.html", tmp_path, ("answer", "n_star_heatmaps"))
    assert placed["answer"] < placed["n_star_heatmaps"] <= 1000, placed


@pytest.mark.slow
def test_quick_study_killed_midway_then_relaunched_matches_an_uninterrupted_sweep(quick_uninterrupted, tmp_path):
    study = REPO / "studies" / "quick.toml"
    runs_dir = tmp_path / "runs" / "quick"
    with started_sweep(study, "--workers", "2", cwd=tmp_path) as process:
        deadline = time.monotonic() + 600
        # A quarter of the runs done: their 6 epochs and their verdict (written last).
        while sum(csv_rows(path) == 6 and (path / "verdict.json").exists() for path in runs_dir.glob("gauss_*")) < 8:
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGINT)
        stderr = stopped_output(process)
        assert process.returncode == 130, stderr
        assert_no_process_left(process.pid)
    plan = gaussgan("sweep", study, "--dry-run", cwd=tmp_path)
    finished = plan.stdout.count("  finished  ")
    assert 8 <= finished < 32 and "changed" not in plan.stdout
    relaunch = gaussgan("sweep", study, "--workers", "2", cwd=tmp_path, timeout=900)
    assert relaunch.returncode == 0, relaunch.stderr
    assert f"{finished} done" in relaunch.stdout
    # Only what was left was trained: one "done" line per run not finished before.
    assert relaunch.stderr.count("] done ") == 32 - finished
    reports = {}
    for name, folder in (("uninterrupted", quick_uninterrupted), ("relaunched", tmp_path)):
        made = gaussgan("report", study, "-o", f"report-{name}", cwd=folder)
        assert made.returncode == 0, made.stderr
        reports[name] = pd.read_csv(folder / f"report-{name}" / "summary.csv")
    first, second = reports["uninterrupted"], reports["relaunched"]
    assert list(first["run"]) == list(second["run"]) == sorted(quick_names())
    metrics = [column for column in first if column.startswith(("final_", "best_"))]
    assert "final_norm_ks_ratio" in metrics and "best_sigma_rho_ratio" in metrics
    pd.testing.assert_frame_equal(first[metrics], second[metrics])
    assert second["finished"].all()
