"""Monte-Carlo trials of the papers' experiments under measured-like device variability.

One call = one trial: the network (trained MLP, or the Kim 2024 circuit) is fixed, the devices
are drawn anew from the level distributions with a generator derived from (seed, trial), and the
circuit is solved. Heavy inputs (TensorFlow model, dataset) are loaded once per worker process
and kept (``functools.lru_cache``), so a sweep of many trials pays for them once per worker.

Both procedures are sweep experiments: their signatures *are* the sweep schema
(:func:`xbarsim.sweep.experiments.experiment`). Trained models are cached on disk under
``$XBARSIM_CACHE/models`` (default ``~/.cache/xbarsim/models``) keyed by dataset, architecture,
epochs and seed; :func:`xbarsim.nn.keras_models.load_or_train` lets the first worker that needs
one train it under a file lock while the others wait, so every point of a sweep uses the same
network.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Annotated, Any

import numpy as np

from ..errors import InputError
from ..periphery import MAX_BITS
from ..sweep.experiments import (
    FIRST_DRAW,
    NO_FAULTS,
    Draw,
    Faults,
    Mode,
    P,
    Preset,
    RWire,
    check_backend,
    check_preset,
    experiment,
)
from ..variability import is_level_csv

Backend = Annotated[str, P("circuit backend", check=check_backend)]


def cache_dir() -> Path:
    """Where trained models are kept (``$XBARSIM_CACHE`` or ``~/.cache/xbarsim``)."""
    return Path(os.environ.get("XBARSIM_CACHE") or Path.home() / ".cache" / "xbarsim")


def trained_mlp(
    dataset: str, hidden: int, hidden_layers: int, epochs: int, train_seed: int, data_dir: str | None
) -> Path:
    """Path of the cached trained MLP, training it first (once, under a file lock) if missing."""
    path = cache_dir() / "models" / f"{dataset}-mlp{hidden_layers}x{hidden}-e{epochs}-s{train_seed}.keras"
    if not path.is_file():  # the common case skips loading Keras here; the workers load the ops
        from ..datasets.idx import load_binary
        from ..nn import keras_models as km

        spec = km.ArchSpec("mlp", hidden=hidden, layers=hidden_layers)
        km.load_or_train(
            path,
            spec,
            lambda: load_binary(dataset, "train", data_dir=data_dir),
            epochs=epochs,
            seed=train_seed,
            dataset=dataset,
        )
    return path


@functools.lru_cache(maxsize=4)
def _ops(model_path: str, mtime: float) -> tuple[tuple[Any, ...], tuple[int, ...], int]:
    """The model's NumPy ops, its input shape and its number of outputs."""
    from ..nn import keras_models as km

    model = km.load_model(model_path)
    shape = tuple(int(d) for d in model.input_shape[1:])
    return tuple(km.extract(model)), shape, int(model.output_shape[-1])


