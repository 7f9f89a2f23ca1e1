"""SIGKILL the real ``xbarsim sweep run`` process mid-sweep, resume it: every point exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from xbarsim.sweep.experiments import run_experiment
from xbarsim.sweep.spec import load_spec

REPO = Path(__file__).resolve().parents[1]

SPEC = """
name = "killme"
experiment = "selftest"
[fixed]
sleep = 0.25
seed = 11
[grid]
x = [1.0, -2.0]
trial = { start = 0, stop = 12 }
"""


def _done_rows(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(con.execute("SELECT COUNT(*) FROM points WHERE status = 'done'").fetchone()[0])
        finally:
            con.close()
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of someone else still answers kill(0); read its state
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_sigkill_mid_run_then_resume(tmp_path) -> None:
    spec_path = tmp_path / "killme.toml"
    spec_path.write_text(SPEC)
    db = tmp_path / "killme.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "xbarsim", "sweep", "run", str(spec_path), "--db", str(db), "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _done_rows(db) < 5:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "sweep made no progress"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()

    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    n_killed = con.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    workers = [int(w.rsplit(":", 1)[1]) for (w,) in con.execute("SELECT DISTINCT worker FROM points")]
    con.close()
    assert 5 <= n_killed < 24, n_killed
    # the orphaned pool workers notice their driver is gone and exit on their own
    wait_until = time.monotonic() + 30
    while any(_alive(p) for p in workers) and time.monotonic() < wait_until:
        time.sleep(0.2)
    assert not any(_alive(p) for p in workers)

    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    assert f"{n_killed} already stored" in r.stdout

    con = sqlite3.connect(db)
    rows = con.execute("SELECT id, params, status, result FROM points").fetchall()
    con.close()
    ids = [row[0] for row in rows]
    expected = {pid: p for pid, p in load_spec(spec_path).points()}
    assert len(ids) == len(set(ids)) == 24 and set(ids) == set(expected)
    import json

    for pid, params, status, result in rows:
        assert status == "done"
        assert json.loads(result) == run_experiment("selftest", expected[pid])
        assert json.loads(params) == expected[pid]
