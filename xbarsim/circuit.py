"""Circuit descriptions: frozen, validated specs that every backend takes unchanged.

Topology contract (see ``docs/ARCHITECTURE.md``):

* Cell (i, j) sits between row node r(i, j) and column node c(i, j).
* Row nodes r(i, j)-r(i, j+1) and column nodes c(i, j)-c(i+1, j) are joined by ``r_wire``.
* Input i drives r(i, 0) through ``r_driver``.
* Column j leaves c(M-1, j) through ``r_sense`` into sense node s(j): an ideal virtual ground
  (0 V; the current is the output) or ``r_ref`` to ground (its voltage is the output and can
  drive the next layer's rows).
* A resistance of 0 means the two nodes are one node.

Units are SI: G in siemens with shape (M inputs, N outputs), voltages in volts, currents in amperes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from ._validate import check_conductance, check_name, check_real, check_resistance
from .errors import InputError

CellKind = Literal["resistor", "diode", "1t1r"]
CELL_KINDS: tuple[str, ...] = ("resistor", "diode", "1t1r")

#: Thermal voltage kT/q at ngspice's nominal 27 degC, with the CODATA 2014 constants ngspice 39 uses
#: (the 2019 SI values would be 3.4e-7 relative higher); equals ``xbarsim.spice.models.VT``.
VT_27C = 1.38064852e-23 * (27.0 + 273.15) / 1.6021766208e-19


@dataclass(frozen=True)
class DiodeModel:
    """Selector diode in series with the programmed resistance (SPICE ``D`` model, level 1).

    Attributes
    ----------
    is_:
        Saturation current IS in amperes.
    n:
        Emission coefficient N.
    v_threshold:
        Turn-on voltage of the piecewise-linear *ideal* law ``I = G * max(V - v_threshold, 0)``
        used by the ideal backend and by the papers' "computer calculation". With the default
        IS and N the Shockley diode carries 0.1-1 mA near 0.6-0.65 V.
    """

    is_: float = 1e-14
    n: float = 1.0
    v_threshold: float = 0.65

    def __post_init__(self) -> None:
        check_real(self.is_, "diode saturation current IS", positive=True)
        check_real(self.n, "diode emission coefficient N", positive=True)
        check_real(self.v_threshold, "diode threshold voltage", nonneg=True)


@dataclass(frozen=True)
class NmosModel:
    """Access transistor of a 1T1R cell: SPICE level-1 (Shichman-Hodges) NMOS, bulk at ground.

    Attributes
    ----------
    vto:
        Threshold voltage VTO in volts.
    kp:
        Transconductance parameter KP in A/V^2.
    lambda_:
        Channel-length modulation LAMBDA in 1/V.
    w, l:
        Channel width and length in metres (W/L scales KP).
    """

    vto: float = 0.5
    kp: float = 2e-4
    lambda_: float = 0.0
    w: float = 2e-6
    l: float = 2e-7

    def __post_init__(self) -> None:
        check_real(self.vto, "NMOS threshold VTO")
        check_real(self.kp, "NMOS KP", positive=True)
        check_real(self.lambda_, "NMOS LAMBDA", nonneg=True)
        check_real(self.w, "NMOS width W", positive=True)
        check_real(self.l, "NMOS length L", positive=True)

    @property
    def beta(self) -> float:
        """KP * W / L in A/V^2."""
        return self.kp * self.w / self.l


@dataclass(frozen=True)
class CellModel:
    """What sits at each crosspoint besides the programmed conductance G[i, j].

    Attributes
    ----------
    kind:
        ``"resistor"`` (G alone), ``"diode"`` (diode selector, anode on the row, in series with
        1/G) or ``"1t1r"`` (1/G from the row to the drain of an NMOS whose source is the column).
    diode:
        Diode parameters (used when ``kind == "diode"``).
    nmos:
        Transistor parameters (used when ``kind == "1t1r"``).
    v_gate:
        Gate (word-line) voltage of every 1T1R transistor in volts.
    """

    kind: CellKind = "resistor"
    diode: DiodeModel = field(default_factory=DiodeModel)
    nmos: NmosModel = field(default_factory=NmosModel)
    v_gate: float = 3.3

    def __post_init__(self) -> None:
        if self.kind not in CELL_KINDS:
            raise InputError(f"unknown cell kind {self.kind!r}; choose one of {', '.join(CELL_KINDS)}")
        check_real(self.v_gate, "gate voltage")

    @property
    def is_linear(self) -> bool:
        """True when the cell's I-V law is linear (resistor cells only)."""
        return self.kind == "resistor"


