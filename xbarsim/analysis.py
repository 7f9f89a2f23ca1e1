"""Comparing circuit results with calculations: current-gap rate, accuracy (recognition) and margin."""

from __future__ import annotations

import numpy as np

from .errors import InputError

__all__ = [
    "accuracy",
    "accuracy_batched",
    "correct",
    "current_gap_rate",
    "mean_gap",
    "recognition",
    "recognition_margin",
]


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


def correct(scores: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Which rows are classified right: (..., B) bools for scores (..., B, C).

    The one tie rule of the package: a row is right only when its true class scores *strictly*
    above every other class. A tie for the top (e.g. an all-zero row of a circuit in which
    nothing conducts, or two equal outputs of a coarsely quantized net) is not a recognition,
    whichever class index happens to come first; a NaN score is never right. ``labels`` (B,)
    default to the row index (the Kim glyph order: row k is digit k). Leading axes are models
    evaluated at once.
    """
    S = np.asarray(scores, dtype=np.float64)
    if S.ndim < 2 or S.shape[-2] == 0 or S.shape[-1] == 0:
        raise InputError(f"scores must be (..., samples, classes), got shape {S.shape}")
    n, c = S.shape[-2:]
    rows = np.arange(n)
    if labels is None:
        lab = rows
        if n > c:
            raise InputError(f"labels default to the row index, but there are {n} rows and {c} classes")
    else:
        lab = np.asarray(labels).ravel()
        if lab.shape != (n,) or not np.issubdtype(lab.dtype, np.integer):
            raise InputError(f"labels must be {n} integers, got shape {lab.shape} of {lab.dtype}")
        if lab.min() < 0 or lab.max() >= c:
            raise InputError(f"labels must be in 0..{c - 1}")
    true = S[..., rows, lab]
    others = S.copy()
    others[..., rows, lab] = -np.inf
    return true > others.max(axis=-1)


def accuracy(scores: np.ndarray, labels: np.ndarray | None = None) -> float:
    """Fraction of the rows of scores (B, C) classified right (tie rule: :func:`correct`)."""
    if np.ndim(scores) != 2:
        raise InputError(f"scores must be (samples, classes), got shape {np.shape(scores)}")
    return float(np.mean(correct(scores, labels)))


def accuracy_batched(scores: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """(P,) accuracy of P models at once from scores (P, B, C) (tie rule: :func:`correct`)."""
    if np.ndim(scores) != 3:
        raise InputError(f"scores must be (models, samples, classes), got shape {np.shape(scores)}")
    return np.asarray(np.mean(correct(scores, labels), axis=-1))


recognition = accuracy
"""Kim 2024's name for :func:`accuracy` (outputs (10, O), row k = digit k)."""


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
