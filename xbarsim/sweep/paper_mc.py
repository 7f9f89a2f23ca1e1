"""Monte-Carlo trials of the papers' experiments under measured-like device variability.

One call = one trial: the network (trained MLP, or the Kim 2024 circuit) is fixed, the devices
are drawn anew from the level distributions with a generator derived from (seed, trial), and the
circuit is solved. Heavy inputs (TensorFlow model, dataset) are loaded once per worker process
and kept (``functools.lru_cache``), so a sweep of many trials pays for them once per worker.

Trained models are cached on disk under ``$XBARSIM_CACHE/models`` (default
``~/.cache/xbarsim/models``) keyed by dataset, architecture, epochs and seed; the first worker
that needs one trains it under a file lock while the others wait, so every point of a sweep
uses the same network.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .experiments import rng_for

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Where trained models are kept (``$XBARSIM_CACHE`` or ``~/.cache/xbarsim``)."""
    return Path(os.environ.get("XBARSIM_CACHE") or Path.home() / ".cache" / "xbarsim")


def _model_path(dataset: str, hidden: int, hidden_layers: int, epochs: int, train_seed: int) -> Path:
    return cache_dir() / "models" / f"{dataset}-mlp{hidden_layers}x{hidden}-e{epochs}-s{train_seed}.keras"


def trained_mlp(
    dataset: str, hidden: int, hidden_layers: int, epochs: int, train_seed: int, data_dir: str | None
) -> Path:
    """Path of the cached trained MLP, training it first (under a file lock) if missing."""
    path = _model_path(dataset, hidden, hidden_layers, epochs, train_seed)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.is_file():  # another worker may have trained it while we waited
            from ..datasets.idx import load_binary
            from ..nn import keras_models as km

            x, y = load_binary(dataset, "train", data_dir=data_dir)
            spec = km.ArchSpec("mlp", hidden=hidden, layers=hidden_layers)
            res = km.train(spec, x, y, epochs=epochs, seed=train_seed)
            res.extra["dataset"] = dataset
            tmp = path.with_name(path.stem + ".part.keras")
            km.save(res, tmp)
            km.history_path(tmp).replace(km.history_path(path))
            tmp.replace(path)  # atomic: readers see no half-written model
            log.info("trained %s in %.1f s -> %s", spec.label, res.seconds, path)
    return path


@functools.lru_cache(maxsize=4)
def _ops(model_path: str, mtime: float) -> tuple[Any, ...]:
    from ..nn import keras_models as km

    return tuple(km.extract(km.load_model(model_path)))


@functools.lru_cache(maxsize=4)
def _test_set(dataset: str, n_test: int, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    from ..datasets.idx import load_binary

    return load_binary(dataset, "test", data_dir=data_dir, limit=n_test)


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
    model_path: str,
    mtime: float,
    dataset: str,
    n_test: int,
    data_dir: str | None,
    method: str,
    levels: int,
    bias: str,
    scheme: str,
    tile: int,
    cell: str,
    r_wire: float,
) -> tuple[Any, np.ndarray, np.ndarray, float, float]:
    """Quantized and mapped network, test images, quantized and float accuracy (once per process)."""
    from ..experiments.romero_zaliz2021 import InferenceConfig, accuracy, build_circuit
    from ..mapping import model_forward
    from ..nn.keras_models import forward

    ops = list(_ops(model_path, mtime))
    x, y = _test_set(dataset, n_test, data_dir)
    # mapped onto the nominal table with ``levels`` levels (xbarsim.devices.preset_for_levels)
    config = InferenceConfig(
        method=method, levels=levels, bias=bias, scheme=scheme, tile=tile, cell=cell, r_wire=r_wire
    )
    _, _, mapped = build_circuit(ops, config)
    acc_q = accuracy(model_forward(mapped, x), y)
    acc_f = accuracy(forward(ops, x, logits=True), y)
    return mapped, x, y, acc_q, acc_f


