"""Per-column digital gains that undo most of a tile's IR drop (one gain per ADC column).

Three ways to fit them (:func:`calibrate_layer`): ``"uniform"`` (one read with every row at
v_read), ``"data"`` (least squares over calibration inputs, fitted to the pair differences the
layer actually uses) and ``"none"`` (remove the gains).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import numpy as np

from ..errors import InputError
from ..nn.ops import forward
from .evaluate import MappedModel, TileSolver, ideal_forward, input_voltages
from .layers import MappedLayer

Calibration = Literal["none", "uniform", "data"]
CALIBRATIONS: tuple[str, ...] = ("none", "uniform", "data")


def calibrate_layer(
    layer: MappedLayer, solver: TileSolver, how: Calibration = "uniform", X: np.ndarray | None = None
) -> MappedLayer:
    """Per-column digital gains that make each tile's sensed currents match the ideal cell currents.

    Wire resistance and the access transistor lower every column's current by a column-dependent
    factor (IR drop grows along rows and columns). A periphery that stores one gain per ADC column
    can undo most of it:

    * ``"uniform"``: one calibration read per tile with every row at v_read; gain_j = the ideal
      ``v_read * sum_i G_ij`` over the sensed current. Needs no data.
    * ``"data"``: least squares over calibration input vectors ``X`` (B, n_in), e.g. training images
      (never the test set), fitted to what the layer actually uses, the *differences*: for a
      differential pair the two gains (g+, g-) minimise ``sum (D - g+ I+ + g- I-)^2`` with D the
      ideal difference current; for the offset scheme the reference column gets its own
      least-squares gain and every output column the gain that best fits ``I_j - g_ref I_ref``
      to its ideal. Fitting each column's own current instead (what ``"uniform"`` does) spends
      the fit on the common-mode current of the low-conductance cells, which cancels anyway.
    * ``"none"``: remove any gains.
    """
    if how not in CALIBRATIONS:
        raise InputError(f"unknown calibration {how!r}; choose one of {', '.join(CALIBRATIONS)}")
    if how == "none":
        return replace(layer, tiles=tuple(replace(t, gain=None) for t in layer.tiles))
    if how == "data":
        if X is None or np.asarray(X).shape[0] < 1:
            raise InputError("data calibration needs calibration input vectors")
        V, _ = input_voltages(np.asarray(X, dtype=np.float64), layer.v_read)
    tiles = []
    for t in layer.tiles:
        G = t.crossbar.G
        if how == "uniform":
            Vt = np.full((1, G.shape[0]), layer.v_read)
        else:
            Vt = V[:, t.row_start : t.row_stop]
        I_c = solver.currents(t.crossbar, Vt)
        I_i = Vt @ G
        if how == "uniform":
            gain = _column_gains(I_c, I_i)
        elif layer.scheme == "differential":
            gain = _pair_gains(I_c, I_i)
        else:
            gain = _offset_gains(I_c, I_i)
        tiles.append(replace(t, gain=gain))
    return replace(layer, tiles=tuple(tiles))


def _column_gains(I_c: np.ndarray, I_i: np.ndarray) -> np.ndarray:
    """Least-squares gain of each column's own current (1 where undetermined)."""
    num = np.sum(I_c * I_i, axis=0)
    den = np.sum(I_c * I_c, axis=0)
    return np.where((den > 0) & (num > 0), num / np.where(den > 0, den, 1.0), 1.0)


def _pair_gains(I_c: np.ndarray, I_i: np.ndarray) -> np.ndarray:
    """Gains (g+, g-) per differential pair fitted to the ideal difference current.

    Solves the 2x2 normal equations of ``D ~ g+ I+ - g- I-`` per pair; a pair whose two column
    currents are (numerically) collinear over the data falls back to one common gain, and
    one whose difference carries no signal to gain 1.
    """
    Ip, Im = I_c[:, 0::2], I_c[:, 1::2]
    D = I_i[:, 0::2] - I_i[:, 1::2]
    a11, a22, a12 = np.sum(Ip * Ip, 0), np.sum(Im * Im, 0), -np.sum(Ip * Im, 0)
    b1, b2 = np.sum(Ip * D, 0), -np.sum(Im * D, 0)
    det = a11 * a22 - a12 * a12
    ok = det > 1e-9 * a11 * a22
    safe = np.where(ok, det, 1.0)
    gp = np.where(ok, (b1 * a22 - b2 * a12) / safe, 1.0)
    gm = np.where(ok, (a11 * b2 - a12 * b1) / safe, 1.0)
    delta = Ip - Im
    dd = np.sum(delta * delta, 0)
    common = np.where(dd > 0, np.sum(delta * D, 0) / np.where(dd > 0, dd, 1.0), 1.0)
    common = np.where(common > 0, common, 1.0)
    bad = ~ok | ~(gp > 0) | ~(gm > 0)
    gain = np.empty(I_c.shape[1])
    gain[0::2] = np.where(bad, common, gp)
    gain[1::2] = np.where(bad, common, gm)
    return gain


def _offset_gains(I_c: np.ndarray, I_i: np.ndarray) -> np.ndarray:
    """Reference column: its own least-squares gain; each output: best fit of ``I_j - g_ref I_ref``."""
    g_ref = _column_gains(I_c[:, -1:], I_i[:, -1:])[0]
    target = I_i[:, :-1] - I_i[:, -1:] + g_ref * I_c[:, -1:]  # what g_j I_j must reach
    return np.r_[_column_gains(I_c[:, :-1], target), g_ref]


def calibrate(
    model: MappedModel, solver: TileSolver, how: Calibration = "uniform", x: np.ndarray | None = None
) -> MappedModel:
    """:func:`calibrate_layer` for every mapped layer; ``"data"`` uses images ``x`` (B, H, W[, C]).

    For data calibration each layer's calibration inputs are the activations of the ideal
    (quantized) model on ``x``, so layers are calibrated independently of each other.
    """
    if how != "data":
        return model.with_layers([calibrate_layer(layer, solver, how) for layer in model.layers])
    if x is None:
        raise InputError("data calibration needs calibration images")
    return model.with_layers(
        [calibrate_layer(layer, solver, "data", X) for layer, X in zip(model.layers, layer_inputs(model, x))]
    )


def layer_inputs(model: MappedModel, x: np.ndarray) -> list[np.ndarray]:
    """The input rows (B_k, n_in) each mapped layer sees in the ideal (quantized) model on images x."""
    inputs: list[np.ndarray] = []

    def product(k: int, layer: MappedLayer, X: np.ndarray) -> np.ndarray:
        inputs.append(X)
        return ideal_forward(layer, X)

    forward(model.ops, x, product, logits=True)
    return inputs
