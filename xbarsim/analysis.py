"""Comparing circuit results with calculations: current-gap rate and recognition."""

from __future__ import annotations

import numpy as np

from .errors import InputError

__all__ = ["current_gap_rate", "mean_gap", "recognition", "recognition_margin"]


def current_gap_rate(i_sim: np.ndarray, i_calc: np.ndarray, *, floor: float = 0.0) -> np.ndarray:
    """Element-wise ``|I_sim - I_calc| / |I_calc|`` (Kim 2024's current-gap rate).

    Entries whose calculated current is at most ``floor`` (amperes) have no meaningful ratio and
    are NaN, so that averages (:func:`mean_gap`) skip them instead of dividing by zero.
    """
    a = np.asarray(i_sim, dtype=np.float64)
    b = np.asarray(i_calc, dtype=np.float64)
    if a.shape != b.shape:
        raise InputError(f"current arrays differ in shape: {a.shape} vs {b.shape}")
    mag = np.abs(b)
    ok = mag > floor
    out = np.full(a.shape, np.nan)
    np.divide(np.abs(a - b), mag, out=out, where=ok)
    return out


def mean_gap(gap: np.ndarray) -> float:
    """Mean of the finite entries of a gap array (NaN when there are none)."""
    g = np.asarray(gap, dtype=np.float64)
    ok = np.isfinite(g)
    return float(g[ok].mean()) if ok.any() else float("nan")


def recognition(outputs: np.ndarray, labels: np.ndarray | None = None) -> float:
    """Fraction of rows whose argmax equals the label (default: the row index).

    A row whose outputs are all equal (e.g. all zero: nothing conducts) counts as not recognized.
    """
    out = np.asarray(outputs, dtype=np.float64)
    if out.ndim != 2 or out.shape[0] == 0:
        raise InputError(f"outputs must be (samples, classes), got {out.shape}")
    labels = np.arange(out.shape[0]) if labels is None else np.asarray(labels)
    flat = np.ptp(out, axis=1) == 0
    return float(np.mean((np.argmax(out, axis=1) == labels) & ~flat))


def recognition_margin(outputs: np.ndarray, labels: np.ndarray | None = None) -> float:
    """Smallest (true-class output - best other output) / largest |output| over the rows.

    Positive means every row is recognized; its size says how safely.
    """
    out = np.asarray(outputs, dtype=np.float64)
    labels = np.arange(out.shape[0]) if labels is None else np.asarray(labels)
    scale = float(np.max(np.abs(out))) if out.size else 0.0
    if scale == 0.0:
        return float("-inf")
    rows = np.arange(out.shape[0])
    true = out[rows, labels]
    other = out.copy()
    other[rows, labels] = -np.inf
    return float(np.min(true - other.max(axis=1)) / scale)
