"""DACs and column ADCs on the MNIST path (xbarsim.mapping.converters), API, CLI and sweep.

Oracles: the unconverted circuit (the same solver's currents) quantized by hand -- round to the
nearest of 2**b codes over [0, full scale], clip -- and the per-column maxima of the calibration
currents computed by hand; a 24-bit ADC equals the unconverted circuit to its resolution; binary
pixels pass a 1-bit DAC exactly.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import requires_ngspice, requires_plot, requires_pyspice, requires_tf
from oracles import assert_cli_errors_before_tensorflow

from xbarsim.circuit import CellModel
from xbarsim.cli import main
from xbarsim.datasets.idx import load_binary
from xbarsim.devices import preset_for_levels
from xbarsim.errors import InputError
from xbarsim.experiments.romero_zaliz2021 import InferenceConfig
from xbarsim.mapping import (
    TileSolver,
    calibrate_converters,
    input_voltages,
    layer_forward,
    map_model,
    model_forward,
    tile_outputs,
    with_converters,
)
from xbarsim.nn.ops import Dense, Flatten

DATA = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parent.parent


def _model(r_wire: float = 1.0, cell: str = "1t1r"):
    rng = np.random.default_rng(3)
    ops = [
        Flatten(),
        Dense(rng.normal(size=(784, 12)) * 0.1, rng.normal(size=12) * 0.1, "relu", "hidden"),
        Dense(rng.normal(size=(12, 10)), rng.normal(size=10) * 0.1, "softmax", "output"),
    ]
    return map_model(ops, preset_for_levels(8), tile=64, cell=CellModel(cell), r_wire=r_wire)


@pytest.fixture(scope="module")
def images():
    x, _ = load_binary("mnist", "train", data_dir=DATA, limit=60)
    xt, _ = load_binary("mnist", "test", data_dir=DATA, limit=40)
    return x, xt


@pytest.fixture(scope="module")
def solver():
    return TileSolver("native", backend_options={"mos": "linear"})


def _hand_layer(layer, X, solver, full_scales, bits, dac_bits=None):
    """Layer outputs with each tile's column currents quantized by hand (fs None: not); the raw currents."""
    V, s = input_voltages(X, layer.v_read)
    if dac_bits is not None:
        step = layer.v_read / (2**dac_bits - 1)
        V = np.round(np.clip(V, 0, layer.v_read) / step) * step
    Y = np.zeros((X.shape[0], layer.n_out))
    raw = []
    for t, fs in zip(layer.tiles, full_scales):
        I = solver.currents(t.crossbar, V[:, t.row_start : t.row_stop])
        raw.append(I)
        Iq = I
        if fs is not None:
            lsb = fs / (2**bits - 1)
            Iq = np.round(np.clip(I, 0, fs) / lsb) * lsb
        Y[:, t.out_start : t.out_stop] += tile_outputs(layer, t, Iq)
    return Y * (s / (layer.scale * layer.v_read))[:, None], raw


def _calibrated(images, solver, bits, **kw):
    x, _ = images
    return calibrate_converters(with_converters(_model(), adc_bits=bits, **kw), solver, x)


def test_auto_range_is_the_per_column_maximum_on_calibration_data_only(images, solver) -> None:
    x, xt = images
    model = _calibrated(images, solver, 6)
    hidden, out = model.layers
    conv_h, conv_o = model.converters
    X = x.reshape(len(x), -1)
    # layer 1: each column's full scale is its largest current on the calibration images
    _, raw = _hand_layer(hidden, X, solver, [None] * len(hidden.tiles), 24)
    dark = 0
    for adc, I, t in zip(conv_h.adcs, raw, hidden.tiles):
        assert not adc.signed
        if np.any(I):
            np.testing.assert_allclose(adc.full_scale, np.max(I, axis=0), rtol=1e-12)
        else:  # rows of pixels dark in every calibration image: the column's ideal all-on current
            dark += 1
            np.testing.assert_allclose(adc.full_scale, hidden.v_read * t.crossbar.G.sum(axis=0), rtol=1e-12)
    assert 0 < dark < len(raw)
    # layer 2 is calibrated on what the *converted* layer 1 gives it
    H = np.maximum(layer_forward(hidden, X, solver, conv_h), 0.0)
    _, raw2 = _hand_layer(out, H, solver, [None] * len(out.tiles), 24)
    np.testing.assert_allclose(conv_o.adcs[0].full_scale, np.max(raw2[0], axis=0), rtol=1e-12)
    # evaluating test images changes nothing; calibrating on other images does
    model_forward(model, xt, solver)
    np.testing.assert_array_equal(model.converters[0].adcs[0].full_scale, conv_h.adcs[0].full_scale)
    other = calibrate_converters(with_converters(_model(), adc_bits=6), solver, xt)
    assert not np.allclose(other.converters[0].adcs[3].full_scale, conv_h.adcs[3].full_scale)


