"""Run one deck through the ngspice executable (``ngspice -n -b``) in a temporary directory.

Separate from the parsers: this module only starts the process, enforces the time limit and
hands back the raw file's bytes and the console text. Failure is decided from the exit status
and the raw file, never from stderr text alone (ngspice writes notes there on success).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .._validate import check_real
from ..errors import InputError, NgspiceNotFound, SimulationTimeout
from . import reaper
from .log import failure_error

log = logging.getLogger(__name__)

DECK_FILE = "deck.cir"
RAW_FILE = "out.raw"


@dataclass(frozen=True)
class RunOutput:
    """What one ngspice run produced.

    Attributes
    ----------
    raw:
        Bytes of the raw file (``-r``).
    log:
        stdout followed by stderr of the process.
    seconds:
        Wall time of the process.
    workdir:
        Directory holding deck, raw file and logs when it was kept, else ``None``.
    """

    raw: bytes
    log: str
    seconds: float
    workdir: Path | None


def check_timeout(value: object) -> float:
    """A time limit in seconds: a finite number > 0 (not a string, not a bool)."""
    if isinstance(value, str):
        raise InputError(f"timeout must be a number of seconds, got {value!r}")
    return check_real(value, "timeout in seconds", positive=True)


def find_ngspice(executable: str = "ngspice") -> str:
    """Absolute path of the ngspice executable, or raise :class:`NgspiceNotFound`."""
    path = shutil.which(executable)
    if path is None:
        raise NgspiceNotFound(
            f"ngspice executable {executable!r} not found on PATH (Debian/Ubuntu: apt-get install ngspice)"
        )
    return path


def _kill(proc: subprocess.Popen) -> None:
    """Kill the child's whole process group and reap it (the child leads its own session)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def command_line(exe: str) -> list[str]:
    """argv of one run: batch mode, no ``.spiceinit`` of the user's (``-n``), relative file names."""
    return [exe, "-n", "-b", "-r", RAW_FILE, DECK_FILE]


def run_deck(
    deck: str,
    *,
    executable: str = "ngspice",
    timeout: float = 600.0,
    keep_dir: str | os.PathLike[str] | None = None,
) -> RunOutput:
    """Run ``deck`` with ``ngspice -n -b -r out.raw deck.cir`` and return the raw bytes and the log.

    ngspice runs in its own session with a parent-death signal and is registered with the
    reaper (:mod:`xbarsim.spice.reaper`): whatever ends this call or this process, the child is
    killed first and the temporary directory removed after it is dead.

    Raises
    ------
    NgspiceNotFound
        The executable is missing.
    SimulationTimeout
        The process ran longer than ``timeout`` seconds (it is killed).
    ConvergenceError, SimulationError
        Non-zero exit status or no raw file; the message quotes the relevant log lines.
    """
    timeout = check_timeout(timeout)
    exe = find_ngspice(executable)
    if keep_dir is not None:
        Path(keep_dir).mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="ngspice-", dir=keep_dir))
    else:
        work = Path(tempfile.mkdtemp(prefix="xbarsim-ngspice-"))
    with reaper.track(work, remove=keep_dir is None) as tracked:
        try:
            return _run_in(work, deck, exe, timeout, tracked, keep_dir is not None)
        finally:
            if keep_dir is None:
                shutil.rmtree(work, ignore_errors=True)


def _run_in(
    work: Path, deck: str, exe: str, timeout: float, tracked: reaper.Tracked, keep: bool
) -> RunOutput:
    (work / DECK_FILE).write_text(deck)
    with open(work / "stdout.txt", "wb") as out, open(work / "stderr.txt", "wb") as err:
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(
                command_line(exe),
                cwd=work,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                # one prctl call after fork, no Python-level locks taken: safe with threads
                preexec_fn=reaper.child_preexec(),  # noqa: PLW1509
            )
        except FileNotFoundError:
            raise NgspiceNotFound(f"ngspice executable {exe!r} could not be started") from None
        try:
            tracked.child(proc.pid)
            status = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SimulationTimeout(
                f"ngspice did not finish within {timeout:g} s (deck of {deck.count(chr(10))} lines)"
            ) from None
        finally:
            _kill(proc)  # any other way out (KeyboardInterrupt, SIGTERM as an exception): child first
        seconds = time.perf_counter() - t0
    text = (
        (work / "stdout.txt").read_text(errors="replace")
        + "\n"
        + (work / "stderr.txt").read_text(errors="replace")
    )
    raw_path = work / RAW_FILE
    raw = raw_path.read_bytes() if raw_path.exists() else b""
    if status != 0:
        raise failure_error(text, f"ngspice exited with status {status}")
    if not raw:
        raise failure_error(text, "ngspice wrote no raw file")
    log.debug("ngspice finished in %.3f s (%s)", seconds, work)
    return RunOutput(raw=raw, log=text, seconds=seconds, workdir=work if keep else None)


def check_points(n_points: int, expected: int, log_text: str) -> None:
    """Raise when the raw file holds fewer points than the sweep asked for (ngspice gave up midway)."""
    if n_points != expected:
        raise failure_error(log_text, f"ngspice returned {n_points} of {expected} operating points")
