"""Experiments a sweep can run: each is a pure function of its parameters returning metrics.

An experiment is registered with its parameter schema (type, default, short doc), so sweep files
are validated before anything runs. The function behind it is named ``"module:function"`` and
imported in the worker only, so listing experiments stays cheap.

Randomness: every experiment builds its generators with :func:`rng_for` from ``seed``, ``trial``
and a stream label. Points that differ only in other parameters (voltage, wire resistance,
backend...) therefore see the *same* devices -- common random numbers make differences between
those points sharper than independent draws would.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class Param:
    """One parameter of an experiment: its type (int, float, str, bool), default and meaning."""

    type: type
    default: Any
    doc: str = ""
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    check: Callable[[Any], None] | None = None


@dataclass(frozen=True)
class Experiment:
    """A named experiment: parameter schema, metric names and the ``module:function`` to call."""

    name: str
    target: str
    params: dict[str, Param]
    metrics: tuple[str, ...]
    doc: str = ""

    def defaults(self) -> dict[str, Any]:
        return {k: p.default for k, p in self.params.items()}

    def function(self) -> Callable[..., dict[str, float]]:
        module, func = self.target.split(":")
        return getattr(importlib.import_module(module), func)


def rng_for(seed: int, trial: int, stream: str) -> np.random.Generator:
    """Generator for one (seed, trial, stream): independent streams, reproducible everywhere."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(trial), zlib.crc32(stream.encode())]))


def _check_preset(name: str) -> None:
    """A preset name or a readable level CSV ('' = the experiment's default); raises InputError."""
    if name:
        from ..variability import preset_distribution

        preset_distribution(name)


def _check_backend(name: str) -> None:
    from ..backends import REGISTRY

    if name not in REGISTRY:
        raise InputError(f"unknown backend {name!r}; choose one of {', '.join(REGISTRY)}")


_VARIABILITY = {
    "preset": Param(str, "hfo2-1t1r-8", "level distribution: preset name or CSV path", check=_check_preset),
    "read_noise": Param(float, 0.0, "relative sigma of cycle-to-cycle read noise", minimum=0.0),
    "stuck_hrs_rate": Param(float, 0.0, "fraction of cells stuck at HRS", minimum=0.0),
    "stuck_lrs_rate": Param(float, 0.0, "fraction of cells stuck at LRS", minimum=0.0),
    "seed": Param(int, 0, "base seed (devices, inputs)"),
    "trial": Param(int, 0, "Monte-Carlo trial index (device draw)", minimum=0),
}

EXPERIMENTS: dict[str, Experiment] = {}


def register(exp: Experiment) -> Experiment:
    EXPERIMENTS[exp.name] = exp
    return exp


def get_experiment(name: str) -> Experiment:
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise InputError(f"unknown experiment {name!r}; choose one of: {', '.join(EXPERIMENTS)}") from None


def run_experiment(name: str, params: dict[str, Any]) -> dict[str, float]:
    """Call experiment ``name`` with its complete parameters; metrics as plain floats."""
    exp = get_experiment(name)
    out = exp.function()(**params)
    return {k: float(v) for k, v in out.items()}


# ---------------------------------------------------------------------------------------------
register(
    Experiment(
        name="selftest",
        target="xbarsim.sweep.experiments:selftest",
        params={
            "x": Param(float, 1.0, "scale of the result"),
            "seed": Param(int, 0, "base seed"),
            "trial": Param(int, 0, "trial index", minimum=0),
            "sleep": Param(float, 0.0, "seconds to sleep (to watch, kill and resume a sweep)", minimum=0.0),
            "fail_trial": Param(int, -1, "raise an error at this trial (tests failure recording)"),
            "crash_trial": Param(int, -1, "kill the worker process at this trial (tests worker loss)"),
        },
        metrics=("value",),
        doc="Tiny deterministic task for testing executors and clusters.",
    )
)


def selftest(
    x: float, seed: int, trial: int, sleep: float, fail_trial: int, crash_trial: int
) -> dict[str, float]:
    """``x`` times the mean of 1000 normal draws of stream (seed, trial)."""
    import os
    import time

    if trial == crash_trial:
        os._exit(3)  # a worker dying without a word, as after an OOM kill
    if sleep:
        time.sleep(sleep)
    if trial == fail_trial:
        raise InputError(f"selftest asked to fail at trial {trial}")
    return {"value": x * float(rng_for(seed, trial, "selftest").standard_normal(1000).mean())}


# ---------------------------------------------------------------------------------------------
register(
    Experiment(
        name="crossbar_mc",
        target="xbarsim.sweep.experiments:crossbar_mc",
        params={
            "rows": Param(int, 32, "crossbar inputs M", minimum=1),
            "cols": Param(int, 16, "crossbar outputs N", minimum=1),
            "batch": Param(int, 16, "random input vectors per trial", minimum=1),
            "v_in": Param(float, 0.2, "largest input voltage (inputs uniform in 0..v_in)", minimum=0.0),
            "r_wire": Param(float, 0.0, "wire segment resistance, ohm", minimum=0.0),
            "backend": Param(
                str, "ideal", "circuit backend (ideal, native, ngspice, pyspice)", check=_check_backend
            ),
            **_VARIABILITY,
        },
        metrics=("rel_error", "mean_rel_error", "level_error_rate", "g_rel_spread"),
        doc=(
            "Random crossbar whose cells hold uniformly random levels; conductances sampled from the "
            "level distributions; output currents vs the nominal (median-level) ideal product."
        ),
    )
)


