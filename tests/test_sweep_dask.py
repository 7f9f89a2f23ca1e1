"""Dask: a real LocalCluster (worker processes) gives the same results table as the local pool."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import requires_dask

from xbarsim.sweep.executor import run_sweep
from xbarsim.sweep.spec import load_spec, parse_spec
from xbarsim.sweep.store import ResultsStore

SPEC = {
    "name": "dask_vs_pool",
    "experiment": "crossbar_mc",
    "fixed": {"rows": 12, "cols": 6, "batch": 4, "read_noise": 0.02, "stuck_hrs_rate": 0.02},
    "grid": {"preset": ["hfo2-1t1r-3", "hfo2-1t1r-8"], "trial": list(range(5))},
}


def _table(store: ResultsStore) -> dict[str, tuple[str, dict]]:
    return {r["id"]: (r["status"], r["result"]) for r in store.rows()}


@requires_dask
def test_dask_local_cluster_matches_local_pool(tmp_path) -> None:
    spec = parse_spec(SPEC)
    with ResultsStore(tmp_path / "pool.sqlite") as pool_store:
        rep = run_sweep(spec, pool_store, workers=2, progress=False)
        assert rep.done == 10
        pool = _table(pool_store)
    with ResultsStore(tmp_path / "dask.sqlite") as dask_store:
        rep = run_sweep(spec, dask_store, workers=2, dask_local=True, progress=False)
        assert (rep.done, rep.failed) == (10, 0)
        dask = _table(dask_store)
        # resume on Dask: nothing left to do
        assert run_sweep(spec, dask_store, workers=2, dask_local=True, progress=False).skipped == 10
    assert dask == pool  # same ids, statuses and bit-identical metrics


@requires_dask
def test_scheduler_address_and_killed_worker(tmp_path) -> None:
    """``--scheduler ADDR`` path; a task that kills its worker ends as a recorded failure."""
    import dask
    from distributed import LocalCluster

    spec = parse_spec(
        {"experiment": "selftest", "fixed": {"crash_trial": 1}, "grid": {"trial": [0, 1, 2, 3]}}
    )
    # allowed-failures 0: one death makes KilledWorker (fewer slow worker restarts in the test)
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        ResultsStore(tmp_path / "s.sqlite") as st,
    ):
        rep = run_sweep(spec, st, scheduler=cluster.scheduler_address, progress=False)
        rows = {r["params"]["trial"]: r for r in st.rows()}
    assert (rep.done, rep.failed) == (3, 1)
    assert rows[1]["status"] == "failed" and "KilledWorker" in rows[1]["error"]
    assert rows[1]["attempts"] == 2  # killed its worker beside others, then again alone
    assert all(rows[t]["status"] == "done" for t in (0, 2, 3))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@requires_dask
def test_scheduler_loss_is_one_line_and_resumable(tmp_path) -> None:
    """A real ``dask scheduler`` + ``dask worker``; the scheduler is killed mid-sweep."""
    dask_cli = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
    assert dask_cli, "the dask command comes with distributed"
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    addr = f"tcp://127.0.0.1:{_free_port()}"
    spec = tmp_path / "loss.toml"
    spec.write_text('experiment = "selftest"\n[fixed]\nsleep = 0.3\n[grid]\ntrial = { stop = 40 }\n')
    db = tmp_path / "loss.sqlite"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    sched = subprocess.Popen(
        [dask_cli, "scheduler", "--host", "127.0.0.1", "--port", addr.rsplit(":", 1)[1], "--no-dashboard"],
        env=env,
        **quiet,
    )
    worker = subprocess.Popen(
        [dask_cli, "worker", addr, "--nthreads", "1", "--nworkers", "1", "--no-dashboard"], env=env, **quiet
    )
    try:
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "xbarsim",
                "sweep",
                "run",
                str(spec),
                "--db",
                str(db),
                "--scheduler",
                addr,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while _rows(db) < 3:
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "no progress on the Dask scheduler"
            time.sleep(0.1)
        sched.send_signal(signal.SIGKILL)
        out, err = run.communicate(timeout=120)
    finally:
        for p in (sched, worker):
            p.kill()
            p.wait()
    assert run.returncode == 2, (out, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("xbarsim: error: lost the Dask scheduler at " + addr)
    n = _rows(db)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    assert 3 <= n < 40
    with ResultsStore(db) as st:  # resume elsewhere: the stored points are kept, none twice
        rep = run_sweep(load_spec(spec), st, workers=2, progress=False)
        assert (rep.skipped, rep.done) == (n, 40 - n)
        assert st.count() == 40


def _rows(db) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(con.execute("SELECT COUNT(*) FROM points").fetchone()[0])
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0
