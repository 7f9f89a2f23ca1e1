"""Choosing r_ref and the bias scale per input voltage (Kim 2024): a grid search on models, then the backend.

Each configuration (input offset, coupling, mapping) is calibrated on its own: the models are
driven with the offset inputs, and buffered coupling takes the buffer gain of
:func:`~.circuit.kim_buffer` at each r_ref.

The grid (51 r_ref x 26 bias scales) is scored on the closed-form passive model of
:mod:`.analytic` (~0.1 s for all 1326 settings); the best are re-scored on the Shockley model and
the first few verified on the backend that will run the circuit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..._validate import check_int
from ...analysis import current_gap_rate, recognition, recognition_margin
from ...backends import Backend
from ...circuit import Network
from ...quant import QuantResult
from .analytic import ideal_outputs, passive_outputs, shockley_outputs
from .circuit import (
    DEFAULT_DESIGN,
    CircuitDesign,
    KimCircuit,
    computer_calculation,
    driven_voltages,
    evaluate_kim,
    glyph_voltages,
    kim_buffer,
    kim_weights,
    layer_conductances,
    map_circuit,
)

Candidate = tuple[float, float, float, float]


def _rank(cands: list[Candidate]) -> list[Candidate]:
    """Best first: recognition, then margin, then the smaller r_ref and bias scale."""
    return sorted(cands, key=lambda c: (-c[2], -c[3], c[0], c[1]))


def _drive(W: list[np.ndarray], v_in: float, design: CircuitDesign) -> tuple[np.ndarray, np.ndarray]:
    """Requested glyph voltages and the driven row voltages (after the input offset)."""
    V = glyph_voltages(round(np.sqrt(W[0].shape[0])), v_in)
    return V, driven_voltages(V, design.driver)


def _silent(Vd: np.ndarray, design: CircuitDesign) -> bool:
    """True when no hidden voltage of the passive PWL circuit can forward-bias layer 2."""
    vth = design.diode.v_threshold
    return design.coupling == "passive" and float(Vd.max()) - vth <= vth


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
    law, with the design's input offset and coupling). When the driven voltage minus ``V_th`` is
    at most ``V_th``, no hidden voltage of a passive circuit can forward-bias layer 2, so the
    passive model is silent everywhere; then the computer calculation (the ``ideal`` backend) is
    scored instead.
    """
    W = kim_weights(quantized)
    _, Vd = _drive(W, v_in, design)
    r_grid = np.logspace(2, 7, 51) if r_ref_grid is None else np.asarray(r_ref_grid, dtype=np.float64)
    if design.mapping == "differential":
        b_grid = np.linspace(0.0, 0.5, 26) if bias_grid is None else np.asarray(bias_grid, dtype=np.float64)
    else:
        b_grid = np.zeros(1)
    vth = design.diode.v_threshold
    ideal = computer_calculation() if _silent(Vd, design) else None
    cands = []
    for b in b_grid:
        if ideal is None:
            G1, G2 = layer_conductances(W, design, float(b))
        else:  # one mapping per bias scale; only layer 1's r_ref changes along the r grid
            l1, l2 = map_circuit(W, v_in, design, float(r_grid[0]), float(b)).network.layers
        for r in r_grid:
            if ideal is None:
                out = passive_outputs(
                    G1, G2, Vd, float(r), vth, buffer=kim_buffer(G1, Vd, float(r), v_in, design)
                )
            else:
                out = ideal.solve(Network((l1.replace(r_ref=float(r)), l2)), Vd).currents
            cands.append((float(r), float(b), recognition(out), recognition_margin(out)))
    return _rank(cands)


def _max_gap(sim: np.ndarray, calc: np.ndarray) -> float:
    gap = current_gap_rate(sim, calc, floor=1e-15)
    return float(np.nanmax(gap)) if np.isfinite(gap).any() else float("inf")


def _rank_by_gap(
    W: list[np.ndarray], v_in: float, design: CircuitDesign, Vd: np.ndarray, refine: int
) -> list[Candidate]:
    """Buffered coupling: best recognition first, then the smallest largest gap (see :func:`calibrate`)."""
    vth = design.diode.v_threshold
    scored = []
    for r, b, acc, _ in calibration_candidates(W, v_in, design):
        G1, G2 = layer_conductances(W, design, b)
        buf = kim_buffer(G1, Vd, r, v_in, design)
        sim = passive_outputs(G1, G2, Vd, r, vth, buffer=buf)
        scored.append((-acc, _max_gap(sim, ideal_outputs(G1, G2, Vd, r, vth, buffer=buf)), r, b))
    scored.sort()
    top = [c for c in scored if c[0] == scored[0][0]]
    picks = np.unique(np.round(np.linspace(0, len(top) - 1, min(refine, len(top)))).astype(int))
    out = []
    for _, _, r, b in [top[i] for i in picks]:  # spread over the PWL gap: the knee moves the order
        G1, G2 = layer_conductances(W, design, b)
        buf = kim_buffer(G1, Vd, r, v_in, design)
        sim, _ = shockley_outputs(G1, G2, Vd, r, design.diode, buffer=buf)
        gap = _max_gap(sim, ideal_outputs(G1, G2, Vd, r, vth, buffer=buf))
        out.append((recognition(sim), -gap, recognition_margin(sim), r, b))
    out.sort(key=lambda c: (-c[0], -c[1], -c[2], c[3], c[4]))
    return [(r, b, acc, margin) for acc, _, margin, r, b in out]


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

    Buffered coupling can keep layer 1 nearly linear (a small r_ref, the gain restoring the
    swing), so there the circuit is also asked to follow the computer calculation: among the
    settings that recognize most digits on the PWL model, ``refine`` spread evenly over their
    largest current gap (PWL model vs :func:`~.analytic.ideal_outputs`) are re-scored on the
    Shockley model and ranked by recognition, then the smallest largest gap, then the margin.
    """
    check_int(tries, "tries", minimum=1)
    check_int(refine, "refine", minimum=1)
    W = kim_weights(quantized)
    V, Vd = _drive(W, v_in, design)
    if design.coupling == "buffered":
        cands = _rank_by_gap(W, v_in, design, Vd, refine)
    elif not _silent(Vd, design):
        coarse = calibration_candidates(W, v_in, design)[:refine]
    else:  # the PWL model is silent: score a coarse grid on the Shockley model directly
        coarse = calibration_candidates(
            W, v_in, design, r_ref_grid=np.logspace(3, 7, 9), bias_grid=np.array([0.0, 0.1, 0.25])
        )
    if design.coupling == "passive":
        cands = []
        for r, b, _, _ in coarse:
            G1, G2 = layer_conductances(W, design, b)
            out, _ = shockley_outputs(G1, G2, Vd, r, design.diode)
            cands.append((r, b, recognition(out), recognition_margin(out)))
        cands = _rank(cands)
    if backend is None:
        return cands[0]
    best: Candidate | None = None
    for r, b, _, _ in cands[:tries]:  # the grid has no duplicate settings
        acc, cur = evaluate_kim(map_circuit(W, v_in, design, r, b), V, backend)
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
