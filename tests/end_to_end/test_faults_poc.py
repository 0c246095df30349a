"""Faults a user or the machine causes, through the real naive.py / adversarial.py (issue 9).

Write failures (file-size limit, full device), damaged and foreign model files, paths that are
not files, option sets too big for memory, and signals at several moments. Each case checks the
exit status, the message and every file left afterwards. Memory-related cases run the child
under an address-space limit, so that a regression fails with an error instead of eating the
shared machine's memory.
"""

from __future__ import annotations

import io
import os
import resource
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import REPO, assert_clean_error

TIMEOUT = 120
TINY = ("50", "train", "--epochs", "2", "--seed", "1")  # well under a second of training
ADDRESS_SPACE = 4 * 1024**3  # torch itself needs ~1 GB of address space


def limits(fsize: int | None = None, address_space: int | None = None, sigint_default: bool = False):
    """preexec_fn for the child: resource limits, and Ctrl-C restored as a terminal would."""

    def apply() -> None:
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        if address_space is not None:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        if sigint_default:
            signal.signal(signal.SIGINT, signal.SIG_DFL)

    return apply


def command(script: str, *args: str) -> list[str]:
    if script == "-m":
        return [sys.executable, "-m", "gaussgan", *map(str, args)]
    return [sys.executable, str(REPO / f"{script}.py"), *map(str, args)]


