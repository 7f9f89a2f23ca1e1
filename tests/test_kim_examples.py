"""User-facing Kim 2024 entry points: the CLI (reports, JSON keys, one-line errors) and the examples."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from conftest import KIM_RESULT_KEYS, requires_ngspice, requires_plot

from xbarsim.cli import main
from xbarsim.cli.kim import parse_voltages
from xbarsim.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def _example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


def test_parse_voltages_keeps_labels() -> None:
    assert parse_voltages("1, 5,10.0") == ([1.0, 5.0, 10.0], ["1", "5", "10.0"])
    for bad in ("", "1,,5", "1,x", "0", "-1", "1,1.0", "nan", "1e9"):
        with pytest.raises(InputError):
            parse_voltages(bad)


@pytest.mark.parametrize(
    "argv",
    [
        ["kim2024", "--grid", "6"],
        ["kim2024", "--voltages", "1,abc", "--backend", "ideal"],
        ["kim2024", "--alpha", "1.5"],
        ["kim2024", "--seed", "-3"],
        ["kim2024", "--backend", "nope"],
        ["kim2024", "--backend", "ideal", "--json", "/nonexistent-dir/r.json"],
        ["kim2024", "--input-offset", "abc"],
        ["kim2024", "--input-offset", "nan"],
        ["kim2024", "--input-offset", "-0.1"],
        ["kim2024", "--input-offset", "11"],
        ["kim2024", "--coupling", "tight"],
        ["kim2024", "--offset-inputs", "dark"],
        ["kim2024", "--seed", "autox"],
        ["kim2024", "--seed-from", "-1"],
        ["kim2024", "--seed-rule", "best"],
        ["demo", "--seed-rule", ""],
        ["demo", "--coupling", "none"],
        ["demo", "--input-offset", "inf"],
    ],
)
def test_cli_bad_input_is_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xbarsim") and "\n" not in err


@requires_plot
def test_cli_kim2024_json_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    rc = main(
        [
            "kim2024",
            "--grid",
            "5",
            "--seed",
            "0",
            "--backend",
            "ideal",
            "--voltages",
            "5,10.0",
            "--epochs",
            "300",
            "--json",
            str(out),
            "--plot-dir",
            str(tmp_path / "plots"),
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "level search" in text and "10.0 V" in text
    res = json.loads(out.read_text())
    assert set(res) >= KIM_RESULT_KEYS
    assert res["n_weights"] == 350
    assert list(res["per_voltage"]) == ["5", "10.0"]
    for pv in res["per_voltage"].values():
        assert {"spice_accuracy", "current_gap", "mean_current_gap"} <= set(pv)
        assert len(pv["current_gap"]) == 10 and len(pv["current_gap"][0]) == 10
    assert (tmp_path / "plots" / "kim2024_fig3.png").stat().st_size > 1000
    assert (tmp_path / "plots" / "kim2024_fig6b.png").stat().st_size > 1000


@requires_plot
@pytest.mark.parametrize("name", ["kim2024_fig3", "kim2024_fig4a", "kim2024_fig5"])
def test_examples_quick(name: str, tmp_path: Path) -> None:
    png = tmp_path / f"{name}.png"
    assert _example(name).main(["--quick", "--out", str(png)]) == 0
    assert png.stat().st_size > 1000


@requires_plot
@requires_ngspice
def test_example_fig6b_quick_with_deck(tmp_path: Path) -> None:
    png, deck = tmp_path / "fig6b.png", tmp_path / "deck.cir"
    rc = _example("kim2024_fig6b").main(
        ["--quick", "--seed-rule", "levels", "--voltages", "1,10", "--out", str(png), "--deck", str(deck)]
    )
    assert rc == 0 and png.stat().st_size > 1000
    text = deck.read_text()
    assert text.splitlines()[0].startswith("xbarsim deck") and "regenerate" in text and ".end" in text


def test_cli_seed_auto_and_circuit_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--seed auto --seed-rule levels: the first q <= 4 seed from --seed-from; the flags reach the JSON."""
    out = tmp_path / "r.json"
    argv = ["kim2024", "--seed", "auto", "--seed-from", "30", "--seed-rule", "levels", "--backend", "native"]
    argv += ["--voltages", "5"]
    argv += ["--coupling", "passive", "--input-offset", "0.5", "--offset-inputs", "all", "--json", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "seed 32 (auto: first seed from 30 with q <= 4, rule levels (q = 4))" in text
    assert "passive coupling, input offset 0.5 V (all rows)" in text
    res = json.loads(out.read_text())
    assert (res["seed"], res["q"], res["coupling"], res["input_offset"], res["offset_inputs"]) == (
        32,
        4,
        "passive",
        0.5,
        "all",
    )
    assert res["per_voltage"]["5"]["buffer_gain"] is None


def _committed_deck() -> str:
    return (ROOT / "netlists" / "kim2024_5x5_1V.cir").read_text()


def test_committed_deck_is_current() -> None:
    """netlists/kim2024_5x5_1V.cir is exactly what its regenerate command writes (the demo's circuit)."""
    from xbarsim.experiments.kim2024 import deck_text, paper_design

    committed = _committed_deck().splitlines()
    assert "--seed 32 " in committed[3] and "--coupling buffered --input-offset 0.65" in committed[3]
    fresh = deck_text(5, 32, 1.0, design=paper_design()).splitlines()
    assert len(committed) == len(fresh)
    for a, b in zip(committed, fresh):  # same elements; numbers equal to 1e-9 (BLAS rounding may differ)
        ta, tb = a.split(), b.split()
        assert len(ta) == len(tb), (a, b)
        for x, y in zip(ta, tb):
            if x != y:
                assert float(x.rstrip(",")) == pytest.approx(float(y.rstrip(",")), rel=1e-9), (a, b)


@requires_ngspice
def test_committed_deck_runs_in_ngspice_and_recognizes_all_digits() -> None:
    """The committed deck run as it is by real ngspice: ten sweep points, digit k wins point k,
    and the currents are the backend's solve of the same network (one deck, B-source buffers)."""
    import numpy as np

    from xbarsim.experiments.kim2024 import build_circuit, glyph_voltages, paper_design, solve_kim
    from xbarsim.experiments.kim2024.training import train_and_quantize
    from xbarsim.solution import relative_error
    from xbarsim.spice.rawfile import parse_raw
    from xbarsim.spice.runner import run_deck

    raw = parse_raw(run_deck(_committed_deck()).raw)
    assert raw.n_points == 10
    cur = np.stack([raw[f"i(vam1_{k})"] for k in range(10)], axis=1)
    assert list(np.argmax(cur, axis=1)) == list(range(10))
    _, quant = train_and_quantize(5, 32)
    kc = build_circuit(quant, 1.0, design=paper_design())
    assert relative_error(cur, solve_kim(kc, glyph_voltages(5, 1.0), "ngspice").currents) <= 1e-9
