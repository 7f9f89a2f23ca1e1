"""Experiments a sweep can run: each is a pure function of its parameters returning metrics.

An experiment is declared once, as a function: every parameter has a type hint of the form
``Annotated[type, P(doc, choices=..., minimum=...)]`` and a default, and the :func:`experiment`
decorator derives the registry's parameter schema from that signature. Parameters that several
experiments share are declared once as a :class:`ParamGroup` (a frozen dataclass whose fields
are declared the same way, e.g. :class:`Faults`, :class:`Draw`): a function parameter typed with
the group contributes the group's fields to the schema (sweep files name the fields), and the
function receives one group instance. The schema therefore
cannot drift from the function (a parameter without a declaration is refused at import), and
sweep files are validated against it before anything runs. Registered functions live in
modules whose top level imports only NumPy, so listing experiments stays cheap.

Randomness: every experiment builds its generators with :func:`rng_for` from ``seed``, ``trial``
and a stream label. Points that differ only in other parameters (voltage, wire resistance,
backend...) therefore see the *same* devices -- common random numbers make differences between
those points sharper than independent draws would.
"""

from __future__ import annotations

import importlib
import inspect
import typing
import zlib
from collections.abc import Callable
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Annotated, Any

import numpy as np

from ..errors import InputError, XbarsimError
from ..variability import is_level_csv


@dataclass(frozen=True)
class P:
    """What a type hint cannot say about a parameter: meaning, allowed values, range, file-ness.

    ``path`` marks a parameter that may name a file or folder the experiment reads (``True``, or
    a predicate saying which values are paths); the content hash of what it names becomes part of
    the point identity (see :mod:`xbarsim.sweep.spec`). ``added`` marks a parameter added after
    results files of the experiment existed: while it holds its default (the feature off) it is
    left out of the point identity, so those files still resume.
    """

    doc: str = ""
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    check: Callable[[Any], None] | None = None
    path: bool | Callable[[Any], bool] = False
    added: bool = False


@dataclass(frozen=True, kw_only=True)
class Param(P):
    """One parameter of an experiment: its type (int, float, str, bool), default and declaration."""

    type: type
    default: Any

    def names_file(self, value: Any) -> bool:
        """Whether ``value`` names a file or folder whose content the experiment reads."""
        if not value or not self.path:
            return False
        return True if self.path is True else bool(self.path(value))

    def describe(self) -> str:
        """``type, default ...`` and the allowed values, for ``xbarsim sweep experiments``."""
        out = f"{self.type.__name__}, default {self.default!r}"
        if self.choices:
            out += f"; one of {', '.join(map(str, self.choices))}"
        if self.minimum is not None or self.maximum is not None:
            lo = "" if self.minimum is None else f"{self.minimum:g} <= "
            hi = "" if self.maximum is None else f" <= {self.maximum:g}"
            out += f"; {lo}value{hi}"
        return out


_TYPES = (int, float, str, bool)


class ParamGroup:
    """Base of frozen dataclasses that declare parameters shared by several experiments."""


def _group_fields(group: type[ParamGroup]) -> tuple[Field[Any], ...]:
    return fields(typing.cast(Any, group))


@dataclass(frozen=True)
class Experiment:
    """A named experiment: parameter schema, metric names and the ``module:function`` to call.

    ``groups`` maps a function parameter typed with a :class:`ParamGroup` to that group; its
    fields are entries of ``params``.
    """

    name: str
    target: str
    params: dict[str, Param]
    metrics: tuple[str, ...]
    doc: str = ""
    groups: dict[str, type[ParamGroup]] = field(default_factory=dict)

    def call_arguments(self, params: dict[str, Any]) -> dict[str, Any]:
        """The function's keyword arguments for complete sweep parameters (groups assembled)."""
        kwargs = dict(params)
        for name, group in self.groups.items():
            kwargs[name] = group(**{f.name: kwargs.pop(f.name) for f in _group_fields(group)})
        return kwargs

    def defaults(self) -> dict[str, Any]:
        return {k: p.default for k, p in self.params.items()}

    def function(self) -> Callable[..., dict[str, float]]:
        module, func = self.target.split(":")
        return typing.cast(Callable[..., dict[str, float]], getattr(importlib.import_module(module), func))


