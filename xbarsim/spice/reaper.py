"""Simulator children never outlive us: parent-death signal, process-group kill, and a reaper process.

Three layers, because each covers a way of dying the others cannot:

* :func:`child_setup` (``preexec_fn`` of every ngspice process, Linux): ``prctl(PR_SET_PDEATHSIG,
  SIGKILL)``, so the kernel kills ngspice the moment our process dies, even by SIGKILL or the OOM
  killer;
* the runner kills ngspice's process group on every exit path of its own (timeout, exception,
  KeyboardInterrupt, SIGTERM turned into an exception by the CLI) and removes the work directory
  only after the child is dead;
* :func:`track` registers each work directory (and the pid running in it) with a small reaper
  process, one per Python process, started on first use in its own session. It reads
  registrations on a pipe; when the pipe closes without the entry having been released (our
  process was SIGKILLed), it kills the process still running *in that directory* (checked through
  ``/proc/<pid>/cwd``, so a recycled pid is never hit) and removes the directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO, Any

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1

#: The reaper's program: run with ``python -I -S -c`` (no site, no user environment).
_REAPER = r"""
import json, os, shutil, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
live = {}
for line in sys.stdin:
    try:
        op, path, pid, remove = json.loads(line)
    except ValueError:
        continue
    if op == "+":
        live[path] = (pid, remove)
    else:
        live.pop(path, None)

def running_in(pid, path):
    try:
        return pid > 0 and os.readlink("/proc/%d/cwd" % pid) == path
    except OSError:
        return False

for path, (pid, remove) in live.items():
    if running_in(pid, path):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        for _ in range(500):
            if not running_in(pid, path):
                break
            time.sleep(0.01)
    if remove:
        shutil.rmtree(path, ignore_errors=True)
"""

_lock = threading.Lock()
_reaper: dict[str, Any] = {"pid": None, "proc": None}
_libc: Any = None


def processes_under(root: str | os.PathLike[str]) -> list[tuple[int, str]]:
    """(pid, command name) of every process whose working directory lies under ``root``.

    ngspice runs in its run directory, so this is how the tests and ``bench/hardening.py`` find
    a simulator of ours that outlived its parent, without looking at anybody else's processes.
    """
    base = os.fspath(root)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
            with open(f"/proc/{entry}/comm") as fh:
                comm = fh.read().strip()
        except OSError:
            continue
        if cwd == base or cwd.startswith(base + os.sep):
            found.append((int(entry), comm))
    return found


def wait_until(predicate: Any, seconds: float, step: float = 0.05) -> bool:
    """Poll ``predicate()`` until it is true or ``seconds`` have passed; its last value."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def _load_libc() -> Any:
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        try:
            _libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            _libc = False
    return _libc


def child_preexec() -> Any:
    """A ``preexec_fn`` for a simulator child: die with this process (Linux), else ``None``.

    libc is loaded here, in the parent, so the child only makes one system call after fork.
    """
    libc = _load_libc()
    if not libc:
        return None
    parent = os.getpid()

    def setup() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return setup


def _pipe() -> IO[bytes] | None:
    """The write end of this process's reaper pipe (the reaper is started on first use)."""
    if not sys.executable or not sys.platform.startswith("linux"):
        return None
    proc = _reaper["proc"]
    if _reaper["pid"] == os.getpid() and proc is not None and proc.poll() is None:
        return proc.stdin
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _REAPER],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        log.warning("cannot start the ngspice reaper (%s); a SIGKILLed run may leave its temp dir", exc)
        return None
    _reaper.update(pid=os.getpid(), proc=proc)
    return proc.stdin


def _send(op: str, path: str, pid: int, remove: bool) -> None:
    with _lock:
        pipe = _pipe()
        if pipe is None:
            return
        try:
            pipe.write((json.dumps([op, path, pid, remove]) + "\n").encode())
            pipe.flush()
        except (BrokenPipeError, ValueError):
            _reaper["proc"] = None


class Tracked:
    """Handle of one registered work directory (see :func:`track`)."""

    def __init__(self, path: str, remove: bool) -> None:
        self.path = path
        self.remove = remove

    def child(self, pid: int) -> None:
        """Record the pid of the simulator now running in the directory."""
        _send("+", self.path, pid, self.remove)


@contextlib.contextmanager
def track(path: str | os.PathLike[str], *, remove: bool = True) -> Iterator[Tracked]:
    """Register ``path`` with the reaper for the duration of the block (released on every exit).

    The caller removes the directory itself before leaving the block; the reaper only acts when
    this process dies inside it (``remove=False``: kill the child but keep the directory).
    """
    entry = Tracked(os.path.realpath(path), remove)
    _send("+", entry.path, 0, remove)
    try:
        yield entry
    finally:
        _send("-", entry.path, 0, remove)
