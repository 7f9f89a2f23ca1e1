"""Circuit descriptions: frozen, validated specs that every backend takes unchanged.

Topology contract (see ``docs/ARCHITECTURE.md``):

* Cell (i, j) sits between row node r(i, j) and column node c(i, j).
  A conductance of exactly 0 is an open cell: no device there (its element is left out).
* Row nodes r(i, j)-r(i, j+1) are joined by ``r_row``, column nodes c(i, j)-c(i+1, j) by ``r_col``
  (``r_wire`` sets both).
* Input i drives r(i, 0) through its :class:`~xbarsim.periphery.Driver` (offset, DAC) and ``r_driver``.
* Column j leaves c(M-1, j) through ``r_sense`` into sense node s(j): an ideal virtual ground
  (0 V; the current is the output) or ``r_ref`` to ground (its voltage is the output and can
  drive the next layer's rows).
* Between layers of a :class:`Network`: passive (the sense voltages drive the next rows) or an ideal
  :class:`~xbarsim.periphery.Buffer` per boundary; an :class:`~xbarsim.periphery.ADC` converts the
  last layer's outputs digitally.
* A resistance of 0 means the two nodes are one node.

Units are SI: G in siemens with shape (M inputs, N outputs), voltages in volts, currents in amperes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

import numpy as np

from ._validate import check_conductance, check_name, check_real, check_resistance, check_voltages
from .errors import InputError
from .periphery import ADC, Buffer, Driver
from .solution import Solution

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

    Level 1 because it is the card every SPICE solves the same way: the native solver implements
    ngspice's MOS1 equations (source/drain swap for negative Vds included), so both agree to
    solver tolerance (``xbarsim.native.devices``).

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
    """An M x N crossbar array with its wiring, drivers and sensing.

    Attributes
    ----------
    G:
        Programmed conductances, shape (M, N), siemens: exactly 0 is an open cell (no device at
        that crosspoint), every other entry within
        [:data:`~xbarsim._validate.G_MIN`, :data:`~xbarsim._validate.G_MAX`] = [1e-15, 1e9] S.
    cell:
        Cell model (resistor, diode selector or 1T1R).
    r_wire:
        Shorthand for ``r_row`` and ``r_col`` together (ohm, 0 = ideal). After construction it
        reads back their common value, or ``None`` when they differ. Every resistance is 0 or
        within [1e-9, 1e15] ohm (:func:`~xbarsim._validate.check_resistance`), the one rule all
        backends share.
    r_driver:
        Output resistance of each input driver (ohm, 0 = ideal source).
    r_sense:
        Resistance from the column's last cell to its sense node (ohm, 0 = same node).
    r_ref:
        ``None`` for an ideal virtual-ground sense (output = current), else the reference
        resistor from each sense node to ground (output = its voltage).
    name:
        Identifier used in messages and netlist comments.
    r_row, r_col:
        Word-line (row) and bit-line (column) segment resistances between adjacent cells (ohm).
        ``None`` (the default) takes ``r_wire`` (0 when that is not given either); a value that
        differs from a given ``r_wire`` is an error.
    driver:
        Input driver (offset voltage, DAC) of the rows; only the first layer of a network has
        inputs of its own, so any other layer must keep the identity driver.
    adc:
        Converter of the sensed outputs (last layer of a network only), applied digitally after
        the analog solve; it must have a full scale (see :meth:`~xbarsim.periphery.ADC.calibrated`).
    r_tia:
        Feedback resistance of an ideal transimpedance sense amplifier on a virtual-ground layer
        whose outputs feed a :class:`~xbarsim.periphery.Buffer`: the voltage handed to the buffer is
        ``I * r_tia`` (I into the sense node; a non-inverting transimpedance stage, i.e. an inverting
        op-amp TIA, -I*R_f, followed by a unity inverter, so positive currents stay positive).
    """

    G: np.ndarray
    cell: CellModel = field(default_factory=CellModel)
    r_wire: float | None = None
    r_driver: float = 0.0
    r_sense: float = 0.0
    r_ref: float | None = None
    name: str = "xbar"
    r_row: float = None  # type: ignore[assignment]  # always a float after __post_init__
    r_col: float = None  # type: ignore[assignment]
    driver: Driver = field(default_factory=Driver)
    adc: ADC | None = None
    r_tia: float | None = None

    def __post_init__(self) -> None:
        check_name(self.name, "crossbar name")
        object.__setattr__(self, "G", check_conductance(self.G, f"conductance matrix of {self.name!r}"))
        if not isinstance(self.cell, CellModel):
            raise InputError(f"cell must be a CellModel, got {type(self.cell).__name__}")
        for attr in ("r_driver", "r_sense"):
            object.__setattr__(self, attr, check_resistance(getattr(self, attr), attr))
        wire = None if self.r_wire is None else check_resistance(self.r_wire, "r_wire")
        for attr in ("r_row", "r_col"):
            value = getattr(self, attr)
            if value is None:
                value = 0.0 if wire is None else wire
            value = check_resistance(value, attr)
            if wire is not None and value != wire:
                raise InputError(
                    f"{attr}={value!r} contradicts r_wire={wire!r}: give r_wire (both) or r_row and r_col"
                )
            object.__setattr__(self, attr, value)
        object.__setattr__(self, "r_wire", self.r_row if self.r_row == self.r_col else None)
        if self.r_ref is not None:
            object.__setattr__(self, "r_ref", check_resistance(self.r_ref, "r_ref", zero_ok=False))
        if not isinstance(self.driver, Driver):
            raise InputError(f"driver must be a xbarsim.periphery.Driver, got {type(self.driver).__name__}")
        if self.adc is not None:
            if not isinstance(self.adc, ADC):
                raise InputError(
                    f"adc must be a xbarsim.periphery.ADC or None, got {type(self.adc).__name__}"
                )
            fs = self.adc.full_scale
            if fs is None:
                raise InputError(
                    f"the ADC of {self.name!r} has no full scale: give one or calibrate it first"
                )
            if np.ndim(fs) == 1 and np.size(fs) != self.n_outputs:
                raise InputError(
                    f"the ADC of {self.name!r} has {np.size(fs)} per-column full scales "
                    f"for {self.n_outputs} columns"
                )
        if self.r_tia is not None:
            object.__setattr__(self, "r_tia", check_resistance(self.r_tia, "r_tia", zero_ok=False))
            if self.r_ref is not None:
                raise InputError(
                    f"{self.name!r}: r_tia is a virtual-ground sense amplifier; "
                    "it cannot be combined with r_ref"
                )

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

    @property
    def open_cells(self) -> int:
        """Number of crosspoints without a device (G exactly 0)."""
        return int(np.count_nonzero(self.G == 0.0))

    def handed_on_gain(self, buffer: Buffer | None) -> float:
        """Volts the next layer's rows get per ampere of this layer's outputs: (r_ref or r_tia) x gain."""
        r = self.r_ref if self.r_ref is not None else self.r_tia
        if r is None:
            raise InputError(f"{self.name!r} has neither r_ref nor r_tia: its outputs drive no next layer")
        return float(r) * (1.0 if buffer is None else buffer.gain)

    def sensed_voltages(self, currents: np.ndarray, voltages: np.ndarray) -> np.ndarray:
        """What a buffer after this layer senses: ``I * r_tia`` with a TIA, else the r_ref voltages."""
        return currents * self.r_tia if self.r_tia is not None else voltages

    def replace(self, **changes: object) -> Crossbar:
        """A copy with some fields changed (validated again).

        ``r_wire`` alone sets both segment resistances; ``r_row`` or ``r_col`` alone keeps the other.
        """
        if "r_wire" in changes:
            changes.setdefault("r_row", None)
            changes.setdefault("r_col", None)
        elif "r_row" in changes or "r_col" in changes:
            changes["r_wire"] = None
        return replace(self, **changes)  # type: ignore[arg-type]


Coupling = Literal["passive"] | Buffer


@dataclass(frozen=True, eq=False)
class Network:
    """Crossbars chained in one circuit: layer k's sensed outputs drive layer k+1's rows.

    Attributes
    ----------
    layers:
        The crossbars; layer k's N must equal layer k+1's M.
    coupling:
        ``"passive"`` (the default: layer k's sense-node voltages drive layer k+1's rows through
        its ``r_driver``, so layer k needs ``r_ref``), one :class:`~xbarsim.periphery.Buffer` for
        every boundary, or a tuple of ``len(layers) - 1`` entries, each ``"passive"`` or a Buffer.
        A buffered boundary senses layer k's ``r_ref`` voltage, or ``I * r_tia`` of a
        virtual-ground layer, and re-drives layer k+1's rows from an ideal source
        ``buffer.apply(v)`` through layer k+1's ``r_driver``; it draws no current, so the layers
        on either side are independent circuits.
    """

    layers: tuple[Crossbar, ...]
    coupling: Coupling | tuple[Coupling, ...] = "passive"

    def __post_init__(self) -> None:
        layers = tuple(self.layers)
        if not layers:
            raise InputError("a Network needs at least one crossbar")
        for k, layer in enumerate(layers):
            if not isinstance(layer, Crossbar):
                raise InputError(f"layer {k} of the network is not a Crossbar")
        coupling = self.coupling
        links = tuple(coupling) if isinstance(coupling, (tuple, list)) else (coupling,) * (len(layers) - 1)
        if len(links) != len(layers) - 1:
            raise InputError(f"coupling has {len(links)} entries for {len(layers) - 1} layer boundaries")
        for k, link in enumerate(links):
            if not (isinstance(link, Buffer) or (isinstance(link, str) and link == "passive")):
                raise InputError(
                    f"coupling {k} must be 'passive' or a xbarsim.periphery.Buffer, got {link!r}"
                )
        for k in range(len(layers) - 1):
            a, b = layers[k], layers[k + 1]
            if isinstance(links[k], Buffer):
                if a.r_ref is None and a.r_tia is None:
                    raise InputError(
                        f"layer {k} ({a.name}) drives a buffer: it needs r_ref (voltage) or r_tia (amplifier)"
                    )
            elif a.r_ref is None:
                raise InputError(f"layer {k} ({a.name}) needs r_ref: its sense voltages drive layer {k + 1}")
            if a.n_outputs != b.n_inputs:
                raise InputError(
                    f"layer {k} ({a.name}) has {a.n_outputs} outputs but layer {k + 1} "
                    f"({b.name}) has {b.n_inputs} inputs"
                )
        for k, layer in enumerate(layers):
            if k and not layer.driver.is_identity:
                raise InputError(
                    f"layer {k} ({layer.name}) has a driver offset or DAC; only the first layer has inputs "
                    "(use a Buffer's offset between layers)"
                )
            if layer.adc is not None and k != len(layers) - 1:
                raise InputError(
                    f"layer {k} ({layer.name}) has an ADC; only the last layer's outputs are converted"
                )
            if layer.r_tia is not None and not (k < len(links) and isinstance(links[k], Buffer)):
                raise InputError(f"layer {k} ({layer.name}) has r_tia but does not drive a buffer")
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "coupling", links if isinstance(coupling, (tuple, list)) else coupling)

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_inputs

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_outputs

    @cached_property
    def links(self) -> tuple[Coupling, ...]:
        """The coupling of each boundary k (between layers k and k+1)."""
        c = self.coupling
        return tuple(c) if isinstance(c, tuple) else (c,) * (len(self.layers) - 1)

    @cached_property
    def buffers(self) -> dict[int, Buffer]:
        """``{k: buffer}`` of the buffered boundaries (built once: backends read it per solve)."""
        return {k: b for k, b in enumerate(self.links) if isinstance(b, Buffer)}

    @cached_property
    def segments(self) -> tuple[Network, ...]:
        """The passive sub-networks between buffers, in order (one object each, built once).

        A lone passive network is its own only segment; a backend that cannot stamp buffers
        solves the segments one after another (an ideal buffer decouples them exactly).
        """
        if not self.buffers:
            return (self,)
        cuts = [0, *[k + 1 for k in sorted(self.buffers)], len(self.layers)]
        out = []
        for a, b in itertools.pairwise(cuts):
            part = list(self.layers[a:b])
            if part[-1].r_tia is not None:  # within its segment the amplifier's layer is a plain output
                part[-1] = part[-1].replace(r_tia=None)
            out.append(Network(tuple(part)))
        return tuple(out)


Circuit = Crossbar | Network


def as_network(circuit: Circuit) -> Network:
    """View a single crossbar as a one-layer network; networks pass through."""
    if isinstance(circuit, Network):
        return circuit
    if isinstance(circuit, Crossbar):
        return Network((circuit,))
    raise InputError(f"expected a Crossbar or Network, got {type(circuit).__name__}")


def drive_inputs(circuit: Circuit, V: object) -> np.ndarray:
    """The (B, M0) voltages the input sources apply for requested voltages ``V``.

    The one place where the first layer's :class:`~xbarsim.periphery.Driver` (DAC, then offset)
    acts: every backend and the netlist writer call it, so they all drive the same voltages.
    """
    net = as_network(circuit)
    x = check_voltages(V, net.n_inputs)
    driver = net.layers[0].driver
    return x if driver.is_identity else driver.apply(x)


def convert_outputs(circuit: Circuit, solution: Solution) -> Solution:
    """``solution`` with the last layer's :class:`~xbarsim.periphery.ADC` applied (if it has one).

    Digital, after the analog solve, identical for every backend: :attr:`Solution.outputs` become
    the converted values and :attr:`Solution.analog_outputs` keep the unconverted ones.
    """
    adc = as_network(circuit).layers[-1].adc
    if adc is None:
        return solution
    return replace(solution, digital_outputs=adc.convert(solution.analog_outputs))


def periphery_nonlinear(circuit: Circuit) -> list[str]:
    """Periphery that breaks ``outputs = V @ T`` (empty when the periphery is linear).

    A driver offset or a buffer offset makes the map affine, a DAC, a clamp or an ADC makes it
    nonlinear; such a circuit has no transfer matrix (solve it directly).
    """
    net = as_network(circuit)
    found = []
    d = net.layers[0].driver
    if d.offset != 0.0:
        found.append("driver offset")
    if d.bits is not None:
        found.append("DAC")
    for buf in net.buffers.values():
        if buf.offset != 0.0 and "buffer offset" not in found:
            found.append("buffer offset")
        if buf.clamp is not None and "buffer clamp" not in found:
            found.append("buffer clamp")
    if net.layers[-1].adc is not None:
        found.append("ADC")
    return found
