"""Memory guards: estimate what an option set needs before allocating it, and refuse early.

A request that cannot fit fails in a second with the estimate and what is available, rather
than after minutes of swapping, or with the kernel's OOM killer taking the machine down.
"""

from __future__ import annotations

import os
import resource

from gaussgan.errors import UserError

GIB = 1024**3


def available_memory() -> int:
    """Bytes this process can still allocate: free memory, or less under an address-space limit."""
    available = None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            available = 2**62
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit != resource.RLIM_INFINITY:
        available = min(available, max(0, limit - _address_space_used()))
    return available


def _address_space_used() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def describe(nbytes: float) -> str:
    if nbytes >= GIB:
        return f"{nbytes / GIB:.1f} GiB"
    return f"{nbytes / 1024**2:.0f} MiB"


def require_memory(nbytes: float, what: str, hint: str = "") -> None:
    """Refuse (UserError) when ``nbytes`` is more than the memory available now.

    ``what`` names what would be allocated ("10,000,000 samples of dimension 1000");
    ``hint`` says how to ask for less.
    """
    available = available_memory()
    if nbytes > available:
        advice = f"; {hint}" if hint else ""
        raise UserError(
            f"{what} needs about {describe(nbytes)} of memory, but only {describe(available)} is available{advice}"
        )
