"""The whole Kim 2024 procedure for one seed, and the ngspice deck of its circuit."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from ...analysis import current_gap_rate, mean_gap, recognition
from ...backends import Backend, get_backend
from ...errors import InputError
from ...solution import relative_error
from .analytic import passive_outputs, shockley_outputs
from .calibration import build_circuit
from .circuit import (
    DEFAULT_DESIGN,
    CircuitDesign,
    computer_calculation,
    driven_voltages,
    evaluate_kim,
    glyph_voltages,
)
from .training import DEFAULT_SETTINGS, TrainSettings, check_grid, train_and_quantize


def deck_text(
    grid: int,
    seed: int,
    v_in: float,
    *,
    alpha: float = 1.0,
    max_q: int = 40,
    settings: TrainSettings = DEFAULT_SETTINGS,
    design: CircuitDesign = DEFAULT_DESIGN,
) -> str:
    """ngspice deck of one seed's circuit at ``v_in`` driven by all ten glyphs (a 10-point sweep).

    r_ref and the bias scale come from the model calibration alone (no simulator needed), so
    the deck is a pure function of its arguments. It is the deck of the mapping's one network:
    the sources carry the driven voltages (input offset included) and a buffered design has one
    B source (ideal buffer) per layer-2 row.
    """
    from ...netlist import write_netlist

    _, quant = train_and_quantize(grid, seed, alpha=alpha, max_q=max_q, settings=settings)
    kc = build_circuit(quant, float(v_in), design=design)
    text = write_netlist(
        kc.network,
        glyph_voltages(grid, float(v_in)),
        title=f"kim2024 {grid}x{grid} seed {seed} at {v_in:g} V",
    )
    title, rest = text.split("\n", 1)
    head = [
        title,
        (
            f"* Kim et al. 2024 circuit: {design.label()}, q = {quant.bins}, "
            f"r_ref = {kc.r_ref:.6g} ohm, bias scale = {kc.bias_scale:g}"
        ),
        (
            f"* sweep point k = digit k ({grid}x{grid} glyph, lit pixel = {v_in:g} V + offset "
            f"{design.input_offset:g} V); "
            "outputs i(Vam1_k) = digit score k"
        ),
        (
            f"* regenerate: python examples/kim2024_fig6b.py --grid {grid} --seed {seed} "
            f"--epochs {settings.epochs} --deck <this file> --deck-voltage {v_in:g} "
            f"--coupling {design.coupling} --input-offset {design.input_offset:g} "
            f"--offset-inputs {design.offset_inputs}"
        ),
    ]
    return "\n".join(head) + "\n" + rest


def _label(v: float) -> str:
    return f"{v:g}"


def run_kim2024(
    grid: int = 5,
    seed: int = 0,
    *,
    alpha: float = 1.0,
    max_q: int = 40,
    voltages: Sequence[float] = (1.0, 5.0, 10.0),
    voltage_labels: Sequence[str] | None = None,
    backend: str | Backend = "ngspice",
    settings: TrainSettings = DEFAULT_SETTINGS,
    design: CircuitDesign = DEFAULT_DESIGN,
) -> dict[str, object]:
    """The whole paper for one seed; a JSON-ready dict (keys listed in issue 3).

    ``per_voltage`` is keyed by ``voltage_labels`` (default ``f"{v:g}"``), each with
    ``spice_accuracy``, ``current_gap`` (digits x outputs, NaN where I_calc = 0),
    ``mean_current_gap``, ``ideal_accuracy``, ``model_accuracy`` (passive model), ``r_ref``,
    ``bias_scale`` and the two current matrices.
    """
    g = check_grid(grid)
    labels = [_label(v) for v in voltages] if voltage_labels is None else list(voltage_labels)
    if len(labels) != len(voltages) or not voltages:
        raise InputError("need one label per voltage and at least one voltage")
    be = get_backend(backend) if isinstance(backend, str) else backend
    t0 = time.perf_counter()
    out, quant = train_and_quantize(g, seed, alpha=alpha, max_q=max_q, settings=settings)
    out["backend"] = be.name
    out["mapping"] = design.mapping
    out["coupling"] = design.coupling
    out["input_offset"] = design.input_offset
    out["offset_inputs"] = design.offset_inputs
    out["g_on"], out["g_off"] = design.g_on, design.g_off
    per: dict[str, object] = {}
    for v, lab in zip(voltages, labels):
        kc = build_circuit(quant, float(v), design=design, calibrate_with=be)
        V = glyph_voltages(g, float(v))
        Vd = driven_voltages(V, kc.driver)
        acc, i_sim = evaluate_kim(kc, V, be)
        ideal_acc, i_calc = evaluate_kim(kc, V, computer_calculation())
        G1, G2 = (xb.G for xb in kc.network.layers)
        model = passive_outputs(G1, G2, Vd, kc.r_ref, design.diode.v_threshold, buffer=kc.buffer)
        gap = current_gap_rate(i_sim, i_calc, floor=1e-15)
        gap_model = current_gap_rate(i_sim, model, floor=1e-15)
        exact, _ = shockley_outputs(G1, G2, Vd, kc.r_ref, design.diode, buffer=kc.buffer)
        per[lab] = {
            "v_in": float(v),
            "spice_accuracy": acc,
            "ideal_accuracy": ideal_acc,
            "model_accuracy": recognition(model),
            "current_gap": [[None if not np.isfinite(x) else float(x) for x in row] for row in gap],
            "mean_current_gap": mean_gap(gap),
            "max_current_gap": float(np.nanmax(gap)) if np.isfinite(gap).any() else None,
            "mean_current_gap_passive": mean_gap(gap_model),
            "shockley_model_rel_error": relative_error(i_sim, exact),
            "r_ref": kc.r_ref,
            "bias_scale": kc.bias_scale,
            "buffer_gain": None if kc.buffer is None else kc.buffer.gain,
            "buffer_offset": None if kc.buffer is None else kc.buffer.offset,
            "i_sim": i_sim.tolist(),
            "i_calc": i_calc.tolist(),
            "n_device_levels": int(kc.level_conductance.size),
        }
    out["per_voltage"] = per
    out["seconds"] = time.perf_counter() - t0
    return out
