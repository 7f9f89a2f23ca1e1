"""Romero-Zaliz pipeline: quantization of whole networks, evaluation through backends, CLI, grid example.

Oracles: with ideal cells the circuit accuracy equals the quantized accuracy and every layer's
error is rounding (< 1e-12); calibration must reduce the error of wired 1T1R tiles; ngspice and the
native level-1 solver agree on a network run (1e-3 relative, ngspice prints ~7 digits).
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import requires_ngspice, requires_plot, requires_tf

from xbarsim.cli import main
from xbarsim.datasets.idx import load_binary
from xbarsim.errors import InputError
from xbarsim.experiments.romero_zaliz2021 import (
    InferenceConfig,
    build_circuit,
    evaluate,
    kruskal_mlp_cnn,
    quantize_ops,
)
from xbarsim.mapping import TileSolver, calibrate, model_forward
from xbarsim.nn.keras_models import Conv, Dense, Flatten, Pool, weighted

DATA = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parent.parent


def _mlp(rng, hidden=8):
    return [
        Flatten(),
        Dense(rng.normal(size=(784, hidden)) * 0.1, rng.normal(size=hidden) * 0.1, "relu", "dense1"),
        Dense(rng.normal(size=(hidden, 10)), rng.normal(size=10) * 0.1, "softmax", "output"),
    ]


def _cnn(rng):
    return [
        Conv(rng.normal(size=(3, 3, 1, 4)) * 0.5, rng.normal(size=4) * 0.1, "relu", "conv1"),
        Pool(4),
        Flatten(),
        Dense(rng.normal(size=(6 * 6 * 4, 8)) * 0.2, rng.normal(size=8) * 0.1, "relu", "dense1"),
        Dense(rng.normal(size=(8, 10)), rng.normal(size=10) * 0.1, "softmax", "output"),
    ]


@pytest.mark.parametrize("k", [2, 3, 8])
def test_quantile_per_layer_with_biases(k):
    ops = _cnn(np.random.default_rng(0))
    q, res = quantize_ops(ops, "quantile", k)
    assert len(res) == 3
    for op, r in zip(weighted(q), res):
        vals = np.unique(np.concatenate([op.W.ravel(), op.b]))
        assert vals.size <= k and r.n_levels == vals.size
        assert set(vals) == set(r.levels)
    # quantile means preserve each layer's sum of weights + biases
    for a, b in zip(weighted(ops), weighted(q)):
        assert abs(a.W.sum() + a.b.sum() - b.W.sum() - b.b.sum()) < 1e-9


def test_float_bias_and_weight_range():
    ops = _mlp(np.random.default_rng(1))
    q, _ = quantize_ops(ops, "quantile", 4, bias="float")
    for a, b in zip(weighted(ops), weighted(q)):
        assert np.array_equal(a.b, b.b) and np.unique(b.W).size <= 4
    q, res = quantize_ops(ops, "weight-range", 5)
    allv = np.unique(np.concatenate([np.r_[op.W.ravel(), op.b] for op in weighted(q)]))
    assert len(res) == 1 and allv.size <= 5
    same, none = quantize_ops(ops, "none", 4)
    assert none == [] and all(a is b for a, b in zip(same, ops))
    with pytest.raises(InputError, match="levels"):
        quantize_ops(ops, "quantile", 1)
    with pytest.raises(InputError, match="unknown quantization"):
        quantize_ops(ops, "kmeans", 4)


def test_evaluate_ideal_equals_quantized():
    rng = np.random.default_rng(2)
    x, y = load_binary("mnist", "test", data_dir=DATA, limit=40)
    for ops in (_mlp(rng), _cnn(rng)):
        r = evaluate(ops, x, y, InferenceConfig(levels=4, backend="ideal", tile=32, batch=16))
        assert r["accuracy_circuit"] == r["accuracy_quantized"]
        assert all(e["max_relative"] < 1e-12 for e in r["layer_errors"])
        for key in ("accuracy_float", "n_synapses", "n_tiles", "seconds", "levels_used"):
            assert key in r
        json.dumps(r)  # JSON-ready


def test_native_wires_and_calibration():
    """1 ohm wires on 64x64 1T1R tiles: a real error; uniform and data gain calibration shrink it."""
    rng = np.random.default_rng(3)
    ops = _mlp(rng, hidden=32)
    x, _ = load_binary("mnist", "test", data_dir=DATA, limit=30)
    xc, _ = load_binary("mnist", "train", data_dir=DATA, limit=30)
    cfg = InferenceConfig(levels=8, tile=64, r_wire=1.0, backend="native", backend_options={"mos": "linear"})
    _, _, mm = build_circuit(ops, cfg)
    solver = TileSolver("native", backend_options={"mos": "linear"})
    rms = {}
    for how in ("none", "uniform", "data"):
        errs: list = []
        model_forward(calibrate(mm, solver, how, xc), x, solver, errors=errs)
        rms[how] = errs[0].rms_relative
    assert 0.02 < rms["none"]
    assert rms["uniform"] < 0.5 * rms["none"] and rms["data"] < 0.5 * rms["none"]
    with pytest.raises(InputError, match="calibration images"):
        calibrate(mm, solver, "data")


@requires_ngspice
def test_ngspice_network_matches_native_level1():
    rng = np.random.default_rng(4)
    ops = _mlp(rng, hidden=4)
    x, _ = load_binary("mnist", "test", data_dir=DATA, limit=2)
    _, _, mm = build_circuit(ops, InferenceConfig(levels=4, tile=128, r_wire=0.5))
    a = model_forward(mm, x, TileSolver("ngspice", linear=False))
    b = model_forward(mm, x, TileSolver("native", linear=False, backend_options={"mos": "level1"}))
    assert np.max(np.abs(a - b)) / np.max(np.abs(b)) < 1e-3


def test_kruskal():
    r = kruskal_mlp_cnn([0.9, 0.91, 0.92, 0.93], [0.5, 0.51, 0.52, 0.53])
    assert r["p"] < 0.05 and r["n_mlp"] == 4
    with pytest.raises(InputError):
        kruskal_mlp_cnn([0.9], [0.5, 0.6])


# ----------------------------------------------------------------------------- CLI


def _run(capsys, *argv):
    code = main(list(argv))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.mark.parametrize(
    "argv, match",
    [
        (["infer", "--model", "missing.keras", "--data-dir", str(DATA)], "model file not found"),
        (["infer", "--model", "m.keras", "--levels", "1"], "--levels must be >= 2"),
        (["infer", "--model", "m.keras", "--table", "nope"], "unknown level table"),
        (["train", "--out", "model.h5", "--data-dir", str(DATA)], "must end in .keras"),
        (["train", "--out", "/nonexistent/dir/m.keras"], "does not exist"),
        (["train", "--arch", "cnn", "--conv", "2", "--pool", "8", "--out", "m.keras"], "does not fit"),
        (["train", "--hidden", "4", "--out", "m.keras"], "hidden must be"),
        (["train", "--out", "m.keras", "--data-dir", "/nonexistent"], "data directory not found"),
    ],
)
def test_cli_errors(capsys, tmp_path, monkeypatch, argv, match):
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert match in err and len(err.strip().splitlines()) == 1


@requires_tf
def test_cli_train_and_infer(capsys, tmp_path):
    model = tmp_path / "m.keras"
    code, out, err = _run(
        capsys,
        "train",
        "--arch",
        "mlp",
        "--hidden",
        "16",
        "--epochs",
        "1",
        "--data-dir",
        str(DATA),
        "--limit",
        "300",
        "--out",
        str(model),
    )
    assert code == 0, err
    assert model.is_file() and (tmp_path / "m.history.json").is_file() and "test acc" in out
    js = tmp_path / "r.json"
    infer = ["infer", "--model", str(model), "--data-dir", str(DATA)]
    code, out, err = _run(
        capsys,
        *infer,
        "--levels",
        "4",
        "--backend",
        "ideal",
        "--tile",
        "64",
        "--json",
        str(js),
    )
    assert code == 0, err
    r = json.loads(js.read_text())
    for key in (
        "accuracy_float",
        "accuracy_quantized",
        "accuracy_circuit",
        "n_synapses",
        "n_tiles",
        "layer_errors",
        "seconds",
    ):
        assert key in r
    assert (
        r["accuracy_circuit"] == r["accuracy_quantized"] and r["n_tiles"] == 13 + 1
    )  # ceil(785 / 64) row blocks x 1, plus the output layer
    assert "accuracy  float" in out
    code, out, err = _run(
        capsys,
        *infer,
        "--r-wire",
        "1",
        "--limit",
        "20",
        "--calibrate",
        "data",
        "--cal-images",
        "20",
        "--json",
        str(js),
    )
    assert code == 0, err
    r = json.loads(js.read_text())
    assert r["backend"] == "native" and r["n_images"] == 20 and r["layer_errors"][0]["rms_relative"] > 0


@requires_tf
@requires_plot
def test_grid_example_quick(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "romero_zaliz_grid", ROOT / "examples" / "romero_zaliz_grid.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    argv = [
        "--quick",
        "--datasets",
        "mnist",
        "--data-dir",
        str(DATA),
        "--out",
        str(tmp_path),
        "--test-limit",
        "100",
    ]
    assert mod.main(argv) == 0
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 * 3  # header + networks x levels
    for f in ("fig5_synapses.png", "fig8-13_mnist.png", "fig14_mlp_vs_cnn.png"):
        assert (tmp_path / f).stat().st_size > 1000
    stats = json.loads((tmp_path / "kruskal.json").read_text())
    assert 0 <= stats["mnist"]["p"] <= 1 and stats["mnist"]["paper_p"] == 1.02e-5


@requires_tf
@requires_plot
def test_ir_drop_example_quick(tmp_path):
    spec = importlib.util.spec_from_file_location("romero_ir_drop", ROOT / "examples" / "romero_ir_drop.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    argv = ["--quick", "--data-dir", str(DATA), "--out", str(tmp_path), "--test-limit", "60"]
    assert mod.main(argv) == 0
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert len(rows) == 2 * 2 * 2  # methods x tiles x calibrations, one seed
    for r in rows:
        gap = 100 * (float(r["accuracy_quantized"]) - float(r["accuracy_circuit"]))
        assert abs(gap - float(r["gap_points"])) < 1e-3 and float(r["rms_error_hidden"]) > 0
    summary = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert len(summary) == 8 and all(int(s["n_seeds"]) == 1 for s in summary)
    assert (tmp_path / "gap_vs_tile.png").stat().st_size > 1000
