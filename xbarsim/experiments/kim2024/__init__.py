"""Kim et al., Micromachines 2024, 15, 1258, end to end: glyphs -> net -> quantization -> circuit.

Procedure (see ``issues show 3``):

1. train the two-layer sigmoid-MSE net on the ten glyphs (:mod:`xbarsim.nn.numpy_net`);
2. weight-range quantization over W1 and W2 together, q = 1, 2, ... until recognition >= alpha
   (:mod:`xbarsim.quant`);
3. map the quantized weights to diode-selector crossbars in one :class:`~xbarsim.circuit.Network`,
   drive the lit pixels with the input voltage, and compare the circuit's output currents with the
   computer calculation (the ideal backend) at several input voltages.

The weight <-> conductance mapping (why it is not the paper's literal 25x10 -> 10x10)
-------------------------------------------------------------------------------------

Modules: :mod:`.training` (steps 1-2 for one seed), :mod:`.study` (Figs. 4a/5, many models),
:mod:`.circuit` (design, mapping through :mod:`xbarsim.mapping.kim`, evaluation),
:mod:`.analytic` (closed-form circuit models), :mod:`.calibration` (r_ref and bias per voltage),
:mod:`.run` (the whole procedure, the ngspice deck).

The weight -> conductance mapping (why it is not the paper's literal 25x10 -> 10x10: the default
``differential`` scheme, and the literal ``single`` one for comparison) is documented in
:mod:`xbarsim.mapping.kim`. ``r_ref`` and the bias scale are chosen per input voltage by
:func:`calibrate`: a grid search that maximizes recognition, then the recognition margin, of the
piecewise-linear passive model (:func:`passive_outputs`), re-scored on the Shockley model
(:func:`shockley_outputs`). Nothing else about the weights is fitted.

The paper's drive and coupling (:mod:`.circuit`): the drivers add the diode threshold to each lit
pixel (``CircuitDesign.input_offset``) and the layers are coupled passively or through ideal
buffers (``CircuitDesign.coupling``); :func:`paper_design` is the configuration that follows the
paper (differential mapping, +0.65 V inputs, buffered layers). Both are in the circuit spec (layer
1's ``Crossbar.driver``, the network's ``coupling``), so :func:`solve_kim` is one
``backend.solve(network, V)`` on the requested glyph voltages, and :func:`deck_text` writes the
deck of that same network. :func:`pick_seed` picks a net whose level search ends at q <= 4, like the
paper's (Section 3.3); :func:`pick_design_seed` adds the checks a designer makes before simulating
(:mod:`.seedpick`: the computer calculation, then the closed-form Shockley model; no SPICE).

With passive coupling the hidden voltage can never exceed the driven voltage minus V_D, so at 1 V
without the offset (``1 - 0.65 = 0.35 V``) no layer-2 diode can be forward biased; the ideal
backend (whose r_ref is an ideal transimpedance) still computes currents, so that configuration
shows a large current gap by construction.
"""

from .analytic import ideal_outputs, passive_outputs, shockley_outputs, unloaded_hidden
from .calibration import build_circuit, calibrate, calibration_candidates
from .circuit import (
    COUPLINGS,
    MAPPINGS,
    CircuitDesign,
    KimCircuit,
    buffer_gain,
    computer_calculation,
    driven_voltages,
    evaluate_circuit,
    evaluate_kim,
    glyph_voltages,
    kim_buffer,
    layer_conductances,
    map_circuit,
    paper_design,
    solve_kim,
)
from .run import deck_text, run_kim2024
from .seedpick import DEFAULT_RULE, SEED_RULES, DesignCheck, check_design, passes, pick_design_seed
from .study import StudyResult, run_study
from .training import (
    N_HIDDEN,
    N_OUT,
    TrainSettings,
    find_levels,
    pick_seed,
    train_and_quantize,
    train_model,
)

__all__ = [
    "COUPLINGS",
    "DEFAULT_RULE",
    "MAPPINGS",
    "N_HIDDEN",
    "N_OUT",
    "SEED_RULES",
    "CircuitDesign",
    "DesignCheck",
    "KimCircuit",
    "StudyResult",
    "TrainSettings",
    "buffer_gain",
    "build_circuit",
    "calibrate",
    "calibration_candidates",
    "check_design",
    "computer_calculation",
    "deck_text",
    "driven_voltages",
    "evaluate_circuit",
    "evaluate_kim",
    "find_levels",
    "glyph_voltages",
    "ideal_outputs",
    "kim_buffer",
    "layer_conductances",
    "map_circuit",
    "paper_design",
    "passes",
    "passive_outputs",
    "pick_design_seed",
    "pick_seed",
    "run_kim2024",
    "run_study",
    "shockley_outputs",
    "solve_kim",
    "train_and_quantize",
    "train_model",
    "unloaded_hidden",
]
