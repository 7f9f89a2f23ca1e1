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

    The one tie rule of the package. The predicted class is the *first* maximum (NumPy's and
    TensorFlow's argmax, so a tie goes to the lowest class index, as Keras' accuracy metric
    counts it), except that a row whose scores are all equal (e.g. a circuit in which nothing
    conducts) has no prediction and is wrong, and so is a row with a non-finite score.
    ``labels`` (B,) default to the row index (the Kim glyph order: row k is digit k).
    Leading axes are models evaluated at once.

    The strict alternative (any tie for the top is wrong) was measured and not taken: it lowers
    coarsely quantized accuracies, e.g. a 1x16 MLP on the 200 test images at k = 2 quantile
    levels from 0.300 to 0.105, because the few weight levels make exact partial ties common.
    """
    S = np.asarray(scores, dtype=np.float64)
    if S.ndim < 2 or S.shape[-2] == 0 or S.shape[-1] == 0:
        raise InputError(f"scores must be (..., samples, classes), got shape {S.shape}")
    n, c = S.shape[-2:]
    if labels is None:
        lab = np.arange(n)
        if n > c:
            raise InputError(f"labels default to the row index, but there are {n} rows and {c} classes")
    else:
        lab = np.asarray(labels).ravel()
        if lab.shape != (n,) or not np.issubdtype(lab.dtype, np.integer):
            raise InputError(f"labels must be {n} integers, got shape {lab.shape} of {lab.dtype}")
        if lab.min() < 0 or lab.max() >= c:
            raise InputError(f"labels must be in 0..{c - 1}")
    answered = (S.max(axis=-1) > S.min(axis=-1)) & np.all(np.isfinite(S), axis=-1)
    return (np.argmax(S, axis=-1) == lab) & answered


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