@pytest.mark.parametrize("bits", [2, 4])
def test_few_bits_match_hand_quantization_within_half_lsb(images, solver, bits) -> None:
    x, _ = images
    model = _calibrated(images, solver, bits)
    layer, conv = model.layers[0], model.converters[0]
    X = x.reshape(len(x), -1)  # the calibration images: nothing clips
    fs = [a.full_scale for a in conv.adcs]
    want, raw = _hand_layer(layer, X, solver, fs, bits)
    got = layer_forward(layer, X, solver, conv)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.max(np.abs(want)))
    for adc, I in zip(conv.adcs, raw):  # every column current moves by at most lsb/2
        assert np.all(np.abs(adc.convert(I) - I) <= adc.lsb / 2 * (1 + 1e-12))
    assert np.max(np.abs(got - layer_forward(layer, X, solver))) > 0  # few bits do change the outputs


def test_24_bits_equal_the_unconverted_circuit(images, solver) -> None:
    x, _ = images
    model = _calibrated(images, solver, 24)
    X = x.reshape(len(x), -1)
    layer, conv = model.layers[0], model.converters[0]
    ref = layer_forward(layer, X, solver)
    got = layer_forward(layer, X, solver, conv)
    # bound: lsb/2 per column, both columns of a pair, every row tile, scaled to weight units
    lsb = max(float(np.max(a.lsb)) for a in conv.adcs)
    bound = len(layer.tiles) * lsb / (layer.scale * layer.v_read)
    assert 0 < np.max(np.abs(got - ref)) <= bound
    assert bound < 1e-5 * np.max(np.abs(ref))
    z = model_forward(model, x, solver)
    np.testing.assert_array_equal(z.argmax(1), model_forward(_model(), x, solver).argmax(1))


def test_fixed_range_clips_and_dac(images, solver) -> None:
    x, _ = images
    X = x.reshape(len(x), -1)
    base = _model()
    layer = base.layers[0]
    fixed = with_converters(base, adc_bits=5, adc_range=2e-4, dac_bits=1)
    want, raw = _hand_layer(layer, X, solver, [2e-4] * len(layer.tiles), 5, dac_bits=1)
    assert max(float(np.max(I)) for I in raw) > 2e-4  # the range really clips
    got = layer_forward(layer, X, solver, fixed.converters[0])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.max(np.abs(want)))
    # a 1-bit DAC passes binary pixels and the bias row exactly
    dac_only = with_converters(base, dac_bits=1).converters[0]
    np.testing.assert_array_equal(layer_forward(layer, X, solver, dac_only), layer_forward(layer, X, solver))
    # on the second layer the activations are quantized to 2**b levels over [0, v_read]
    H = np.maximum(layer_forward(layer, X, solver), 0.0)
    out = base.layers[1]
    conv = with_converters(base, dac_bits=3).converters[1]
    want2, _ = _hand_layer(out, H, solver, [None], 24, dac_bits=3)
    got2 = layer_forward(out, H, solver, conv)
    ref2 = layer_forward(out, H, solver)
    assert np.max(np.abs(got2 - ref2)) > 0
    np.testing.assert_allclose(got2, want2, rtol=1e-6, atol=1e-9 * np.max(np.abs(want2)))


