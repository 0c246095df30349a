"""Where a sweep's runs go: a Dask cluster of local processes on loopback, or an existing one (``--scheduler``).

A Dask scheduler runs whatever its clients send on every worker, and a client unpickles what its scheduler
sends back: whoever reaches a scheduler runs code as the user who started it, and a scheduler runs code in
the sweep that connects to it. Hence, by default:

* the local cluster listens on loopback only: its scheduler (and the scheduler's HTTP endpoint), nannies and
  workers, without dashboards;
* ``--scheduler`` takes ``tls://HOST:PORT`` with the cluster's certificate files (mutual TLS: each side proves
  it holds a certificate from the cluster's own authority), or ``tcp://`` on loopback; plain TCP to another
  machine only with ``--insecure``. Addresses are parsed with the standard library, so a malformed one is one
  error line;
* reaching the scheduler has a deadline that holds when the peer accepts and stays silent, and whatever a peer
  that is not a Dask scheduler answers is one error line.

Nothing heavy is imported at module level: ``sweep --help`` and the address checks answer at once.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
import socket
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gaussgan.errors import UserError

CONNECT_TIMEOUT = 10.0  # seconds for the scheduler to accept and answer (one that refuses is reported at once)
SCHEMES = ("tcp", "tls")
TLS_FLAGS = ("--tls-ca-file", "--tls-cert", "--tls-key")
# The module whose function the workers run (execute_pack) and that the local workers preload (dask_setup).
SWEEP_MODULE = "gaussgan.study.sweep"
LOOPBACK_HOST = "127.0.0.1"
# A DNS host name (urlsplit gives it in lower case): labels of letters, digits and inner hyphens.
HOST_NAME = re.compile(
    r"^(?=.{1,253}\.?$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$"
)
EXPECTED = (
    "expected tcp://HOST:PORT on this machine (127.0.0.1, [::1] or localhost), or tls://HOST:PORT with "
    "--tls-ca-file, --tls-cert and --tls-key"
)


# --- The address -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TlsFiles:
    """The cluster's certificate authority, this sweep's certificate and its private key (PEM files)."""

    ca_file: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class SchedulerAddress:
    """A checked ``--scheduler``: its protocol, host and port, and the certificate files of a TLS one."""

    scheme: str  # tcp or tls
    host: str  # an IP address or a host name, without brackets
    port: int
    loopback: bool
    tls: TlsFiles | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_scheduler(
    text: str, *, insecure: bool = False, tls_files: tuple[str | None, str | None, str | None] = (None, None, None)
) -> SchedulerAddress:
    """``--scheduler`` checked before anything else happens: a tcp:// or tls:// address with a host and a port;
    plain TCP only on loopback unless ``insecure``; TLS with its three files, each a readable file and the key
    private to its owner."""
    try:
        parts = urlsplit(text if "://" in text else f"tcp://{text}")
        port = parts.port
        host = parts.hostname or ""
    except ValueError as error:
        raise UserError(f"--scheduler {text!r} is not an address ({error}); {EXPECTED}") from None
    if parts.scheme not in SCHEMES:
        raise UserError(f"--scheduler {text!r}: the protocol {parts.scheme!r} is not one the sweep uses; {EXPECTED}")
    if parts.username is not None or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UserError(f"--scheduler {text!r} holds more than a host and a port; {EXPECTED}")
    if not host or not port:
        raise UserError(
            f"--scheduler {text!r} has no {'host' if not host else 'port number'}; expected tcp://HOST:PORT or tls://HOST:PORT "
            "(a dask scheduler listens on 8786)"
        )
    loopback = is_loopback(host, bracketed="[" in parts.netloc, text=text)
    given = [flag for flag, path in zip(TLS_FLAGS, tls_files, strict=True) if path]
    if parts.scheme == "tcp":
        if given:
            raise UserError(
                f"{', '.join(given)} given with the plain-TCP address {text!r}; expected a tls:// address for "
                "certificate files"
            )
        if not loopback and not insecure:
            raise UserError(
                f"--scheduler {text!r} is plain TCP to another machine: whoever reaches that port runs code as "
                "you on every worker, and whatever answers there runs code in this sweep; expected tls://HOST:PORT "
                "with --tls-ca-file, --tls-cert and --tls-key (docs/studies.md), or --insecure on a network only "
                "you can reach"
            )
        return SchedulerAddress("tcp", host, port, loopback)
    if insecure:
        raise UserError("--insecure allows plain tcp:// to another machine; a tls:// address needs none")
    missing = [flag for flag, path in zip(TLS_FLAGS, tls_files, strict=True) if not path]
    if missing:
        raise UserError(
            f"--scheduler {text!r} is TLS: it needs {', '.join(missing)} (the cluster's certificate authority, "
            "your certificate and its private key, PEM files made as docs/studies.md shows)"
        )
    ca_file, cert, key = (check_readable(str(path), flag) for flag, path in zip(TLS_FLAGS, tls_files, strict=True))
    check_private(key)
    files = TlsFiles(ca_file, cert, key)
    check_pem(files)
    return SchedulerAddress("tls", host, port, loopback, files)


def is_loopback(host: str, *, bracketed: bool, text: str) -> bool:
    """Whether ``host`` is this machine's loopback: an address in 127.0.0.0/8 or ::1, or the name localhost.
    No name is looked up: a name's resolution is not proof of where it leads."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        if bracketed or not HOST_NAME.match(host):
            raise UserError(
                f"--scheduler {text!r}: {host!r} is neither an IP address nor a host name; {EXPECTED}"
            ) from None
    return host.rstrip(".") == "localhost" or host.rstrip(".").endswith(".localhost")


