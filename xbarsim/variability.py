"""Device variability: per-level empirical read-current distributions and conductance sampling.

Write-verify programming never puts a cell exactly on its target level; what a measurement gives is
the distribution of read currents of many devices per level (e.g. 128 HfO2 1T1R cells). This module
loads such data into per-level empirical CDFs and draws cell conductances from them.

File format (CSV, ``#`` starts a comment line, header required, SI units):

* sample form: ``level,v_read,i_read`` -- one measured read current (amperes) per row, read at
  ``v_read`` volts; levels are integers 0..K-1 (ascending conductance).
* quantile form: ``level,v_read,quantile,i_read`` -- the read current below which a fraction
  ``quantile`` (0..1, increasing per level) of the devices lie.

Conductance is ``i_read / v_read``. Sampling is inverse-transform sampling of the piecewise-linear
interpolated empirical CDF (between the order statistics, i.e. NumPy's "linear" quantile), so drawn
values never leave the measured range and reproduce the data's distribution.

Three kinds of deviation are modelled, each with an explicit :class:`numpy.random.Generator`:

* device-to-device: :func:`sample_conductances` programs every cell once per trial;
* cycle-to-cycle read noise: :func:`apply_read_noise` perturbs programmed conductances per read;
* stuck-at faults: a fraction of cells stuck at HRS (lowest) or LRS (highest) conductance.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TypedDict, Unpack

import numpy as np

from ._validate import check_real
from .errors import InputError

#: Floor applied after read noise: a crossbar cell needs G > 0.
G_FLOOR = 1e-12

_PRESET_PACKAGE = "xbarsim.data.levels"


@dataclass(frozen=True, eq=False)
class LevelDistribution:
    """Empirical read-current distribution of every level of one device type.

    Attributes
    ----------
    name:
        Preset or file name (for reports).
    v_read:
        Read voltage in volts; conductance = current / v_read.
    quantiles:
        Per level, the CDF knots in 0..1 (strictly increasing).
    currents:
        Per level, the read current at each knot in amperes (non-decreasing, > 0).
    n_devices:
        Per level, how many devices were measured (0 when only quantiles were given).
    illustrative:
        True for synthetic presets that are not measurements.
    """

    name: str
    v_read: float
    quantiles: tuple[np.ndarray, ...]
    currents: tuple[np.ndarray, ...]
    n_devices: tuple[int, ...] = ()
    illustrative: bool = False
    source: str = field(default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "v_read", check_real(self.v_read, "read voltage", positive=True))
        if len(self.quantiles) != len(self.currents) or len(self.currents) < 2:
            raise InputError(f"level distribution {self.name!r} needs at least 2 levels with knots")
        qs, cs = [], []
        for k, (q, c) in enumerate(zip(self.quantiles, self.currents)):
            q = np.array(q, dtype=np.float64).ravel()
            c = np.array(c, dtype=np.float64).ravel()
            if q.size != c.size or q.size < 1:
                raise InputError(f"level {k} of {self.name!r} has no usable CDF knots")
            if not (np.all(np.isfinite(q)) and np.all(np.isfinite(c))):
                raise InputError(f"level {k} of {self.name!r} has non-finite values")
            if np.any(q < 0) or np.any(q > 1) or np.any(np.diff(q) <= 0):
                raise InputError(f"quantiles of level {k} of {self.name!r} must rise strictly within 0..1")
            if np.any(c <= 0):
                raise InputError(f"read currents of level {k} of {self.name!r} must be > 0 A")
            if np.any(np.diff(c) < 0):
                raise InputError(
                    f"read currents of level {k} of {self.name!r} must not fall as the quantile rises"
                )
            q.setflags(write=False)
            c.setflags(write=False)
            qs.append(q)
            cs.append(c)
        object.__setattr__(self, "quantiles", tuple(qs))
        object.__setattr__(self, "currents", tuple(cs))
        nd = tuple(int(n) for n in self.n_devices) or tuple(0 for _ in cs)
        if len(nd) != len(cs):
            raise InputError(f"n_devices of {self.name!r} must have one entry per level")
        object.__setattr__(self, "n_devices", nd)

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_samples(
        cls, name: str, v_read: float, samples: list[np.ndarray], **kw: object
    ) -> LevelDistribution:
        """Build from raw per-level read currents (amperes), one array per level."""
        qs, cs, nd = [], [], []
        for k, s in enumerate(samples):
            s = np.sort(np.asarray(s, dtype=np.float64).ravel())
            if s.size == 0:
                raise InputError(f"level {k} of {name!r} has no measured devices")
            if s.size == 1:
                qs.append(np.array([0.5]))
            else:
                qs.append(np.linspace(0.0, 1.0, s.size))
            cs.append(s)
            nd.append(s.size)
        # ties give repeated currents at rising quantiles: allowed (non-decreasing currents)
        return cls(name, v_read, tuple(qs), tuple(cs), tuple(nd), **kw)  # type: ignore[arg-type]

    # -- properties ------------------------------------------------------------------------
    @property
    def n_levels(self) -> int:
        return len(self.currents)

    def ppf(self, level: int, u: np.ndarray) -> np.ndarray:
        """Read current (A) at cumulative probability ``u`` of ``level`` (inverse CDF)."""
        return np.interp(u, self.quantiles[level], self.currents[level])

    def cdf(self, level: int, i_read: np.ndarray) -> np.ndarray:
        """Cumulative probability of reading at most ``i_read`` amperes at ``level``."""
        q, c = self.quantiles[level], self.currents[level]
        # np.interp needs strictly increasing x: collapse ties to their highest quantile
        cu, idx = np.unique(c[::-1], return_index=True)
        qu = q[::-1][idx]
        return np.interp(i_read, cu, qu, left=0.0, right=1.0)

    def samples(self, level: int) -> np.ndarray:
        """The measured currents of ``level`` (the CDF knots), amperes."""
        return self.currents[level]

    @property
    def median_conductances(self) -> np.ndarray:
        """Median conductance of each level, siemens (the nominal value for mapping)."""
        return np.array([self.ppf(k, np.array(0.5)) for k in range(self.n_levels)]) / self.v_read

    @property
    def mean_conductances(self) -> np.ndarray:
        """Mean conductance of each level, siemens (integral of the interpolated inverse CDF)."""
        out = []
        for q, c in zip(self.quantiles, self.currents):
            if q.size == 1:
                out.append(c[0])
            else:
                u = np.linspace(0.0, 1.0, 2049)
                out.append(float(np.mean(np.interp(u, q, c))))
        return np.array(out) / self.v_read

    @property
    def g_hrs(self) -> float:
        """Default stuck-at-HRS conductance: the lowest measured conductance of level 0."""
        return float(self.currents[0][0] / self.v_read)

    @property
    def g_lrs(self) -> float:
        """Default stuck-at-LRS conductance: the highest measured conductance of the top level."""
        return float(self.currents[-1][-1] / self.v_read)

    def to_level_table(self):  # -> xbarsim.devices.LevelTable
        """Nominal :class:`~xbarsim.devices.LevelTable` (median conductances) for the mapping."""
        from .devices import LevelTable

        return LevelTable(
            self.name, tuple(self.median_conductances), self.v_read, self.illustrative, self.source
        )

    def overlap(self) -> list[LevelOverlap]:
        """How much each pair of adjacent levels overlaps (one entry per pair, bottom first)."""
        out = []
        for k in range(self.n_levels - 1):
            lo, hi = self.currents[k], self.currents[k + 1]
            gap = float(hi[0] - lo[-1])
            # read error with the best single threshold between the two levels
            grid = np.union1d(lo, hi)
            err = 0.5 * (1.0 - self.cdf(k, grid)) + 0.5 * self.cdf(k + 1, grid)
            j = int(np.argmin(err))
            out.append(
                LevelOverlap(k, k + 1, gap, gap / self.v_read, float(max(err[j], 0.0)), float(grid[j]))
            )
        return out

    def describe(self) -> str:
        """A short multi-line text report (levels, medians, spreads, overlaps)."""
        lines = [
            f"{self.name}: {self.n_levels} levels read at {self.v_read:g} V"
            + (" (ILLUSTRATIVE, not measured)" if self.illustrative else "")
        ]
        for k in range(self.n_levels):
            p5, p50, p95 = self.ppf(k, np.array([0.05, 0.5, 0.95])) * 1e6
            lines.append(
                f"  level {k}: median {p50:.2f} uA (5-95 %: {p5:.2f}-{p95:.2f} uA), "
                f"{self.n_devices[k] or 'quantiles only'} devices"
            )
        for ov in self.overlap():
            state = "overlap" if ov.gap_a < 0 else "gap"
            lines.append(
                f"  levels {ov.lower}-{ov.upper}: {state} {abs(ov.gap_a) * 1e6:.2f} uA, "
                f"best-threshold read error {ov.read_error:.2%}"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class LevelOverlap:
    """Overlap of two adjacent levels.

    Attributes
    ----------
    gap_a, gap_s:
        Lowest current (conductance) of the upper level minus highest of the lower level;
        negative when the measured ranges overlap.
    read_error:
        Probability of reading the wrong level with the best single threshold, both levels
        equally likely (0 when the ranges are separated).
    threshold_a:
        That threshold current in amperes.
    """

    lower: int
    upper: int
    gap_a: float
    gap_s: float
    read_error: float
    threshold_a: float


# -- loading --------------------------------------------------------------------------------
def _parse(text: str, name: str) -> LevelDistribution:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    comments = [ln.lstrip()[1:].strip() for ln in text.splitlines() if ln.lstrip().startswith("#")]
    if not lines:
        raise InputError(f"{name}: no data (expected a header 'level,v_read,i_read')")
    reader = csv.reader(io.StringIO("\n".join(lines)))
    header = [h.strip().lower() for h in next(reader)]
    if header == ["level", "v_read", "i_read"]:
        quantile_form = False
    elif header == ["level", "v_read", "quantile", "i_read"]:
        quantile_form = True
    else:
        raise InputError(
            f"{name}: header must be 'level,v_read,i_read' or 'level,v_read,quantile,i_read', "
            f"got {','.join(header)!r}"
        )
    per_level: dict[int, list[tuple[float, float]]] = {}
    v_read: float | None = None
    for lineno, row in enumerate(reader, start=2):
        if len(row) != len(header):
            raise InputError(f"{name}: data row {lineno} has {len(row)} fields, expected {len(header)}")
        try:
            level = int(row[0])
            vr = float(row[1])
            vals = [float(x) for x in row[2:]]
        except ValueError:
            raise InputError(f"{name}: data row {lineno} is not numeric: {','.join(row)!r}") from None
        if level < 0:
            raise InputError(f"{name}: data row {lineno} has a negative level {level}")
        if v_read is None:
            v_read = vr
        elif not np.isclose(vr, v_read, rtol=1e-9, atol=0):
            raise InputError(
                f"{name}: every row must share one read voltage ({v_read:g} V), row {lineno} has {vr:g} V"
            )
        per_level.setdefault(level, []).append((vals[0], vals[-1]) if quantile_form else (np.nan, vals[0]))
    if v_read is None:
        raise InputError(f"{name}: no data rows")
    levels = sorted(per_level)
    if levels != list(range(len(levels))):
        raise InputError(f"{name}: levels must be 0..K-1 without gaps, got {levels}")
    illustrative = any("illustrative" in c.lower() for c in comments)
    source = comments[0] if comments else str(name)
    if not quantile_form:
        samples = [np.array([v for _, v in per_level[k]]) for k in levels]
        dist = LevelDistribution.from_samples(name, v_read, samples, illustrative=illustrative, source=source)
    else:
        qs, cs = [], []
        for k in levels:
            pts = sorted(per_level[k])
            qs.append(np.array([p[0] for p in pts]))
            cs.append(np.array([p[1] for p in pts]))
        dist = LevelDistribution(name, v_read, tuple(qs), tuple(cs), illustrative=illustrative, source=source)
    med = dist.median_conductances
    if np.any(np.diff(med) <= 0):
        raise InputError(
            f"{name}: level medians must rise with the level index (level 0 = lowest conductance)"
        )
    return dist


def load_levels(path: str | Path) -> LevelDistribution:
    """Load a level-distribution CSV (sample or quantile form, see the module docstring)."""
    from .io import read_text

    p = Path(path)
    return _parse(read_text(p, "level distribution"), p.stem)


def available_presets() -> list[str]:
    """Names of the shipped (illustrative) level distributions."""
    files = resources.files(_PRESET_PACKAGE).iterdir()
    return sorted(f.name[:-4] for f in files if f.name.endswith(".csv"))


def is_level_csv(name: str) -> bool:
    """Whether a level-distribution name is a CSV path rather than a preset name."""
    return name.endswith(".csv") or "/" in name


def preset_distribution(name: str) -> LevelDistribution:
    """A shipped level distribution by name (e.g. ``"hfo2-1t1r-8"``), or a CSV path."""
    if is_level_csv(name):
        return load_levels(name)
    names = available_presets()
    if name not in names:
        raise InputError(f"unknown level distribution {name!r}; presets: {', '.join(names)} (or a .csv path)")
    text = resources.files(_PRESET_PACKAGE).joinpath(f"{name}.csv").read_text()
    return _parse(text, name)


# -- sampling -------------------------------------------------------------------------------
def _check_rate(x: float, what: str) -> float:
    x = check_real(x, what, nonneg=True)
    if x > 1:
        raise InputError(f"{what} must be within 0..1, got {x}")
    return x


def sample_conductances(
    dist: LevelDistribution,
    level_index: np.ndarray,
    rng: np.random.Generator,
    **disturbance: Unpack[Disturbance],
) -> np.ndarray:
    """Programmed (and optionally once-read) conductances of cells holding ``level_index``.

    Parameters
    ----------
    dist:
        Per-level distributions.
    level_index:
        Integer array of any shape, each entry in 0..K-1.
    rng:
        Source of randomness; the same generator state gives the same devices.
    read_noise:
        Relative sigma of cycle-to-cycle read noise applied once on top (0 = none). For repeated
        reads of the same programmed devices call :func:`apply_read_noise` on the result instead.
    stuck_hrs_rate, stuck_lrs_rate:
        Fraction of cells stuck at ``g_hrs`` / ``g_lrs`` regardless of their level (defaults: the
        lowest / highest measured conductance).

    Returns
    -------
    G in siemens, same shape as ``level_index``, every entry > 0.
    """
    idx = np.asarray(level_index)
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        if not np.all(np.equal(np.mod(idx, 1), 0)):
            raise InputError("level_index must hold integers")
        idx = idx.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= dist.n_levels):
        raise InputError(
            f"level_index must lie in 0..{dist.n_levels - 1} for {dist.name!r}, got {idx.min()}..{idx.max()}"
        )
    G = _draw(dist, idx, rng)
    return _faults_and_noise(dist, G, rng, **disturbance)


def _draw(dist: LevelDistribution, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Inverse-transform draw of one conductance per cell from its level's CDF."""
    u = rng.random(idx.shape)
    current = np.empty(idx.shape, dtype=np.float64)
    for k in range(dist.n_levels):
        sel = idx == k
        if sel.any():
            current[sel] = dist.ppf(k, u[sel])
    return current / dist.v_read