def mnist_mc(
    dataset: str,
    data_dir: str,
    n_test: int,
    model: str,
    hidden: int,
    hidden_layers: int,
    epochs: int,
    train_seed: int,
    method: str,
    levels: int,
    bias: str,
    scheme: str,
    tile: int,
    cell: str,
    r_wire: float,
    backend: str,
    mos: str,
    preset: str,
    mode: str,
    read_noise: float,
    stuck_hrs_rate: float,
    stuck_lrs_rate: float,
    seed: int,
    trial: int,
) -> dict[str, float]:
    """One Monte-Carlo trial of the Romero-Zaliz 2021 MLP on tiled 1T1R crossbars."""
    from dataclasses import replace

    from ..experiments.romero_zaliz2021 import accuracy
    from ..mapping import TileSolver, model_forward
    from ..variability import preset_distribution

    ddir = data_dir or None
    path = Path(model) if model else trained_mlp(dataset, hidden, hidden_layers, epochs, train_seed, ddir)
    if not path.is_file():
        raise InputError(f"model file not found: {path}")
    mapped_nominal, x, y, acc_q, acc_f = _mnist_nominal(
        str(path),
        path.stat().st_mtime,
        dataset,
        n_test,
        ddir,
        method,
        levels,
        bias,
        scheme,
        tile,
        cell,
        r_wire,
    )
    dist = preset_distribution(preset or f"hfo2-1t1r-{levels}")
    rng = rng_for(seed, trial, "mnist_mc/devices")
    mapped = sample_mapped_model(
        mapped_nominal,
        dist,
        rng,
        mode=mode,
        read_noise=read_noise,
        stuck_hrs_rate=stuck_hrs_rate,
        stuck_lrs_rate=stuck_lrs_rate,
    )
    # the drawn devices alone (ideal product of the weights they encode) ...
    dev_layers = [replace(layer, A=layer.weights_from_conductances()) for layer in mapped.layers]
    acc_dev = accuracy(model_forward(mapped.with_layers(dev_layers), x), y)
    # ... and in the circuit
    solver = TileSolver(backend, backend_options={"mos": mos} if backend == "native" else {})
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
    design = kim.CircuitDesign(mapping=mapping, g_on=g_on, g_off=g_off, r_wire=r_wire)
    kc = kim.build_circuit(quant, v_in, design=design, calibrate_with=backend)
    V = kim.glyph_voltages(grid, v_in)
    acc, cur = kim.evaluate_circuit(kc.network, V, backend)
    return kc, V, cur, acc


def kim2024_mc(
    grid: int,
    alpha: float,
    max_q: int,
    v_in: float,
    backend: str,
    mapping: str,
    g_range: str,
    r_wire: float,
    preset: str,
    mode: str,
    read_noise: float,
    stuck_hrs_rate: float,
    stuck_lrs_rate: float,
    seed: int,
    trial: int,
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
        grid, seed, alpha, max_q, v_in, backend, mapping, g_on, g_off, r_wire
    )
    rng = rng_for(seed, trial, "kim2024_mc/devices")
    G = [
        sample_around(
            dist,
            xb.G,
            rng,
            mode=mode,
            read_noise=read_noise,
            stuck_hrs_rate=stuck_hrs_rate,
            stuck_lrs_rate=stuck_lrs_rate,
        )
        for xb in kc.network.layers
    ]
    net = kc.with_conductances(G)
    acc, cur = kim.evaluate_circuit(net, V, backend)
    acc_ideal, _ = kim.evaluate_circuit(net, V, "ideal")
    return {
        "recognition": acc,
        "recognition_ideal": acc_ideal,
        "recognition_nominal": acc_nominal,
        "margin": recognition_margin(cur),
        "current_deviation": relative_error(cur, nominal),
        "n_circuit_levels": float(kc.level_conductance.size),
        "r_ref": kc.r_ref,
    }
