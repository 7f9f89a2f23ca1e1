"""Analytic models of the two-layer diode circuit without wires (closed forms, vectorized over inputs).

Calibration scores ~1300 (r_ref, bias) settings per input voltage, so it needs models that cost
a few array operations, not a circuit solve each:

* :func:`passive_outputs`: the circuit's own node equations with the *ideal* (piecewise-linear)
  diode law ``I = G (V - V_th)+``, solved in closed form. No backend computes this law with loading
  (the ideal backend drops the loading, the native one uses Shockley), so it is tested against an
  independent bisection of the same equations and, for how far it is from the real circuit,
  against the native backend (within 10 % at 10 V on the demo net, tests/test_kim_mapping.py).
* :func:`shockley_outputs`: the same node equations with the Shockley diode of
  :class:`~xbarsim.circuit.DiodeModel`, solved per hidden node by safeguarded Newton on a closed
  form of each diode-plus-resistor cell. It is what the native backend computes on this circuit
  without wires and with ``gmin = 0`` (tested to 1e-9 relative at 5 and 10 V, 3e-8 at 1 V where
  layer 2 only leaks), at about half the cost (20 solves of the demo net: 0.57 s vs 1.08 s).
"""

from __future__ import annotations

import numpy as np

from ..._validate import check_int
from ...circuit import VT_27C, DiodeModel
from ...errors import InputError

__all__ = ["passive_outputs", "shockley_outputs"]


def passive_outputs(G1: np.ndarray, G2: np.ndarray, V: np.ndarray, r_ref: float, v_th: float) -> np.ndarray:
    """Output currents (B, O) of the two-layer diode circuit with the ideal diode law and no wires.

    Layer-1 sense node j obeys ``sum_lit G1[i,j] (V_i - V_th - V_j)+ = V_j / r_ref +
    sum_k G2[j,k] (V_j - V_th)+``; with binary inputs at one voltage this is solved in closed form
    (unlit rows are reverse biased). Unlike the ideal backend it includes the loading of the
    hidden voltages, so it predicts what the real circuit can do.
    """
    V = np.asarray(V, dtype=np.float64)
    v_on = V.max(axis=1, keepdims=True)
    if np.any((V > 0) & (V != v_on)):
        raise InputError("passive_outputs needs every lit input at the same voltage")
    lit = (V > 0).astype(np.float64)
    d = np.maximum(v_on - v_th, 0.0)
    Gs = lit @ G1
    G2r = G2.sum(axis=1)[None, :]
    Vh = d * Gs / (Gs + 1.0 / r_ref)
    Vh_on = (d * Gs + v_th * G2r) / (Gs + 1.0 / r_ref + G2r)
    Vh = np.where(Vh > v_th, Vh_on, Vh)
    return np.maximum(Vh - v_th, 0.0) @ G2


def _diode_cell_current(v: np.ndarray, r: np.ndarray, is_: float, nvt: float) -> np.ndarray:
    """Current of a Shockley diode in series with r at total voltage v (Lambert/Wright omega form)."""
    from scipy.special import wrightomega

    return nvt / r * wrightomega(np.log(is_ * r / nvt) + (v + is_ * r) / nvt) - is_


def shockley_outputs(
    G1: np.ndarray, G2: np.ndarray, V: np.ndarray, r_ref: float, diode: DiodeModel, *, iterations: int = 40
) -> tuple[np.ndarray, np.ndarray]:
    """Output currents (B, O) and hidden voltages (B, N1) with the real (Shockley) diode law.

    The same node equations as :func:`passive_outputs` but each cell is a level-1 diode
    (IS, N at 27 degC) in series with its resistor, whose current has a closed form through the
    Wright omega function; each hidden node is then solved by safeguarded Newton steps
    (bisection where a step leaves the bracket). Without wire resistance this is what ngspice
    computes, so calibration can trust it.
    """
    check_int(iterations, "iterations", minimum=1)
    V = np.asarray(V, dtype=np.float64)
    nvt = diode.n * VT_27C
    lit = V > 0
    v_on = V.max(axis=1)
    R1 = 1.0 / G1[None, :, :]  # (1, M, N1)
    R2 = 1.0 / G2[None, :, :]  # (1, N1, O)
    lo = np.zeros((V.shape[0], G1.shape[1]))
    hi = np.broadcast_to(v_on[:, None], lo.shape).copy()
    vh = 0.5 * (lo + hi)
    w = lit[:, :, None].astype(np.float64)
    for _ in range(iterations):
        i1 = _diode_cell_current(v_on[:, None, None] - vh[:, None, :], R1, diode.is_, nvt)
        i2 = _diode_cell_current(vh[:, :, None], R2, diode.is_, nvt)
        f = np.sum(w * i1, axis=1) - vh / r_ref - i2.sum(axis=2)
        g1 = 1.0 / (R1 + nvt / (i1 + diode.is_))
        g2 = 1.0 / (R2 + nvt / (i2 + diode.is_))
        df = -np.sum(w * g1, axis=1) - 1.0 / r_ref - g2.sum(axis=2)
        lo = np.where(f > 0, vh, lo)
        hi = np.where(f > 0, hi, vh)
        step = vh - f / df
        inside = (step > lo) & (step < hi)
        new = np.where(inside, step, 0.5 * (lo + hi))
        if np.max(np.abs(new - vh)) < 1e-10:
            vh = new
            break
        vh = new
    out = _diode_cell_current(vh[:, :, None], R2, diode.is_, nvt).sum(axis=1)
    return out, vh