def check_readable(path: str, flag: str) -> Path:
    from gaussgan.system.files import check_regular_file

    checked = check_regular_file(Path(path).expanduser(), flag)
    if not os.access(checked, os.R_OK):
        raise UserError(f"{flag} {path!r} is not readable by you; expected a file you can read")
    return checked


def check_private(key: Path) -> None:
    """A private key that others can read is anyone's ticket to the cluster (ssh refuses such keys too)."""
    mode = key.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UserError(
            f"--tls-key {str(key)!r} can be read by other users (mode {stat.filemode(mode)}); expected a key only "
            f"you can read: chmod 600 {key}"
        )


def check_pem(files: TlsFiles) -> None:
    """The files load as TLS needs them (the authority's certificate; a certificate and its key that match),
    read with the standard library now rather than by Dask halfway through connecting. A key protected by a
    passphrase is refused, not prompted for: Dask reads keys unattended."""
    import ssl

    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(files.ca_file))
        context.load_cert_chain(str(files.cert), str(files.key), password=refuse_passphrase)
    except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
        raise UserError(
            f"cannot use the TLS files {files.ca_file}, {files.cert} and {files.key} ({error}); expected PEM files: "
            "the cluster's authority's certificate, a certificate it signed, and that certificate's key, without "
            "a passphrase (docs/studies.md shows the command that makes them)"
        ) from None


def refuse_passphrase() -> str:
    raise ValueError("the key is protected by a passphrase")


# --- Reaching it -------------------------------------------------------------------------------------------
def tls_security(address: SchedulerAddress):
    """Dask's Security for a TLS address (None for plain TCP), its files loaded now: a file that is not PEM is
    one error line here, not a traceback in the middle of connecting."""
    if address.tls is None:
        return None
    from distributed.security import Security

    files = address.tls
    security = Security(
        tls_ca_file=str(files.ca_file),
        tls_client_cert=str(files.cert),
        tls_client_key=str(files.key),
        require_encryption=True,
    )
    try:
        security.get_connection_args("client")
    except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
        raise UserError(
            f"cannot use the TLS files {files.ca_file}, {files.cert} and {files.key}: {error}; expected PEM files: "
            "the cluster's authority's certificate, a certificate it signed, and that certificate's key"
        ) from None
    return security


