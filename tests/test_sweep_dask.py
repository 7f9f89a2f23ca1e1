"""A real Dask LocalCluster (2 worker processes) gives the same results table as the local pool."""

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
        workers = {r["worker"] for r in dask_store.rows()}
        # resume on Dask: nothing left to do
        assert run_sweep(spec, dask_store, workers=2, dask_local=True, progress=False).skipped == 10
    assert dask == pool  # same ids, statuses and bit-identical metrics
    assert len(workers) >= 1
