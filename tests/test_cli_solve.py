"""`xbarsim solve` / `xbarsim netlist`: outputs, file formats and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


def _base(d: Path) -> list[str]:
    """``solve -G G.npy -V V.csv`` on the files of the ``files`` fixture."""
    return ["solve", "-G", str(d / "G.npy"), "-V", str(d / "V.csv")]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "xbarsim", *args], capture_output=True, text=True, check=False
    )


def test_solve_ideal_writes_outputs(files, capsys) -> None:
    d, G, V = files
    assert (
        main(
            ["solve", "-G", str(d / "G.npy"), "-V", str(d / "V.csv"), "--out", str(d / "I.csv"), "--json"]
            + ["--backend", "ideal"]
        )
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
            + ["--backend", "ideal"]
        )
        == 0
    )
    np.testing.assert_allclose(np.load(d / "U.npy"), (V @ G) * 10, rtol=1e-15)


@pytest.mark.requires_ngspice
def test_solve_ngspice_and_netlist(files) -> None:
    d, G, V = files
    r = _cli(
        *_base(d),
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
        *_base(d),
        "--backend",
        "native",
        "--backend-option",
        "warp=9",
    )
    assert r.returncode == 2 and "does not accept" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = _cli("solve", "-G", str(d / "G.npy"), "-V", str(d / "V.csv"), "--backend-option", "novalue")
    assert r.returncode == 2 and "KEY=VALUE" in r.stderr


def _kept_decks(keep) -> list[bytes]:
    return sorted(p.read_bytes() for p in keep.glob("ngspice-*/deck.cir"))


@pytest.mark.requires_ngspice
def test_netlist_is_byte_identical_to_the_deck_ngspice_ran(files) -> None:
    """With an ngspice option set, the --netlist file is the deck ngspice read (kept by --keep-dir)."""
    d, _G, _V = files
    common = ["solve", "-G", str(d / "G.npy"), "-V", str(d / "V.csv"), "--backend", "ngspice"]
    common += ["--backend-option", "reltol=1e-6", "--r-wire", "0.5", "--timeout", "30"]
    r = _cli(*common, "--netlist", str(d / "deck.cir"), "--keep-dir", str(d / "keep"), "-o", str(d / "I.npy"))
    assert r.returncode == 0, r.stderr
    ran = _kept_decks(d / "keep")
    assert len(ran) == 1 and (d / "deck.cir").read_bytes() == ran[0]
    assert b"reltol=1e-06" in ran[0]
    # a batch over max_batch (1000) runs twice: one file per run, FILE.0.cir and FILE.1.cir
    rng = np.random.default_rng(3)
    np.save(d / "V2.npy", rng.uniform(0, 1, (1001, 6)))
    big = [*common[:4], str(d / "V2.npy"), *common[5:]]
    r = _cli(*big, "--netlist", str(d / "big.cir"), "--keep-dir", str(d / "keep2"), "-o", str(d / "I2.npy"))
    assert r.returncode == 0, r.stderr
    assert not (d / "big.cir").exists()
    written = sorted((d / f"big.{k}.cir").read_bytes() for k in (0, 1))
    assert written == _kept_decks(d / "keep2")
    assert np.load(d / "I2.npy").shape == (1001, 4)


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--backend", "native", "--timeout", "5"], "--timeout applies to the ngspice backend only"),
        (["--backend", "ideal", "--timeout", "5"], "--timeout applies to the ngspice backend only"),
        (["--backend", "pyspice", "--timeout", "5"], "--timeout applies to the ngspice backend only"),
        (["--backend", "native", "--keep-dir", "."], "--keep-dir applies to the ngspice backend only"),
        (["--backend", "native", "--netlist", "x.cir"], "runs none"),
        (["--netlist", "x.cir"], "runs none"),
    ],
)
def test_options_a_backend_cannot_honour_are_refused(files, extra, needle) -> None:
    d, _, _ = files
    r = _cli("solve", "-G", str(d / "G.npy"), "-V", str(d / "V.csv"), *extra)
    assert r.returncode == 2 and needle in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cell_choices_are_the_library_constants() -> None:
    from xbarsim.circuit import CELL_KINDS
    from xbarsim.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in ("solve", "netlist"):
        cell = next(a for a in sub.choices[name]._actions if a.dest == "cell")
        assert tuple(cell.choices) == CELL_KINDS


def _one_line_error(r: subprocess.CompletedProcess, needle: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr, r.stderr
    assert r.stderr.startswith("xbarsim: error: ") and "internal error" not in r.stderr


def test_infinite_power_is_an_error_not_exit_0(files) -> None:
    d, _G, _V = files
    np.save(d / "Vbig.npy", np.full((2, 6), 1e200))  # currents ~1e197 A, power overflows to inf
    r = _cli("solve", "-G", str(d / "G.npy"), "-V", str(d / "Vbig.npy"), "--json")
    _one_line_error(r, "non-finite power")
    assert r.stdout == ""  # no JSON with Infinity in it


SPICE_OR_NOT = [
    "ideal",
    "native",
    pytest.param("ngspice", marks=pytest.mark.requires_ngspice),
    pytest.param("pyspice", marks=pytest.mark.requires_pyspice),
]


@pytest.mark.parametrize("backend", SPICE_OR_NOT)
@pytest.mark.parametrize(
    "g_value, extra, needle",
    [
        (1e-310, [], "outside the accepted 1e-15..1e+09 S"),  # denormal G
        (1e-4, ["--r-wire", "1e-12"], "use 0 for an ideal connection"),
        (1e-4, ["--r-ref", "1e16"], "above 1e+15 ohm"),
    ],
)
def test_one_limit_on_resistance_and_conductance_for_every_backend(files, backend, g_value, extra, needle):
    d, G, _V = files
    G = G.copy()
    G[1, 2] = g_value
    np.save(d / "Gx.npy", G)
    r = _cli("solve", "-G", str(d / "Gx.npy"), "-V", str(d / "V.csv"), "--backend", backend, *extra)
    _one_line_error(r, needle)


@pytest.mark.parametrize(
    "option, needle",
    [("mos=foo", "mos"), ("reltol=abc", "reltol"), ("chunk=-1", "chunk"), ("reltol=-1", "reltol")],
)
def test_bad_native_backend_options_are_one_line(files, option, needle) -> None:
    d, _G, _V = files
    r = _cli("solve", "-G", str(d / "G.npy"), "-V", str(d / "V.csv"), "--backend", "native")
    assert r.returncode == 0, r.stderr
    r = _cli(
        *_base(d),
        "--backend",
        "native",
        "--backend-option",
        option,
    )
    _one_line_error(r, needle)


def test_latin1_and_empty_csv_inputs_are_one_line(files) -> None:
    d, _G, _V = files
    (d / "latin.csv").write_bytes("# mesur\xe9\n1,2\n".encode("latin-1"))
    (d / "empty.csv").write_text("")
    (d / "comments.csv").write_text("# only a comment\n")
    _one_line_error(_cli("solve", "-G", str(d / "latin.csv"), "-V", str(d / "V.csv")), "is not UTF-8 text")
    _one_line_error(_cli("solve", "-G", str(d / "empty.csv"), "-V", str(d / "V.csv")), "holds no numbers")
    _one_line_error(_cli("solve", "-G", str(d / "G.npy"), "-V", str(d / "comments.csv")), "holds no numbers")


def test_memory_error_says_what_size_was_asked(tmp_path) -> None:
    """Under a 1 GiB address-space limit a 2000x2000 array with wires cannot be factorized."""
    import resource

    np.save(tmp_path / "G.npy", np.full((2000, 2000), 1e-4))
    np.save(tmp_path / "V.npy", np.full((2, 2000), 0.1))

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    r = subprocess.run(
        [sys.executable, "-m", "xbarsim", "solve", "-G", "G.npy", "-V", "V.npy", "--backend", "native"]
        + ["--r-wire", "1"],
        cwd=tmp_path,
        preexec_fn=limit,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    _one_line_error(r, "not enough memory to solve a 2000x2000 resistor crossbar for 2 input vector(s)")


def test_default_backend_solves_what_was_described(files) -> None:
    """The default solves the wires; asking for ideal is explicit and says what it left out."""
    d, G, V = files
    base = ["solve", "-G", str(d / "G.npy"), "-V", str(d / "V.csv"), "--r-wire", "1", "--json"]
    r = _cli(*base)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["backend"] == "native" and summary["ignored"] == []
    assert summary["max_abs_current"] < np.abs(V @ G).max()  # the wires take their share
    r = _cli(*base, "--backend", "ideal")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ignored"] == ["r_wire"]
    assert "r_wire" in r.stderr and len(r.stderr.strip().splitlines()) == 1