def _param(where: str, hint: Any, default: Any) -> Param:
    """One schema entry from an ``Annotated[type, P(...)]`` hint and its default."""
    if typing.get_origin(hint) is not Annotated:
        raise TypeError(f"{where} needs a hint Annotated[type, P(...)]")
    base, *extras = typing.get_args(hint)
    decl = next((e for e in extras if isinstance(e, P)), None)
    if base not in _TYPES or decl is None:
        raise TypeError(f"{where}: hint must be Annotated[int|float|str|bool, P(...)], got {hint!r}")
    if default is inspect.Parameter.empty or default is MISSING:
        raise TypeError(f"{where} needs a default")
    declared = {f.name: getattr(decl, f.name) for f in fields(P)}
    return Param(type=base, default=default, **declared)


def schema_and_groups(fn: Callable[..., Any]) -> tuple[dict[str, Param], dict[str, type[ParamGroup]]]:
    """The parameter schema declared by ``fn``'s signature and its parameter groups (see the module doc).

    Raises TypeError for an incomplete declaration or a name two groups (or a group and a
    parameter) both declare.
    """
    hints = typing.get_type_hints(fn, include_extras=True)
    params: dict[str, Param] = {}
    groups: dict[str, type[ParamGroup]] = {}
    for name, par in inspect.signature(fn).parameters.items():
        where = f"{fn.__module__}.{fn.__qualname__}: parameter {name!r}"
        if par.kind not in (par.POSITIONAL_OR_KEYWORD, par.KEYWORD_ONLY):
            raise TypeError(f"{where} must be a named parameter")
        hint = hints.get(name)
        if isinstance(hint, type) and issubclass(hint, ParamGroup):
            groups[name] = hint
            ghints = typing.get_type_hints(hint, include_extras=True)
            entries = {
                f.name: _param(f"{where}, field {f.name!r}", ghints[f.name], f.default)
                for f in _group_fields(hint)
            }
        else:
            entries = {name: _param(where, hint, par.default)}
        for key, entry in entries.items():
            if key in params:
                raise TypeError(f"{where}: parameter {key!r} is declared twice")
            params[key] = entry
    return params, groups


def schema_of(fn: Callable[..., Any]) -> dict[str, Param]:
    """The parameter schema declared by ``fn``'s signature (see the module doc); TypeError if incomplete."""
    return schema_and_groups(fn)[0]


EXPERIMENTS: dict[str, Experiment] = {}


def register(exp: Experiment) -> Experiment:
    EXPERIMENTS[exp.name] = exp
    return exp


def experiment(name: str, *, metrics: tuple[str, ...], doc: str) -> Callable[[Callable[..., Any]], Any]:
    """Register the decorated function as experiment ``name``, its schema taken from its signature."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        params, groups = schema_and_groups(fn)
        register(Experiment(name, f"{fn.__module__}:{fn.__qualname__}", params, metrics, doc, groups))
        return fn

    return deco


def get_experiment(name: str) -> Experiment:
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise InputError(f"unknown experiment {name!r}; choose one of: {', '.join(EXPERIMENTS)}") from None


def run_experiment(name: str, params: dict[str, Any]) -> dict[str, float]:
    """Call experiment ``name`` with its complete parameters; metrics as plain floats."""
    exp = get_experiment(name)
    out = exp.function()(**exp.call_arguments(params))
    return {k: float(v) for k, v in out.items()}


def rng_for(seed: int, trial: int, stream: str) -> np.random.Generator:
    """Generator for one (seed, trial, stream): independent streams, reproducible everywhere."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(trial), zlib.crc32(stream.encode())]))


def check_preset(name: str) -> None:
    """A preset name or a readable level CSV ('' = the experiment's default); raises InputError."""
    if name:
        from ..variability import preset_distribution

        preset_distribution(name)


def check_backend(name: str) -> None:
    """A known backend whose simulator (ngspice, libngspice...) is usable on this machine."""
    from ..backends import REGISTRY

    if name not in REGISTRY:
        raise InputError(f"unknown backend {name!r}; choose one of {', '.join(REGISTRY)}")
    module, cls = REGISTRY[name]
    try:
        reason = getattr(importlib.import_module(module), cls).unavailable_reason()
    except (ImportError, XbarsimError) as exc:
        reason = str(exc)
    if reason is not None:
        raise InputError(f"backend {name!r} is not usable here: {reason}")


