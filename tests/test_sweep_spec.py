"""Sweep files: product of lists, complete parameters per point, one clear error for bad files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from xbarsim.cli import main
from xbarsim.errors import InputError
from xbarsim.sweep.spec import load_spec, parse_spec, point_id

REPO = Path(__file__).resolve().parents[1]

GOOD = """
name = "demo"
experiment = "crossbar_mc"
[fixed]
rows = 8
v_in = 1          # an int is a fine float
[grid]
preset = ["hfo2-1t1r-2", "hfo2-1t1r-8"]
r_wire = [0.0, 1.0, 2.5]
trial = { start = 0, stop = 4 }
[plot]
x = "r_wire"
y = "rel_error"
"""


def _write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_good_spec_expands_to_the_product(tmp_path) -> None:
    spec = load_spec(_write(tmp_path, GOOD))
    assert spec.name == "demo" and spec.experiment == "crossbar_mc"
    assert spec.n_points == 2 * 3 * 4
    pts = spec.points()
    assert len(pts) == 24 and len({pid for pid, _ in pts}) == 24
    first = pts[0][1]
    assert first["rows"] == 8 and first["v_in"] == 1.0 and isinstance(first["v_in"], float)
    assert first["cols"] == 16  # experiment default filled in
    assert [p["trial"] for _, p in pts[:4]] == [0, 1, 2, 3]  # last grid key varies fastest
    assert pts[0][0] == point_id("crossbar_mc", first)
    # ids depend on the complete parameters only, not on the file
    again = parse_spec({"experiment": "crossbar_mc", "fixed": {**first}}).points()
    assert again[0][0] == pts[0][0]


def test_shipped_example_sweeps_are_valid() -> None:
    files = sorted((REPO / "examples" / "sweeps").glob("*.toml"))
    assert any(f.name == "quick.toml" for f in files)
    for f in files:
        spec = load_spec(f)
        assert spec.n_points >= 1
    assert load_spec(REPO / "examples" / "sweeps" / "quick.toml").n_points >= 20


BAD = [
    ('experiment = "crossbar_mc"\n[grid]\nbogus = [1, 2]\n', "unknown parameter 'bogus'"),
    (
        'experiment = "crossbar_mc"\n[fixed]\nrows = "many"\n',
        "parameter 'rows' of experiment 'crossbar_mc' must be int",
    ),
    ('experiment = "crossbar_mc"\n[grid]\nrows = [4, 2.5]\n', "must be int, got float 2.5"),
    ('experiment = "crossbar_mc"\n[grid]\npreset = []\n', "'preset' is an empty list"),
    ('experiment = "crossbar_mc"\n[grid]\nrows = 4\n', "'rows' must be a list"),
    ('experiment = "nope"\n', "unknown experiment 'nope'"),
    ("[grid]\nrows = [1]\n", "missing 'experiment"),
    ('experiment = "crossbar_mc"\nexperimnt = 1\n', "unknown top-level key 'experimnt'"),
    ('experiment = "crossbar_mc"\n[fixed]\nrows = 4\n[grid]\nrows = [1, 2]\n', "in both [fixed] and [grid]"),
    ('experiment = "crossbar_mc"\n[grid]\nrows = [1, 1]\n', "same value twice"),
    ('experiment = "crossbar_mc"\n[grid]\nrows = [0]\n', "must be >= 1"),
    ('experiment = "crossbar_mc"\n[grid]\ntrial = { stop = "x" }\n', "integer start/stop"),
    ('experiment = "crossbar_mc"\n[fixed]\nread_noise = true\n', "must be float, got bool"),
    ('experiment = "crossbar_mc"\n[plot]\nz = "rows"\n', "unknown key 'z' in [plot]"),
    ('experiment = "crossbar_mc\n', "invalid TOML"),
    (
        'experiment = "crossbar_mc"\n[grid]\npreset = ["hfo2-1t1r-8", "hfo2-1t1r-9"]\n',
        "unknown level distribution 'hfo2-1t1r-9'",
    ),
    ('experiment = "crossbar_mc"\n[fixed]\nbackend = "spice3"\n', "unknown backend 'spice3'"),
]


@pytest.mark.parametrize("text, message", BAD)
def test_bad_spec_one_clear_line(tmp_path, text: str, message: str) -> None:
    p = _write(tmp_path, text, "bad.toml")
    with pytest.raises(InputError) as exc:
        load_spec(p)
    msg = str(exc.value)
    assert message in msg and "\n" not in msg and msg.startswith("bad.toml")


@pytest.mark.parametrize("text, message", BAD[:4])
def test_bad_spec_cli_exit_2(tmp_path, capsys, text: str, message: str) -> None:
    p = _write(tmp_path, text, "bad.toml")
    code = main(["sweep", "run", str(p), "--db", str(tmp_path / "r.sqlite")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("xbarsim: error: bad.toml") and err.count("\n") == 1 and message in err


def test_bad_spec_real_cli_process(tmp_path) -> None:
    p = _write(tmp_path, BAD[0][0], "bad.toml")
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    r = subprocess.run(
        [sys.executable, "-m", "xbarsim", "sweep", "run", str(p)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "unknown parameter 'bogus'" in r.stderr
    assert not (tmp_path / "bad.sqlite").exists()  # nothing written for an invalid sweep


def test_missing_file_and_missing_db(tmp_path, capsys) -> None:
    assert main(["sweep", "run", str(tmp_path / "none.toml")]) == 2
    assert "sweep file not found" in capsys.readouterr().err
    assert main(["sweep", "status", "--db", str(tmp_path / "none.sqlite")]) == 2
    assert "results file not found" in capsys.readouterr().err
