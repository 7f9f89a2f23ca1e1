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
grid values); its identity is a hash of the experiment name, those parameters and the content of
every file they name (parameters declared ``path=True``: level CSVs, model files, data folders),
so re-running the same or an overlapping sweep finds the points it already has, and editing a
file a point reads makes it a new point instead of a stale "done".

Grids are counted before they are expanded: a sweep larger than :func:`max_points` (default
1,000,000, ``$XBARSIM_SWEEP_MAX_POINTS``) is refused, and points are generated lazily.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import tomllib
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._validate import check_int
from ..errors import InputError, XbarsimError
from ..io import read_text
from .experiments import EXPERIMENTS, Experiment, get_experiment

_TOP_KEYS = ("name", "experiment", "fixed", "grid", "plot", "description")
_PLOT_KEYS = ("x", "y", "by", "stat", "title")


#: Largest sweep accepted unless ``$XBARSIM_SWEEP_MAX_POINTS`` or ``max_points=`` says otherwise.
DEFAULT_MAX_POINTS = 1_000_000


def max_points() -> int:
    """The grid-size limit in force (``$XBARSIM_SWEEP_MAX_POINTS``, else :data:`DEFAULT_MAX_POINTS`)."""
    raw = os.environ.get("XBARSIM_SWEEP_MAX_POINTS", "")
    if not raw:
        return DEFAULT_MAX_POINTS
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise InputError(f"XBARSIM_SWEEP_MAX_POINTS must be a positive integer, got {raw!r}")
    return n