# Parameters shared by the Monte-Carlo experiments (declared once, used in several signatures).
Preset = Annotated[
    str, P("level distribution: preset name or CSV path", check=check_preset, path=is_level_csv)
]
ReadNoise = Annotated[float, P("relative sigma of cycle-to-cycle read noise", minimum=0.0)]
StuckHrs = Annotated[float, P("fraction of cells stuck at HRS", minimum=0.0, maximum=1.0)]
StuckLrs = Annotated[float, P("fraction of cells stuck at LRS", minimum=0.0, maximum=1.0)]
Seed = Annotated[int, P("base seed (devices, inputs)", minimum=0)]
Trial = Annotated[int, P("Monte-Carlo trial index (device draw)", minimum=0)]
RWire = Annotated[float, P("wire segment resistance, ohm", minimum=0.0)]
Mode = Annotated[
    str,
    P(
        "cells keep their target with the nearest level's relative spread, or snap to it",
        choices=("relative", "snap"),
    ),
]


@dataclass(frozen=True)
class Faults(ParamGroup):
    """Read noise and stuck cells on top of the level spread (keywords of the variability samplers)."""

    read_noise: ReadNoise = 0.0
    stuck_hrs_rate: StuckHrs = 0.0
    stuck_lrs_rate: StuckLrs = 0.0

    def keywords(self) -> dict[str, float]:
        """As keyword arguments of :func:`xbarsim.variability.sample_conductances` / ``sample_around``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Draw(ParamGroup):
    """Which random draw a point is: the base seed and the Monte-Carlo trial."""

    seed: Seed = 0
    trial: Trial = 0

    def rng(self, stream: str) -> np.random.Generator:
        """The generator of this draw for one stream (see :func:`rng_for`)."""
        return rng_for(self.seed, self.trial, stream)


NO_FAULTS = Faults()
FIRST_DRAW = Draw()


# ---------------------------------------------------------------------------------------------
@experiment("selftest", metrics=("value",), doc="Tiny deterministic task for testing executors and clusters.")
def selftest(
    x: Annotated[float, P("scale of the result")] = 1.0,
    seed: Annotated[int, P("base seed", minimum=0)] = 0,
    trial: Annotated[int, P("trial index", minimum=0)] = 0,
    sleep: Annotated[float, P("seconds to sleep (to watch, kill and resume a sweep)", minimum=0.0)] = 0.0,
    fail_trial: Annotated[int, P("raise an error at this trial (tests failure recording)")] = -1,
    crash_trial: Annotated[int, P("kill the worker process at this trial (tests worker loss)")] = -1,
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
@experiment(
    "crossbar_mc",
    metrics=("rel_error", "mean_rel_error", "level_error_rate", "g_rel_spread"),
    doc=(
        "Random crossbar whose cells hold uniformly random levels; conductances sampled from the "
        "level distributions; output currents vs the nominal (median-level) ideal product."
    ),
)
def crossbar_mc(
    rows: Annotated[int, P("crossbar inputs M", minimum=1)] = 32,
    cols: Annotated[int, P("crossbar outputs N", minimum=1)] = 16,
    batch: Annotated[int, P("random input vectors per trial", minimum=1)] = 16,
    v_in: Annotated[float, P("largest input voltage (inputs uniform in 0..v_in)", minimum=0.0)] = 0.2,
    r_wire: RWire = 0.0,
    backend: Annotated[
        str, P("circuit backend (ideal, native, ngspice, pyspice)", check=check_backend)
    ] = "ideal",
    preset: Preset = "hfo2-1t1r-8",
    faults: Faults = NO_FAULTS,
    draw: Draw = FIRST_DRAW,
) -> dict[str, float]:
    """One Monte-Carlo trial of a self-contained random crossbar (see the registry doc)."""
    from ..backends import solve
    from ..circuit import Crossbar
    from ..solution import relative_error
    from ..variability import nearest_levels, preset_distribution, sample_conductances

    dist = preset_distribution(preset)
    fixed = rng_for(draw.seed, 0, "crossbar_mc/network")  # the "trained network": same for every trial
    level_index = fixed.integers(0, dist.n_levels, size=(rows, cols))
    V = fixed.uniform(0.0, v_in, size=(batch, rows))
    G_nom = dist.median_conductances[level_index]
    G = sample_conductances(dist, level_index, draw.rng("crossbar_mc/devices"), **faults.keywords())
    ref = solve(Crossbar(G_nom), V, "ideal").currents
    got = solve(Crossbar(G, r_wire=r_wire), V, backend).currents
    scale = np.abs(ref).max() or 1.0
    return {
        "rel_error": relative_error(got, ref),
        "mean_rel_error": float(np.abs(got - ref).mean() / scale),
        "level_error_rate": float(np.mean(nearest_levels(dist, G) != level_index)),
        "g_rel_spread": float(np.std(G / G_nom - 1.0)),
    }


# The papers' Monte-Carlo procedures register themselves from their own module.
importlib.import_module("xbarsim.experiments.montecarlo")
