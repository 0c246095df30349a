"""gen-samples.py end to end, as a user runs it."""

import h5py
import numpy as np
import pytest
from helpers import run_script

from gaussgan.data import datasets


def test_documented_command_writes_datasets_and_histograms(workdir):
    result = run_script("gen-samples.py", "-n", 200, "-s", "gauss", "-b", 3, "-d", 1, 2, 10, "--seed", 4, cwd=workdir)
    assert result.returncode == 0, result.stderr
    for dim in (1, 2, 10):
        data, parent, fields = datasets.load_dataset(workdir / f"datasets/data_gauss_dim{dim}.h5")
        assert data.shape == (600, dim) and parent.is_standard_normal and fields["seed"] == 4
        assert (workdir / f"datasets/hist_gauss_dim{dim}.png").stat().st_size > 10_000
        assert f"dim {dim}:" in result.stdout and "expected" in result.stdout
    assert "seed 4" in result.stderr


@pytest.mark.parametrize("dist", ["trunc_gauss", "cauchy", "uniform"])
def test_other_parents_and_options(workdir, dist):
    result = run_script(
        "gen-samples.py",
        "-n",
        100,
        "-b",
        2,
        "-s",
        dist,
        "-d",
        3,
        "-m",
        0.5,
        "-c",
        2,
        0,
        1,
        "--xlo",
        0,
        "--xhi",
        2,
        "-o",
        "out",
        "-p",
        "_x",
        "--quiet",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    data, parent, _ = datasets.load_dataset(workdir / f"out/data_{dist}_dim3_x.h5")
    assert parent.name == dist and parent.mu == 0.5 and parent.sigma[0, 0] == 2.0
    assert (workdir / f"out/hist_{dist}_dim3_x.png").exists()
    if dist != "cauchy":
        assert data.min() >= 0 and data.max() <= 2


def test_correlated_covariance_is_recorded(workdir):
    result = run_script("gen-samples.py", "-n", 5000, "-b", 4, "-d", 4, "-c", 1, 0.5, 2, "--seed", 1, cwd=workdir)
    assert result.returncode == 0, result.stderr
    data, parent, _ = datasets.load_dataset(workdir / "datasets/data_gauss_dim4.h5")
    np.testing.assert_allclose(np.cov(data, rowvar=False), parent.sigma, atol=0.05)
    assert parent.sigma[0, 1] == 0.5 and parent.sigma[1, 2] == 0


def read_data(path):
    with h5py.File(path) as handle:
        return handle["data"][()].tobytes()


def test_same_seed_same_bytes_and_dimensions_are_independent(workdir):
    for folder, dims in (("a", ["2", "5"]), ("b", ["5"]), ("c", ["2", "5"])):
        seed = "8" if folder != "c" else "9"
        assert (
            run_script(
                "gen-samples.py", "-n", 50, "-b", 2, "-d", *dims, "--seed", seed, "-o", folder, cwd=workdir
            ).returncode
            == 0
        )
    same = read_data(workdir / "a/data_gauss_dim5.h5")
    assert same == read_data(workdir / "b/data_gauss_dim5.h5")  # whichever other dimensions were asked for
    assert same != read_data(workdir / "c/data_gauss_dim5.h5")
    assert read_data(workdir / "a/data_gauss_dim2.h5")[:800] != same[:800]


def test_without_seed_one_is_drawn_printed_and_recorded(workdir):
    result = run_script("gen-samples.py", "-n", 10, "-b", 1, "-d", 2, cwd=workdir)
    seed = int(result.stderr.split()[1])
    assert datasets.load_dataset(workdir / "datasets/data_gauss_dim2.h5")[2]["seed"] == seed


def peak_mb(workdir, *options) -> float:
    """The peak resident memory of a gen-samples.py process itself, in MB.

    Read from /proc/self/status (VmHWM) by the process at its end: exec resets it, so it is the
    child's own peak. getrusage's ru_maxrss is not: a forked child inherits its parent's value,
    so a 13 MB child of a 613 MB pytest reports 613 MB and no regression could show.
    """
    import subprocess
    import sys

    from helpers import REPO

    code = (
        "import runpy, sys\n"
        "sys.argv = sys.argv[1:]\n"
        "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "except SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "line = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print('PEAK', int(line.split()[1]) / 1024)\n"
    )
    command = [
        sys.executable,
        "-c",
        code,
        str(REPO / "gen-samples.py"),
        *map(str, options),
        "--seed",
        "1",
        "-q",
        "-o",
        "memory",
        "--force",  # the second measurement writes the same names
    ]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    return float(result.stdout.split("PEAK")[1])


def test_one_batch_in_memory_at_a_time(workdir):
    """Doubling the batch adds one batch to the peak, not two: the previous batch is freed before the next is drawn.

    With 95 MB batches and 48 MB half-batches, one batch alive gives +48 MB, two give +95 MB.
    """
    half_batch_mb = 12_500 * 500 * 8 / 2**20
    small = peak_mb(workdir, "-n", 12_500, "-b", 3, "-d", 500)
    large = peak_mb(workdir, "-n", 25_000, "-b", 3, "-d", 500)
    assert large - small < 1.5 * half_batch_mb, (small, large)


def test_peak_memory_does_not_grow_with_the_number_of_batches(workdir):
    """The norms are summarised per batch: 200 batches of 100,000 1-d samples peak where 2 do.

    Keeping every norm for the histogram (as before) made 160 MB of norms here, plus matplotlib's copies.
    """
    few, many = peak_mb(workdir, "-n", 100_000, "-b", 2, "-d", 1), peak_mb(workdir, "-n", 100_000, "-b", 200, "-d", 1)
    assert many < few + 20, (few, many)
