"""PySpice backend: the same deck as the ngspice backend, run in-process by libngspice (PySpice shared mode).

Finding the library: Debian's ``libngspice0`` ships only ``libngspice.so.0`` (no ``.so``
symlink), which PySpice 1.5 does not look for. :func:`find_libngspice` tries, in order, the
``XBARSIM_LIBNGSPICE`` environment variable, ``ctypes.util.find_library("ngspice")`` and the
usual multiarch paths; PySpice is pointed at the result through a subclass attribute (PySpice's
own class is left untouched).

Coping with PySpice 1.5 and ngspice 39: PySpice warns "Unsupported Ngspice version 39" and
raises ``NgSpiceCommandError`` whenever ngspice writes anything but a ``Warning:`` on stderr,
including the notes of a successful gmin-stepping run. So, as for the subprocess backend,
success is decided from the data (the analysis plot holds every point), and PySpice's
exceptions only trigger that check; the console text then explains a real failure. PySpice's
loggers are silenced (level CRITICAL) unless the application configured them.

libngspice is one global simulator per process: runs are serialized with a lock, and each run
removes its circuit and plots afterwards. There is no time limit in this in-process mode (use
the ``ngspice`` backend for that).

No init file of the user's, no path into a command unchecked: libngspice sources ``.spiceinit``
from the working directory, else from the home directory of the passwd entry (not ``$HOME``),
when it starts, and has no switch to skip it. So the library is started with a private empty
directory as working directory (a one-time ``chdir`` under the lock), and refuses to start when
``~/.spiceinit`` exists (it could run shell commands or change options silently; the ``ngspice``
backend runs with ``-n`` instead). The raw file goes to a private temporary directory whose path
must consist of safe characters (:func:`safe_tempdir`), since ``write <path>`` is a control
command.
"""

from __future__ import annotations

import ctypes.util
import glob
import importlib.util
import logging
import os
import pwd
import re
import shutil
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import BackendUnavailable, InputError, NgspiceNotFound, SimulationError
from ..netlist import check_options
from ..spice import reaper
from ..spice.log import failure_error
from ..spice.rawfile import parse_raw
from .ngspice import DeckBackend, check_max_batch

log = logging.getLogger(__name__)

ENV_VAR = "XBARSIM_LIBNGSPICE"
_CANDIDATES = (
    "/usr/lib/*-linux-gnu/libngspice.so.0",
    "/usr/lib/*-linux-gnu/libngspice.so",
    "/usr/lib64/libngspice.so.0",
    "/usr/lib64/libngspice.so",
    "/usr/lib/libngspice.so.0",
    "/usr/lib/libngspice.so",
    "/usr/local/lib/libngspice.so.0",
    "/usr/local/lib/libngspice.so",
    "/opt/homebrew/lib/libngspice.dylib",
    "/usr/local/lib/libngspice.dylib",
)

_LOCK = threading.Lock()
_SHARED: Any = None
#: Characters a path may have to be put into an ngspice control command (no blanks, ;, quotes...).
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+-]+$")


def safe_tempdir(prefix: str) -> Path:
    """A new private temporary directory whose path can be given to a control command verbatim."""
    base = tempfile.gettempdir()
    if not _SAFE_PATH.match(base):
        raise InputError(
            f"temporary directory {base!r} (TMPDIR) has characters that cannot go into an ngspice "
            "command; use a path of letters, digits and _ . / + -"
        )
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def user_spiceinit(home: str | None = None) -> str | None:
    """The ``.spiceinit`` libngspice would source from the user's home directory, if there is one.

    ``home`` defaults to the passwd entry's directory, which is what libngspice reads.
    """
    if home is None:
        try:
            home = pwd.getpwuid(os.getuid()).pw_dir
        except KeyError:
            return None
    path = os.path.join(home, ".spiceinit")
    return path if os.path.exists(path) else None


def _spiceinit_refusal(path: str) -> str:
    return (
        f"{path} exists and libngspice would execute it at start-up (it cannot be told not to), which "
        "can run commands or change results; rename it or use the ngspice backend (run with -n)"
    )


def find_libngspice() -> str | None:
    """Path (or loader name) of libngspice, or ``None`` when it cannot be found."""
    env = os.environ.get(ENV_VAR)
    if env:
        return env if os.path.exists(env) else None
    name = ctypes.util.find_library("ngspice")
    if name:
        return name
    for pattern in _CANDIDATES:
        hits = sorted(glob.glob(pattern))
        if hits:
            return hits[0]
    return None


def _quiet_pyspice_logging() -> None:
    logger = logging.getLogger("PySpice")
    if logger.level == logging.NOTSET and not logger.handlers:
        logger.setLevel(logging.CRITICAL)