@pytest.mark.parametrize(
    "backend, linear",
    [
        ("ideal", None),
        ("native", True),  # transfer matrix: ADC after V @ T
        ("native", False),  # direct solves
        pytest.param("ngspice", False, marks=requires_ngspice),
        pytest.param("pyspice", False, marks=requires_pyspice),
    ],
)
def test_every_backend_converts_its_own_currents(backend, linear) -> None:
    """Small 2-layer net on wired resistor tiles: ADC+DAC outputs equal that backend's currents by hand."""
    rng = np.random.default_rng(5)
    ops = [
        Dense(rng.normal(size=(10, 4)), rng.normal(size=4) * 0.1, "relu", "h"),
        Dense(rng.normal(size=(4, 3)), rng.normal(size=3) * 0.1, "softmax", "o"),
    ]
    model = map_model(ops, preset_for_levels(4), tile=8, r_wire=2.0)
    solver = TileSolver(backend, linear=linear)
    x = (rng.random((6, 10)) > 0.5).astype(float)
    conv = calibrate_converters(with_converters(model, adc_bits=3, dac_bits=2), solver, x)
    layer, c = model.layers[0], conv.converters[0]
    want, _ = _hand_layer(layer, x, solver, [a.full_scale for a in c.adcs], 3, dac_bits=2)
    got = layer_forward(layer, x, solver, c)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * np.max(np.abs(want)))
    z = model_forward(conv, x, solver)
    assert z.shape == (6, 3) and np.all(np.isfinite(z))


def test_converters_survive_with_layers_and_bad_values(images, solver) -> None:
    model = with_converters(_model(), adc_bits=4, adc_range=1e-3)
    same = model.with_layers(list(model.layers))
    assert same.converters is model.converters
    assert with_converters(model).converters is None
    with pytest.raises(InputError, match="no full scale"):
        model_forward(with_converters(_model(), adc_bits=4), images[1], solver)
    for kw, msg in [
        ({"adc_bits": 0}, "ADC bits must be an integer >= 1"),
        ({"adc_bits": 25}, "ADC bits must be an integer <= 24"),
        ({"dac_bits": 1.5}, "DAC bits must be an integer"),
        ({"adc_bits": 4, "adc_range": "big"}, "ADC range must be 'auto' or a full-scale current"),
        ({"adc_bits": 4, "adc_range": -1.0}, "ADC range must be > 0"),
    ]:
        with pytest.raises(InputError, match=msg):
            with_converters(_model(), **kw)
    with pytest.raises(InputError, match="adc_bits must be an integer <= 24"):
        InferenceConfig(adc_bits=30)
    with pytest.raises(InputError, match="adc_range must be 'auto'"):
        InferenceConfig(adc_bits=4, adc_range="x")


def test_bad_converter_flags_one_line_before_tensorflow(tmp_path) -> None:
    model = tmp_path / "m.keras"
    model.write_bytes(b"not read before the arguments")
    base = ["infer", "--model", str(model), "--data-dir", str(DATA)]
    cases = [
        (base + ["--adc-bits", "0"], "--adc-bits must be an integer >= 1"),
        (base + ["--adc-bits", "25"], "--adc-bits must be an integer <= 24"),
        (base + ["--dac-bits", "0"], "--dac-bits must be an integer >= 1"),
        (base + ["--adc-bits", "4", "--adc-range", "lots"], "--adc-range must be 'auto' or a full-scale"),
        (base + ["--adc-bits", "4", "--adc-range=-1e-3"], "--adc-range must be > 0"),
        (base + ["--adc-bits", "4", "--adc-range", "nan"], "--adc-range must be finite"),
        (base + ["--adc-range", "1e-3"], "--adc-range needs --adc-bits"),
    ]
    assert_cli_errors_before_tensorflow(cases, ROOT)


@pytest.fixture(scope="module")
def tiny_keras(tmp_path_factory):
    from xbarsim.nn import keras_models as km

    path = tmp_path_factory.mktemp("m") / "m.keras"
    x, y = load_binary("mnist", "train", data_dir=DATA, limit=300)
    km.load_or_train(path, km.ArchSpec("mlp", hidden=16), x, y, epochs=1, seed=0, dataset="mnist")
    return path


