"""Weight quantization: weight-range bins over all layers (Kim 2024) and quantile bins per layer.

Both methods return a :class:`QuantResult`: the quantized weights (same shapes as given), the
sorted level values actually used, each weight's level index and how many weights each level
holds. The level index is what a crossbar cell is programmed to, so device models can later
replace each level's nominal conductance by a measured distribution.

Weight-range quantization (Kim et al., Micromachines 2024, 15, 1258, Eqs. 1-4)
-------------------------------------------------------------------------------
All layers are pooled into one set W (not per layer). With ``lo = min(W)``:

* range (Eqs. 1-2). The paper writes ``max(W) - min(W)`` (Eq. 1) and, when W holds both signs,
  a form in absolute values (Eq. 2). Bins are anchored at ``min(W)`` by Eq. 4, so the only reading
  under which the q bins cover *every* weight is the full span ``max(W) - min(W)``, which equals
  ``|max(W)| + |min(W)|`` for mixed signs and ``max|W| - min|W|`` when all weights share a sign.
  We therefore always use ``max(W) - min(W)``; taking ``max|W| - min|W|`` literally for mixed
  signs would leave the largest weights outside every bin (for weights in [-3, 2] it gives 3,
  and bins from -3 would stop at 0). :func:`weight_range` returns this span.
* interval = range / q (Eq. 3); bin ``i`` is ``[lo + i*interval, lo + (i+1)*interval)``, the
  last bin closed so ``max(W)`` falls in bin ``q - 1``.
* level of bin ``i`` = ``lo + interval * (i + 0.5)`` (Eq. 4), the bin centre; every weight takes
  its bin's level. Bins holding no weight are not levels, so there may be fewer than q levels.
* range 0 (all weights equal): one level, the common value.

Quantile quantization (Romero-Zaliz et al. 2021), one layer
------------------------------------------------------------
The weights are ranked (stable sort) and cut into ``k`` equal-count bins: sorted position ``p``
of ``n`` goes to bin ``floor(p * k / n)`` (sizes differ by at most one). Equal weights must share
a level, so a run of ties joins the bin of its middle position (so runs keep their order). Each
weight is replaced by the mean of its bin. Consequences: order is preserved, the layer's sum is
preserved, there are at most ``min(k, number of distinct weights)`` levels, and ``k >= n`` leaves
the weights unchanged.

Lloyd-Max quantization (beyond the papers), one layer
-----------------------------------------------------
Equal-count bins put as many weights in the outermost bin as in the central ones, so on a
heavy-tailed layer the few large weights, which carry much of what the network learned, are
averaged with many moderate ones (a 784-128 MNIST layer trained with the paper's SGD settings has
kurtosis ~11 and keeps 0.74 accuracy at k = 8 quantile bins). :func:`quantize_lloyd` starts from
the quantile bins and runs Lloyd's iteration for the mean-squared-error optimal scalar quantizer
(1-D k-means): cut points halfway between adjacent levels, each level the mean of its cell,
until no weight changes cell. Each step never increases the squared error, so the result is never
worse than the quantile bins in that sense; order is preserved and the layer's sum is preserved
(every level is the mean of its weights). Cells that empty out are dropped (fewer levels); with at
most ``k`` distinct weights every weight keeps its value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ._validate import check_int
from .errors import InputError

__all__ = [
    "LevelSearch",
    "QuantResult",
    "quantize_lloyd",
    "quantize_quantile",
    "quantize_weight_range",
    "quantize_weight_range_batched",
    "search_levels",
    "weight_range",
]


@dataclass(frozen=True, eq=False)
class QuantResult:
    """Quantized weights and the levels they use.

    Attributes
    ----------
    weights:
        Quantized arrays, same shapes as the inputs (a 1-element list for quantile quantization).
    levels:
        (L,) sorted level values actually used (empty bins are not levels).
    level_index:
        Per array, int array of the same shape: index into ``levels``
        (``levels[level_index[k]] == weights[k]`` exactly).
    counts:
        (L,) number of weights at each level (sums to the number of weights).
    bins:
        The number of bins asked for (q or k); ``len(levels) <= bins``.
    """

    weights: list[np.ndarray]
    levels: np.ndarray
    level_index: list[np.ndarray]
    counts: np.ndarray
    bins: int

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.level_index):
            raise InputError("QuantResult needs one level_index array per weight array")
        if self.levels.ndim != 1 or self.counts.shape != self.levels.shape:
            raise InputError("QuantResult levels and counts must be 1-D arrays of equal length")
        for w, idx in zip(self.weights, self.level_index):
            if w.shape != idx.shape:
                raise InputError("QuantResult level_index shapes must match the weight shapes")

    @property
    def n_levels(self) -> int:
        """Number of levels actually used."""
        return int(self.levels.size)

    @property
    def n_weights(self) -> int:
        return int(self.counts.sum())


def _as_arrays(weights: Sequence[np.ndarray] | np.ndarray, what: str) -> list[np.ndarray]:
    if isinstance(weights, np.ndarray):
        weights = [weights]
    out = []
    for k, w in enumerate(weights):
        try:
            arr = np.array(w, dtype=np.float64, copy=True)
        except (TypeError, ValueError):
            raise InputError(f"{what} {k} must be numeric") from None
        if arr.size == 0:
            raise InputError(f"{what} {k} is empty")
        if not np.all(np.isfinite(arr)):
            raise InputError(f"{what} {k} has non-finite entries")
        out.append(arr)
    if not out:
        raise InputError(f"{what}: need at least one array")
    return out


def weight_range(weights: Sequence[np.ndarray] | np.ndarray) -> float:
    """Span ``max(W) - min(W)`` of all weights pooled (Kim 2024 Eqs. 1-2, see module notes)."""
    flat = np.concatenate([a.ravel() for a in _as_arrays(weights, "weight array")])
    return float(flat.max() - flat.min())


def _finish(bin_of: list[np.ndarray], value_of_bin: np.ndarray, bins: int) -> QuantResult:
    """Turn per-weight bin numbers into a QuantResult with only the used bins as levels."""
    used = np.unique(np.concatenate([b.ravel() for b in bin_of]))
    levels = value_of_bin[used]
    order = np.argsort(levels, kind="stable")  # bin values are increasing already; be safe
    used, levels = used[order], levels[order]
    rank = np.full(value_of_bin.size, -1, dtype=np.int64)
    rank[used] = np.arange(used.size)
    level_index = [rank[b] for b in bin_of]
    q_weights = [levels[idx] for idx in level_index]
    counts = np.bincount(np.concatenate([i.ravel() for i in level_index]), minlength=levels.size)
    levels = levels.copy()
    for a in (levels, counts, *q_weights, *level_index):
        a.setflags(write=False)
    return QuantResult(list(q_weights), levels, list(level_index), counts.astype(np.int64), bins)


def quantize_weight_range(weights: Sequence[np.ndarray], q: int) -> QuantResult:
    """Quantize all layers together into at most ``q`` equal-width bins (Kim 2024 Eqs. 1-4).

    Parameters
    ----------
    weights:
        Per-layer arrays (any shapes); pooled into one W for the range.
    q:
        Number of bins (>= 1).
    """
    arrays = _as_arrays(weights, "weight array")
    q = check_int(q, "number of quantization bins q", minimum=1)
    flat = np.concatenate([a.ravel() for a in arrays])
    lo, hi = float(flat.min()), float(flat.max())
    span = hi - lo
    if span / q == 0.0:  # all equal (or a subnormal span that underflows): one level
        bin_of = [np.zeros(a.shape, dtype=np.int64) for a in arrays]
        return _finish(bin_of, np.array([lo]), q)
    interval = span / q
    bin_of = [np.clip(np.floor((a - lo) / interval).astype(np.int64), 0, q - 1) for a in arrays]
    centres = lo + interval * (np.arange(q) + 0.5)
    return _finish(bin_of, centres, q)


def quantize_quantile(w: np.ndarray, k: int) -> QuantResult:
    """Quantize one layer into ``k`` equal-count (quantile) bins, each weight -> its bin's mean.

    Ties share a bin (see module notes), so fewer than ``k`` levels may result.
    """
    (arr,) = _as_arrays([w], "weight array")
    k = check_int(k, "number of quantile bins k", minimum=1)
    flat = arr.ravel()
    n = flat.size
    order = np.argsort(flat, kind="stable")
    sorted_w = flat[order]
    pos_bin = (np.arange(n, dtype=np.int64) * k) // n
    # A run of equal values takes the bin of its middle position (runs stay in order).
    run_start = np.flatnonzero(np.r_[True, sorted_w[1:] != sorted_w[:-1]])
    run_end = np.r_[run_start[1:], n] - 1
    run_bin = pos_bin[(run_start + run_end) // 2]
    sorted_bin = np.repeat(run_bin, run_end - run_start + 1)
    bin_flat = np.empty(n, dtype=np.int64)
    bin_flat[order] = sorted_bin
    sums = np.bincount(bin_flat, weights=flat, minlength=k)
    sizes = np.bincount(bin_flat, minlength=k)
    means = np.divide(sums, sizes, out=np.zeros(k), where=sizes > 0)
    # A mean of equal values can differ from them by rounding; keep such bins exact.
    bin_min = np.full(k, np.inf)
    bin_max = np.full(k, -np.inf)
    np.minimum.at(bin_min, bin_flat, flat)
    np.maximum.at(bin_max, bin_flat, flat)
    same = (sizes > 0) & (bin_min == bin_max)
    means[same] = bin_min[same]
    means = np.clip(means, np.where(sizes > 0, bin_min, -np.inf), np.where(sizes > 0, bin_max, np.inf))
    return _finish([bin_flat.reshape(arr.shape)], means, k)


def quantize_lloyd(w: np.ndarray, k: int, *, max_iter: int = 200) -> QuantResult:
    """Quantize one layer with the Lloyd-Max (1-D k-means) quantizer started from quantile bins.

    Stops when no weight changes cell or after ``max_iter`` steps (each step never increases the
    squared error, see module notes). Deterministic: no random initialisation.
    """
    (arr,) = _as_arrays([w], "weight array")
    k = check_int(k, "number of Lloyd levels k", minimum=1)
    check_int(max_iter, "max_iter", minimum=0)
    flat = arr.ravel()
    sorted_w = np.sort(flat, kind="stable")
    distinct = np.unique(sorted_w)
    if distinct.size <= k:  # every distinct weight its own level: zero error, the optimum
        return _finish([np.searchsorted(distinct, arr)], distinct, k)
    start = quantize_quantile(arr, k)
    csum = np.r_[0.0, np.cumsum(sorted_w)]
    levels = np.asarray(start.levels, dtype=np.float64)
    # cell j of the sorted weights is [edges[j], edges[j+1]); start from the quantile cells
    edges = np.r_[0, np.cumsum(start.counts)]
    for _ in range(int(max_iter)):
        cuts = 0.5 * (levels[1:] + levels[:-1])
        # a weight equal to a cut point goes up, so ties stay together
        new_edges = np.r_[0, np.searchsorted(sorted_w, cuts, side="left"), sorted_w.size]
        keep = np.diff(new_edges) > 0
        if np.array_equal(new_edges, edges):
            break
        edges = np.r_[new_edges[:-1][keep], sorted_w.size]
        sizes = np.diff(edges)
        levels = (csum[edges[1:]] - csum[edges[:-1]]) / sizes
        levels = np.clip(levels, sorted_w[edges[:-1]], sorted_w[edges[1:] - 1])
    sizes = np.diff(edges)
    same = sorted_w[edges[:-1]] == sorted_w[edges[1:] - 1]
    levels = np.where(same, sorted_w[edges[:-1]], levels)
    cell = np.searchsorted(edges[1:-1], np.searchsorted(sorted_w, flat, side="left"), side="right")
    # equal weights sit in one cell (cuts never split a run of ties), so the rank lookup is exact
    return _finish([cell.reshape(arr.shape)], levels, k)


@dataclass(frozen=True)
class LevelSearch:
    """Outcome of :func:`search_levels`.

    Attributes
    ----------
    q:
        Smallest number of bins whose quantized net reaches ``alpha``, or ``None`` if none up to
        ``max_q`` did.
    accuracy:
        Accuracy at ``q`` (at ``max_q`` when not found).
    tried:
        ``(q, accuracy)`` for every q tried, in order.
    """

    q: int | None
    accuracy: float
    tried: tuple[tuple[int, float], ...]

    @property
    def found(self) -> bool:
        return self.q is not None


def search_levels(
    weights: Sequence[np.ndarray],
    accuracy_of: Callable[[list[np.ndarray]], float],
    *,
    alpha: float = 1.0,
    max_q: int = 40,
) -> tuple[LevelSearch, QuantResult]:
    """Try q = 1, 2, ... until ``accuracy_of(quantized weights) >= alpha``; stop after ``max_q``.

    Returns the search record and the quantization at the q found (at ``max_q`` if not found).
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise InputError(f"alpha must be between 0 and 1, got {alpha}")
    max_q = check_int(max_q, "max_q", minimum=1)
    tried: list[tuple[int, float]] = []
    res = None
    for q in range(1, max_q + 1):
        res = quantize_weight_range(weights, q)
        acc = float(accuracy_of(res.weights))
        tried.append((q, acc))
        if acc >= alpha - 1e-12:
            return LevelSearch(q, acc, tuple(tried)), res
    assert res is not None
    return LevelSearch(None, tried[-1][1], tuple(tried)), res


