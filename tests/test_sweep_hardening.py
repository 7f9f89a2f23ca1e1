"""Sweeps under careless or hostile use: bad specs, stale inputs, exports over inputs, read-only
files, foreign files, two runs at once, dying workers, matplotlib state."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from conftest import requires_plot

from xbarsim.cli import main
from xbarsim.errors import InputError
from xbarsim.sweep.executor import run_sweep
from xbarsim.sweep.spec import load_spec, parse_spec
from xbarsim.sweep.store import ResultsStore

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def _one_line_error(capsys, argv: list[str], match: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("xbarsim: error:") and err.count("\n") == 1, err
    assert match in err, err
    assert "Traceback" not in err and "internal error" not in err


def _selftest_db(tmp_path: Path, trials: int = 3) -> tuple[Path, Path]:
    spec = tmp_path / "s.toml"
    spec.write_text(f'experiment = "selftest"\n[grid]\nx = [1.0, 2.0]\ntrial = {{ stop = {trials} }}\n')
    db = tmp_path / "s.sqlite"
    assert main(["sweep", "run", str(spec), "--db", str(db), "--workers", "1", "--no-progress"]) == 0
    return spec, db


# -- 5: specs validated fully before any point runs --------------------------------------------
BAD = [
    ("[fixed]\nread_noise = nan\n", "'read_noise' must be a finite number"),
    ("[fixed]\nr_wire = inf\n", "'r_wire' must be a finite number"),
    ("[grid]\nv_in = [0.1, -inf]\n", "'v_in' must be a finite number"),
    ("[fixed]\nstuck_hrs_rate = 1.5\n", "'stuck_hrs_rate' must be <= 1.0"),
    ("[fixed]\nstuck_lrs_rate = -0.1\n", "'stuck_lrs_rate' must be >= 0.0"),
    ("[fixed]\nseed = -1\n", "'seed' must be >= 0"),
    ("[grid]\ntrial = { start = 5, stop = 5 }\n", "range is empty"),
    (
        "[grid]\nrows = { stop = 1000 }\ncols = { stop = 1000 }\ntrial = { stop = 1000 }\n",
        "the grid has 1,000,000,000 points, more than the limit of 1,000,000",
    ),
    ("[grid]\ntrial = { stop = 100000000000000000000000 }\n", "more than the limit"),
]


@pytest.mark.parametrize("body, message", BAD)
def test_bad_values_refused_before_anything_runs(tmp_path, capsys, body: str, message: str) -> None:
    p = tmp_path / "bad.toml"
    p.write_text('experiment = "crossbar_mc"\n' + body)
    db = tmp_path / "bad.sqlite"
    _one_line_error(capsys, ["sweep", "run", str(p), "--db", str(db)], message)
    assert not db.exists()


def test_grid_limit_is_configurable_and_points_are_lazy(tmp_path, monkeypatch) -> None:
    text = 'experiment = "selftest"\n[grid]\nx = [1.0, 2.0]\ntrial = { stop = 100000 }\n'
    p = tmp_path / "big.toml"
    p.write_text(text)
    with pytest.raises(InputError, match="200,000 points, more than the limit of 1,000"):
        load_spec(p, max_points=1000)
    monkeypatch.setenv("XBARSIM_SWEEP_MAX_POINTS", "1000")
    with pytest.raises(InputError, match="limit of 1,000"):
        load_spec(p)
    monkeypatch.setenv("XBARSIM_SWEEP_MAX_POINTS", "lots")
    with pytest.raises(InputError, match="XBARSIM_SWEEP_MAX_POINTS must be a positive integer"):
        load_spec(p)
    monkeypatch.delenv("XBARSIM_SWEEP_MAX_POINTS")
    spec = load_spec(p)
    assert spec.n_points == 200_000
    tracemalloc.start()
    n = sum(1 for _ in spec.point_ids())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert n == 200_000 and peak < 5e6  # streamed: a list of 200k parameter dicts is ~100 MB


def test_a_backend_missing_here_is_refused_before_running(tmp_path) -> None:
    p = tmp_path / "sp.toml"
    p.write_text('experiment = "crossbar_mc"\n[fixed]\nbackend = "ngspice"\n[grid]\ntrial = [0, 1]\n')
    env = {**ENV, "PATH": "/nonexistent"}  # no ngspice executable
    r = subprocess.run(
        [sys.executable, "-m", "xbarsim", "sweep", "run", str(p), "--db", str(tmp_path / "sp.sqlite")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "backend 'ngspice' is not usable here" in r.stderr and "not on PATH" in r.stderr
    assert not (tmp_path / "sp.sqlite").exists()
    p.write_text('experiment = "crossbar_mc"\n[fixed]\nbackend = "pyspice"\n')
    env = {**ENV, "XBARSIM_LIBNGSPICE": str(tmp_path / "no-libngspice.so")}
    r = subprocess.run(
        [sys.executable, "-m", "xbarsim", "sweep", "run", str(p), "--db", str(tmp_path / "sp.sqlite")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 2 and "backend 'pyspice' is not usable here" in r.stderr, r.stderr


# -- 4: a point's identity includes the content of the files it reads ---------------------------
def _levels_csv(path: Path, scale: float) -> None:
    lines = ["level,v_read,quantile,i_read"]
    for k, i in enumerate(np.linspace(5e-6, 40e-6, 4)):
        lines += [f"{k},0.2,0.0,{i * scale:.6e}", f"{k},0.2,1.0,{i * scale * 1.2:.6e}"]
    path.write_text("\n".join(lines) + "\n")


def test_editing_a_level_csv_between_runs_makes_new_points(tmp_path, capsys) -> None:
    csv = tmp_path / "levels.csv"
    _levels_csv(csv, 1.0)
    spec = tmp_path / "lv.toml"
    spec.write_text(
        f'experiment = "crossbar_mc"\n[fixed]\nrows = 4\ncols = 3\nbatch = 2\npreset = "{csv}"\n'
        "[grid]\ntrial = [0, 1, 2]\n"
    )
    db = tmp_path / "lv.sqlite"
    run = ["sweep", "run", str(spec), "--db", str(db), "--workers", "1", "--no-progress"]
    assert main(run) == 0
    assert main(run) == 0 and "3 already stored, 0 done" in capsys.readouterr().out  # unchanged: resumed
    _levels_csv(csv, 1.5)  # same name, new content
    assert main(["sweep", "status", str(spec), "--db", str(db)]) == 0
    assert "3 points, 0 done, 0 failed, 3 pending" in capsys.readouterr().out
    assert main(run) == 0 and "0 already stored, 3 done" in capsys.readouterr().out
    with ResultsStore(db, create=False) as st:
        rows = st.rows()
    assert len(rows) == 6 and len({r["id"] for r in rows}) == 6
    old, new = rows[:3], rows[3:]
    assert all(o["result"]["g_rel_spread"] != n["result"]["g_rel_spread"] for o, n in zip(old, new))
    out = tmp_path / "now.csv"
    assert main(["sweep", "export", str(spec), "--db", str(db), "--csv", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 4  # only the points of the current file contents


# -- 3: export never writes over an input, and writes atomically ---------------------------------
def test_export_refuses_to_overwrite_its_inputs(tmp_path, capsys) -> None:
    spec, db = _selftest_db(tmp_path)
    before = db.read_bytes()
    spec_text = spec.read_text()
    os.link(db, tmp_path / "hard.sqlite")
    os.symlink(spec, tmp_path / "sym.toml")
    for target in (db, tmp_path / "." / "s.sqlite", tmp_path / "hard.sqlite", tmp_path / "sym.toml", spec):
        _one_line_error(
            capsys,
            ["sweep", "export", str(spec), "--db", str(db), "--csv", str(target)],
            "refusing to overwrite an input",
        )
    assert db.read_bytes() == before and spec.read_text() == spec_text
    _one_line_error(capsys, ["sweep", "export", "--db", str(db), "--csv", str(tmp_path)], "is a directory")
    out = tmp_path / "out.csv"
    out.write_text("old export\n")
    assert main(["sweep", "export", "--db", str(db), "--csv", str(out)]) == 0
    assert out.read_text().startswith("id,experiment,status") and len(out.read_text().splitlines()) == 7
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp left


# -- 9: read-only use; nothing written into a file that is only read ------------------------------
def _without_root_override() -> list[str]:
    """Command prefix under which permissions apply: root loses its capability to ignore them."""
    import shutil

    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file permissions cannot be enforced")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--"]


def test_status_and_export_on_a_read_only_file_and_folder(tmp_path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    spec, db = _selftest_db(ro)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    snapshot = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in ro.iterdir()}
    db.chmod(0o444)
    ro.chmod(0o555)
    out_dir.chmod(0o777)
    tmp_path.chmod(0o755)
    prefix = _without_root_override()
    try:
        for argv in (
            ["sweep", "status", "--db", str(db)],
            ["sweep", "status", str(spec), "--db", str(db), "--errors"],
            ["sweep", "export", "--db", str(db), "--csv", str(out_dir / "x.csv")],
        ):
            r = subprocess.run(
                [*prefix, sys.executable, "-m", "xbarsim", *argv],
                env=ENV,
                capture_output=True,
                text=True,
                check=False,
                cwd=out_dir,
            )
            assert r.returncode == 0, r.stderr
            if argv[1] == "status":
                assert "6 points, 6 done, 0 failed, 0 pending" in r.stdout
        assert len((out_dir / "x.csv").read_text().splitlines()) == 7

        # and writing really was impossible for that user: a run says so in one line
        def run_as_user() -> subprocess.CompletedProcess:
            argv = [*prefix, sys.executable, "-m", "xbarsim", "sweep", "run", str(spec), "--db", str(db)]
            return subprocess.run(argv, env=ENV, capture_output=True, text=True, check=False, cwd=out_dir)

        r = run_as_user()
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert "is not writable here" in r.stderr
        ro.chmod(0o755)  # a read-only file in a writable folder: the same clear line
        r = run_as_user()
        assert r.returncode == 2 and "is not writable here" in r.stderr and r.stderr.count("\n") == 1
    finally:
        ro.chmod(0o755)
        db.chmod(0o644)
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in ro.iterdir()} == snapshot


def test_reading_never_writes_a_schema_and_foreign_files_are_refused(tmp_path, capsys) -> None:
    foreign = tmp_path / "foreign.sqlite"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE customers (name TEXT)")
    con.commit()
    con.close()
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"SQLite format 3\x00" + os.urandom(3000))
    text = tmp_path / "notes.sqlite"
    text.write_text("just some notes\n" * 100)
    empty_db = tmp_path / "empty.sqlite"
    sqlite3.connect(empty_db).close()  # a file with no tables
    spec = tmp_path / "s.toml"
    spec.write_text('experiment = "selftest"\n[grid]\ntrial = [0, 1]\n')
    for f in (foreign, garbage, text, empty_db):
        before = f.read_bytes()
        for argv in (
            ["sweep", "status", "--db", str(f)],
            ["sweep", "export", "--db", str(f), "--csv", "-"],
            ["sweep", "plot", "--db", str(f), "--x", "trial", "--y", "value"],
        ):
            _one_line_error(capsys, argv, "not")
        if f is not empty_db:  # an empty file may become a results file when asked to run
            _one_line_error(capsys, ["sweep", "run", str(spec), "--db", str(f)], "results file")
        assert f.read_bytes() == before, f
        assert not Path(str(f) + "-wal").exists()


# -- 6: two runs on one results file at once ------------------------------------------------------
def test_two_concurrent_runs_compute_each_point_once(tmp_path) -> None:
    spec = tmp_path / "c.toml"
    spec.write_text('experiment = "selftest"\n[fixed]\nsleep = 0.3\n[grid]\ntrial = { stop = 10 }\n')
    db = tmp_path / "c.sqlite"
    cmd = [sys.executable, "-m", "xbarsim", "sweep", "run", str(spec), "--db", str(db), "--workers", "1"]
    first = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = Path(str(db) + ".lock")
    deadline = time.monotonic() + 60
    while not (lock.exists() and "pid" in lock.read_text()):
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    second = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=60, check=False)
    assert first.poll() is None, "the first run should still be working"
    assert second.returncode == 2 and second.stderr.count("\n") == 1, second.stderr
    assert "is in use by another 'sweep run'" in second.stderr and f"pid {first.pid}" in second.stderr
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert "10 done" in out
    con = sqlite3.connect(db)
    ids = [r[0] for r in con.execute("SELECT id FROM points")]
    (workers,) = con.execute("SELECT COUNT(DISTINCT worker) FROM points").fetchone()
    con.close()
    assert len(ids) == len(set(ids)) == 10 and workers == 1  # every point once, by the first run's pool
    third = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=60, check=False)
    assert third.returncode == 0 and "10 already stored, 0 done" in third.stdout


# -- 9: attempts count worker deaths --------------------------------------------------------------
def test_attempts_count_every_run_lost_with_its_worker(tmp_path) -> None:
    spec = parse_spec({"experiment": "selftest", "fixed": {"crash_trial": 0}, "grid": {"trial": [0, 1, 2]}})
    with ResultsStore(tmp_path / "a.sqlite") as st:
        rep = run_sweep(spec, st, workers=1, max_attempts=2, progress=False)
        rows = {r["params"]["trial"]: r for r in st.rows()}
    assert (rep.done, rep.failed) == (2, 1)
    # one worker, two points in flight: trial 1 dies once with trial 0, then finishes alone
    assert rows[0]["status"] == "failed" and rows[0]["attempts"] == 3
    assert "died 2 times running this point alone (3 runs in all)" in rows[0]["error"]
    assert rows[1]["attempts"] == 2 and rows[2]["attempts"] == 1


# -- 8 / item 8: plots -----------------------------------------------------------------------------
@requires_plot
def test_plots_leave_the_matplotlib_backend_alone(tmp_path) -> None:
    code = f"""