@functools.lru_cache(maxsize=4)
def _test_set(dataset: str, n_test: int, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    from ..datasets.idx import load_binary

    return load_binary(dataset, "test", data_dir=data_dir, limit=n_test)


@functools.lru_cache(maxsize=4)
def _calibration_images(dataset: str, n: int, data_dir: str | None) -> np.ndarray:
    """The first n training images: what auto-ranged ADCs are calibrated on (never the test set)."""
    from ..datasets.idx import load_binary

    return load_binary(dataset, "train", data_dir=data_dir, limit=n)[0]


def sample_mapped_model(mapped: Any, dist: Any, rng: np.random.Generator, **variability: Any) -> Any:
    """The mapped model with every tile's conductances drawn around their targets (see sample_around)."""
    from ..variability import sample_around

    layers = []
    for layer in mapped.layers:
        G = [sample_around(dist, g, rng, **variability) for g in layer.conductances()]
        layers.append(layer.with_conductances(G))
    return mapped.with_layers(layers)


@functools.lru_cache(maxsize=4)
def _mnist_nominal(
    model_path: str, mtime: float, dataset: str, n_test: int, data_dir: str | None, **mapping: Any
) -> tuple[Any, np.ndarray, np.ndarray, float, float]:
    """Quantized and mapped network, test images, quantized and float accuracy (once per process)."""
    from ..datasets.idx import check_fits
    from ..experiments.romero_zaliz2021 import InferenceConfig, accuracy, build_circuit
    from ..mapping import model_forward
    from ..nn.keras_models import forward

    op_tuple, shape, n_out = _ops(model_path, mtime)
    ops = list(op_tuple)
    x, y = _test_set(dataset, n_test, data_dir)
    check_fits(shape, n_out, x, y, f"model {model_path}", dataset)
    # mapped onto the nominal table with ``levels`` levels (xbarsim.devices.preset_for_levels)
    _, _, mapped = build_circuit(ops, InferenceConfig(**mapping))
    acc_q = accuracy(model_forward(mapped, x), y)
    acc_f = accuracy(forward(ops, x, logits=True), y)
    return mapped, x, y, acc_q, acc_f


@experiment(
    "mnist_mc",
    metrics=("accuracy_circuit", "accuracy_devices", "accuracy_quantized", "accuracy_float", "accuracy_drop"),
    doc=(
        "Romero-Zaliz 2021 MLP, quantized to k levels, mapped on tiled 1T1R crossbars; each trial "
        "draws every cell from the level distributions and classifies n_test images."
    ),
)
def mnist_mc(
    dataset: Annotated[str, P("image set", choices=("mnist", "fashion-mnist"))] = "mnist",
    data_dir: Annotated[
        str, P("folder with the IDX files ('' = $XBARSIM_DATA, then ~/.keras/datasets)", path=True)
    ] = "",
    n_test: Annotated[int, P("test images per trial (the first n)", minimum=1)] = 1000,
    model: Annotated[str, P("trained .keras model; '' = train (once, cached) the MLP below", path=True)] = "",
    hidden: Annotated[int, P("hidden units of the MLP", minimum=8)] = 128,
    hidden_layers: Annotated[int, P("hidden layers of the MLP", minimum=1)] = 1,
    epochs: Annotated[int, P("training epochs", minimum=1)] = 3,
    train_seed: Annotated[int, P("training seed", minimum=0)] = 0,
    method: Annotated[
        str, P("weight quantization", choices=("quantile", "weight-range", "lloyd"))
    ] = "quantile",
    levels: Annotated[int, P("quantization levels k (= device levels)", minimum=2)] = 8,
    bias: Annotated[
        str, P("biases quantized with the weights or kept float", choices=("quantized", "float"))
    ] = "quantized",
    scheme: Annotated[str, P("signed weights", choices=("differential", "offset"))] = "differential",
    tile: Annotated[int, P("largest crossbar side", minimum=2)] = 128,
    cell: Annotated[str, P("cell kind", choices=("1t1r", "resistor"))] = "1t1r",
    r_wire: RWire = 0.0,
    backend: Backend = "native",
    mos: Annotated[str, P("native backend 1T1R transistor model", choices=("linear", "level1"))] = "linear",
    preset: Annotated[
        str,
        P(
            "level distribution: preset name or CSV path ('' = hfo2-1t1r-<levels>)",
            check=check_preset,
            path=is_level_csv,
        ),
    ] = "",
    mode: Mode = "relative",
    faults: Faults = NO_FAULTS,
    adc_bits: Annotated[
        int, P("ADC bits on every sensed tile column (0 = no ADC)", minimum=0, maximum=MAX_BITS, added=True)
    ] = 0,
    adc_range: Annotated[
        float,
        P(
            "ADC full scale in amperes (0 = auto: per column on cal_images training images)",
            minimum=0.0,
            added=True,
        ),
    ] = 0.0,
    dac_bits: Annotated[
        int,
        P(
            "DAC bits on every layer's read voltages (0 = exact voltages)",
            minimum=0,
            maximum=MAX_BITS,
            added=True,
        ),
    ] = 0,
    cal_images: Annotated[
        int, P("training images an auto-ranged ADC is calibrated on", minimum=1, added=True)
    ] = 500,
    draw: Draw = FIRST_DRAW,
) -> dict[str, float]:
    """One Monte-Carlo trial of the Romero-Zaliz 2021 MLP on tiled 1T1R crossbars.

    With ADC/DAC bits the drawn circuit gets converters (:mod:`xbarsim.mapping.converters`); an
    auto-ranged ADC is calibrated on the trial's own circuit, as a chip is after programming.
    """
    from dataclasses import replace

    from ..experiments.romero_zaliz2021 import InferenceConfig, accuracy, apply_converters
    from ..mapping import TileSolver, model_forward
    from ..variability import preset_distribution

    ddir = data_dir or None
    path = Path(model) if model else trained_mlp(dataset, hidden, hidden_layers, epochs, train_seed, ddir)
    if not path.is_file():
        raise InputError(f"model file not found: {path}")
    mapping: dict[str, Any] = {"method": method, "levels": levels, "bias": bias, "scheme": scheme}
    mapping.update(tile=tile, cell=cell, r_wire=r_wire)
    mapped_nominal, x, y, acc_q, acc_f = _mnist_nominal(
        str(path), path.stat().st_mtime, dataset, n_test, ddir, **mapping
    )
    dist = preset_distribution(preset or f"hfo2-1t1r-{levels}")
    rng = draw.rng("mnist_mc/devices")
    variability = {"mode": mode, **faults.keywords()}
    mapped = sample_mapped_model(mapped_nominal, dist, rng, **variability)
    # the drawn devices alone (ideal product of the weights they encode) ...
    dev_layers = [replace(layer, A=layer.weights_from_conductances()) for layer in mapped.layers]
    acc_dev = accuracy(model_forward(mapped.with_layers(dev_layers), x), y)
    # ... and in the circuit
    solver = TileSolver(backend, backend_options={"mos": mos} if backend == "native" else {})
    converters = InferenceConfig(
        **mapping, adc_bits=adc_bits or None, adc_range=adc_range or "auto", dac_bits=dac_bits or None
    )
    x_cal = _calibration_images(dataset, cal_images, ddir) if adc_bits and not adc_range else None
    mapped = apply_converters(mapped, solver, converters, x_cal)
    acc_c = accuracy(model_forward(mapped, x, solver), y)
    return {
        "accuracy_circuit": acc_c,
        "accuracy_devices": acc_dev,
        "accuracy_quantized": acc_q,
        "accuracy_float": acc_f,
        "accuracy_drop": acc_q - acc_c,
    }


@functools.lru_cache(maxsize=8)
def _kim_nominal(
    grid: int,
    seed: int,
    alpha: float,
    max_q: int,
    v_in: float,
    backend: str,
    mapping: str,
    g_on: float,
    g_off: float,
    r_wire: float,
) -> tuple[Any, np.ndarray, np.ndarray, float]:
    """Trained, quantized, calibrated Kim circuit with its nominal currents (once per process)."""
    from ..experiments import kim2024 as kim

    trained = kim.train_model(grid, seed)
    _, quant = kim.find_levels(trained.model(0), alpha=alpha, max_q=max_q)
    design = kim.CircuitDesign(
        mapping=mapping,  # type: ignore[arg-type]  # checked against the choices by the sweep schema
        g_on=g_on,
        g_off=g_off,
        r_wire=r_wire,
    )
    kc = kim.build_circuit(quant, v_in, design=design, calibrate_with=backend)
    V = kim.glyph_voltages(grid, v_in)
    acc, cur = kim.evaluate_circuit(kc.network, V, backend)
    return kc, V, cur, acc


@experiment(
    "kim2024_mc",
    metrics=(
        "recognition",
        "recognition_ideal",
        "recognition_nominal",
        "margin",
        "current_deviation",
        "n_circuit_levels",
        "r_ref",
    ),
    doc=(
        "Kim 2024 two-layer diode crossbar circuit on the 10 digit glyphs; each trial draws every "
        "cell around its target from the level distributions; recognition of the 10 digits."
    ),
)
def kim2024_mc(
    grid: Annotated[int, P("glyph size (5 or 7)", choices=(5, 7))] = 5,
    alpha: Annotated[float, P("recognition goal of the level search", minimum=0.0, maximum=1.0)] = 1.0,
    max_q: Annotated[int, P("largest number of quantization levels tried", minimum=2)] = 40,
    v_in: Annotated[float, P("input voltage of a lit pixel", minimum=0.0)] = 5.0,
    backend: Annotated[str, P("circuit backend (native or ngspice)", check=check_backend)] = "native",
    mapping: Annotated[str, P("weight mapping", choices=("differential", "single"))] = "differential",
    g_range: Annotated[
        str,
        P(
            "conductance range: the distribution's level medians, or the paper design's",
            choices=("preset", "paper"),
        ),
    ] = "preset",
    r_wire: RWire = 0.0,
    preset: Preset = "hfo2-1t1r-8",
    mode: Mode = "relative",
    faults: Faults = NO_FAULTS,
    draw: Draw = FIRST_DRAW,
) -> dict[str, float]:
    """One Monte-Carlo trial of the Kim 2024 two-layer diode circuit (10 glyphs).

    ``seed`` fixes the trained net (and its calibration); ``trial`` draws the devices. With
    ``g_range="preset"`` the circuit's conductance range is the distribution's (lowest to highest
    level median), so the cells sit among the device levels; ``"paper"`` keeps the design
    defaults of :class:`~xbarsim.experiments.kim2024.CircuitDesign` (0.1-100 uS).
    """
    from ..analysis import recognition_margin
    from ..experiments import kim2024 as kim
    from ..solution import relative_error
    from ..variability import preset_distribution, sample_around

    dist = preset_distribution(preset)
    if g_range == "preset":
        med = dist.median_conductances
        g_on, g_off = float(med[-1]), float(med[0])
    else:
        g_on, g_off = kim.CircuitDesign.g_on, kim.CircuitDesign.g_off
    kc, V, nominal, acc_nominal = _kim_nominal(
        grid, draw.seed, alpha, max_q, v_in, backend, mapping, g_on, g_off, r_wire
    )
    rng = draw.rng("kim2024_mc/devices")
    G = [sample_around(dist, xb.G, rng, mode=mode, **faults.keywords()) for xb in kc.network.layers]
    net = kc.with_conductances(G)
    acc, cur = kim.evaluate_circuit(net, V, backend)
    acc_ideal, _ = kim.evaluate_circuit(net, V, kim.computer_calculation())
    return {
        "recognition": acc,
        "recognition_ideal": acc_ideal,
        "recognition_nominal": acc_nominal,
        "margin": recognition_margin(cur),
        "current_deviation": relative_error(cur, nominal),
        "n_circuit_levels": float(kc.level_conductance.size),
        "r_ref": kc.r_ref,
    }