def quantize_weight_range_batched(
    weights: Sequence[np.ndarray], q: int, *, count_levels: bool = True
) -> tuple[list[np.ndarray], np.ndarray | None]:
    """:func:`quantize_weight_range` for P models at once (the studies' inner loop).

    Parameters
    ----------
    weights:
        Per-layer arrays with a leading models axis, e.g. W1 (P, M, H) and W2 (P, H, O); each
        model's layers are pooled separately.
    q:
        Number of bins (>= 1).

    Returns
    -------
    The quantized arrays (same shapes) and the (P,) number of levels each model uses (``None``
    with ``count_levels=False``, which saves time in per-epoch monitoring).
    """
    q = check_int(q, "number of quantization bins q", minimum=1)
    arrays = [np.asarray(a, dtype=np.float64) for a in weights]
    if not arrays or any(a.ndim < 2 or a.shape[0] != arrays[0].shape[0] for a in arrays):
        raise InputError("batched weights need a common leading models axis")
    P = arrays[0].shape[0]
    flat = [a.reshape(P, -1) for a in arrays]
    lo = np.min([f.min(axis=1) for f in flat], axis=0)
    hi = np.max([f.max(axis=1) for f in flat], axis=0)
    interval = (hi - lo) / q
    safe = np.where(interval > 0, interval, 1.0)
    out, used = [], np.zeros((P, q), dtype=bool)
    for a, f in zip(arrays, flat):
        b = np.clip(np.floor((f - lo[:, None]) / safe[:, None]).astype(np.int64), 0, q - 1)
        b[interval == 0] = 0
        if count_levels:
            used[np.arange(P)[:, None], b] = True
        val = lo[:, None] + interval[:, None] * (b + 0.5)
        val[interval == 0] = lo[interval == 0, None]
        out.append(val.reshape(a.shape))
    return out, (used.sum(axis=1) if count_levels else None)