class Disturbance(TypedDict, total=False):
    """What happens to programmed cells besides the level spread (keywords of the samplers).

    Attributes
    ----------
    read_noise:
        Relative sigma of one cycle-to-cycle read applied on top (default 0 = none).
    stuck_hrs_rate, stuck_lrs_rate:
        Fraction of cells stuck at ``g_hrs`` / ``g_lrs`` regardless of their level (default 0).
    g_hrs, g_lrs:
        The stuck conductances (default: the lowest / highest measured conductance).
    """

    read_noise: float
    stuck_hrs_rate: float
    stuck_lrs_rate: float
    g_hrs: float | None
    g_lrs: float | None


def _faults_and_noise(
    dist: LevelDistribution, G: np.ndarray, rng: np.random.Generator, **disturbance: Unpack[Disturbance]
) -> np.ndarray:
    unknown = set(disturbance) - set(Disturbance.__annotations__)
    if unknown:
        raise InputError(f"unknown variability option(s): {', '.join(sorted(unknown))}")
    read_noise = disturbance.get("read_noise", 0.0)
    g_hrs, g_lrs = disturbance.get("g_hrs"), disturbance.get("g_lrs")
    h = _check_rate(disturbance.get("stuck_hrs_rate", 0.0), "stuck-at-HRS rate")
    lr = _check_rate(disturbance.get("stuck_lrs_rate", 0.0), "stuck-at-LRS rate")
    if h + lr > 1:
        raise InputError("stuck-at-HRS rate + stuck-at-LRS rate must not exceed 1")
    if h > 0 or lr > 0:
        f = rng.random(G.shape)
        G[f < h] = dist.g_hrs if g_hrs is None else check_real(g_hrs, "g_hrs", positive=True)
        G[(f >= h) & (f < h + lr)] = (
            dist.g_lrs if g_lrs is None else check_real(g_lrs, "g_lrs", positive=True)
        )
    if read_noise:
        G = apply_read_noise(G, rng, read_noise)
    return G


