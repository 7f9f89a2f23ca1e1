"""`xbarsim solve` / `xbarsim netlist`: outputs, file formats and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from xbarsim.cli import main


@pytest.fixture()
def files(tmp_path):
    rng = np.random.default_rng(1)
    G = rng.uniform(1e-5, 1e-3, (6, 4))
    V = rng.uniform(0, 1, (3, 6))
    np.save(tmp_path / "G.npy", G)
    np.savetxt(tmp_path / "V.csv", V, delimiter=",")
    return tmp_path, G, V


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "xbarsim", *args], capture_output=True, text=True, check=False
    )


def test_solve_ideal_writes_outputs(files, capsys) -> None:
    d, G, V = files
    assert (
        main(["solve", "-G", str(d / "G.npy"), "-V", str(d / "V.csv"), "--out", str(d / "I.csv"), "--json"])
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["shape"] == {"inputs": 6, "outputs": 4, "batch": 3}
    np.testing.assert_allclose(np.loadtxt(d / "I.csv", delimiter=","), V @ G, rtol=1e-15)
    assert summary["max_abs_current"] == pytest.approx(np.abs(V @ G).max())


def test_solve_with_reference_resistor_outputs_voltages(files) -> None:
    d, G, V = files
    assert (
        main(
            ["solve", "-G", str(d / "G.npy"), "-V", str(d / "V.csv"), "--r-ref", "10", "-o", str(d / "U.npy")]
        )
        == 0
    )
    np.testing.assert_allclose(np.load(d / "U.npy"), (V @ G) * 10, rtol=1e-15)


@pytest.mark.requires_ngspice
def test_solve_ngspice_and_netlist(files) -> None:
    d, G, V = files
    r = _cli(
        "solve",
        "-G",
        str(d / "G.npy"),
        "-V",
        str(d / "V.csv"),
        "--backend",
        "ngspice",
        "--out",
        str(d / "I.npy"),
        "--netlist",
        str(d / "deck.cir"),
    )
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(np.load(d / "I.npy"), V @ G, rtol=1e-9)
    assert (d / "deck.cir").read_text().lower().rstrip().endswith(".end")
    r = _cli("netlist", "-G", str(d / "G.npy"), "-V", str(d / "V.csv"), "--r-wire", "1", "-o", "-")
    assert r.returncode == 0 and ".end" in r.stdout.lower()


@pytest.mark.parametrize(
    "mutate,needle",
    [
        (lambda d: np.save(d / "G.npy", np.array([[1e-3, np.nan]] * 6)), "non-finite"),
        (lambda d: np.save(d / "G.npy", -np.ones((6, 4))), ">= 0 siemens"),
        (lambda d: np.save(d / "G.npy", np.ones((5, 4)) * 1e-3), "6 columns but the circuit has 5 inputs"),
        (lambda d: (d / "G.npy").write_bytes(b"garbage"), "cannot read conductance"),
        (lambda d: (d / "V.csv").write_text("1,2,x\n"), "cannot read voltages"),
    ],
)
def test_bad_input_is_one_line_exit_2(files, mutate, needle) -> None:
    d, _, _ = files
    mutate(d)
    r = _cli("solve", "-G", str(d / "G.npy"), "-V", str(d / "V.csv"))
    assert r.returncode == 2
    assert needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--backend", "spectre"], "invalid choice"),
        (["--r-wire", "-1"], "r_wire must be >= 0"),
        (["--r-ref", "0"], "r_ref must be > 0"),
        (["--r-wire", "nan"], "r_wire must be finite"),
        (["--cell", "pcm"], "invalid choice"),
        (["--out", "/nonexistent/dir/I.npy"], "does not exist"),
        (["--out", "I.txt"], "must end in .npy or .csv"),
    ],
)
def test_bad_options_are_one_line_exit_2(files, extra, needle) -> None:
    d, _, _ = files
    r = _cli("solve", "-G", str(d / "G.npy"), "-V", str(d / "V.csv"), *extra)
    assert r.returncode == 2, r.stdout
    assert needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_missing_file_and_missing_ngspice(files, tmp_path) -> None:
    d, _, _ = files
    r = _cli("solve", "-G", str(d / "nope.npy"), "-V", str(d / "V.csv"))
    assert r.returncode == 2 and "does not exist" in r.stderr
    env_path = {"PATH": str(tmp_path), "HOME": str(tmp_path)}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "xbarsim",
            "solve",
            "-G",
            str(d / "G.npy"),
            "-V",
            str(d / "V.csv"),
            "--backend",
            "ngspice",
        ],
        capture_output=True,
        text=True,
        env=env_path,
        check=False,
    )
    assert r.returncode == 2 and "ngspice" in r.stderr.lower()
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_backend_options_reach_the_backend(files, capsys) -> None:
    d, G, V = files
    np.save(d / "G1.npy", G)
    args = [
        "solve",
        "-G",
        str(d / "G1.npy"),
        "-V",
        str(d / "V.csv"),
        "--cell",
        "1t1r",
        "--r-wire",
        "0.5",
        "--backend",
        "native",
        "--backend-option",
        "mos=linear",
        "-o",
        str(d / "I.npy"),
    ]
    assert main(args) == 0
    from xbarsim import CellModel, Crossbar, solve

    ref = solve(
        Crossbar(G, cell=CellModel("1t1r"), r_wire=0.5), V, backend="native", options={"mos": "linear"}
    ).currents
    np.testing.assert_allclose(np.load(d / "I.npy"), ref, rtol=1e-12)
    r = _cli(
        "solve",
        "-G",
        str(d / "G.npy"),
        "-V",
        str(d / "V.csv"),
        "--backend",
        "native",
        "--backend-option",
        "warp=9",
    )
    assert r.returncode == 2 and "does not accept" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = _cli("solve", "-G", str(d / "G.npy"), "-V", str(d / "V.csv"), "--backend-option", "novalue")
    assert r.returncode == 2 and "KEY=VALUE" in r.stderr
