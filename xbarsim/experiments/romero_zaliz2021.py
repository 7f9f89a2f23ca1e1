"""Romero-Zaliz et al. 2021 at circuit level: quantize a trained MLP/CNN, map it on tiled crossbars, infer.

Reference: R. Romero-Zaliz, E. Perez, F. Jimenez-Molinos, C. Wenger, J. B. Roldan, "Study of
Quantized Hardware Deep Neural Networks Based on Resistive Switching Devices, Conventional versus
Convolutional Approaches", Electronics 2021, 10, 346.

Pipeline (each step a plain function):

1. :func:`quantize_ops` -- per layer, quantile bins (k = 2..8, each weight -> its bin's mean), the
   weight-range method (Kim 2024, all layers pooled), or, beyond the paper, the per-layer
   Lloyd-Max quantizer (:func:`xbarsim.quant.quantize_lloyd`), which keeps heavy-tailed layers'
   large weights apart. **Biases**: by default (``bias="quantized"``)
   a layer's biases are quantized *together with its weights* as one more row of the layer, because
   on the crossbar the bias is exactly that: an extra row of cells, which can only hold the same
   programmable levels. ``bias="float"`` keeps biases unquantized (their row then holds off-level
   conductances) for comparison with software-only studies that quantize weights alone.
2. :func:`xbarsim.mapping.map_model` -- affine map onto a device level table, tiles of T x T.
3. :func:`evaluate` -- float, quantized (ideal product) and circuit accuracy, per-layer error.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from .._validate import check_int
from ..analysis import accuracy
from ..circuit import CellModel
from ..devices import LevelTable, preset, preset_for_levels
from ..errors import InputError
from ..mapping import (
    CALIBRATIONS,
    DEFAULT_TILE,
    LayerError,
    MappedModel,
    TileSolver,
    augment,
    calibrate,
    calibrate_converters,
    describe_converters,
    map_model,
    model_forward,
    parse_adc_range,
    with_converters,
)
from ..nn.keras_models import Op, forward, n_synapses, weighted
from ..periphery import MAX_BITS
from ..quant import QuantResult, quantize_lloyd, quantize_quantile, quantize_weight_range

log = logging.getLogger(__name__)

Method = Literal["quantile", "weight-range", "lloyd", "none"]
METHODS: tuple[str, ...] = ("quantile", "weight-range", "lloyd", "none")
PER_LAYER = {"quantile": quantize_quantile, "lloyd": quantize_lloyd}
BiasMode = Literal["quantized", "float"]
LEVELS = tuple(range(2, 9))


def quantize_ops(
    ops: list[Op], method: Method, levels: int, *, bias: BiasMode = "quantized"
) -> tuple[list[Op], list[QuantResult]]:
    """Quantized copy of the network's ops and the quantization results.

    Per layer for ``quantile`` and ``lloyd``; global for ``weight-range``.

    For ``weight-range`` the single :class:`QuantResult` covering all layers is returned once.
    ``method="none"`` returns the ops unchanged and no results.
    """
    if method not in METHODS:
        raise InputError(f"unknown quantization method {method!r}; choose one of {', '.join(METHODS)}")
    if bias not in ("quantized", "float"):
        raise InputError(f"bias must be 'quantized' or 'float', got {bias!r}")
    if method == "none":
        return list(ops), []
    check_int(levels, "levels", minimum=2)
    layers = weighted(ops)
    mats = [augment(op.W, op.b) if bias == "quantized" else op.W.reshape(-1, op.W.shape[-1]) for op in layers]
    if method in PER_LAYER:
        results = [PER_LAYER[method](m, int(levels)) for m in mats]
        qmats = [r.weights[0] for r in results]
    else:
        results = [quantize_weight_range(mats, int(levels))]
        qmats = list(results[0].weights)
    new_layers = {}
    for op, q in zip(layers, qmats):
        if bias == "quantized":
            W, b = q[:-1].reshape(op.W.shape), q[-1].copy()
        else:
            W, b = q.reshape(op.W.shape), op.b.copy()
        new_layers[id(op)] = type(op)(W, b, op.activation, op.name)
    return [new_layers.get(id(op), op) for op in ops], results


@dataclass(frozen=True)
class InferenceConfig:
    """How to quantize, map and simulate a network.

    Attributes
    ----------
    method, levels, bias:
        Quantization (see :func:`quantize_ops`).
    table:
        Level-table preset name; ``None`` picks the HfO2 preset with ``levels`` levels
        (:func:`xbarsim.devices.preset_for_levels`).
    scheme:
        ``"differential"`` column pairs or ``"offset"`` reference column.
    tile:
        Largest array side T.
    cell:
        ``"1t1r"`` or ``"resistor"``.
    r_wire:
        Wire segment resistance in ohms.
    backend:
        Circuit backend name (``ideal``, ``native``, ``ngspice``, ``pyspice``).
    backend_options:
        Options passed to the backend constructor (e.g. ``{"mos": "linear"}`` for native).
    linear:
        Transfer-matrix shortcut for linear circuits (``None`` = auto, see :class:`TileSolver`).
    calibration:
        Per-column digital gain trim of every tile (``"none"``, ``"uniform"`` or ``"data"``,
        see :func:`xbarsim.mapping.calibrate_layer`); ``"data"`` needs calibration images.
    adc_bits:
        ``None`` (no ADC) or the resolution of an ADC on every sensed tile column (raw column
        current, before gains and the pair difference; see :mod:`xbarsim.mapping.converters`).
    adc_range:
        ADC full scale in amperes, or ``"auto"``: per column from the circuit's currents on the
        calibration images (``x_cal`` of :func:`evaluate`, training images).
    dac_bits:
        ``None`` (exact read voltages) or the resolution of a DAC on every layer's read voltages.
    batch:
        Images per evaluation batch.
    """

    method: Method = "quantile"
    levels: int = 8
    bias: BiasMode = "quantized"
    table: str | None = None
    scheme: str = "differential"
    tile: int = DEFAULT_TILE
    cell: Literal["1t1r", "resistor"] = "1t1r"
    r_wire: float = 0.0
    backend: str = "ideal"
    backend_options: dict[str, Any] = field(default_factory=dict)
    linear: bool | None = None
    calibration: str = "none"
    adc_bits: int | None = None
    adc_range: float | str = "auto"
    dac_bits: int | None = None
    batch: int = 1000

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(
                f"unknown quantization method {self.method!r}; choose one of {', '.join(METHODS)}"
            )
        if self.calibration not in CALIBRATIONS:
            raise InputError(
                f"unknown calibration {self.calibration!r}; choose one of {', '.join(CALIBRATIONS)}"
            )
        if self.cell not in ("1t1r", "resistor"):
            raise InputError(f"cell must be '1t1r' or 'resistor', got {self.cell!r}")
        check_int(self.batch, "batch", minimum=1)
        for name in ("adc_bits", "dac_bits"):
            if getattr(self, name) is not None:
                check_int(getattr(self, name), name, minimum=1, maximum=MAX_BITS)
        parse_adc_range(self.adc_range, "adc_range")

    def level_table(self) -> LevelTable:
        if self.table is not None:
            return preset(self.table)
        return preset_for_levels(int(self.levels))


def build_circuit(ops: list[Op], config: InferenceConfig) -> tuple[list[Op], list[QuantResult], MappedModel]:
    """Quantize and map ``ops`` as ``config`` says: (quantized ops, quantization results, mapped model)."""
    qops, results = quantize_ops(ops, config.method, config.levels, bias=config.bias)
    mapped = map_model(
        qops,
        config.level_table(),
        scheme=config.scheme,
        tile=config.tile,
        cell=CellModel(config.cell),  # validated in __post_init__
        r_wire=config.r_wire,
    )
    return qops, results, mapped


def apply_converters(
    mapped: MappedModel, solver: TileSolver, config: InferenceConfig, x_cal: np.ndarray | None
) -> MappedModel:
    """``mapped`` with the converters ``config`` asks for; auto-ranged ADCs calibrated on ``x_cal``."""
    if config.adc_bits is None and config.dac_bits is None:
        return mapped
    mapped = with_converters(
        mapped, adc_bits=config.adc_bits, adc_range=config.adc_range, dac_bits=config.dac_bits
    )
    if config.adc_bits is not None and parse_adc_range(config.adc_range) is None:
        if x_cal is None:
            raise InputError("an ADC with range 'auto' needs calibration images (x_cal)")
        mapped = calibrate_converters(mapped, solver, x_cal)
    return mapped


def evaluate(
    ops: list[Op],
    x: np.ndarray,
    y: np.ndarray,
    config: InferenceConfig,
    *,
    circuit: bool = True,
    x_cal: np.ndarray | None = None,
) -> dict[str, Any]:
    """Float, quantized and (optionally) circuit accuracy of a network on images x with labels y.

    Returns a JSON-ready dict with ``accuracy_float``, ``accuracy_quantized``, ``accuracy_circuit``
    (``None`` when ``circuit=False``), ``n_synapses`` (weights + biases), ``n_tiles``, ``n_cells``,
    ``converters`` (per mapped layer: DAC/ADC bits and the range of the ADC full scales, empty
    without converters), ``layer_errors`` (per mapped layer: max and rms relative error of circuit
    pre-activations vs the ideal product of the same inputs), ``levels_used`` per layer and timings
    in seconds: ``seconds_map`` (quantize + map), ``seconds_quantized`` (ideal-product pipeline),
    ``seconds_circuit`` (circuit pipeline, including solver setup and calibration) and ``seconds``
    (total). ``x_cal`` are the calibration images for ``config.calibration == "data"`` and for an
    ADC with ``adc_range="auto"`` (use training images, never the test set); ADC full scales are
    fitted after the gain calibration, on the calibrated circuit.
    """
    t_all = time.perf_counter()
    x = np.asarray(x)
    y = np.asarray(y).ravel()
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise InputError(f"{x.shape[0]} images but {y.shape[0]} labels")
    B = config.batch

    def batched(fn) -> np.ndarray:
        return np.vstack([fn(x[k : k + B]) for k in range(0, x.shape[0], B)])

    acc_float = accuracy(batched(lambda xb: forward(ops, xb, logits=True)), y)
    t0 = time.perf_counter()
    _, results, mapped = build_circuit(ops, config)
    t_map = time.perf_counter() - t0
    t0 = time.perf_counter()
    acc_q = accuracy(batched(lambda xb: model_forward(mapped, xb)), y)
    t_q = time.perf_counter() - t0
    acc_c = None
    errors: list[LayerError] = []
    t_c = 0.0
    solver_name = None
    if circuit:
        t0 = time.perf_counter()
        solver = TileSolver(config.backend, linear=config.linear, backend_options=config.backend_options)
        solver_name = solver.name
        if config.calibration != "none":
            if config.calibration == "data" and x_cal is None:
                raise InputError("data calibration needs calibration images (x_cal)")
            mapped = calibrate(mapped, solver, config.calibration, x_cal)  # type: ignore[arg-type]
        mapped = apply_converters(mapped, solver, config, x_cal)
        acc_c = accuracy(batched(lambda xb: model_forward(mapped, xb, solver, errors=errors)), y)
        t_c = time.perf_counter() - t0
    if config.method in PER_LAYER:
        levels_used = [int(r.n_levels) for r in results]
    elif config.method == "weight-range":
        levels_used = [int(results[0].n_levels)] * len(mapped.layers)
    else:
        levels_used = []
    table = config.level_table()
    return {
        "accuracy_float": acc_float,
        "accuracy_quantized": acc_q,
        "accuracy_circuit": acc_c,
        "n_images": int(x.shape[0]),
        "n_synapses": n_synapses(ops),
        "n_tiles": mapped.n_tiles,
        "n_cells": mapped.n_cells,
        "layer_errors": [e.as_dict() for e in errors],
        "converters": describe_converters(mapped) if mapped.converters is not None else [],
        "levels_used": levels_used,
        "table": {
            "name": table.name,
            "conductances": list(table.conductances),
            "v_read": table.v_read,
            "illustrative": table.illustrative,
        },
        "config": asdict(config),
        "backend": solver_name,
        "seconds_map": t_map,
        "seconds_quantized": t_q,
        "seconds_circuit": t_c,
        "seconds": time.perf_counter() - t_all,
    }


def format_report(r: dict[str, Any]) -> str:
    """Human-readable summary of an :func:`evaluate` result."""
    c = r["config"]
    lines = [
        (
            f"images {r['n_images']}  synapses {r['n_synapses']}  tiles {r['n_tiles']} "
            f"(<= {c['tile']}x{c['tile']}, {r['n_cells']} cells)  table {r['table']['name']}"
            f"{' (illustrative)' if r['table']['illustrative'] else ''}"
        ),
        (
            f"quantization {c['method']} k={c['levels']} (bias {c['bias']}), "
            f"levels used per layer {r['levels_used']}"
        ),
        (
            f"cell {c['cell']}  r_wire {c['r_wire']:g} ohm  scheme {c['scheme']}  backend {r['backend']}  "
            f"calibration {c['calibration']}"
        ),
        (
            f"converters  ADC {c['adc_bits'] if c['adc_bits'] else '-'} bits"
            f"{' range ' + str(c['adc_range']) if c['adc_bits'] else ''}  "
            f"DAC {c['dac_bits'] if c['dac_bits'] else '-'} bits"
        ),
        f"accuracy  float {r['accuracy_float']:.4f}  quantized {r['accuracy_quantized']:.4f}  "
        + (f"circuit {r['accuracy_circuit']:.4f}" if r["accuracy_circuit"] is not None else "circuit -"),
    ]
    for cv in r.get("converters", []):
        if cv.get("adc_full_scale_min") is not None:
            lines.append(
                f"  layer {cv['layer']:<10} ADC full scale {cv['adc_full_scale_min']:.3e} .. "
                f"{cv['adc_full_scale_max']:.3e} A ({'signed' if cv['adc_signed'] else 'unsigned'})"
            )
    for e in r["layer_errors"]:
        lines.append(
            f"  layer {e['layer']:<10} circuit vs ideal product: max rel {e['max_relative']:.3e}  "
            f"rms rel {e['rms_relative']:.3e}"
        )
    lines.append(
        f"seconds  total {r['seconds']:.2f}  map {r['seconds_map']:.2f}  "
        f"quantized {r['seconds_quantized']:.2f}  circuit {r['seconds_circuit']:.2f}"
    )
    return "\n".join(lines)


def sweep_levels(
    ops: list[Op],
    x: np.ndarray,
    y: np.ndarray,
    levels=LEVELS,
    *,
    method: Method = "quantile",
    bias: BiasMode = "quantized",
    batch: int = 2000,
) -> dict[int, float]:
    """Quantized accuracy (ideal product, no circuit) per k in ``levels``: the paper's software study."""
    out = {}
    for k in levels:
        qops, _ = quantize_ops(ops, method, int(k), bias=bias)
        scores = np.vstack(
            [forward(qops, x[i : i + batch], logits=True) for i in range(0, x.shape[0], batch)]
        )
        out[int(k)] = accuracy(scores, y)
    return out


def kruskal_mlp_cnn(acc_mlp: list[float], acc_cnn: list[float]) -> dict[str, float]:
    """Kruskal-Wallis H test of MLP vs CNN accuracies (the paper: p = 1.02e-5 MNIST, 0.147 Fashion)."""
    from scipy.stats import kruskal

    if len(acc_mlp) < 2 or len(acc_cnn) < 2:
        raise InputError("Kruskal-Wallis needs at least 2 accuracies per group")
    a, b = np.asarray(acc_mlp, float), np.asarray(acc_cnn, float)
    if np.all(np.concatenate([a, b]) == a[0]):
        return {"H": 0.0, "p": 1.0, "n_mlp": a.size, "n_cnn": b.size}
    res = kruskal(a, b)
    return {"H": float(res.statistic), "p": float(res.pvalue), "n_mlp": int(a.size), "n_cnn": int(b.size)}


__all__ = [
    "InferenceConfig",
    "accuracy",
    "apply_converters",
    "build_circuit",
    "evaluate",
    "format_report",
    "kruskal_mlp_cnn",
    "quantize_ops",
    "sweep_levels",
]
