"""Dask: a real LocalCluster (worker processes) gives the same results table as the local pool."""

from __future__ import annotations

from conftest import requires_dask

from xbarsim.sweep.executor import run_sweep
from xbarsim.sweep.spec import parse_spec
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
    assert all(rows[t]["status"] == "done" for t in (0, 2, 3))
