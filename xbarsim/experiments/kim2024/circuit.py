"""Step 3 of Kim 2024: the circuit of one quantized net at one input voltage, and its recognition.

The weights become conductances through :mod:`xbarsim.mapping.kim` (the ``differential`` and
``single`` schemes are documented there); this module holds the fixed design choices and the
glyph drive, and the periphery the paper drives the circuit with:

* **input offset** (layer 1's ``Crossbar.driver``): Kim et al. add the diode threshold to the input
  voltage ("we added 0.65 V to account for the threshold voltage (Vth) of the diode", Section 2),
  so a lit pixel's cells see ``V_in`` across their resistor in the computer calculation. A dark
  pixel's driver stays at 0 V by default (``offset_inputs="active"``): the paper adds the offset
  to *the input voltage* and a dark pixel has none; ``"all"`` (0.65 V on every row) is kept for
  comparison, its dark rows forward-bias their diodes slightly.
* **coupling** (the network's ``coupling``): ``passive`` (layer 1's r_ref voltages drive layer 2) or
  ``buffered``: an ideal buffer re-drives each layer-2 row at ``gain * V_h + offset`` with the
  same offset as the inputs (the threshold compensation of layer 2's rows) and a gain chosen so
  the largest hidden voltage maps to ``V_in`` (layer 2 sees the input swing of layer 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Literal

import numpy as np

from ..._validate import check_real
from ...analysis import recognition
from ...backends import Backend, solve
from ...circuit import CellModel, DiodeModel, Network
from ...datasets.glyphs import glyphs
from ...errors import InputError
from ...mapping.kim import KIM_SCHEMES, KimMapping, KimScheme, kim_conductances, map_kim
from ...periphery import OFFSET_INPUTS, Buffer, Driver, OffsetInputs
from ...quant import QuantResult
from ...solution import Solution
from .analytic import unloaded_hidden
from .training import check_grid

MAPPINGS: tuple[str, ...] = KIM_SCHEMES
Coupling = Literal["passive", "buffered"]
COUPLINGS: tuple[str, ...] = ("passive", "buffered")


@dataclass(frozen=True)
class CircuitDesign:
    """Fixed circuit choices (the per-voltage r_ref and bias scale come from :func:`calibrate`).

    Attributes
    ----------
    mapping:
        ``"differential"`` (default) or ``"single"`` (the paper's literal M x 10 -> 10 x 10 shape
        with one affine map; kept for comparison), see :mod:`xbarsim.mapping.kim`.
    g_on, g_off:
        Largest and smallest cell conductance (S); 1e-4 / 1e-7 = 10 kOhm / 10 MOhm, an on/off
        ratio of 1000, which keeps weight 0 nearly off.
    r_wire, r_driver:
        Wire segment and driver resistances (ohm); 0 = ideal, as in the paper's figure.
    diode:
        Selector diode (threshold 0.65 V).
    input_offset:
        Volts the input drivers add to the driven rows (0 = none; the paper: ``diode.v_threshold``).
    offset_inputs:
        ``"active"`` (only lit pixels get the offset, a dark pixel stays at 0 V) or ``"all"``.
    coupling:
        ``"passive"`` or ``"buffered"`` (see the module notes).
    """

    mapping: KimScheme = "differential"
    g_on: float = 1e-4
    g_off: float = 1e-7
    r_wire: float = 0.0
    r_driver: float = 0.0
    diode: DiodeModel = field(default_factory=DiodeModel)
    input_offset: float = 0.0
    offset_inputs: OffsetInputs = "active"
    coupling: Coupling = "passive"

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_offset", check_real(self.input_offset, "input offset voltage"))
        if not 0.0 <= self.input_offset <= 10.0:
            raise InputError(f"input offset must be in [0, 10] V, got {self.input_offset}")
        if self.offset_inputs not in OFFSET_INPUTS:
            raise InputError(
                f"offset_inputs must be one of {', '.join(OFFSET_INPUTS)}, got {self.offset_inputs!r}"
            )
        if self.coupling not in COUPLINGS:
            raise InputError(f"coupling must be one of {', '.join(COUPLINGS)}, got {self.coupling!r}")
        if self.mapping not in MAPPINGS:
            raise InputError(f"mapping must be one of {', '.join(MAPPINGS)}, got {self.mapping!r}")
        if not 0 < self.g_off < self.g_on:
            raise InputError(f"need 0 < g_off < g_on, got {self.g_off}, {self.g_on}")

    @property
    def driver(self) -> Driver:
        """The input drivers of layer 1."""
        return Driver(offset=self.input_offset, offset_inputs=self.offset_inputs)

    def label(self) -> str:
        """Short name of the configuration, e.g. ``differential/buffered/offset 0.65 V (active)``."""
        off = f"offset {self.input_offset:g} V ({self.offset_inputs})" if self.input_offset else "no offset"
        return f"{self.mapping}/{self.coupling}/{off}"


DEFAULT_DESIGN = CircuitDesign()


def paper_design(**changes: object) -> CircuitDesign:
    """The configuration that follows the paper: differential mapping, buffered layers, +V_th inputs."""
    base = {"input_offset": DiodeModel().v_threshold, "coupling": "buffered"}
    base.update(changes)
    return CircuitDesign(**base)  # type: ignore[arg-type]


@dataclass(frozen=True, eq=False)
class KimCircuit(KimMapping):
    """The :class:`~xbarsim.mapping.kim.KimMapping` of one net at one input voltage.

    Adds ``v_in``, the voltage of a lit pixel (V); ``mapping`` is the scheme's name.
    """

    v_in: float

    @property
    def mapping(self) -> str:
        return self.scheme


def kim_weights(quantized: QuantResult | Sequence[np.ndarray]) -> list[np.ndarray]:
    """``[W1, W2]`` as float arrays from a quantization or a weight list."""
    W = quantized.weights if isinstance(quantized, QuantResult) else list(quantized)
    if len(W) != 2:
        raise InputError(f"the Kim net has two weight matrices, got {len(W)}")
    return [np.asarray(w, dtype=np.float64) for w in W]


def layer_conductances(
    quantized: QuantResult | Sequence[np.ndarray],
    design: CircuitDesign = DEFAULT_DESIGN,
    bias_scale: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Conductance matrices (G1, G2) of a net under ``design`` (:func:`.mapping.kim.kim_conductances`)."""
    W1, W2 = kim_weights(quantized)
    return kim_conductances(
        W1, W2, scheme=design.mapping, g_on=design.g_on, g_off=design.g_off, bias_scale=bias_scale
    )