def probe(address: SchedulerAddress, connection_args: dict, timeout: float = CONNECT_TIMEOUT) -> None:
    """Reach the scheduler and ask who it is, all within ``timeout`` seconds, before Dask's client (whose
    handshake waits forever on a peer that accepts and stays silent) connects. The answer is read without
    unpickling anything; a peer that refuses is reported at once (Dask would retry until its timeout)."""
    import asyncio
    import ssl

    deadline = time.monotonic() + timeout
    try:
        socket.create_connection((address.host, address.port), timeout=timeout).close()
    except OSError as error:
        raise UserError(
            f"cannot reach the Dask scheduler at {address.url}: {error.strerror or error}; expected a running "
            "`dask scheduler` at that address"
        ) from None
    expected = "expected a `dask scheduler` at that address" + (
        ", started with --protocol tls and a certificate from the same authority" if address.tls else ""
    )
    left = max(0.1, deadline - time.monotonic())
    try:
        identity = asyncio.run(asyncio.wait_for(ask_identity(address.url, connection_args, left), left))
    except TimeoutError:
        raise UserError(
            f"the peer at {address.url} accepted the connection but did not answer as a Dask scheduler within "
            f"{timeout:g} s; {expected}"
        ) from None
    except Exception as error:  # whatever the peer sent: garbage, another protocol, a refused certificate
        if address.tls and isinstance(error.__cause__ or error, ssl.SSLError):
            raise UserError(
                f"the TLS handshake with {address.url} failed ({why(error)}); expected a scheduler whose certificate "
                "the --tls-ca-file authority signed, and that accepts yours"
            ) from None
        raise UserError(
            f"the peer at {address.url} did not answer as a Dask scheduler ({why(error)}); {expected}"
        ) from None
    kind = identity.get("type") if isinstance(identity, dict) else type(identity).__name__
    if kind != "Scheduler":
        raise UserError(f"the peer at {address.url} is not a Dask scheduler (it says: {str(kind)[:60]!r}); {expected}")


async def ask_identity(url: str, connection_args: dict, timeout: float):
    from distributed.comm import connect

    comm = await connect(url, timeout=timeout, deserialize=False, **connection_args)
    try:
        await comm.write({"op": "identity", "reply": True, "close": True})
        return await comm.read()
    finally:
        comm.abort()


def why(error: BaseException) -> str:
    """An exception in a few words, with the cause Dask chains to its own (a certificate refused, ...)."""
    text = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:200] if str(error).strip() else ''}"
    cause = error.__cause__
    if cause is not None:
        text += f" ({type(cause).__name__}: {str(cause)[:200]})"
    return text


