"""Choosing r_ref and the bias scale per input voltage (Kim 2024): a grid search on models, then the backend.

The grid (51 r_ref x 26 bias scales) is scored on the closed-form passive model of
:mod:`.analytic` (~0.1 s for all 1326 settings); the best are re-scored on the Shockley model and
the first few verified on the backend that will run the circuit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..._validate import check_int
from ...analysis import recognition, recognition_margin
from ...backends import Backend, get_backend
from ...circuit import Network
from ...quant import QuantResult
from .analytic import passive_outputs, shockley_outputs
from .circuit import (
    DEFAULT_DESIGN,
    CircuitDesign,
    KimCircuit,
    evaluate_circuit,
    glyph_voltages,
    kim_weights,
    layer_conductances,
    map_circuit,
)

Candidate = tuple[float, float, float, float]


def _rank(cands: list[Candidate]) -> list[Candidate]:
    """Best first: recognition, then margin, then the smaller r_ref and bias scale."""
    return sorted(cands, key=lambda c: (-c[2], -c[3], c[0], c[1]))


def calibration_candidates(
    quantized: QuantResult | Sequence[np.ndarray],
    v_in: float,
    design: CircuitDesign = DEFAULT_DESIGN,
    *,
    r_ref_grid: np.ndarray | None = None,
    bias_grid: np.ndarray | None = None,
) -> list[Candidate]:
    """All ``(r_ref, bias_scale, recognition, margin)`` of the grid search, best first.

    Scored on :func:`~.analytic.passive_outputs` (the circuit's own node equations, ideal diode
    law). When ``v_in - V_th <= V_th`` no hidden voltage of a passive circuit can forward-bias
    layer 2, so the passive model is silent everywhere; then the computer calculation (the
    ``ideal`` backend) is scored instead.
    """
    W = kim_weights(quantized)
    V = glyph_voltages(round(np.sqrt(W[0].shape[0])), v_in)
    r_grid = np.logspace(2, 7, 51) if r_ref_grid is None else np.asarray(r_ref_grid, dtype=np.float64)
    if design.mapping == "differential":
        b_grid = np.linspace(0.0, 0.5, 26) if bias_grid is None else np.asarray(bias_grid, dtype=np.float64)
    else:
        b_grid = np.zeros(1)
    vth = design.diode.v_threshold
    ideal = get_backend("ideal") if v_in - vth <= vth else None
    cands = []
    for b in b_grid:
        if ideal is None:
            G1, G2 = layer_conductances(W, design, float(b))
        else:  # one mapping per bias scale; only layer 1's r_ref changes along the r grid
            l1, l2 = map_circuit(W, v_in, design, float(r_grid[0]), float(b)).network.layers
        for r in r_grid:
            if ideal is None:
                out = passive_outputs(G1, G2, V, float(r), vth)
            else:
                out = ideal.solve(Network((l1.replace(r_ref=float(r)), l2)), V).currents
            cands.append((float(r), float(b), recognition(out), recognition_margin(out)))
    return _rank(cands)


def calibrate(
    quantized: QuantResult | Sequence[np.ndarray],
    v_in: float,
    design: CircuitDesign = DEFAULT_DESIGN,
    *,
    backend: str | Backend | None = None,
    tries: int = 4,
    refine: int = 20,
) -> Candidate:
    """Choose r_ref (and the bias scale) for one input voltage.

    The grid search of :func:`calibration_candidates` ranks the settings on the piecewise-linear
    passive model; the best ``refine`` are re-scored on :func:`~.analytic.shockley_outputs` (the
    real diode law, which shifts hidden voltages near the threshold). With ``backend`` given, up
    to ``tries`` of the best are then simulated and the first that recognizes all ten digits is
    kept (else the one that recognizes most). Returns ``(r_ref, bias_scale, recognition,
    margin)``, recognition and margin from the backend when one was used, else from the Shockley
    model.
    """
    check_int(tries, "tries", minimum=1)
    check_int(refine, "refine", minimum=1)
    W = kim_weights(quantized)
    V = glyph_voltages(round(np.sqrt(W[0].shape[0])), v_in)
    vth = design.diode.v_threshold
    if v_in - vth > vth:
        coarse = calibration_candidates(W, v_in, design)[:refine]
    else:  # the PWL model is silent: score a coarse grid on the Shockley model directly
        coarse = calibration_candidates(
            W, v_in, design, r_ref_grid=np.logspace(3, 7, 9), bias_grid=np.array([0.0, 0.1, 0.25])
        )
    cands = []
    for r, b, _, _ in coarse:
        G1, G2 = layer_conductances(W, design, b)
        out, _ = shockley_outputs(G1, G2, V, r, design.diode)
        cands.append((r, b, recognition(out), recognition_margin(out)))
    cands = _rank(cands)
    if backend is None:
        return cands[0]
    best: Candidate | None = None
    for r, b, _, _ in cands[:tries]:  # the grid has no duplicate settings
        acc, cur = evaluate_circuit(map_circuit(W, v_in, design, r, b).network, V, backend)
        cand = (r, b, acc, recognition_margin(cur))
        if best is None or cand[2:] > best[2:]:
            best = cand
        if acc >= 1.0:
            break
    assert best is not None
    return best


def build_circuit(
    quantized: QuantResult | Sequence[np.ndarray],
    v_in: float,
    *,
    design: CircuitDesign = DEFAULT_DESIGN,
    r_ref: float | None = None,
    bias_scale: float | None = None,
    calibrate_with: str | Backend | None = None,
) -> KimCircuit:
    """The circuit of a quantized net at input voltage ``v_in``.

    ``r_ref``/``bias_scale`` not given are chosen by :func:`calibrate` (verified on the backend
    ``calibrate_with`` when given).
    """
    if r_ref is None or bias_scale is None:
        r_cal, b_cal, _, _ = calibrate(quantized, v_in, design, backend=calibrate_with)
        r_ref = r_cal if r_ref is None else r_ref
        bias_scale = b_cal if bias_scale is None else bias_scale
    return map_circuit(quantized, v_in, design, r_ref, bias_scale)
