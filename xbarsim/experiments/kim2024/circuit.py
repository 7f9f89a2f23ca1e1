"""Step 3 of Kim 2024: the circuit of one quantized net at one input voltage, and its recognition.

The weights become conductances through :mod:`xbarsim.mapping.kim` (the ``differential`` and
``single`` schemes are documented there); this module holds the fixed design choices and the
glyph drive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import numpy as np

from ..._validate import check_real
from ...analysis import recognition
from ...backends import Backend, get_backend
from ...circuit import CellModel, DiodeModel, Network
from ...datasets.glyphs import glyphs
from ...errors import InputError
from ...mapping.kim import KIM_SCHEMES, KimMapping, KimScheme, kim_conductances, map_kim
from ...quant import QuantResult
from .training import check_grid

MAPPINGS: tuple[str, ...] = KIM_SCHEMES


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
    """

    mapping: KimScheme = "differential"
    g_on: float = 1e-4
    g_off: float = 1e-7
    r_wire: float = 0.0
    r_driver: float = 0.0
    diode: DiodeModel = field(default_factory=DiodeModel)

    def __post_init__(self) -> None:
        if self.mapping not in MAPPINGS:
            raise InputError(f"mapping must be one of {', '.join(MAPPINGS)}, got {self.mapping!r}")
        if not 0 < self.g_off < self.g_on:
            raise InputError(f"need 0 < g_off < g_on, got {self.g_off}, {self.g_on}")


DEFAULT_DESIGN = CircuitDesign()


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


def map_circuit(
    quantized: QuantResult | Sequence[np.ndarray],
    v_in: float,
    design: CircuitDesign,
    r_ref: float,
    bias_scale: float,
) -> KimCircuit:
    """The circuit at fixed ``r_ref``/``bias_scale`` (``single`` has no bias row: its scale is 0)."""
    W1, W2 = kim_weights(quantized)
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
    )
    parts = {f.name: getattr(mapped, f.name) for f in fields(KimMapping)}
    return KimCircuit(**parts, v_in=check_real(v_in, "input voltage", positive=True))


def glyph_voltages(grid: int, v_in: float) -> np.ndarray:
    """(10, grid*grid) input voltages: a lit pixel at ``v_in`` volts, a dark one at 0 V."""
    if not np.isfinite(v_in) or not v_in > 0:
        raise InputError(f"input voltage must be > 0 V, got {v_in!r}")
    return glyphs(check_grid(grid)) * float(v_in)


def evaluate_circuit(
    network: Network, V: np.ndarray, backend: str | Backend = "ideal"
) -> tuple[float, np.ndarray]:
    """Recognition (argmax of the output currents) and the (10, O) currents of ``network``."""
    be = get_backend(backend) if isinstance(backend, str) else backend
    sol = be.solve(network, V)
    return recognition(sol.currents), np.asarray(sol.currents)