# --- The cluster -------------------------------------------------------------------------------------------
class Cluster:
    """A Dask client, and the local cluster behind it when the sweep started one."""

    def __init__(self, scheduler: SchedulerAddress | None, workers: int, background_figures: bool = False):
        from dask.distributed import Client

        self.local: Any = None
        logging.getLogger("distributed").setLevel(logging.ERROR)
        if scheduler is None:
            self.start_local(workers, background_figures)
            return
        security = tls_security(scheduler)
        probe(scheduler, security.get_connection_args("client") if security else {})
        try:
            self.client = Client(scheduler.url, timeout=CONNECT_TIMEOUT, security=security)
        except Exception as error:
            raise UserError(f"cannot connect to the Dask scheduler at {scheduler.url}: {why(error)}") from None
        try:
            self.check_environment(scheduler.url)
        except BaseException:
            self.close()
            raise

    def start_local(self, workers: int, background_figures: bool) -> None:
        import dask
        from dask.distributed import Client, LocalCluster

        # Killed workers leave their semaphores (a run's figure worker queues) to multiprocessing's resource
        # tracker, which removes them and says so at exit: expected, not worth a warning. Set before the
        # tracker starts (with the cluster), inherited by it.
        os.environ["PYTHONWARNINGS"] = ",".join(
            filter(None, [os.environ.get("PYTHONWARNINGS"), "ignore:resource_tracker:UserWarning"])
        )
        # A daemonic process may not start processes: the figure worker of a run needs a worker that is not.
        settings = {
            "distributed.worker.daemon": not background_figures,
            "distributed.scheduler.allowed-failures": 1,
            # Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536, which turns off glibc's adaptive
            # thresholds: every tensor over 128 KiB is then mapped from and returned to the system, a step of
            # 5 runs trained together spends as long in the kernel as in arithmetic, and a run alone trains
            # 1.5x slower (benchmarks/sweep.py). The workers keep Dask's thread settings, not that one.
            "distributed.nanny.pre-spawn-environ": {
                name: value
                for name, value in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
                if name != "MALLOC_TRIM_THRESHOLD_"
            },
        }
        with dask.config.set(settings):
            # Loopback only, plain TCP: the scheduler, its HTTP endpoint (it binds the scheduler's host when no
            # dashboard address is given), every nanny and worker; no dashboards.
            self.local = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host=LOOPBACK_HOST,
                protocol="tcp://",
                dashboard_address=None,
                worker_dashboard_address=None,
                silence_logs=logging.ERROR,
                preload=[SWEEP_MODULE],
            )
            self.client = Client(self.local)

    def check_environment(self, url: str) -> None:
        """The scheduler unpickles the runs' function and the workers run it: both need this gaussgan."""
        import importlib.util

        try:
            where = {"scheduler": [self.client.run_on_scheduler(importlib.util.find_spec, SWEEP_MODULE)]}
            where["worker"] = list(self.client.run(importlib.util.find_spec, SWEEP_MODULE).values())
        except Exception as error:
            raise UserError(f"the Dask scheduler at {url} could not check its environment: {why(error)}") from None
        for role, specs in where.items():
            if any(spec is None for spec in specs):
                raise UserError(
                    f"a Dask {role} at {url} cannot import {SWEEP_MODULE}; expected the scheduler and workers "
                    "started from the environment this command runs in (gaussgan installed there, or on PYTHONPATH)"
                )

    def describe(self) -> str:
        if self.local is not None:
            return f"{len(self.local.workers)} local workers"
        workers = self.client.scheduler_info().get("workers", {})
        return f"the Dask cluster at {self.client.scheduler_info().get('address', '?')} ({len(workers)} workers now)"

    def stop_now(self, futures: list) -> None:
        """Stop the runs under way at once. Local workers are killed; on an external cluster the runs (the
        ``futures``) are cancelled and the workers running them restarted, so that nothing keeps writing them."""
        if self.local is not None:
            import psutil  # a dependency of distributed

            for nanny in list(self.local.workers.values()):
                pid = getattr(getattr(nanny, "process", None), "pid", None)
                try:
                    worker = psutil.Process(pid) if pid else None
                    # A run's own processes (its figure worker with --background-figures) go with it.
                    family = [*worker.children(recursive=True), worker] if worker else []
                except psutil.NoSuchProcess:
                    continue
                for process in family:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        process.kill()
            return
        keys = {str(future.key) for future in futures}
        try:
            busy = [
                worker for worker, running in self.client.processing().items() if keys & {str(key) for key in running}
            ]
            # Forgotten by the scheduler first (the call waits for it): a run whose worker is restarted
            # must not be given to another worker.
            self.client.cancel(futures, force=True)
            if busy:
                print(f"restarting the {len(busy)} workers that were running this sweep's runs", file=sys.stderr)
                self.client.restart_workers(busy, timeout=30, raise_for_error=False)
        except Exception as error:  # the cluster went away meanwhile: nothing left to stop there
            print(f"note: could not stop the runs on the cluster ({type(error).__name__}: {error})", file=sys.stderr)

    def close(self) -> None:
        """Close the client, and the local cluster. Its workers are killed first: by now they are idle (or must
        stop at once), and a graceful exit of a process that has imported torch takes seconds."""
        if self.local is not None:
            self.stop_now([])
        with contextlib.suppress(Exception):
            self.client.close(timeout=10)
        if self.local is not None:
            with contextlib.suppress(Exception):
                self.local.close(timeout=10)