def run(
    script: str,
    *args: str,
    cwd: Path,
    fsize: int | None = None,
    address_space: int | None = None,
    stdout=subprocess.PIPE,
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess:
    return subprocess.run(
        command(script, *args),
        cwd=cwd,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
        preexec_fn=limits(fsize, address_space),
    )


def contents(folder: Path) -> dict[str, bytes | str]:
    """Every entry of ``folder`` (hidden temporaries included): bytes of files, the kind of anything else."""
    found: dict[str, bytes | str] = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_fifo():
            found[entry.name] = "fifo"
        elif entry.is_dir():
            found[entry.name] = "folder"
        else:
            found[entry.name] = entry.read_bytes()
    return found


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> bytes:
    """The bytes of a tiny trained model (naive rule, seed 1)."""
    folder = tmp_path_factory.mktemp("model")
    result = run("naive", "--model-path=m.pt", *TINY, cwd=folder)
    assert result.returncode == 0, result.stderr
    return (folder / "m.pt").read_bytes()


# --- 4. write failures -----------------------------------------------------------------------


def test_file_size_limit_while_saving_keeps_the_previous_model(tmp_path, model):
    (tmp_path / "m.pt").write_bytes(model)
    result = run("adversarial", "--model-path=m.pt", *TINY, "--force", cwd=tmp_path, fsize=4096)
    assert_clean_error(result, "cannot write 'm.pt'", "File too large")
    assert contents(tmp_path) == {"m.pt": model}  # the previous model, and no temporary


def test_file_size_limit_with_no_previous_model_leaves_nothing(tmp_path):
    result = run("naive", "--model-path=m.pt", *TINY, cwd=tmp_path, fsize=4096)
    assert_clean_error(result, "cannot write 'm.pt'", "File too large")
    assert contents(tmp_path) == {}


def test_generate_into_a_full_device_is_an_error(tmp_path, model):
    (tmp_path / "m.pt").write_bytes(model)
    with open("/dev/full", "w") as full:
        result = run("naive", "--model-path=m.pt", "1000", "generate", "--seed", "1", cwd=tmp_path, stdout=full)
    assert_clean_error(result, "cannot write to standard output", "No space left on device")
    assert contents(tmp_path) == {"m.pt": model}


def test_generate_past_the_file_size_limit_is_an_error(tmp_path, model):
    (tmp_path / "m.pt").write_bytes(model)
    with open(tmp_path / "samples.txt", "w") as samples:
        result = run(
            "naive", "--model-path=m.pt", "100000", "generate", "--seed", "1", cwd=tmp_path, stdout=samples, fsize=4096
        )
    assert_clean_error(result, "cannot write to standard output", "File too large")
    assert sorted(contents(tmp_path)) == ["m.pt", "samples.txt"]
    assert (tmp_path / "m.pt").read_bytes() == model
    assert (tmp_path / "samples.txt").stat().st_size == 4096  # the shell's file, filled up to the limit


def test_figure_past_the_file_size_limit_keeps_the_previous_figure(tmp_path):
    numbers = "\n".join(f"{value / 100:.2f}" for value in range(-200, 200)) + "\n"
    (tmp_path / "naive.txt").write_text("0.001\n" * 100)
    (tmp_path / "adversarial.txt").write_text(numbers)
    (tmp_path / "poc.png").write_bytes(b"previous figure")
    before = contents(tmp_path)
    result = run("-m", "poc-figure", "--force", "naive.txt", "adversarial.txt", "poc.png", cwd=tmp_path, fsize=4096)
    assert_clean_error(result, "cannot write 'poc.png'", "File too large")
    assert contents(tmp_path) == before


def test_temporary_left_by_a_killed_writer_is_removed(tmp_path, model):
    ended = subprocess.Popen(["true"])
    ended.wait()  # its PID now names no living writer
    (tmp_path / f".m.pt.{ended.pid}.0123abcd.tmp.pt").write_bytes(model[:100])  # what a kill -9 mid-save leaves
    result = run("naive", "--model-path=m.pt", *TINY, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(contents(tmp_path)) == ["m.pt"]
    assert (tmp_path / "m.pt").read_bytes() == model  # same seed, same bytes


# --- 5. defensive reads --------------------------------------------------------------------------


def transpose(checkpoint: dict) -> None:
    checkpoint["state_dict"]["0.weight"] = checkpoint["state_dict"]["0.weight"].t().contiguous()


# How a readable model file can be wrong, and the words its error must contain.
DAMAGED = {
    "no state_dict": (lambda c: c.pop("state_dict"), ["damaged", "state_dict"]),
    "no in_shape": (lambda c: c.pop("in_shape"), ["damaged", "'in_shape' is missing"]),
    "in_shape a string": (lambda c: c.update(in_shape="1"), ["in_shape", "positive integer"]),
    "in_shape a bool": (lambda c: c.update(in_shape=True), ["in_shape", "positive integer"]),
    "hidden of floats": (lambda c: c.update(hidden=[64.0, 64]), ["hidden", "positive integer"]),
    "hidden a string": (lambda c: c.update(hidden="64,64"), ["hidden", "list of layer widths"]),
    "unknown activation": (lambda c: c.update(activation="gelu"), ["activation", "gelu"]),
    "missing tensor": (lambda c: c["state_dict"].pop("4.bias"), ["missing ['4.bias']"]),
    "wrong tensor shape": (transpose, ["'0.weight' is (1, 64), expected (64, 1)"]),
    "a list, not a tensor": (lambda c: c["state_dict"].update({"0.bias": [0.0] * 64}), ["'0.bias'", "tensor"]),
    "float64 weights": (
        lambda c: c["state_dict"].update({"0.bias": torch.zeros(64, dtype=torch.float64)}),
        ["'0.bias'", "float32"],
    ),
    "NaN weights": (lambda c: c["state_dict"]["4.bias"].fill_(float("nan")), ["'4.bias'", "NaN"]),
    "newer version": (lambda c: c.update(version=2), ["version 2"]),
}


def write_model(path: Path, checkpoint: dict) -> None:
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    path.write_bytes(buffer.getvalue())


@pytest.mark.parametrize("case", DAMAGED)
def test_damaged_model_files_are_refused(tmp_path, model, case):
    change, words = DAMAGED[case]
    checkpoint = torch.load(io.BytesIO(model), map_location="cpu", weights_only=True)
    change(checkpoint)
    write_model(tmp_path / "m.pt", checkpoint)
    before = contents(tmp_path)
    result = run("naive", "--model-path=m.pt", "5", "generate", cwd=tmp_path, address_space=ADDRESS_SPACE)
    assert_clean_error(result, "m.pt", *words)
    assert result.stdout == ""
    assert contents(tmp_path) == before


@pytest.mark.parametrize("sizes", [[1, 64, 64, 1], [3, 5, 2], [2, 7, 6, 5, 4]])
def test_expected_shapes_are_those_of_the_network_built(sizes):
    """The shapes a model file is checked against, known without building: they must be the network's."""
    from gaussgan.poc.model import build_network, layer_shapes, parameter_count

    network = build_network(sizes, "leaky_relu")
    assert {name: tuple(tensor.shape) for name, tensor in network.state_dict().items()} == layer_shapes(sizes)
    assert parameter_count(sizes) == sum(tensor.numel() for tensor in network.parameters())


def test_zero_stride_model_is_refused_without_allocating(tmp_path, model):
    """A few kilobytes that claim a 25 GB network: each big tensor repeats one stored number."""
    checkpoint = torch.load(io.BytesIO(model), map_location="cpu", weights_only=True)
    wide = 10**8
    checkpoint["hidden"] = [wide, 64]
    checkpoint["state_dict"].update(
        {
            "0.weight": torch.zeros(1, 1).expand(wide, 1),
            "0.bias": torch.zeros(1).expand(wide),
            "2.weight": torch.zeros(1, 1).expand(64, wide),
        }
    )
    write_model(tmp_path / "m.pt", checkpoint)
    assert (tmp_path / "m.pt").stat().st_size < 10_000
    before = contents(tmp_path)
    result = run("naive", "--model-path=m.pt", "5", "generate", cwd=tmp_path, address_space=ADDRESS_SPACE)
    assert_clean_error(result, "m.pt", "damaged", "'0.weight'", "repeats")
    assert contents(tmp_path) == before


@pytest.mark.parametrize("command", ["train", "generate"])
def test_fifo_as_model_path_is_refused_without_hanging(tmp_path, command):
    os.mkfifo(tmp_path / "m.pt")
    result = run("naive", "--model-path=m.pt", "5", command, "--epochs", "1", cwd=tmp_path, timeout=60)
    assert_clean_error(result, "m.pt", "not a regular file")
    assert contents(tmp_path) == {"m.pt": "fifo"}  # still the FIFO: never opened, never replaced


@pytest.mark.parametrize(
    "path, command, words",
    [
        ("models", "train", ["is a folder"]),
        ("models", "generate", ["is a folder"]),
        ("no/such/m.pt", "train", ["does not exist", "create"]),
        ("notes.txt/m.pt", "train", ["notes.txt/m.pt", "Not a directory"]),
        ("notes.txt/m.pt", "generate", ["notes.txt/m.pt", "Not a directory"]),
    ],
)
def test_model_path_that_cannot_be_a_model_file_is_refused(tmp_path, path, command, words):
    (tmp_path / "models").mkdir()
    (tmp_path / "notes.txt").write_text("not a folder\n")
    before = contents(tmp_path)
    result = run("naive", f"--model-path={path}", "5", command, "--epochs", "1", cwd=tmp_path)
    assert_clean_error(result, *words)
    assert contents(tmp_path) == before


# --- 6. memory guards ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        ("1000", "train", "--in-shape", str(10**8)),
        ("1000", "train", "--out-shape", str(10**8)),
        (str(10**12), "train"),
        (str(10**9), "train", "--no-dynamic-sample"),
    ],
    ids=["in-shape 1e8", "out-shape 1e8", "NUMBER 1e12", "NUMBER 1e9 fixed"],
)
def test_option_sets_too_big_for_memory_are_refused_before_allocating(tmp_path, options):
    started = time.monotonic()
    result = run("adversarial", "--model-path=m.pt", *options, cwd=tmp_path, address_space=ADDRESS_SPACE)
    assert_clean_error(result, "needs about", "GiB of memory", "but only", "is available", "smaller")
    assert "seed" not in result.stderr  # refused before anything started
    assert contents(tmp_path) == {}
    assert time.monotonic() - started < 60


