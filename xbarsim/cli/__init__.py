"""The ``xbarsim`` command: thin argparse subcommands over the Python API.

Every subcommand module exposes ``register(subparsers)``; it adds its parser(s) and sets
``func=run(args) -> int``. Subcommand modules import heavy dependencies inside ``run`` only.
Errors: any :class:`~xbarsim.errors.XbarsimError` or OS error becomes one line on stderr and
exit code 2; argparse usage errors are one line and exit code 2 as well. Ctrl-C exits with 130
and SIGTERM with 143, both after the cleanup code of whatever was running (simulator children
are killed, temporary directories removed).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from ..errors import Terminated, XbarsimError

#: Subcommand modules, in the order their commands are listed in ``--help``.
COMMAND_MODULES = (
    "xbarsim.cli.solve",
    "xbarsim.cli.kim",
    "xbarsim.cli.romero",
    "xbarsim.cli.sweep",
)


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (no usage block) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: {message}")


class _UsageError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(
        prog="xbarsim", description="Circuit-level simulation of neural networks on memristor crossbars."
    )
    parser.add_argument("--version", action="version", version=f"xbarsim {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # subcommand not shipped in this build
                continue
            raise
        mod.register(sub)
    return parser


def picked(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """``{name: args.name}`` for the given names: keyword arguments taken straight from the CLI."""
    return {name: getattr(args, name) for name in names}


def fail(message: str) -> int:
    """Print ``xbarsim: error: message`` on one line and return exit code 2."""
    print(f"xbarsim: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; SIGTERM is turned into :class:`~xbarsim.errors.Terminated` meanwhile."""
    if threading.current_thread() is not threading.main_thread():
        return _main(argv)
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _main(argv)
    except Terminated:
        print("xbarsim: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        return fail(str(exc).removeprefix("xbarsim: "))
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return int(args.func(args) or 0)
    except XbarsimError as exc:
        return fail(str(exc))
    except OSError as exc:
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        return fail(f"{exc.strerror or exc}{':' if where else ''}{where}")
    except KeyboardInterrupt:
        print("xbarsim: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: still one line, the traceback only on request
        if os.environ.get("XBARSIM_DEBUG"):
            raise
        return fail(
            f"internal error ({type(exc).__name__}: {exc}); rerun with XBARSIM_DEBUG=1 for the traceback"
        )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
