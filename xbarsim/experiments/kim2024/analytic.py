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
from ...periphery import Buffer

__all__ = ["ideal_outputs", "passive_outputs", "shockley_outputs", "unloaded_hidden"]

Arr = np.ndarray  #: shorthand in the signatures of the two-layer models


def _conducting(V: np.ndarray, v_th: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows above ``v_th`` (B, M) and their one drive above threshold (B, 1), for binary glyph drives."""
    on = V > v_th
    v_on = np.max(np.where(on, V, 0.0), axis=1, keepdims=True)
    if np.any(on & (V != v_on)):
        raise InputError("the PWL model needs every conducting input at the same voltage")
    return on, np.maximum(v_on - v_th, 0.0)


def unloaded_hidden(G1: np.ndarray, V: np.ndarray, r_ref: float, v_th: float) -> np.ndarray:
    """Layer-1 sense voltages (B, N1) with the ideal diode law and nothing but r_ref on each node.

    ``V`` are the driven row voltages; only rows above ``V_th`` can conduct into a node at >= 0 V.
    """
    on, d = _conducting(np.asarray(V, dtype=np.float64), v_th)
    Gs = on.astype(np.float64) @ G1
    return d * Gs / (Gs + 1.0 / r_ref)


def ideal_outputs(
    G1: Arr, G2: Arr, V: Arr, r_ref: float, v_th: float, *, buffer: Buffer | None = None
) -> Arr:
    """The computer calculation (the ``ideal`` backend's law) of the two-layer circuit, (B, O) amperes.

    Each cell carries ``G (V - V_th)+`` of its row voltage, a sense node reads ``r_ref`` times its
    current with no loading, and layer 2's rows are driven at that voltage (through ``buffer``
    when given). ``V`` are the driven row voltages.
    """
    Vh = r_ref * (np.maximum(np.asarray(V, dtype=np.float64) - v_th, 0.0) @ G1)
    V2 = Vh if buffer is None else buffer.apply(Vh)
    return np.maximum(V2 - v_th, 0.0) @ G2


def passive_outputs(
    G1: Arr, G2: Arr, V: Arr, r_ref: float, v_th: float, *, buffer: Buffer | None = None
) -> Arr:
    """Output currents (B, O) of the two-layer diode circuit with the ideal diode law and no wires.

    ``V`` are the driven row voltages (after any driver offset). Layer-1 sense node j obeys
    ``sum_i G1[i,j] (V_i - V_th - V_j)+ = V_j / r_ref + load_j``; only rows above ``V_th`` can
    conduct into a node at >= 0 V, and they must all be at one voltage (binary glyphs), so it is
    solved in closed form. Passive coupling loads node j with ``sum_k G2[j,k] (V_j - V_th)+``;
    with ``buffer`` layer 1 is unloaded and layer 2's rows are driven at ``buffer.apply(V_j)``.
    Unlike the ideal backend it includes the loading of the hidden voltages, so it predicts what
    the real circuit can do.
    """
    on, d = _conducting(np.asarray(V, dtype=np.float64), v_th)
    Gs = on.astype(np.float64) @ G1
    Vh = d * Gs / (Gs + 1.0 / r_ref)
    if buffer is not None:
        return np.maximum(buffer.apply(Vh) - v_th, 0.0) @ G2
    G2r = G2.sum(axis=1)[None, :]
    Vh_on = (d * Gs + v_th * G2r) / (Gs + 1.0 / r_ref + G2r)
    Vh = np.where(Vh > v_th, Vh_on, Vh)
    return np.maximum(Vh - v_th, 0.0) @ G2


def _diode_cell_current(v: np.ndarray, r: np.ndarray, is_: float, nvt: float) -> np.ndarray:
    """Current of a Shockley diode in series with r at total voltage v (Lambert/Wright omega form)."""
    from scipy.special import wrightomega

    return nvt / r * wrightomega(np.log(is_ * r / nvt) + (v + is_ * r) / nvt) - is_


def _cell_conductance(i: np.ndarray, r: np.ndarray, is_: float, nvt: float) -> np.ndarray:
    """dI/dV of a diode-plus-resistor cell at current i (0 where a deep reverse bias rounds i + IS to 0)."""
    with np.errstate(divide="ignore"):
        return 1.0 / (r + nvt / (i + is_))


def shockley_outputs(
    G1: np.ndarray,
    G2: np.ndarray,
    V: np.ndarray,
    r_ref: float,
    diode: DiodeModel,
    *,
    buffer: Buffer | None = None,
    iterations: int = 40,
) -> tuple[np.ndarray, np.ndarray]:
    """Output currents (B, O) and hidden voltages (B, N1) with the real (Shockley) diode law.

    The same node equations as :func:`passive_outputs` but each cell is a level-1 diode
    (IS, N at 27 degC) in series with its resistor, whose current has a closed form through the
    Wright omega function; each hidden node is then solved by safeguarded Newton steps
    (bisection where a step leaves the bracket). Without wire resistance this is what ngspice
    computes, so calibration can trust it. Every row takes part at its own driven voltage
    (a dark row at 0 V carries the reverse saturation current, one at a driver offset conducts a
    little). With ``buffer`` layer 1 is unloaded and layer 2's rows are driven at
    ``buffer.apply(V_h)``.
    """
    check_int(iterations, "iterations", minimum=1)
    V = np.asarray(V, dtype=np.float64)
    nvt = diode.n * VT_27C
    v_on = np.maximum(V.max(axis=1), 0.0)
    R1 = 1.0 / G1[None, :, :]  # (1, M, N1)
    R2 = 1.0 / G2[None, :, :]  # (1, N1, O)
    lo = np.zeros((V.shape[0], G1.shape[1]))
    hi = np.broadcast_to(v_on[:, None], lo.shape).copy()
    vh = 0.5 * (lo + hi)
    for _ in range(iterations):
        i1 = _diode_cell_current(V[:, :, None] - vh[:, None, :], R1, diode.is_, nvt)
        f = np.sum(i1, axis=1) - vh / r_ref
        df = -np.sum(_cell_conductance(i1, R1, diode.is_, nvt), axis=1) - 1.0 / r_ref
        if buffer is None:  # passive coupling: layer 2's cells load the sense node
            i2 = _diode_cell_current(vh[:, :, None], R2, diode.is_, nvt)
            f = f - i2.sum(axis=2)
            df = df - np.sum(_cell_conductance(i2, R2, diode.is_, nvt), axis=2)
        lo = np.where(f > 0, vh, lo)
        hi = np.where(f > 0, hi, vh)
        step = vh - f / df
        inside = (step > lo) & (step < hi)
        new = np.where(inside, step, 0.5 * (lo + hi))
        if np.max(np.abs(new - vh)) < 1e-10:
            vh = new
            break
        vh = new
    v2 = vh if buffer is None else buffer.apply(vh)
    out = _diode_cell_current(v2[:, :, None], R2, diode.is_, nvt).sum(axis=1)
    return out, vh