@dataclass(frozen=True, eq=False)
class Crossbar:
    """An M x N crossbar array with its wiring and sensing.

    Attributes
    ----------
    G:
        Programmed conductances, shape (M, N), siemens, every entry within
        [:data:`~xbarsim._validate.G_MIN`, :data:`~xbarsim._validate.G_MAX`] = [1e-15, 1e9] S.
    cell:
        Cell model (resistor, diode selector or 1T1R).
    r_wire:
        Resistance of one row or column wire segment between adjacent cells (ohm, 0 = ideal).
        Every resistance is 0 or within [1e-9, 1e15] ohm (:func:`~xbarsim._validate.check_resistance`),
        the one rule all backends share.
    r_driver:
        Output resistance of each input driver (ohm, 0 = ideal source).
    r_sense:
        Resistance from the column's last cell to its sense node (ohm, 0 = same node).
    r_ref:
        ``None`` for an ideal virtual-ground sense (output = current), else the reference
        resistor from each sense node to ground (output = its voltage).
    name:
        Identifier used in messages and netlist comments.
    """

    G: np.ndarray
    cell: CellModel = field(default_factory=CellModel)
    r_wire: float = 0.0
    r_driver: float = 0.0
    r_sense: float = 0.0
    r_ref: float | None = None
    name: str = "xbar"

    def __post_init__(self) -> None:
        object.__setattr__(self, "G", check_conductance(self.G, f"conductance matrix of {self.name!r}"))
        if not isinstance(self.cell, CellModel):
            raise InputError(f"cell must be a CellModel, got {type(self.cell).__name__}")
        for attr in ("r_wire", "r_driver", "r_sense"):
            object.__setattr__(self, attr, check_resistance(getattr(self, attr), attr))
        if self.r_ref is not None:
            object.__setattr__(self, "r_ref", check_resistance(self.r_ref, "r_ref", zero_ok=False))
        check_name(self.name, "crossbar name")

    @property
    def shape(self) -> tuple[int, int]:
        """(M inputs, N outputs)."""
        return (int(self.G.shape[0]), int(self.G.shape[1]))

    @property
    def n_inputs(self) -> int:
        return int(self.G.shape[0])

    @property
    def n_outputs(self) -> int:
        return int(self.G.shape[1])

    def replace(self, **changes: object) -> Crossbar:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, eq=False)
class Network:
    """Crossbars chained in one circuit: layer k's sense voltages drive layer k+1's rows.

    Every layer but the last must have a reference resistor (its sense-node voltage is the next
    layer's input, applied through the next layer's ``r_driver``); layer k's N must equal
    layer k+1's M.
    """

    layers: tuple[Crossbar, ...]

    def __post_init__(self) -> None:
        layers = tuple(self.layers)
        if not layers:
            raise InputError("a Network needs at least one crossbar")
        for k, layer in enumerate(layers):
            if not isinstance(layer, Crossbar):
                raise InputError(f"layer {k} of the network is not a Crossbar")
        for k in range(len(layers) - 1):
            a, b = layers[k], layers[k + 1]
            if a.r_ref is None:
                raise InputError(f"layer {k} ({a.name}) needs r_ref: its sense voltages drive layer {k + 1}")
            if a.n_outputs != b.n_inputs:
                raise InputError(
                    f"layer {k} ({a.name}) has {a.n_outputs} outputs but layer {k + 1} "
                    f"({b.name}) has {b.n_inputs} inputs"
                )
        object.__setattr__(self, "layers", layers)

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_inputs

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_outputs


Circuit = Crossbar | Network


def as_network(circuit: Circuit) -> Network:
    """View a single crossbar as a one-layer network; networks pass through."""
    if isinstance(circuit, Network):
        return circuit
    if isinstance(circuit, Crossbar):
        return Network((circuit,))
    raise InputError(f"expected a Crossbar or Network, got {type(circuit).__name__}")