import matplotlib, sys
matplotlib.use("svg")
from xbarsim.sweep.plots import errorbar_plot, hist_plot
rows = [{{"status": "done", "params": {{"x": x, "trial": t}}, "result": {{"v": x + t / 10}}}}
        for x in (1.0, 2.0) for t in range(3)]
errorbar_plot(rows, "x", "v", r"{tmp_path / "e.png"}")
hist_plot(rows, "v", r"{tmp_path / "h.pdf"}", by="x")
print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
"""
    r = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["svg", "False"]
    assert (tmp_path / "e.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "h.pdf").read_bytes()[:4] == b"%PDF"


@requires_plot
def test_unknown_plot_format_and_missing_folder_before_reading(tmp_path, capsys) -> None:
    _spec, db = _selftest_db(tmp_path)
    argv = ["sweep", "plot", "--db", str(db), "--x", "x", "--y", "value", "--out"]
    _one_line_error(capsys, [*argv, str(tmp_path / "p.bmpx")], "unknown plot format '.bmpx'")
    _one_line_error(capsys, [*argv, str(tmp_path / "noext")], "unknown plot format")
    _one_line_error(capsys, [*argv, str(tmp_path / "nodir" / "p.png")], "does not exist")
    # checked before the results file is even opened
    _one_line_error(
        capsys,
        ["sweep", "plot", "--db", str(tmp_path / "none.sqlite"), "--out", "p.xyz"],
        "unknown plot format",
    )
    assert main([*argv, str(tmp_path / "p.svg")]) == 0
    assert b"<svg" in (tmp_path / "p.svg").read_bytes()[:400]


def test_bad_scheduler_address_one_line(tmp_path, capsys) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text('experiment = "selftest"\n[grid]\ntrial = [0]\n')
    db = tmp_path / "s.sqlite"
    for addr in ("localhost", "tcp://host", "tcp://host:99999", "http://x:1/path", "tcp://a b:1"):
        _one_line_error(
            capsys, ["sweep", "run", str(spec), "--db", str(db), "--scheduler", addr], "must look like tcp://"
        )
    assert not db.exists()


def test_model_file_and_data_folder_contents_are_part_of_the_identity(tmp_path) -> None:
    model = tmp_path / "m.keras"
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.gz").write_bytes(b"images v1")
    model.write_bytes(b"weights v1")

    def ids() -> list[str]:
        spec = {"experiment": "mnist_mc", "fixed": {"model": str(model), "data_dir": str(data)}}
        return list(parse_spec({**spec, "grid": {"trial": [0, 1]}}).point_ids())

    first = ids()
    model.write_bytes(b"weights v2")
    second = ids()
    (data / "a.gz").write_bytes(b"images v2")
    third = ids()
    model.write_bytes(b"weights v1")
    (data / "a.gz").write_bytes(b"images v1")
    assert len({*first, *second, *third}) == 6  # every content change: new points
    assert ids() == first  # same contents again: the stored points are found again
    # a preset *name* is not a file: ids of name-only sweeps are those of earlier versions
    plain = parse_spec({"experiment": "crossbar_mc", "fixed": {"preset": "hfo2-1t1r-8"}})
    from xbarsim.sweep.spec import point_id

    ((pid, params),) = plain.points()
    assert pid == point_id("crossbar_mc", params)
