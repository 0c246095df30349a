"""The sweep's fault matrix: studies too large or too deep to read, scheduler addresses that are malformed,
insecure or answered by something else, a changed verdict option, and the clusters it talks to (the local
one on loopback only, the docs' TLS recipe run for real).

Most cases are refusals before any run: one `error:` line, exit 2, nothing written. The cases that need
finished runs share one tiny run (1 epoch, 100 samples of a 3-d Gaussian, the smallest verdict).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from builders import tiny_study_text
from helpers import REPO, assert_clean_error, run_module, snapshot

STUDY = tiny_study_text(seeds="[1]", latent_dim="2", name="faults")
RUN = "gauss_dim3_2_1_van"  # the one run of STUDY
GRID = STUDY.split("[grid]")[0] + "[grid]\n"  # STUDY without its grid: for grids of a test's own
DEEP = 5000  # lists nested this deep: far beyond what TOML's recursive parser can read


def gaussgan(*args, cwd: Path, timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
    return run_module(*args, cwd=cwd, timeout=timeout, env=env)


def refused(folder: Path, *args: str, words: list[str], study: str = STUDY.format(epochs=1), timeout: float = 60):
    """`sweep study.toml ARGS` in a folder holding only the study: one error line with ``words``, nothing
    written; returns the seconds it took."""
    (folder / "study.toml").write_text(study)
    before = snapshot(folder)
    started = time.monotonic()
    result = gaussgan("sweep", "study.toml", *args, cwd=folder, timeout=timeout)
    seconds = time.monotonic() - started
    assert_clean_error(result, *words)
    assert snapshot(folder) == before
    assert sorted(path.name for path in folder.iterdir()) == ["study.toml"]
    return seconds


# --- Studies too large or too deep: refused at once, by counting, before any array or run ---------------------
def test_a_grid_of_a_trillion_runs_is_refused_with_its_count_at_once(tmp_path):
    """Four options of 1,000 log-spaced values each: 10^12 runs, which --dry-run used to plan until killed."""
    grid = "".join(
        f"{key} = {{ log = [{low}, {high}, 1000] }}\n"
        for key, low, high in (("latent_dim", 1, 100000), ("n_eval", 1, 100000), ("lr", 1e-6, 1e-2))
        + (("latent_sigma", 0.001, 10),)
    )
    seconds = refused(
        tmp_path, "--dry-run", study=GRID + grid, words=["1,000,000,000,000 runs", "at most 100,000"], timeout=120
    )
    assert seconds < 30


@pytest.mark.parametrize(
    "line",
    ["latent_sigma = { log = [0.001, 10, 1000000000] }", "epochs = { linear = [1, 2000000000, 1000000000] }"],
    ids=["log-spaced floats", "linearly spaced integers"],
)
def test_a_spaced_range_of_a_billion_values_is_refused_before_its_array_is_made(tmp_path, line):
    """10^9 points were a 7.45 GiB array (and a MemoryError's traceback) before anything was checked."""
    key = line.split()[0]
    refused(tmp_path, "--dry-run", study=GRID + line + "\n", words=[key, "1,000,000,000 values", "at most 100,000"])


@pytest.mark.parametrize("where", ["grid", "datasets.generate"])
def test_a_study_nested_thousands_deep_is_one_error_line(tmp_path, where):
    deep = "[" * DEEP + "1" + "]" * DEEP
    if where == "grid":
        study = STUDY.format(epochs=1).replace("latent_dim = 2", f"latent_dim = {deep}")
    else:
        study = STUDY.format(epochs=1).replace("seed = 1\n", f"seed = 1\nsigma = {deep}\n", 1)
    refused(tmp_path, study=study, words=["study.toml", "too deeply"])


def test_a_set_value_nested_thousands_deep_is_one_error_line(tmp_path):
    deep = "[" * DEEP + "1" + "]" * DEEP
    refused(tmp_path, "--set", f"latent_dim={deep}", words=["--set latent_dim", "too deeply"])


# --- Scheduler addresses: parsed, secure by default, each problem one line before anything is read ------------
@pytest.mark.parametrize(
    "address",
    ["192.0.2.10:8786", "tcp://gpu-node-3.cluster.example:8786", "tcp://[2001:db8::5]:8786"],
    ids=["an IPv4 address without scheme", "a host name", "an IPv6 address"],
)
def test_plain_tcp_to_another_machine_is_refused_without_insecure(tmp_path, address):
    """No connection is attempted (the addresses are unroutable or unresolvable: it would take seconds)."""
    seconds = refused(
        tmp_path, "--scheduler", address, words=["plain TCP to another machine", "runs code", "tls://", "--insecure"]
    )
    assert seconds < 10


@pytest.mark.parametrize(
    "address, words",
    [
        ("tcp://[::1:8786", ["is not an address", "Invalid IPv6 URL"]),
        ("tcp://[gg::1]:8786", ["is not an address", "gg::1"]),
        ("tcp://127.0.0.1:8786/status?x=1", ["more than a host and a port"]),
        ("tcp://bad_host!:8786", ["neither an IP address nor a host name"]),
    ],
    ids=["unclosed IPv6 bracket", "not an IPv6 address", "a path and a query", "not a host name"],
)
def test_a_malformed_scheduler_address_is_one_error_line(tmp_path, address, words):
    refused(tmp_path, "--scheduler", address, words=["--scheduler", *words, "expected tcp://"])


def write_pem_like(folder: Path, mode: int = 0o600) -> list[str]:
    """Three files where the certificate files go (their content does not matter to the check under test)."""
    paths = []
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (folder / name).write_text("not a certificate\n")
        (folder / name).chmod(mode)
        paths.append(str(folder / name))
    return paths


def tls_options(ca: str, cert: str, key: str) -> list[str]:
    return ["--tls-ca-file", ca, "--tls-cert", cert, "--tls-key", key]


def test_a_tls_address_without_its_certificate_files_is_refused(tmp_path):
    refused(
        tmp_path, "--scheduler", "tls://127.0.0.1:8786", words=["is TLS", "--tls-ca-file", "--tls-cert", "--tls-key"]
    )


def test_certificate_files_that_do_not_exist_are_named(tmp_path):
    options = tls_options("nowhere/ca.pem", "nowhere/cert.pem", "nowhere/key.pem")
    refused(tmp_path, "--scheduler", "tls://127.0.0.1:8786", *options, words=["--tls-ca-file", "does not exist"])


def test_a_private_key_that_others_can_read_is_refused(tmp_path):
    keys = tmp_path.parent / f"{tmp_path.name}-keys"
    keys.mkdir()
    options = tls_options(*write_pem_like(keys, mode=0o644))
    refused(tmp_path, "--scheduler", "tls://127.0.0.1:8786", *options, words=["--tls-key", "other users", "chmod 600"])


def test_certificate_files_that_are_not_pem_are_one_error_line(tmp_path):
    keys = tmp_path.parent / f"{tmp_path.name}-keys"
    keys.mkdir()
    options = tls_options(*write_pem_like(keys))
    refused(tmp_path, "--scheduler", "tls://127.0.0.1:8786", *options, words=["cannot use the TLS files", "PEM"])


@pytest.mark.parametrize(
    "args, words",
    [
        (["--scheduler", "tcp://127.0.0.1:8786", "--tls-cert", "cert.pem"], ["--tls-cert", "plain-TCP", "tls://"]),
        (["--insecure"], ["--insecure", "--scheduler", "loopback"]),
        (["--tls-key", "key.pem"], ["--tls-*", "--scheduler"]),
        (["--scheduler", "tls://127.0.0.1:8786", "--insecure"], ["--insecure", "tls://"]),
    ],
    ids=["certificate files with plain TCP", "--insecure alone", "a key alone", "--insecure with TLS"],
)
def test_security_options_that_do_not_fit_the_address_are_refused(tmp_path, args, words):
    refused(tmp_path, *args, words=words)


@contextlib.contextmanager
def peer(answer: bytes) -> Iterator[int]:
    """A server on loopback that accepts every connection, sends ``answer`` (perhaps nothing) and then holds the
    connection open without a word: what a hung or hostile process at a scheduler's address does."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    held: list[socket.socket] = []
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            held.append(connection)
            with contextlib.suppress(OSError):
                connection.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        done.set()
        thread.join(timeout=5)
        for connection in held:
            connection.close()
        server.close()


def test_a_scheduler_that_accepts_and_stays_silent_meets_the_deadline(tmp_path):
    """Dask's handshake waits forever for a peer that accepts and never answers; the sweep's deadline holds."""
    with peer(b"") as port:
        seconds = refused(
            tmp_path, "--scheduler", f"tcp://127.0.0.1:{port}", words=["did not answer", "within 10 s"], timeout=90
        )
    assert seconds < 30


def test_a_peer_answering_garbage_is_one_error_line(tmp_path):
    """A frame header announcing 3 EiB (what an HTTP server's first bytes read as): one line, no allocation."""
    with peer(struct.pack("<Q", 3 << 60) + b"HTTP/1.1 400 Bad Request\r\n\r\n") as port:
        refused(tmp_path, "--scheduler", f"tcp://127.0.0.1:{port}", words=["did not answer as a Dask scheduler"])


# --- A changed verdict option: judged again (max_n, null_repeats), or refused (eval_every) ------------------
@pytest.fixture(scope="module")
def judged(tmp_path_factory) -> Path:
    """One finished run (1 epoch, its verdict at max_n 1000 with 250 null repeats)."""
    folder = tmp_path_factory.mktemp("judged")
    (folder / "study.toml").write_text(STUDY.format(epochs=1))
    result = gaussgan("sweep", "study.toml", "--workers", "1", "-q", cwd=folder, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads((folder / "runs" / "faults" / RUN / "verdict.json").read_text())["max_n"] == 1000
    return folder


def test_a_changed_null_repeats_lists_the_finished_run_to_judge_again(judged):
    before = snapshot(judged)
    result = gaussgan("sweep", "study.toml", "--set", "null_repeats=300", "--dry-run", cwd=judged)
    assert result.returncode == 0, result.stderr
    assert "1 rejudge" in result.stdout and f"rejudge   {RUN}" in result.stdout, result.stdout
    assert "null_repeats: 250 -> 300" in result.stdout
    assert snapshot(judged) == before


def test_an_unreadable_verdict_is_judged_again(judged):
    verdict = judged / "runs" / "faults" / RUN / "verdict.json"
    kept = verdict.read_bytes()
    try:
        verdict.write_text('{"max_n": 10')
        result = gaussgan("sweep", "study.toml", "--dry-run", cwd=judged)
    finally:
        verdict.write_bytes(kept)
    assert result.returncode == 0, result.stderr
    assert f"rejudge   {RUN}" in result.stdout and "unreadable" in result.stdout, result.stdout


def test_a_changed_eval_every_is_refused_naming_it(judged):
    before = snapshot(judged)
    result = gaussgan("sweep", "study.toml", "--set", "eval_every=2", cwd=judged)
    assert_clean_error(result, "1 run directories", "other options", "eval_every: 5 -> 2")
    assert snapshot(judged) == before


def test_a_changed_max_n_judges_the_finished_run_again_keeping_its_epochs(judged):
    """It said "all runs are done; nothing to do", and the report showed n* for the old max_n. (1500 tests the
    same sizes as 1000, whose simulated nulls the run has cached: the verdict is judged again in a second.)"""
    run_dir = judged / "runs" / "faults" / RUN
    listed = gaussgan("sweep", "study.toml", "--set", "max_n=1500", "--dry-run", cwd=judged)
    assert listed.returncode == 0 and "max_n: 1000 -> 1500" in listed.stdout, listed.stdout
    # The verdict's files (verdict.json, config.json, the run's page) change; the epochs' do not.
    epochs = {name: stamp for name, stamp in snapshot(run_dir).items() if not name.endswith((".json", ".html"))}
    result = gaussgan("sweep", "study.toml", "--set", "max_n=1500", "--workers", "1", cwd=judged, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "1 to judge again" in result.stdout and "Traceback" not in result.stderr
    assert json.loads((run_dir / "verdict.json").read_text())["max_n"] == 1500
    assert json.loads((run_dir / "config.json").read_text())["max_n"] == 1500
    assert {name: stamp for name, stamp in snapshot(run_dir).items() if name in epochs} == epochs  # epochs kept
    again = gaussgan("sweep", "study.toml", "--set", "max_n=1500", cwd=judged)
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout


# --- The clusters: the local one on loopback only; the docs' TLS recipe, run -----------------------------------
def listening(processes: list[psutil.Process]) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every socket the processes listen on."""
    found = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            for connection in process.net_connections(kind="inet"):
                if connection.status == psutil.CONN_LISTEN:
                    found.append((process.pid, connection.laddr.ip, connection.laddr.port))
    return found


def family(pid: int) -> list[psutil.Process]:
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)]


def test_a_local_sweep_listens_on_loopback_only(tmp_path):
    (tmp_path / "study.toml").write_text(STUDY.format(epochs=40))
    process = subprocess.Popen(
        [sys.executable, "-m", "gaussgan", "sweep", "study.toml", "--workers", "1", "-q"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        csv = tmp_path / "runs" / "faults" / RUN / "training_details.csv"
        deadline = time.monotonic() + 120
        while not csv.exists():  # the cluster is up and its worker trains
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.1)
        sockets = listening(family(process.pid))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=30)
    assert len({pid for pid, _, _ in sockets}) >= 2, sockets  # the sweep's scheduler, and its nanny or worker
    assert all(ipaddress.ip_address(address).is_loopback for _, address, _ in sockets), sockets


def studies_block(containing: str) -> str:
    """The one fenced block of docs/studies.md that holds ``containing`` (fences opened and closed in turn)."""
    blocks: list[list[str]] = []
    inside = False
    for line in (REPO / "docs" / "studies.md").read_text().splitlines():
        if line.startswith("```"):
            inside = not inside
            if inside:
                blocks.append([])
        elif inside:
            blocks[-1].append(line)
    (block,) = ["\n".join(lines) + "\n" for lines in blocks if containing in "\n".join(lines)]
    return block


def make_certificate(home: Path) -> None:
    """The cluster's certificate in ``home``/.dask-tls, made by the docs' own commands (openssl); else by the
    cryptography package, as those commands would; else the test is skipped, saying why."""
    home.mkdir()
    if shutil.which("openssl"):
        made = subprocess.run(
            ["bash", "-e", "-c", studies_block("openssl req")],
            env={**os.environ, "HOME": str(home)},
            capture_output=True,
        )
        assert made.returncode == 0, made.stderr
        return
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID
    except ImportError:
        pytest.skip("neither openssl nor the cryptography package is here to make a TLS certificate")
    import datetime

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gaussgan-dask")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = home / ".dask-tls"
    folder.mkdir()
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    (folder / "key.pem").touch(mode=0o600)
    (folder / "key.pem").write_bytes(key_bytes)


def recipe_line(start: str) -> str:
    """A command of the docs' cluster recipe, as written there (without a trailing '&')."""
    block = studies_block("dask scheduler --protocol tls")
    (line,) = [line for line in block.splitlines() if start in line]
    return line.split("  #")[0].removesuffix("&").strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory) -> Iterator[dict]:
    """The docs' recipe on loopback: its certificate, then its scheduler and one worker with HOST_IP=127.0.0.1
    (the worker's `--interface ib0` becomes `--host $HOST_IP`: this machine has no private network)."""
    folder = tmp_path_factory.mktemp("tls")
    make_certificate(folder / "home")
    port = free_port()
    environment = {
        **os.environ,
        "HOME": str(folder / "home"),
        "HOST_IP": "127.0.0.1",
        "PORT": str(port),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONHASHSEED": "0",
    }
    tls = recipe_line('TLS="')
    worker = recipe_line("dask worker").split("dask worker", 1)[1].replace("--interface ib0", "--host $HOST_IP")
    started = [
        subprocess.Popen(
            ["bash", "-c", f"{tls}; exec {command}"],
            cwd=folder,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for command in (recipe_line("dask scheduler"), f"dask worker{worker}")
    ]
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            assert time.monotonic() < deadline and started[0].poll() is None, "the TLS scheduler did not start"
            time.sleep(0.2)
        yield {"folder": folder, "environment": environment, "tls": tls, "port": port, "started": started}
    finally:
        for process in reversed(started):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


def test_the_docs_tls_recipe_runs_a_sweep_on_a_cluster_that_listens_where_it_says(tls_cluster, tmp_path):
    (tmp_path / "tiny.toml").write_text(STUDY.format(epochs=1))
    sweep = recipe_line("python -m gaussgan sweep").replace("studies/dimension.toml", "tiny.toml")
    result = subprocess.run(
        ["bash", "-c", f"{tls_cluster['tls']}; {sweep}"],
        cwd=tmp_path,
        env=tls_cluster["environment"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert f"on the Dask cluster at tls://127.0.0.1:{tls_cluster['port']}" in result.stdout
    run_dir = tmp_path / "runs" / "faults" / RUN
    assert (run_dir / "verdict.json").is_file() and json.loads((run_dir / "config.json").read_text())["epochs"] == 1
    # The scheduler and the worker (its nanny too) listen on HOST_IP and loopback only: no dashboard elsewhere.
    sockets = listening([process for started in tls_cluster["started"] for process in family(started.pid)])
    assert len({pid for pid, _, _ in sockets}) >= 2, sockets
    assert all(ipaddress.ip_address(address).is_loopback for _, address, _ in sockets), sockets


def test_a_certificate_from_another_authority_is_refused(tls_cluster, tmp_path):
    other = tmp_path.parent / f"{tmp_path.name}-other"
    other.mkdir()
    make_certificate(other / "home")
    keys = other / "home" / ".dask-tls"
    options = tls_options(str(keys / "cert.pem"), str(keys / "cert.pem"), str(keys / "key.pem"))
    address = f"tls://127.0.0.1:{tls_cluster['port']}"
    refused(tmp_path, "--scheduler", address, *options, words=["TLS handshake", address, "--tls-ca-file authority"])