def driven_voltages(V: np.ndarray, driver: Driver) -> np.ndarray:
    """The row voltages layer 1's drivers put out for requested voltages V (B, M).

    For the closed-form models of :mod:`.analytic`, which take driven voltages; the backends get
    the requested voltages and apply the same :meth:`~xbarsim.periphery.Driver.apply` themselves
    (the driver is layer 1's ``Crossbar.driver``, see :func:`xbarsim.circuit.drive_inputs`).
    """
    return driver.apply(V)


def buffer_gain(G1: np.ndarray, V: np.ndarray, r_ref: float, v_in: float, v_th: float) -> float:
    """Buffer gain mapping the largest hidden voltage of the glyphs to ``v_in`` (V = driven voltages).

    Hidden voltages from the unloaded layer 1 with the ideal diode law (closed form); a design
    choice made per input voltage like r_ref, not a fit of the weights.
    """
    top = float(np.max(unloaded_hidden(G1, V, r_ref, v_th)))
    if not top > 0:
        raise InputError("no hidden voltage is above 0 V: the buffer gain is undefined")
    return float(v_in) / top


def kim_buffer(
    G1: np.ndarray, V: np.ndarray, r_ref: float, v_in: float, design: CircuitDesign
) -> Buffer | None:
    """The coupling of ``design``: None (passive) or the buffer of :func:`buffer_gain` + input offset."""
    if design.coupling == "passive":
        return None
    gain = buffer_gain(G1, V, r_ref, v_in, design.diode.v_threshold)
    return Buffer(gain=gain, offset=design.input_offset)


def map_circuit(
    quantized: QuantResult | Sequence[np.ndarray],
    v_in: float,
    design: CircuitDesign,
    r_ref: float,
    bias_scale: float,
) -> KimCircuit:
    """The circuit at fixed ``r_ref``/``bias_scale`` (``single`` has no bias row: its scale is 0).

    Buffered coupling gets the buffer of :func:`buffer_gain` with the input offset.
    """
    W1, W2 = kim_weights(quantized)
    v_in = check_real(v_in, "input voltage", positive=True)
    G1, _ = layer_conductances([W1, W2], design, 0.0)  # layer 1 does not depend on the bias scale
    V = driven_voltages(glyph_voltages(round(np.sqrt(W1.shape[0])), v_in), design.driver)
    buffer = kim_buffer(G1, V, r_ref, v_in, design)
    mapped = map_kim(
        W1,
        W2,
        r_ref=r_ref,
        scheme=design.mapping,
        g_on=design.g_on,
        g_off=design.g_off,
        bias_scale=0.0 if design.mapping == "single" else bias_scale,
        cell=CellModel(kind="diode", diode=design.diode),
        r_wire=design.r_wire,
        r_driver=design.r_driver,
        driver=design.driver,
        buffer=buffer,
    )
    parts = {f.name: getattr(mapped, f.name) for f in fields(KimMapping)}
    return KimCircuit(**parts, v_in=v_in)


def glyph_voltages(grid: int, v_in: float) -> np.ndarray:
    """(10, grid*grid) input voltages: a lit pixel at ``v_in`` volts, a dark one at 0 V."""
    if not np.isfinite(v_in) or not v_in > 0:
        raise InputError(f"input voltage must be > 0 V, got {v_in!r}")
    return glyphs(check_grid(grid)) * float(v_in)


def solve_kim(mapping: KimMapping, V: np.ndarray, backend: str | Backend = "ideal") -> Solution:
    """Solve the Kim circuit of ``mapping`` for *requested* input voltages V (B, M).

    One ``backend.solve`` of the mapping's network: its first layer's driver adds the input
    offset and its coupling holds the buffer, so every backend applies the periphery the same
    way (:func:`xbarsim.circuit.drive_inputs`; a B source per buffered row in a SPICE deck).
    """
    return solve(mapping.network, V, backend)


def evaluate_kim(
    mapping: KimMapping, V: np.ndarray, backend: str | Backend = "ideal"
) -> tuple[float, np.ndarray]:
    """Recognition and the (B, O) output currents of the Kim circuit (:func:`solve_kim`)."""
    return evaluate_circuit(mapping.network, V, backend)


def evaluate_circuit(
    network: Network, V: np.ndarray, backend: str | Backend = "ideal"
) -> tuple[float, np.ndarray]:
    """Recognition (argmax of the output currents) and the (10, O) currents of ``network``."""
    currents = np.asarray(solve(network, V, backend).currents)
    return recognition(currents), currents


def computer_calculation() -> Backend:
    """The paper's computer calculation: the ``ideal`` backend used on purpose (no warning about
    the reference-resistor loading and diode law it leaves out; ``Solution.ignored`` still says)."""
    from ...backends import shared_backend

    return shared_backend("ideal", {"warn": False})
