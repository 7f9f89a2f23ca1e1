"""Nodal analysis of a :class:`~xbarsim.topology.Topology`: node partition and sparse stamps.

Every node is either *unknown* or *fixed* (ground, input sources, gate lines, virtual-ground
sense nodes); ground counts as fixed at 0 V. The linear resistors (plus the gmin conductances
ngspice puts from each MOS drain and source to the grounded bulk) form one sparse symmetric
conductance matrix ``Y`` over all nodes; diodes and transistors are kept as index arrays for
Newton. Nothing here re-derives the topology: it stamps exactly the elements ``build`` lists.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp

from ..circuit import Circuit, as_network
from ..errors import InputError
from ..spice.models import VT
from ..topology import Topology, build
from .devices import diode_vcrit

#: 1T1R transistor treatments: the ngspice MOS1 equations, or the channel conductance at Vds = 0.
MOS_MODES = ("level1", "linear")


class _DeviceArrays:
    """Parallel arrays, one entry per device: node indices (int) named in ``NODES``, parameters (float)."""

    NODES: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def empty(cls) -> Self:
        """No devices (lets the solvers index device arrays without None checks)."""
        arrays = {
            f.name: np.zeros(0, dtype=np.int64 if f.name in cls.NODES else np.float64)
            for f in fields(cls)  # type: ignore[arg-type]
        }
        return cls(**arrays)


@dataclass(frozen=True, eq=False)
class Diodes(_DeviceArrays):
    """All diodes of a circuit, concatenated over layers (anode ``a``, cathode ``k``)."""

    NODES: ClassVar[tuple[str, ...]] = ("a", "k")
    a: np.ndarray
    k: np.ndarray
    is_: np.ndarray
    vte: np.ndarray
    vcrit: np.ndarray


@dataclass(frozen=True, eq=False)
class Mosfets(_DeviceArrays):
    """All MOS1 transistors (drain, gate, source node; bulk is ground) with their parameters."""

    NODES: ClassVar[tuple[str, ...]] = ("d", "g", "s")
    d: np.ndarray
    g: np.ndarray
    s: np.ndarray
    beta: np.ndarray
    vto: np.ndarray
    lam: np.ndarray


@dataclass(frozen=True, eq=False)
class Mna:
    """Stamped circuit.

    Attributes
    ----------
    topo:
        The topology it was stamped from.
    unknown, fixed:
        Node indices of the unknown and the fixed nodes (ground is ``fixed[0]``).
    upos, fpos:
        (n_nodes,) position of each node in ``unknown`` / ``fixed`` (-1 if not there).
    Y:
        (n_nodes, n_nodes) CSR conductance matrix of the linear elements.
    fixed_const:
        (n_fixed,) values of the fixed nodes that do not come from the input vector.
    input_f:
        (M0,) positions of the input nodes in ``fixed``.
    diodes, mosfets:
        Nonlinear devices (``None`` when absent or, for 1T1R, when ``mos="linear"``).
    names:
        Layer names, for messages.
    """

    topo: Topology
    unknown: np.ndarray
    fixed: np.ndarray
    upos: np.ndarray
    fpos: np.ndarray
    Y: sp.csr_matrix
    fixed_const: np.ndarray
    input_f: np.ndarray
    diodes: Diodes | None
    mosfets: Mosfets | None
    names: tuple[str, ...]

    @property
    def n_nodes(self) -> int:
        return self.topo.n_nodes

    @property
    def is_linear(self) -> bool:
        return self.diodes is None and self.mosfets is None

    def fixed_values(self, V: np.ndarray) -> np.ndarray:
        """(B, n_fixed) fixed-node voltages for input vectors V (B, M0)."""
        xf = np.broadcast_to(self.fixed_const, (V.shape[0], self.fixed.size)).copy()
        xf[:, self.input_f] = V
        return xf


def partition_nodes(n: int, fixed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unknown nodes and the position maps node -> index among unknowns / among fixed (-1 if not)."""
    is_fixed = np.zeros(n, dtype=bool)
    is_fixed[fixed] = True
    unknown = np.flatnonzero(~is_fixed)
    upos = np.full(n, -1, dtype=np.int64)
    upos[unknown] = np.arange(unknown.size)
    fpos = np.full(n, -1, dtype=np.int64)
    fpos[fixed] = np.arange(fixed.size)
    return unknown, upos, fpos


