"""No ngspice and no temp directory of ours survives a killed ``xbarsim solve`` or ``sweep run``.

Real processes and real signals. Each test gives the command its own TMPDIR, so "ours" is exact:
an ngspice whose working directory lies under that TMPDIR (the runner starts ngspice in its work
directory), and any ``xbarsim-ngspice-*`` entry in it. Other users' ngspice runs are never counted
or touched. The job (96x96 array with 1-ohm wires, 300 vectors) takes ngspice about a minute, so
every signal lands while ngspice is running; the run's own time limit is 60 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xbarsim.spice.reaper import processes_under, wait_until

pytestmark = pytest.mark.requires_ngspice


def _ours(tmpdir: Path) -> list[tuple[int, str]]:
    """(pid, comm) of every process whose cwd is under ``tmpdir``."""
    return processes_under(tmpdir)


def _kill_and_check(proc: subprocess.Popen, tmpdir: Path, sig: signal.Signals) -> None:
    try:
        started = wait_until(lambda: any(c == "ngspice" for _, c in _ours(tmpdir)), 25)
        assert started, "ngspice never started"
        proc.send_signal(sig)
        proc.wait(timeout=15)
        # the reaper (SIGKILL case) needs a moment after the driver is gone
        assert wait_until(lambda: not _ours(tmpdir), 10), _ours(tmpdir)
        assert wait_until(lambda: not list(tmpdir.glob("xbarsim-*")), 10), list(tmpdir.iterdir())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid, _ in _ours(tmpdir):  # only processes of this test's own TMPDIR
            os.kill(pid, signal.SIGKILL)


def _env(tmpdir: Path) -> dict[str, str]:
    tmpdir.mkdir()
    return {**os.environ, "TMPDIR": str(tmpdir)}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_killed_solve_leaves_no_ngspice_and_no_temp_dir(tmp_path: Path, sig: signal.Signals) -> None:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "G.npy", rng.uniform(1e-5, 1e-4, (96, 96)))
    np.save(tmp_path / "V.npy", rng.uniform(0.0, 0.2, (300, 96)))
    tmpdir = tmp_path / "tmp"
    cmd = [sys.executable, "-m", "xbarsim", "solve", "-G", "G.npy", "-V", "V.npy", "--r-wire", "1"]
    cmd += ["--backend", "ngspice", "--timeout", "60", "-o", "out.npy"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=_env(tmpdir), stderr=subprocess.PIPE, text=True)
    _kill_and_check(proc, tmpdir, sig)
    expected = {signal.SIGTERM: 143, signal.SIGINT: 130, signal.SIGKILL: -9}[sig]
    assert proc.returncode == expected, proc.stderr.read() if proc.stderr else ""
    assert not (tmp_path / "out.npy").exists()


SWEEP = """
name = "orphan"
experiment = "crossbar_mc"
[fixed]
rows = 96
cols = 96
batch = 300
backend = "ngspice"
r_wire = 1.0
seed = 1
preset = "hfo2-1t1r-8"
[grid]
trial = [0]
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_sweep_leaves_no_ngspice_and_no_temp_dir(tmp_path: Path, sig: signal.Signals) -> None:
    (tmp_path / "orphan.toml").write_text(SWEEP)
    tmpdir = tmp_path / "tmp"
    cmd = [sys.executable, "-m", "xbarsim", "sweep", "run", "orphan.toml", "--workers", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=_env(tmpdir), stderr=subprocess.PIPE, text=True)
    _kill_and_check(proc, tmpdir, sig)
    assert proc.returncode == (143 if sig == signal.SIGTERM else -9)


def test_killed_pool_worker_takes_its_ngspice_and_temp_dir_along(tmp_path: Path) -> None:
    """SIGKILL (as the OOM killer sends) to the pool worker running ngspice: both gone, dir removed."""
    (tmp_path / "orphan.toml").write_text(SWEEP)
    tmpdir = tmp_path / "tmp"
    cmd = [sys.executable, "-m", "xbarsim", "sweep", "run", "orphan.toml", "--workers", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=_env(tmpdir), stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: any(c == "ngspice" for _, c in _ours(tmpdir)), 25), "ngspice never started"
        spice = next(pid for pid, c in _ours(tmpdir) if c == "ngspice")
        workdir = os.readlink(f"/proc/{spice}/cwd")
        worker = int(Path(f"/proc/{spice}/stat").read_text().rsplit(")", 1)[1].split()[1])
        assert worker not in (proc.pid, 1)
        os.kill(worker, signal.SIGKILL)
        assert wait_until(lambda: not Path(f"/proc/{spice}").exists(), 10), "ngspice outlived its worker"
        assert wait_until(lambda: not Path(workdir).exists(), 10), "temp dir of the dead worker left behind"
    finally:  # the driver re-runs the point in a new worker; stopping it leaves nothing either
        _kill_and_check(proc, tmpdir, signal.SIGTERM)