def test_generate_streams_any_number_of_samples(tmp_path, model):
    """10**12 samples would be 4 TB at once; streamed in chunks, the first lines come at once."""
    (tmp_path / "m.pt").write_bytes(model)
    process = subprocess.Popen(
        command("naive", "--model-path=m.pt", str(10**12), "generate", "--seed", "1"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limits(address_space=ADDRESS_SPACE),
    )
    try:
        lines = [process.stdout.readline() for _ in range(3)]
        process.stdout.close()  # the reader stops, as `| head -n 3` would
        stderr = process.stderr.read()
        process.wait(timeout=TIMEOUT)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert len([float(line) for line in lines]) == 3 and "Traceback" not in stderr
    assert contents(tmp_path) == {"m.pt": model}


# --- 8. signals ----------------------------------------------------------------------------------


@pytest.fixture
def start():
    """Start a script in the background, killed at the end; its stdout buffered as a user's would be
    (not PYTHONUNBUFFERED), ours not, so that we can wait for a line."""
    started = []

    def start(script: str, *args: str, cwd: Path) -> subprocess.Popen:
        environment = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
        process = subprocess.Popen(
            command(script, *args),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            preexec_fn=limits(sigint_default=True),
            env=environment,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()


def wait_for(stream, text: str, timeout: float = TIMEOUT) -> bytes:
    """Read ``stream`` until a line holding ``text`` has arrived; what was read."""
    seen, deadline = b"", time.monotonic() + timeout
    while not any(text.encode() in line for line in seen.splitlines(keepends=True) if line.endswith(b"\n")):
        ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(stream.fileno(), 65536) if ready else b""
        assert chunk, f"no line with {text!r} (read so far: {seen!r})"
        seen += chunk
    return seen


def finish(process: subprocess.Popen, stdout: bytes = b"", stderr: bytes = b"") -> tuple[str, str]:
    """Wait for the end; everything the process wrote, with what ``wait_for`` already read."""
    rest_out, rest_err = process.communicate(timeout=TIMEOUT)
    return (stdout + rest_out).decode(), (stderr + rest_err).decode()


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_before_the_first_epoch_ended_keeps_the_previous_model(start, tmp_path, model, signum, status):
    (tmp_path / "m.pt").write_bytes(model)
    # 400,000 samples: the first epoch is ~1600 steps, seconds away when the seed is shown.
    process = start("adversarial", "--model-path=m.pt", "400000", "train", "--seed", "3", "--force", cwd=tmp_path)
    seen = wait_for(process.stderr, "seed 3")
    process.send_signal(signum)
    stdout, stderr = finish(process, stderr=seen)
    assert process.returncode == status, stderr
    assert "stopped before the first epoch ended; no model saved" in stderr and "Traceback" not in stderr
    assert stdout == ""
    assert contents(tmp_path) == {"m.pt": model}


def test_sigterm_mid_training_saves_a_usable_model(start, tmp_path):
    process = start("naive", "--model-path=m.pt", "100", "train", "--epochs", "1000000", cwd=tmp_path)
    seen = wait_for(process.stderr, "training the naive generator")
    time.sleep(0.5)  # hundreds of epochs of one step each
    process.send_signal(signal.SIGTERM)
    stdout, stderr = finish(process, stderr=seen)
    assert process.returncode == 143, stderr
    assert "model so far saved to m.pt" in stderr and "Traceback" not in stderr
    assert stdout == ""  # no verdict for a model that stopped early
    assert sorted(contents(tmp_path)) == ["m.pt"]
    checkpoint = torch.load(tmp_path / "m.pt", map_location="cpu", weights_only=True)
    assert 0 < checkpoint["epochs"] < 1000000
    assert f"stopped after {checkpoint['epochs']} of 1000000 epochs" in stderr
    result = run("adversarial", "--model-path=m.pt", "3", "generate", cwd=tmp_path)
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 3, result.stderr


def test_signal_at_the_verdict_keeps_the_finished_model(start, tmp_path):
    assert run("adversarial", "--model-path=reference.pt", *TINY, cwd=tmp_path).returncode == 0
    process = start("adversarial", "--model-path=m.pt", *TINY, cwd=tmp_path)
    seen = wait_for(process.stdout, "model saved to m.pt")  # the verdict (scipy's import, 10,000 samples) follows
    process.send_signal(signal.SIGINT)
    assert b"verdict" not in seen  # the signal went before the verdict was printed
    stdout, stderr = finish(process, stdout=seen)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and stderr.rstrip().endswith("interrupted")
    # The signal lands just before the verdict (skipped) or during it (finished, it is short): never half of it.
    assert stdout.count("\n") in (1, 3) and (stdout.count("\n") == 1 or " -> " in stdout.splitlines()[-1]), stdout
    assert sorted(contents(tmp_path)) == ["m.pt", "reference.pt"]
    assert (tmp_path / "m.pt").read_bytes() == (tmp_path / "reference.pt").read_bytes()  # finished and complete


def test_sigterm_during_generate_ends_on_a_whole_line(start, tmp_path, model):
    (tmp_path / "m.pt").write_bytes(model)
    process = start("naive", "--model-path=m.pt", str(10**8), "generate", "--seed", "1", cwd=tmp_path)
    seen = wait_for(process.stdout, "")  # the first chunk is being written
    process.send_signal(signal.SIGTERM)
    stdout, stderr = finish(process, stdout=seen)
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr and stderr.rstrip().endswith("terminated")
    assert stdout.endswith("\n") and 0 < len(stdout.splitlines()) < 10**8
    assert all(float(line) < 1 for line in stdout.splitlines())  # every line whole: one number each
    assert contents(tmp_path) == {"m.pt": model}