def stamp(circuit: Circuit, *, mos: str = "level1", gmin: float = 1e-12) -> Mna:
    """Stamp ``circuit`` (via :func:`xbarsim.topology.build`) for the native solver."""
    if mos not in MOS_MODES:
        raise InputError(f"unknown mos option {mos!r}; choose one of {', '.join(MOS_MODES)}")
    net = as_network(circuit)
    if net.buffers:
        raise InputError("a buffered network is stamped segment by segment (Network.segments), not as one")
    topo = build(circuit)
    n = topo.n_nodes
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []

    def conductance(a: np.ndarray, b: np.ndarray, g: np.ndarray) -> None:
        rows.extend((a, b, a, b))
        cols.extend((a, b, b, a))
        vals.extend((g, g, -g, -g))

    for grp in topo.resistors:  # every value is >= MIN_RESISTANCE: Crossbar enforces the shared limit
        conductance(grp.n1, grp.n2, 1.0 / grp.value)

    fixed_vals = {0: 0.0}
    for node in topo.input_nodes:
        fixed_vals[int(node)] = 0.0
    for L, g in topo.gate_nodes.items():
        fixed_vals[int(g)] = float(net.layers[L].cell.v_gate)
    if topo.ammeter_layer is not None:
        for node in topo.sense_nodes[topo.ammeter_layer]:
            fixed_vals[int(node)] = 0.0

    diodes = None
    if topo.diodes:
        parts = []
        for dg in topo.diodes:
            dm = net.layers[dg.layer].cell.diode
            m = dg.n1.size
            is_ = np.full(m, dm.is_)
            vte = np.full(m, dm.n * VT)
            parts.append((dg.n1, dg.n2, is_, vte, diode_vcrit(is_, vte)))
        diodes = Diodes(*(np.concatenate([p[i] for p in parts]) for i in range(5)))

    mosfets = None
    if topo.mosfets:
        parts_m = []
        for mg in topo.mosfets:
            nm = net.layers[mg.layer].cell.nmos
            v_gate = float(net.layers[mg.layer].cell.v_gate)
            m = mg.d.size
            # Bulk junctions with IS = JS = 0: a gmin conductance from drain and from source to ground.
            zero = np.zeros(m, dtype=np.int64)
            conductance(mg.d, zero, np.full(m, gmin))
            conductance(mg.s, zero, np.full(m, gmin))
            if mos == "linear":
                g_ch = nm.beta * max(v_gate - nm.vto, 0.0)
                if g_ch > 0.0:
                    conductance(mg.d, mg.s, np.full(m, g_ch))
            else:
                parts_m.append(
                    (mg.d, mg.g, mg.s, np.full(m, nm.beta), np.full(m, nm.vto), np.full(m, nm.lambda_))
                )
        if parts_m:
            mosfets = Mosfets(*(np.concatenate([p[i] for p in parts_m]) for i in range(6)))

    empty = [np.zeros(0, dtype=np.int64)]  # an all-open array with ideal wires has no element at all
    r = np.concatenate(rows or empty)
    c = np.concatenate(cols or empty)
    v = np.concatenate(vals or [np.zeros(0)])
    Y = sp.coo_matrix((v, (r, c)), shape=(n, n)).tocsr()
    Y.sum_duplicates()

    fixed = np.array(sorted(fixed_vals), dtype=np.int64)
    fixed_const = np.array([fixed_vals[int(f)] for f in fixed])
    unknown, upos, fpos = partition_nodes(n, fixed)
    return Mna(
        topo=topo,
        unknown=unknown,
        fixed=fixed,
        upos=upos,
        fpos=fpos,
        Y=Y,
        fixed_const=fixed_const,
        input_f=fpos[topo.input_nodes],
        diodes=diodes,
        mosfets=mosfets,
        names=tuple(xb.name for xb in net.layers),
    )


def node_index(topo: Topology, name: str) -> int:
    """Merged node index of a node name as the netlist prints it (``"0"`` is ground)."""
    if name == "0":
        return 0
    for start, prefix, shape in topo.blocks:
        if not name.startswith(prefix):
            continue
        rest = name[len(prefix) :]
        if not shape:
            if rest:
                continue
            raw = start
        else:
            parts = rest.split("_")
            if len(parts) != len(shape) or not all(p.isdigit() for p in parts):
                continue
            idx = tuple(int(p) for p in parts)
            if any(i >= s for i, s in zip(idx, shape)):
                continue
            raw = start + int(np.ravel_multi_index(idx, shape))
        k = int(np.searchsorted(topo.node_raw, raw))
        if k < topo.node_raw.size and topo.node_raw[k] == raw:
            return k
        raise InputError(f"node {name!r} is merged into another node by a zero resistance; ask for that node")
    raise InputError(f"no node named {name!r} in this circuit")