def _shared() -> Any:
    """The process's one NgSpiceShared instance bound to the library found (created on first use)."""
    global _SHARED
    if _SHARED is not None:
        return _SHARED
    lib = find_libngspice()
    if lib is None:
        raise NgspiceNotFound(
            f"libngspice not found (set {ENV_VAR} to its path; Debian: apt-get install libngspice0)"
        )
    init = user_spiceinit()
    if init is not None:
        raise BackendUnavailable(_spiceinit_refusal(init))
    _quiet_pyspice_logging()
    from PySpice.Spice.NgSpice.Shared import NgSpiceShared

    path: str = lib

    class _XbarsimNgSpice(NgSpiceShared):
        LIBRARY_PATH = path.replace("{", "{{").replace("}", "}}")  # PySpice formats it with the instance id

    empty = tempfile.mkdtemp(prefix="xbarsim-init-")
    here = os.getcwd()
    try:
        os.chdir(empty)  # no .spiceinit of the caller's working directory is sourced
        _SHARED = _XbarsimNgSpice(ngspice_id=0, send_data=False, verbose=False)
    except OSError as exc:
        raise NgspiceNotFound(f"libngspice at {lib!r} cannot be loaded: {exc}") from None
    finally:
        os.chdir(here)
        shutil.rmtree(empty, ignore_errors=True)
    log.debug("libngspice %s loaded (ngspice %s)", lib, _SHARED.ngspice_version)
    return _SHARED


def _console(shared: Any) -> str:
    return f"{shared.stdout}\n{shared.stderr}"


def run_deck_shared(deck: str) -> tuple[bytes, str]:
    """Run ``deck`` in libngspice and return the raw-file bytes of its analysis and the console text.

    The in-process twin of :func:`xbarsim.spice.runner.run_deck`: success is decided from the
    data, and failures raise :class:`ConvergenceError` / :class:`SimulationError` quoting ngspice.
    """
    if importlib.util.find_spec("PySpice") is None:
        raise BackendUnavailable("PySpice is not installed (pip install PySpice)")
    with _LOCK:
        shared = _shared()
        tmp = safe_tempdir("xbarsim-pyspice-")
        with reaper.track(tmp):
            try:
                return _run_shared(shared, deck, tmp / "out.raw")
            finally:
                shutil.rmtree(tmp, ignore_errors=True)


def _run_shared(shared: Any, deck: str, raw_path: Path) -> tuple[bytes, str]:
    from PySpice.Spice.NgSpice.Shared import NgSpiceCircuitError, NgSpiceCommandError

    try:
        try:
            shared.load_circuit(deck)
        except NgSpiceCircuitError:
            raise failure_error(_console(shared), "libngspice rejected the deck") from None
        try:
            shared.run()
        except NgSpiceCommandError:
            pass  # PySpice treats ngspice's stderr notes as errors; the data decide below
        console = _console(shared)
        if not shared.last_plot.startswith(("dc", "op")):
            raise failure_error(console, "libngspice ran no analysis")
        try:
            shared.exec_command(f"write {raw_path}")
        except NgSpiceCommandError:
            pass
        if not raw_path.exists():
            raise failure_error(console + "\n" + _console(shared), "libngspice wrote no result")
        data = raw_path.read_bytes()
        if parse_raw(data).n_points == 0:
            raise failure_error(console, "libngspice found no operating point")
        return data, console
    finally:
        for command in ("destroy all", "remcirc"):
            try:
                shared.exec_command(command)
            except (NgSpiceCommandError, SimulationError):
                pass


class PySpiceBackend(DeckBackend):
    """Solve in-process with libngspice through PySpice; same deck and results as ``ngspice``.

    Parameters
    ----------
    options:
        Whitelisted ngspice ``.options`` with numeric values, e.g. ``{"reltol": 1e-6}``.
    max_batch:
        Vectors per libngspice run; larger batches are split.
    """

    name = "pyspice"

    def __init__(self, options: Mapping[str, object] | None = None, max_batch: int = 1000) -> None:
        self.options = check_options(options)
        self.max_batch = check_max_batch(max_batch)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if importlib.util.find_spec("PySpice") is None:
            return "PySpice is not installed (pip install PySpice)"
        if find_libngspice() is None:
            return f"libngspice not found (set {ENV_VAR}; Debian/Ubuntu: apt-get install libngspice0)"
        init = user_spiceinit()
        if init is not None and _SHARED is None:
            return _spiceinit_refusal(init)
        return None

    def run(self, deck_text: str) -> tuple[bytes, str]:
        return run_deck_shared(deck_text)
