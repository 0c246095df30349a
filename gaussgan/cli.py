"""Shared command-line plumbing: argument types, the parser, and error -> exit status.

Exit statuses: 0 done, 2 bad input (one ``error: ...`` line, no traceback),
130 interrupted by Ctrl-C (SIGINT), 143 stopped by SIGTERM.
"""

from __future__ import annotations

import argparse  # noqa: F401  (re-exported for scripts: cli.argparse)
import errno
import math
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from gaussgan.errors import UserError
from gaussgan.system import interrupt
from gaussgan.system.files import reason, safe_name
from gaussgan.system.interrupt import Terminated

EXIT_BAD_INPUT = 2
EXIT_SIGINT = 130
EXIT_SIGTERM = 143
WRITE_ERRORS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the project's error format: one line on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see {self.prog} --help)\n")


def make_parser(prog: str | None, description: str, epilog: str | None = None) -> ArgumentParser:
    return ArgumentParser(
        prog=prog,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


@dataclass(frozen=True)
class Kind:
    """One kind of option value, declared once for every place that checks it.

    An instance is an argparse ``type`` (text in, value out, or a message that says what was expected
    and what was given); :meth:`accepts` checks a value that a file already typed (a study's TOML),
    and :attr:`expected` says the same in words for that file's error line.
    """

    convert: Callable[[str], Any]
    is_valid: Callable[[Any], bool]
    expected: str
    choices: tuple[str, ...] = ()  # a choice's names, for argparse's listing in --help and its messages

    @property
    def __name__(self) -> str:  # argparse names a type by it in some messages
        return self.expected

    def __call__(self, text: str):
        try:
            value = self.convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {self.expected}, got {text!r}") from None
        if not self.is_valid(value):
            raise argparse.ArgumentTypeError(f"expected {self.expected}, got {text}")
        return value

    def accepts(self, value) -> bool:
        """Whether ``value``, as a file holds it, is of this kind (a bool is never a number)."""
        if isinstance(value, bool) and self.convert is not _boolean:
            return False
        if self.convert is float:
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                return False
        elif self.convert in (int, _boolean) and not isinstance(value, int):
            return False
        elif self.convert is str and not isinstance(value, str):
            return False
        return bool(self.is_valid(value))


def _boolean(text: str) -> bool:
    words = {"true": True, "false": False}
    if text.lower() not in words:
        raise ValueError(text)
    return words[text.lower()]


def choice(values: Sequence[str]) -> Kind:
    """One of ``values`` (a rule, a schedule, a device)."""
    names = tuple(values)
    expected = " or ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} or {names[-1]}"
    return Kind(str, lambda value: value in names, expected, choices=names)


def at_least(smallest: int) -> Kind:
    """An integer >= ``smallest``."""
    return Kind(int, lambda value: value >= smallest, f"an integer of at least {smallest}")


positive_int = Kind(int, lambda value: value > 0, "a positive integer")
positive_float = Kind(float, lambda value: 0 < value < math.inf, "a finite positive number")
# A penalty weight that 0 turns off.
non_negative_float = Kind(float, lambda value: 0 <= value < math.inf, "a finite number >= 0")
finite_float = Kind(float, math.isfinite, "a finite number")
# Adam's betas, an EMA decay, a share of the run that must leave some of it.
fraction = Kind(float, lambda value: 0 <= value < 1, "a number in [0, 1)")
# A share of the run, both ends included.
share = Kind(float, lambda value: 0 <= value <= 1, "a number in [0, 1]")
seed_value = Kind(int, lambda value: 0 <= value < 2**63, "a seed, an integer in [0, 2**63)")
boolean = Kind(_boolean, lambda value: isinstance(value, bool), "true or false")


def plain_name(text: str) -> str:
    """argparse type: a name that becomes part of a file name: no '/', '\\' or '..'."""
    try:
        return safe_name(text, "")
    except UserError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a plain name: expected no '/', '\\' or '..'") from None


def add_parent_shape_options(parser, what: str = "") -> None:
    """-m/--mu, -c/--sigma, --xlo, --xhi: a parent's shape as gen-samples.py takes it (and evaluate, for its
    parent); ``what`` prefixes each help line. Read -c back with :func:`sigma_triple`."""
    from gaussgan.parents import DEFAULT_XHI, DEFAULT_XLO

    parser.add_argument(
        "-m",
        "--mu",
        type=finite_float,
        default=0.0,
        help=f"{what}mean (location) of every component (default: %(default)s)",
    )
    parser.add_argument(
        "-c",
        "--sigma",
        nargs=3,
        default=["1", "0", "1"],
        metavar=("DIAG", "OFFDIAG", "BLOCK"),
        help=f"{what}covariance: BLOCKxBLOCK blocks with DIAG on the diagonal and OFFDIAG elsewhere; BLOCK=-1: "
        "a band, OFFDIAG only next to the diagonal. trunc_gauss: DIAG is the variance; cauchy: "
        "DIAG is the scale; both need OFFDIAG=0 (default: 1 0 1, the identity)",
    )
    parser.add_argument(
        "--xlo",
        type=finite_float,
        default=DEFAULT_XLO,
        help=f"{what}lower bound of trunc_gauss and uniform, in data units, not in units of sigma (default: %(default)s)",
    )
    parser.add_argument(
        "--xhi",
        type=finite_float,
        default=DEFAULT_XHI,
        help=f"{what}upper bound of trunc_gauss and uniform, in data units (default: %(default)s)",
    )


def sigma_triple(parser, words: list[str]) -> tuple[float, float, int]:
    """-c/--sigma's three words as (DIAG, OFFDIAG, BLOCK), or the parser's one-line error."""
    try:
        return finite_float(words[0]), finite_float(words[1]), int(words[2])
    except (ValueError, argparse.ArgumentTypeError):
        parser.error(f"--sigma expects DIAG OFFDIAG BLOCK (two numbers and an integer), got {' '.join(words)}")
        raise  # parser.error exits; this line is for the type checker


def run_main(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> NoReturn:
    """Run a script's ``main`` and turn what it raises into the documented exit statuses."""
    # Ctrl-C raises KeyboardInterrupt, and SIGTERM Terminated, even when the parent started us with
    # SIGINT ignored (a shell's background job, nohup), which Python would otherwise keep.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt.raise_for_signal)
    try:
        if sys.stdout is None:  # started with stdout closed (`>&-`): what we print would vanish
            raise UserError("standard output is closed; redirect it to a file or /dev/null")
        status = main(argv)
        _flush_stdout()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        status = EXIT_BAD_INPUT
    except BrokenPipeError:
        # The reader of our output went away before we were done (`| head` on a long job).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("error: cannot write to standard output: the reader closed the pipe", file=sys.stderr)
        status = EXIT_BAD_INPUT
    except OSError as error:
        # The machine, not a bug: disk full, file-size limit, read-only or full device, permissions.
        if error.errno not in WRITE_ERRORS:
            raise
        where = f" {str(error.filename)!r}" if error.filename else " to standard output"
        print(f"error: cannot write{where}: {reason(error)}", file=sys.stderr)
        status = EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        status = EXIT_SIGINT
    except Terminated:
        print("terminated", file=sys.stderr)
        status = EXIT_SIGTERM
    sys.exit(status or 0)


def _flush_stdout() -> None:
    """Flush now, so that a full stdout (`> /dev/full`) is an error and not a lost result.

    A reader that stops early (`| head`) is not an error: stdout then points to /dev/null so
    that the interpreter's own final flush does not complain again.
    """
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError as error:
        raise UserError(f"cannot write to standard output: {reason(error)}") from None