def crossbar_mc(
    rows: int,
    cols: int,
    batch: int,
    v_in: float,
    r_wire: float,
    backend: str,
    preset: str,
    read_noise: float,
    stuck_hrs_rate: float,
    stuck_lrs_rate: float,
    seed: int,
    trial: int,
) -> dict[str, float]:
    """One Monte-Carlo trial of a self-contained random crossbar (see the registry doc)."""
    from ..backends import solve
    from ..circuit import Crossbar
    from ..solution import relative_error
    from ..variability import nearest_levels, preset_distribution, sample_conductances

    dist = preset_distribution(preset)
    fixed = rng_for(seed, 0, "crossbar_mc/network")  # the "trained network": same for every trial
    level_index = fixed.integers(0, dist.n_levels, size=(rows, cols))
    V = fixed.uniform(0.0, v_in, size=(batch, rows))
    G_nom = dist.median_conductances[level_index]
    G = sample_conductances(
        dist,
        level_index,
        rng_for(seed, trial, "crossbar_mc/devices"),
        read_noise=read_noise,
        stuck_hrs_rate=stuck_hrs_rate,
        stuck_lrs_rate=stuck_lrs_rate,
    )
    ref = solve(Crossbar(G_nom), V, "ideal").currents
    got = solve(Crossbar(G, r_wire=r_wire), V, backend).currents
    scale = np.abs(ref).max() or 1.0
    return {
        "rel_error": relative_error(got, ref),
        "mean_rel_error": float(np.abs(got - ref).mean() / scale),
        "level_error_rate": float(np.mean(nearest_levels(dist, G) != level_index)),
        "g_rel_spread": float(np.std(G / G_nom - 1.0)),
    }


# ---------------------------------------------------------------------------------------------
_VARIABILITY_MAPPED = {
    **_VARIABILITY,
    "preset": Param(
        str, "", "level distribution: preset name or CSV path ('' = hfo2-1t1r-<levels>)", check=_check_preset
    ),
    "mode": Param(
        str,
        "relative",
        "cells keep their target with the nearest level's relative spread, or snap to it",
        choices=("relative", "snap"),
    ),
}

register(
    Experiment(
        name="mnist_mc",
        target="xbarsim.sweep.paper_mc:mnist_mc",
        params={
            "dataset": Param(str, "mnist", "image set", choices=("mnist", "fashion-mnist")),
            "data_dir": Param(
                str, "", "folder with the IDX files ('' = $XBARSIM_DATA, then ~/.keras/datasets)"
            ),
            "n_test": Param(int, 1000, "test images per trial (the first n)", minimum=1),
            "model": Param(str, "", "trained .keras model; '' = train (once, cached) the MLP below"),
            "hidden": Param(int, 128, "hidden units of the MLP", minimum=8),
            "hidden_layers": Param(int, 1, "hidden layers of the MLP", minimum=1),
            "epochs": Param(int, 3, "training epochs", minimum=1),
            "train_seed": Param(int, 0, "training seed"),
            "method": Param(
                str, "quantile", "weight quantization", choices=("quantile", "weight-range", "lloyd")
            ),
            "levels": Param(int, 8, "quantization levels k (= device levels)", minimum=2),
            "bias": Param(
                str,
                "quantized",
                "biases quantized with the weights or kept float",
                choices=("quantized", "float"),
            ),
            "scheme": Param(str, "differential", "signed weights", choices=("differential", "offset")),
            "tile": Param(int, 128, "largest crossbar side", minimum=2),
            "cell": Param(str, "1t1r", "cell kind", choices=("1t1r", "resistor")),
            "r_wire": Param(float, 0.0, "wire segment resistance, ohm", minimum=0.0),
            "backend": Param(str, "native", "circuit backend", check=_check_backend),
            "mos": Param(str, "linear", "native backend 1T1R transistor model", choices=("linear", "level1")),
            **_VARIABILITY_MAPPED,
        },
        metrics=(
            "accuracy_circuit",
            "accuracy_devices",
            "accuracy_quantized",
            "accuracy_float",
            "accuracy_drop",
        ),
        doc=(
            "Romero-Zaliz 2021 MLP, quantized to k levels, mapped on tiled 1T1R crossbars; each trial "
            "draws every cell from the level distributions and classifies n_test images."
        ),
    )
)

register(
    Experiment(
        name="kim2024_mc",
        target="xbarsim.sweep.paper_mc:kim2024_mc",
        params={
            "grid": Param(int, 5, "glyph size (5 or 7)", choices=(5, 7)),
            "alpha": Param(float, 1.0, "recognition goal of the level search", minimum=0.0),
            "max_q": Param(int, 40, "largest number of quantization levels tried", minimum=2),
            "v_in": Param(float, 5.0, "input voltage of a lit pixel", minimum=0.0),
            "backend": Param(str, "native", "circuit backend (native or ngspice)", check=_check_backend),
            "mapping": Param(str, "differential", "weight mapping", choices=("differential", "single")),
            "g_range": Param(
                str,
                "preset",
                "conductance range: the distribution's level medians, or the paper design's",
                choices=("preset", "paper"),
            ),
            "r_wire": Param(float, 0.0, "wire segment resistance, ohm", minimum=0.0),
            **_VARIABILITY_MAPPED,
            "preset": Param(
                str, "hfo2-1t1r-8", "level distribution: preset name or CSV path", check=_check_preset
            ),
        },
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
)