def point_id(experiment: str, params: dict[str, Any], inputs: dict[str, str] | None = None) -> str:
    """Stable identity of one point: hash of the experiment name, its parameters and input files.

    ``inputs`` maps a parameter naming a file to that file's content hash; without any (the
    usual case) the identity is that of earlier versions, so existing results files resume.
    """
    ident: dict[str, Any] = {"experiment": experiment, "params": params}
    if inputs:
        ident["inputs"] = inputs
    blob = json.dumps(ident, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def content_hash(path: str | Path) -> str | None:
    """SHA-256 of a file, or of every file below a folder (names and contents); None if absent.

    Read anew on every call (no cache keyed on mtime: two edits within one clock tick would
    look alike); :meth:`SweepSpec.iter_points` calls it once per distinct value.
    """
    p = Path(path)
    if p.is_file():
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    if not p.is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(q for q in p.rglob("*") if q.is_file()):
        h.update(f"{f.relative_to(p)}\0{content_hash(f)}\0".encode())
    return h.hexdigest()


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
    max_points: int | None = None

    def __post_init__(self) -> None:
        where = self.source
        if not isinstance(self.name, str) or not self.name:
            raise InputError(f"{where}: 'name' must be a non-empty string")
        exp = _experiment(self.experiment, where)
        for section in ("fixed", "grid"):
            if not isinstance(getattr(self, section), dict):
                raise InputError(f"{where}: [{section}] must be a table")
        fixed = {k: _check_value(exp, k, v, where, "fixed") for k, v in self.fixed.items()}
        axes: dict[str, list[Any] | range] = {}
        for k, values in self.grid.items():
            if k in fixed:
                raise InputError(f"{where}: parameter '{k}' is in both [fixed] and [grid]")
            axes[k] = _expand(values, k, where)
        limit = (
            max_points() if self.max_points is None else check_int(self.max_points, "max_points", minimum=1)
        )
        total = math.prod(_length(v) for v in axes.values())
        if total > limit:  # counted, not expanded: a 1e9-point grid is refused, not allocated
            raise InputError(
                f"{where}: the grid has {total:,} points, more than the limit of {limit:,} "
                "(raise it with --max-points or XBARSIM_SWEEP_MAX_POINTS)"
            )
        grid: dict[str, tuple[Any, ...]] = {}
        for k, axis in axes.items():
            grid[k] = tuple(_check_value(exp, k, v, where, f"grid.{k}") for v in axis)
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
        """Every point as ``(point_id, complete parameters)`` in grid order (a list; see iter_points)."""
        return list(self.iter_points())

    def iter_points(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every point as ``(point_id, complete parameters)`` in grid order (last key fastest), lazily.

        Files named by ``path`` parameters are hashed once per distinct value, when first met.
        """
        exp = self.experiment_def
        base = {**exp.defaults(), **self.fixed}
        files = [k for k, p in exp.params.items() if p.path]
        added = {k: p.default for k, p in exp.params.items() if p.added}
        digests: dict[tuple[str, Any], str | None] = {}
        keys = list(self.grid)
        for combo in itertools.product(*(self.grid[k] for k in keys)):
            params = {**base, **dict(zip(keys, combo))}
            inputs = {}
            for k in files:
                v = params[k]
                if (k, v) not in digests:
                    digests[k, v] = content_hash(v) if exp.params[k].names_file(v) else None
                if digests[k, v] is not None:
                    inputs[k] = typing.cast(str, digests[k, v])
            ident = {k: v for k, v in params.items() if not (k in added and v == added[k])}
            yield point_id(self.experiment, ident, inputs), params

    def point_ids(self) -> Iterator[str]:
        """The ids of :meth:`iter_points`, lazily."""
        return (pid for pid, _ in self.iter_points())

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


def _length(values: list[Any] | range) -> int:
    """Length of an axis; ranges by arithmetic (``len()`` overflows beyond sys.maxsize)."""
    if isinstance(values, range):
        return max(0, -((values.start - values.stop) // values.step))
    return len(values)


def _expand(values: object, key: str, where: str) -> list[Any] | range:
    if isinstance(values, dict):
        extra = set(values) - {"start", "stop", "step"}
        if extra or "stop" not in values:
            raise InputError(
                f"{where}: [grid] '{key}' must be a list or a table {{ start = 0, stop = N, step = 1 }}"
            )
        try:
            start, stop = (check_int(values.get(b, 0), b) for b in ("start", "stop"))
            step = check_int(values.get("step", 1), "step", minimum=1)
        except InputError:
            raise InputError(
                f"{where}: [grid] '{key}' range needs integer start/stop and a positive step"
            ) from None
        values = range(start, stop, step)
        if _length(values) == 0:
            raise InputError(f"{where}: [grid] '{key}' range is empty; give start < stop")
        return values
    if not isinstance(values, list):
        raise InputError(
            f"{where}: [grid] '{key}' must be a list of values, got {type(values).__name__} {values!r}"
        )
    if not values:
        raise InputError(f"{where}: [grid] '{key}' is an empty list; give at least one value")
    return values


def _is_type(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        try:
            check_int(value, "value")
        except InputError:
            return False
        return True
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


def _check_value(exp: Experiment, key: str, value: Any, where: str, section: str) -> Any:
    params = exp.params
    if key not in params:
        raise InputError(
            f"{where}: unknown parameter '{key}' in [{section.split('.')[0]}] for experiment "
            f"'{exp.name}'; known: {', '.join(params)}"
        )
    p = params[key]
    ok = _is_type(value, p.type)
    if not ok:
        raise InputError(
            f"{where}: parameter '{key}' of experiment '{exp.name}' must be {p.type.__name__}, "
            f"got {type(value).__name__} {value!r} in [{section}]"
        )
    if p.type is float:
        value = float(value)
        if not math.isfinite(value):  # NaN would pass every comparison below
            raise InputError(f"{where}: parameter '{key}' must be a finite number, got {value!r}")
    if p.choices and value not in p.choices:
        raise InputError(
            f"{where}: parameter '{key}' must be one of {', '.join(map(str, p.choices))}, got {value!r}"
        )
    if p.minimum is not None and value < p.minimum:
        raise InputError(f"{where}: parameter '{key}' must be >= {p.minimum}, got {value!r}")
    if p.maximum is not None and value > p.maximum:
        raise InputError(f"{where}: parameter '{key}' must be <= {p.maximum}, got {value!r}")
    if p.check is not None:
        try:
            p.check(value)
        except XbarsimError as exc:
            raise InputError(f"{where}: parameter '{key}': {exc}") from None
    return value


def parse_spec(
    data: dict[str, Any],
    source: str = "<sweep>",
    default_name: str = "sweep",
    *,
    max_points: int | None = None,
) -> SweepSpec:
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
        max_points=max_points,
    )


def load_spec(path: str | Path, *, max_points: int | None = None) -> SweepSpec:
    """Read and validate a sweep TOML file (grids above ``max_points`` points are refused)."""
    p = Path(path)
    text = read_text(p, "sweep")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{p.name}: invalid TOML: {exc}") from None
    return parse_spec(data, source=p.name, default_name=p.stem, max_points=max_points)