def sample_around(
    dist: LevelDistribution,
    G_nominal: np.ndarray,
    rng: np.random.Generator,
    *,
    mode: str = "relative",
    **disturbance: Unpack[Disturbance],
) -> np.ndarray:
    """Device-to-device draw for cells known only by their nominal (target) conductance.

    Mapped networks program affine images of the quantized weights, which need not sit exactly
    on the device's levels. Each cell takes the level whose median is nearest to its target and

    * ``mode="relative"``: keeps its target and gets that level's *relative* spread,
      ``G = G_nominal * g / median(level)`` with ``g`` drawn from the level's CDF;
    * ``mode="snap"``: is programmed to that level, ``G = g`` (adds the target-to-level offset).

    Faults and read noise as in :func:`sample_conductances`.
    """
    if mode not in ("relative", "snap"):
        raise InputError(f"variability mode must be 'relative' or 'snap', got {mode!r}")
    G_nominal = np.asarray(G_nominal, dtype=np.float64)
    if G_nominal.size and not (np.all(np.isfinite(G_nominal)) and G_nominal.min() > 0):
        raise InputError("nominal conductances must be finite and > 0 siemens")
    idx = nearest_levels(dist, G_nominal)
    G = _draw(dist, idx, rng)
    if mode == "relative":
        G = G_nominal * G / dist.median_conductances[idx]
    return _faults_and_noise(dist, G, rng, **disturbance)


def apply_read_noise(G: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """One noisy read of programmed conductances: ``G * (1 + sigma * N(0, 1))``, floored > 0."""
    s = check_real(sigma, "read-noise sigma", nonneg=True)
    G = np.asarray(G, dtype=np.float64)
    if s == 0:
        return G.copy()
    return np.maximum(G * (1.0 + s * rng.standard_normal(G.shape)), G_FLOOR)


def nearest_levels(dist: LevelDistribution, conductance: np.ndarray) -> np.ndarray:
    """Level index whose median conductance is nearest to each entry (for quantized weights)."""
    med = dist.median_conductances
    g = np.asarray(conductance, dtype=np.float64)
    return np.abs(g[..., None] - med).argmin(axis=-1)
