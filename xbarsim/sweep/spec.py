"""Sweep specifications: one experiment, fixed parameters and the product of named parameter lists.

A sweep file is TOML::

    name = "quick"                      # optional, defaults to the file name
    experiment = "crossbar_mc"          # a name from xbarsim.sweep.experiments.EXPERIMENTS

    [fixed]                             # parameters shared by every point
    rows = 32

    [grid]                              # the sweep is the product of these lists, in this order
    preset = ["hfo2-1t1r-2", "hfo2-1t1r-8"]
    trial = { start = 0, stop = 20 }    # shorthand for [0, 1, ..., 19] (optional step)

    [plot]                              # optional defaults for ``xbarsim sweep plot``
    x = "preset"
    y = "rel_error"

Every point carries the *complete* parameter set (experiment defaults, then ``fixed``, then its
grid values); its identity is a hash of the experiment name and those parameters, so re-running
the same or an overlapping sweep finds the points it already has.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from .experiments import EXPERIMENTS, Experiment, get_experiment

_TOP_KEYS = ("name", "experiment", "fixed", "grid", "plot", "description")
_PLOT_KEYS = ("x", "y", "by", "stat", "title")


def point_id(experiment: str, params: dict[str, Any]) -> str:
    """Stable identity of one point: hash of the experiment name and its complete parameters."""
    blob = json.dumps({"experiment": experiment, "params": params}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


@dataclass(frozen=True, eq=False)
class SweepSpec:
    """A validated sweep: experiment, fixed parameters, grid lists (in file order), plot defaults."""

    name: str
    experiment: str
    fixed: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    plot: dict[str, str] = field(default_factory=dict)
    description: str = ""
    source: str = "<sweep>"

    def __post_init__(self) -> None:
        where = self.source
        if not isinstance(self.name, str) or not self.name:
            raise InputError(f"{where}: 'name' must be a non-empty string")
        exp = _experiment(self.experiment, where)
        for section in ("fixed", "grid"):
            if not isinstance(getattr(self, section), dict):
                raise InputError(f"{where}: [{section}] must be a table")
        fixed = {k: _check_value(exp, k, v, where, "fixed") for k, v in self.fixed.items()}
        grid: dict[str, tuple[Any, ...]] = {}
        for k, values in self.grid.items():
            if k in fixed:
                raise InputError(f"{where}: parameter '{k}' is in both [fixed] and [grid]")
            values = _expand(values, k, where)
            grid[k] = tuple(_check_value(exp, k, v, where, f"grid.{k}") for v in values)
            if len(set(map(_canon, grid[k]))) != len(grid[k]):
                raise InputError(f"{where}: [grid] '{k}' lists the same value twice")
        plot = dict(self.plot)
        for k, v in plot.items():
            if k not in _PLOT_KEYS:
                raise InputError(f"{where}: unknown key '{k}' in [plot]; known: {', '.join(_PLOT_KEYS)}")
            if not isinstance(v, str):
                raise InputError(f"{where}: [plot] '{k}' must be a string, got {type(v).__name__}")
        object.__setattr__(self, "fixed", fixed)
        object.__setattr__(self, "grid", grid)
        object.__setattr__(self, "plot", plot)

    @property
    def experiment_def(self) -> Experiment:
        return get_experiment(self.experiment)

    @property
    def n_points(self) -> int:
        n = 1
        for values in self.grid.values():
            n *= len(values)
        return n

    def points(self) -> list[tuple[str, dict[str, Any]]]:
        """Every point as ``(point_id, complete parameters)`` in grid order (last key fastest)."""
        base = {**self.experiment_def.defaults(), **self.fixed}
        keys = list(self.grid)
        out = []
        for combo in itertools.product(*(self.grid[k] for k in keys)):
            params = {**base, **dict(zip(keys, combo))}
            out.append((point_id(self.experiment, params), params))
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/TOML-compatible form (stored with the results)."""
        return {
            "name": self.name,
            "experiment": self.experiment,
            "description": self.description,
            "fixed": dict(self.fixed),
            "grid": {k: list(v) for k, v in self.grid.items()},
            "plot": dict(self.plot),
        }

    def spec_hash(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _canon(v: Any) -> str:
    return json.dumps(v, sort_keys=True)


def _experiment(name: object, where: str) -> Experiment:
    if not isinstance(name, str):
        raise InputError(f"{where}: 'experiment' must be a string naming one of: {', '.join(EXPERIMENTS)}")
    if name not in EXPERIMENTS:
        raise InputError(f"{where}: unknown experiment '{name}'; choose one of: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def _expand(values: object, key: str, where: str) -> list[Any]:
    if isinstance(values, dict):
        extra = set(values) - {"start", "stop", "step"}
        if extra or "stop" not in values:
            raise InputError(
                f"{where}: [grid] '{key}' must be a list or a table {{ start = 0, stop = N, step = 1 }}"
            )
        bounds = [values.get("start", 0), values["stop"], values.get("step", 1)]
        if not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds) or bounds[2] <= 0:
            raise InputError(f"{where}: [grid] '{key}' range needs integer start/stop and a positive step")
        values = list(range(*bounds))
    if not isinstance(values, list):
        raise InputError(
            f"{where}: [grid] '{key}' must be a list of values, got {type(values).__name__} {values!r}"
        )
    if not values:
        raise InputError(f"{where}: [grid] '{key}' is an empty list; give at least one value")
    return values


def _check_value(exp: Experiment, key: str, value: Any, where: str, section: str) -> Any:
    params = exp.params
    if key not in params:
        raise InputError(
            f"{where}: unknown parameter '{key}' in [{section.split('.')[0]}] for experiment "
            f"'{exp.name}'; known: {', '.join(params)}"
        )
    p = params[key]
    ok: bool
    if p.type is bool:
        ok = isinstance(value, bool)
    elif p.type is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif p.type is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        raise InputError(
            f"{where}: parameter '{key}' of experiment '{exp.name}' must be {p.type.__name__}, "
            f"got {type(value).__name__} {value!r} in [{section}]"
        )
    if p.choices and value not in p.choices:
        raise InputError(
            f"{where}: parameter '{key}' must be one of {', '.join(map(str, p.choices))}, got {value!r}"
        )
    if p.minimum is not None and value < p.minimum:
        raise InputError(f"{where}: parameter '{key}' must be >= {p.minimum}, got {value!r}")
    if p.check is not None:
        try:
            p.check(value)
        except InputError as exc:
            raise InputError(f"{where}: parameter '{key}': {exc}") from None
    return value


def parse_spec(data: dict[str, Any], source: str = "<sweep>", default_name: str = "sweep") -> SweepSpec:
    """Validate a parsed TOML table into a :class:`SweepSpec` (one InputError line on any problem)."""
    for k in data:
        if k not in _TOP_KEYS:
            raise InputError(f"{source}: unknown top-level key '{k}'; known: {', '.join(_TOP_KEYS)}")
    if "experiment" not in data:
        raise InputError(f"{source}: missing 'experiment = \"...\"' (one of: {', '.join(EXPERIMENTS)})")
    desc = data.get("description", "")
    if not isinstance(desc, str):
        raise InputError(f"{source}: 'description' must be a string")
    return SweepSpec(
        name=data.get("name", default_name),
        experiment=data["experiment"],
        fixed=data.get("fixed", {}),
        grid=data.get("grid", {}),
        plot=data.get("plot", {}),
        description=desc,
        source=source,
    )


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep TOML file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"sweep file not found: {p}") from None
    try:
        data = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{p.name}: invalid TOML: {exc}") from None
    return parse_spec(data, source=p.name, default_name=p.stem)
