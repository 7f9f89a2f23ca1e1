"""Results store and local-pool executor: one row per point, skip on re-run, failures and dead workers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import requires_ngspice, requires_plot, requires_tf

from xbarsim.cli import main
from xbarsim.errors import InputError
from xbarsim.sweep.executor import run_sweep
from xbarsim.sweep.experiments import crossbar_mc, get_experiment, run_experiment, selftest
from xbarsim.sweep.plots import errorbar_data, summarize
from xbarsim.sweep.spec import parse_spec
from xbarsim.sweep.store import ResultsStore


def _selftest_spec(trials: int = 6, **fixed) -> object:
    return parse_spec(
        {
            "name": "st",
            "experiment": "selftest",
            "fixed": {"seed": 3, **fixed},
            "grid": {"x": [1.0, 2.0], "trial": list(range(trials))},
        }
    )


def test_store_roundtrip_and_done_is_final(tmp_path) -> None:
    with ResultsStore(tmp_path / "r.sqlite") as st:
        st.record_point("a", "selftest", {"x": 1}, status="failed", error="boom", version="t")
        st.record_point(
            "a", "selftest", {"x": 1}, status="done", result={"value": 2.0}, attempts=2, version="t"
        )
        st.record_point("a", "selftest", {"x": 1}, status="failed", error="late", version="t")  # ignored
        rows = st.rows()
        assert len(rows) == 1 and rows[0]["status"] == "done" and rows[0]["result"] == {"value": 2.0}
        assert rows[0]["attempts"] == 2
        assert st.statuses() == {"a": "done"}
        with pytest.raises(InputError):
            st.record_point("b", "selftest", {}, status="maybe", version="t")
    db = sqlite3.connect(tmp_path / "r.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_pool_sweep_stores_every_point_once_and_skips_on_rerun(tmp_path) -> None:
    spec = _selftest_spec()
    with ResultsStore(tmp_path / "r.sqlite") as st:
        rep = run_sweep(spec, st, workers=2, progress=False)
        assert (rep.total, rep.done, rep.failed, rep.skipped) == (12, 12, 0, 0)
        rows = st.rows()
        assert sorted(r["id"] for r in rows) == sorted(pid for pid, _ in spec.points())
        for r in rows:  # the stored value is exactly the pure function of the parameters
            assert r["result"]["value"] == run_experiment("selftest", r["params"])["value"]
        again = run_sweep(spec, st, workers=2, progress=False)
        assert (again.skipped, again.done) == (12, 0)
        assert st.count() == 12
        (sw,) = st.sweeps()
        assert sw["name"] == "st" and sw["spec"]["grid"]["x"] == [1.0, 2.0] and sw["version"]


def test_failed_points_recorded_and_retried_on_request(tmp_path) -> None:
    spec = _selftest_spec(trials=3, fail_trial=1)
    with ResultsStore(tmp_path / "r.sqlite") as st:
        rep = run_sweep(spec, st, workers=1, progress=False)
        assert (rep.done, rep.failed) == (4, 2)
        failed = [r for r in st.rows() if r["status"] == "failed"]
        assert len(failed) == 2 and all("selftest asked to fail at trial 1" in r["error"] for r in failed)
        assert run_sweep(spec, st, workers=1, progress=False).skipped == 6  # failures count as finished...
        rep3 = run_sweep(spec, st, workers=1, retry_failed=True, progress=False)  # ...unless asked
        assert (rep3.skipped, rep3.failed) == (4, 2)
        assert all(r["attempts"] == 2 for r in st.rows() if r["status"] == "failed")


def test_dead_worker_point_is_identified_others_finish(tmp_path) -> None:
    """A task that kills its worker process breaks the pool; the sweep rebuilds it and goes on."""
    spec = parse_spec(
        {"experiment": "selftest", "fixed": {"crash_trial": 2}, "grid": {"trial": list(range(5))}}
    )
    with ResultsStore(tmp_path / "r.sqlite") as st:
        rep = run_sweep(spec, st, workers=2, max_attempts=2, progress=False)
        assert (rep.done, rep.failed) == (4, 1)
        (bad,) = [r for r in st.rows() if r["status"] == "failed"]
        assert bad["params"]["trial"] == 2 and "worker process died 2 times" in bad["error"]


def test_crossbar_mc_is_pure_and_sensible() -> None:
    exp = get_experiment("crossbar_mc")
    params = {**exp.defaults(), "rows": 8, "cols": 4, "preset": "hfo2-1t1r-8"}
    a, b = crossbar_mc(**exp.call_arguments(params)), crossbar_mc(**exp.call_arguments(params))
    assert a == b
    c = crossbar_mc(**exp.call_arguments({**params, "trial": 1}))
    assert a["rel_error"] != c["rel_error"]
    # IGVVA levels are separated: no cell reads as another level without read noise
    assert a["level_error_rate"] == 0.0
    assert 0 < a["rel_error"] < 0.2
    assert selftest(1.0, 0, 0, 0.0, -1, -1) == selftest(1.0, 0, 0, 0.0, -1, -1)


def test_summary_export_and_status_cli(tmp_path, capsys) -> None:
    spec_path = tmp_path / "s.toml"
    spec_path.write_text(
        'experiment = "selftest"\n[grid]\nx = [1.0, 3.0]\ntrial = {stop = 5}\n[plot]\nx = "x"\ny = "value"\n'
    )
    db = tmp_path / "s.sqlite"
    assert main(["sweep", "run", str(spec_path), "--db", str(db), "--workers", "1"]) == 0
    assert "10 done" in capsys.readouterr().out
    assert main(["sweep", "status", "--db", str(db)]) == 0
    assert "10 points, 10 done, 0 failed, 0 pending" in capsys.readouterr().out
    out = tmp_path / "sum.csv"
    assert main(["sweep", "export", "--db", str(db), "--csv", str(out), "--summary"]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 3 and "value_mean" in lines[0] and ",5," in lines[1]
    with ResultsStore(db) as st:
        rows = st.rows()
    _cols, summ = summarize(rows)
    for s in summ:  # the summary is the mean over the trials of that x
        vals = [r["result"]["value"] for r in rows if r["params"]["x"] == s["x"]]
        assert s["value_mean"] == pytest.approx(np.mean(vals), rel=1e-12)
    data = errorbar_data(rows, "x", "value")
    xs, mean, _err, n = data[None]
    assert xs == [1.0, 3.0] and list(n) == [5, 5]
    assert mean[1] == pytest.approx(3 * mean[0], rel=1e-12)  # value = x * (same draws)


@requires_plot
def test_plot_cli_writes_png(tmp_path, capsys) -> None:
    spec_path = tmp_path / "p.toml"
    spec_path.write_text(
        'experiment = "selftest"\n[grid]\nx = [1.0, 2.0]\ntrial = {stop = 3}\n[plot]\nx = "x"\ny = "value"\n'
    )
    db = tmp_path / "p.sqlite"
    assert main(["sweep", "run", str(spec_path), "--db", str(db), "--workers", "1"]) == 0
    png = tmp_path / "p.png"
    assert main(["sweep", "plot", str(spec_path), "--db", str(db), "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["sweep", "plot", "--db", str(db), "--x", "nope", "--y", "value"]) == 2
    assert "parameter 'nope' is not in the results" in capsys.readouterr().err


def _zero_spread_csv(path, n_levels: int) -> str:
    """Quantile-form levels with no spread at the illustrative 5-40 uA grid: every draw is the nominal."""
    lines = ["# zero spread, for exact oracles", "level,v_read,quantile,i_read"]
    for k, i in enumerate(np.linspace(5e-6, 40e-6, n_levels)):
        lines += [f"{k},0.2,0.0,{i:.6e}", f"{k},0.2,1.0,{i:.6e}"]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_kim2024_mc_trials(tmp_path) -> None:
    base = {**get_experiment("kim2024_mc").defaults(), "backend": "native", "v_in": 5.0}
    a = run_experiment("kim2024_mc", base)
    assert a == run_experiment("kim2024_mc", base)  # pure: same parameters, same numbers
    assert a["recognition_nominal"] == 1.0  # the calibrated circuit recognizes all ten glyphs
    assert 0 < a["current_deviation"] < 0.2
    # oracle: a distribution without spread reproduces the nominal circuit exactly
    flat = run_experiment("kim2024_mc", {**base, "preset": _zero_spread_csv(tmp_path / "z.csv", 8)})
    assert flat["current_deviation"] < 1e-9
    assert flat["recognition"] == flat["recognition_nominal"] == 1.0


@requires_tf
def test_mnist_mc_trial_on_committed_subset(tmp_path, monkeypatch) -> None:
    """Tiny MLP (8 hidden, 1 epoch on the 500-image subset), 4 levels, 64x64 tiles, 100 test images."""
    monkeypatch.setenv("XBARSIM_CACHE", str(tmp_path / "cache"))
    data = Path(__file__).resolve().parent / "data"
    base = {
        **get_experiment("mnist_mc").defaults(),
        "data_dir": str(data),
        "n_test": 100,
        "hidden": 8,
        "epochs": 1,
        "levels": 4,
        "tile": 64,
    }
    a = run_experiment("mnist_mc", base)
    assert len(list((tmp_path / "cache" / "models").glob("*.keras"))) == 1  # trained once, cached
    assert a == run_experiment("mnist_mc", base)
    for k in ("accuracy_circuit", "accuracy_devices", "accuracy_quantized", "accuracy_float"):
        assert 0.0 <= a[k] <= 1.0
    # oracle: without spread the devices encode exactly the quantized weights
    flat = run_experiment("mnist_mc", {**base, "preset": _zero_spread_csv(tmp_path / "z.csv", 4)})
    assert flat["accuracy_devices"] == flat["accuracy_quantized"]
    # the linear 1T1R circuit adds only the transistors' small series resistance
    assert abs(flat["accuracy_circuit"] - flat["accuracy_quantized"]) <= 0.03


@requires_ngspice
def test_kim2024_mc_ngspice_agrees_with_native() -> None:
    """Same trial (same drawn devices) on ngspice and native: margin and current change agree to 1e-3."""
    base = {**get_experiment("kim2024_mc").defaults(), "v_in": 5.0}
    sp = run_experiment("kim2024_mc", {**base, "backend": "ngspice"})
    nat = run_experiment("kim2024_mc", {**base, "backend": "native"})
    assert sp["recognition"] == nat["recognition"] and sp["r_ref"] == nat["r_ref"]
    assert sp["margin"] == pytest.approx(nat["margin"], rel=1e-3)
    assert sp["current_deviation"] == pytest.approx(nat["current_deviation"], rel=1e-3)