def _infer(capsys, tmp_path, model, *extra):
    js = tmp_path / "r.json"
    argv = ["infer", "--model", str(model), "--data-dir", str(DATA), "--levels", "4", "--json", str(js)]
    code = main([*argv, *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(js.read_text()), out


@requires_tf
def test_cli_converters_end_to_end(capsys, tmp_path, tiny_keras) -> None:
    ref, _ = _infer(capsys, tmp_path, tiny_keras, "--backend", "ideal")
    # 24 bits over a fixed 10 mA range: 0.6 nA per code, far below the uA column currents
    fine, out = _infer(
        capsys, tmp_path, tiny_keras, "--backend", "ideal", "--adc-bits", "24", "--adc-range", "1e-2"
    )
    assert fine["config"]["adc_bits"] == 24 and fine["config"]["adc_range"] == 0.01
    assert fine["accuracy_circuit"] == ref["accuracy_circuit"] == ref["accuracy_quantized"]
    assert "ADC 24 bits range 0.01" in out
    assert fine["layer_errors"][0]["max_relative"] < 1e-5
    # auto range on training images through the wired native circuit (transfer-matrix path), with a DAC
    coarse, out = _infer(
        capsys,
        tmp_path,
        tiny_keras,
        "--r-wire",
        "1",
        "--limit",
        "50",
        "--adc-bits",
        "3",
        "--dac-bits",
        "2",
        "--cal-images",
        "40",
    )
    assert coarse["backend"] == "native" and coarse["n_images"] == 50
    assert coarse["config"]["adc_range"] == "auto" and coarse["config"]["dac_bits"] == 2
    assert coarse["layer_errors"][0]["rms_relative"] > fine["layer_errors"][0]["rms_relative"]
    assert "ADC 3 bits range auto  DAC 2 bits" in out and "ADC full scale" in out
    hidden, output = coarse["converters"]
    assert hidden["adc_bits"] == output["adc_bits"] == 3 and hidden["dac_bits"] == 2
    assert 0 < hidden["adc_full_scale_min"] <= hidden["adc_full_scale_max"] < 1e-2
    assert ref["converters"] == []


@requires_tf
def test_mnist_mc_with_converters(tmp_path, tiny_keras) -> None:
    from xbarsim.sweep.experiments import get_experiment, run_experiment

    base = {
        **get_experiment("mnist_mc").defaults(),
        "data_dir": str(DATA),
        "model": str(tiny_keras),
        "n_test": 60,
        "levels": 4,
        "tile": 64,
    }
    plain = run_experiment("mnist_mc", base)
    fine = run_experiment("mnist_mc", {**base, "adc_bits": 24, "adc_range": 1e-2})
    assert fine == plain  # same devices, an ADC finer than any current difference
    auto = {**base, "adc_bits": 2, "dac_bits": 2, "cal_images": 30}
    coarse = run_experiment("mnist_mc", auto)
    assert coarse == run_experiment("mnist_mc", auto)
    assert coarse["accuracy_quantized"] == plain["accuracy_quantized"]
    assert 0.0 <= coarse["accuracy_circuit"] <= 1.0


@requires_tf
@requires_plot
def test_adc_example_quick(tmp_path) -> None:
    spec = importlib.util.spec_from_file_location("romero_adc", ROOT / "examples" / "romero_adc.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    argv = ["--quick", "--data-dir", str(DATA), "--out", str(tmp_path), "--cache", str(tmp_path / "m")]
    assert mod.main([*argv, "--test-limit", "60"]) == 0
    rows = list(csv.DictReader((tmp_path / "romero_adc_bits.csv").open()))
    assert [(int(r["levels"]), int(r["adc_bits"])) for r in rows] == [
        (4, 2),
        (4, 6),
        (4, 12),
        (8, 2),
        (8, 6),
        (8, 12),
    ]
    for r in rows:
        gap = 100 * (float(r["accuracy_unconverted"]) - float(r["accuracy_circuit"]))
        assert abs(gap - float(r["gap_points"])) < 1e-3 and int(r["n_test"]) == 60
    assert (tmp_path / "romero_adc_bits.png").stat().st_size > 1000
