"""The one element list behind every backend: nodes, resistors, diodes, transistors, sources.

``build(circuit)`` turns a :class:`~xbarsim.circuit.Crossbar` or :class:`~xbarsim.circuit.Network`
into flat index arrays (vectorized, so 512 x 512 arrays build in well under a second). The netlist
writer prints exactly these elements and the native solver stamps exactly these elements, so the two
cannot disagree about the topology.

Node 0 is ground. Zero-ohm resistances merge their two nodes (SPICE never sees a 0-ohm resistor);
a merged node keeps the name of its earliest-allocated member, so names are deterministic.
Raw node names: ``in_i`` (network inputs), ``r{L}_{i}_{j}`` (rows), ``c{L}_{i}_{j}`` (columns),
``m{L}_{i}_{j}`` (inside a diode or 1T1R cell), ``s{L}_{j}`` (sense nodes), ``g{L}`` (gate line),
``b{L}_{i}`` (output of the buffer that drives row i of layer L).

An open cell (G exactly 0) has no element, and neither its inner node nor its transistor exists; a
node no element touches is dropped, so nothing floats because of it. The row and column wires stay:
a row whose cells are all open hangs on its driver and a column on its sense node (they carry no
current), so every pattern of open cells, up to an all-open array (outputs 0), is a valid circuit.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .circuit import Circuit, Crossbar, as_network
from .errors import InputError
from .periphery import Buffer


@dataclass(frozen=True, eq=False)
class ElementGroup:
    """Two-terminal elements of one role in one layer (resistors or diodes).

    ``kind`` is the role (``drv`` driver, ``rw`` row wire, ``cw`` column wire, ``sen`` sense,
    ``ref`` reference, ``cell`` programmed resistance, ``dio`` diode); ``i``/``j`` index the
    element within the layer, so element names ``{kind}{layer}_{i}_{j}`` are unique.
    ``n1``/``n2`` are merged node indices (for diodes n1 = anode); ``value`` is ohms for
    resistors and unused (NaN) for diodes.
    """

    kind: str
    layer: int
    i: np.ndarray
    j: np.ndarray
    n1: np.ndarray
    n2: np.ndarray
    value: np.ndarray


@dataclass(frozen=True, eq=False)
class MosGroup:
    """The NMOS transistors of one layer's 1T1R cells (drain, gate, source; bulk is ground)."""

    layer: int
    i: np.ndarray
    j: np.ndarray
    d: np.ndarray
    g: np.ndarray
    s: np.ndarray


@dataclass(frozen=True, eq=False)
class BufferLink:
    """An ideal buffer between layer ``layer`` and ``layer + 1``: one controlled source per column.

    ``sense`` (N,) are layer ``layer``'s sense nodes: their voltage is the buffer input
    (``by_current`` False, an r_ref layer), or they are virtual grounds whose current times
    ``r_tia`` is (``by_current`` True, with zero-volt ammeters). ``out`` (N,) are the nodes the
    buffer sources fix at ``buffer.apply(v)``, each driving the next layer's row through its r_driver.
    """

    layer: int
    buffer: Buffer
    sense: np.ndarray
    out: np.ndarray
    by_current: bool
    r_tia: float | None


@dataclass(frozen=True, eq=False)
class Topology:
    """Flat description of a circuit's elements with merged node indices.

    Attributes
    ----------
    node_raw:
        Raw id of each merged node's representative (its earliest-allocated member).
    blocks:
        The raw-id blocks ``(start, prefix, shape)`` that name raw ids; see :meth:`node_name`.
    resistors, diodes:
        Element groups (diodes carry their layer's :class:`~xbarsim.circuit.DiodeModel`).
    mosfets:
        Transistor groups of 1T1R layers.
    input_nodes:
        (M0,) node driven by each input source (value from the input vector).
    gate_nodes:
        ``{layer: node}`` of each 1T1R layer's gate line (fixed at the layer's ``v_gate``).
    sense_nodes:
        Per layer, (N_L,) sense node indices.
    ammeter_layer:
        Index of the last layer when its sense is a virtual ground (sense nodes held at 0 V
        by zero-volt sources whose currents are the outputs), else ``None``.
    links:
        The buffered layer boundaries (empty for a passive network).
    """

    node_raw: np.ndarray
    blocks: tuple[tuple[int, str, tuple[int, ...]], ...]
    resistors: tuple[ElementGroup, ...]
    diodes: tuple[ElementGroup, ...]
    mosfets: tuple[MosGroup, ...]
    input_nodes: np.ndarray
    gate_nodes: dict[int, int]
    sense_nodes: tuple[np.ndarray, ...]
    ammeter_layer: int | None
    links: tuple[BufferLink, ...] = ()

    @property
    def n_nodes(self) -> int:
        """Number of nodes including ground."""
        return int(self.node_raw.size)

    def node_name(self, node: int) -> str:
        """Deterministic name of merged node ``node`` (0 is ``"0"``)."""
        return _raw_name(self.blocks, int(self.node_raw[node]))

    @cached_property
    def node_names(self) -> tuple[str, ...]:
        """Names of all merged nodes, index 0 = ``"0"`` (built on first use: slow for huge arrays)."""
        return tuple(_raw_name(self.blocks, int(k)) for k in self.node_raw)

    def fixed_nodes(self) -> np.ndarray:
        """Nodes whose voltage a source fixes (inputs, gates, virtual-ground sense nodes)."""
        parts = [self.input_nodes, np.array(sorted(self.gate_nodes.values()), dtype=np.int64)]
        if self.ammeter_layer is not None:
            parts.append(self.sense_nodes[self.ammeter_layer])
        for link in self.links:
            parts.append(link.out)
            if link.by_current:
                parts.append(link.sense)
        return np.unique(np.concatenate(parts).astype(np.int64))


def _raw_name(blocks: tuple[tuple[int, str, tuple[int, ...]], ...], raw: int) -> str:
    if raw == 0:
        return "0"
    k = bisect.bisect_right([b[0] for b in blocks], raw) - 1
    start, prefix, shape = blocks[k]
    if not shape:
        return prefix
    return prefix + "_".join(str(int(x)) for x in np.unravel_index(raw - start, shape))


class _Alloc:
    """Raw node allocator (ids only; names are derived from the blocks on demand)."""

    def __init__(self) -> None:
        self.count = 1  # raw id 0 is ground
        self.blocks: list[tuple[int, str, tuple[int, ...]]] = []

    def block(self, prefix: str, shape: tuple[int, ...]) -> np.ndarray:
        start = self.count
        n = int(np.prod(shape)) if shape else 1
        self.blocks.append((start, prefix, tuple(shape)))
        self.count += n
        return np.arange(start, start + n, dtype=np.int64).reshape(shape)


def build(circuit: Circuit) -> Topology:
    """Flatten ``circuit`` into merged nodes and element groups (pure function)."""
    net = as_network(circuit)
    al = _Alloc()
    m0 = net.layers[0].n_inputs
    inputs = al.block("in_", (m0,))
    raw_edges: list[tuple[str, int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    raw_diodes: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    raw_mos: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    gate_raw: dict[int, int] = {}
    sense_raw: list[np.ndarray] = []
    raw_links: list[tuple[int, Buffer, np.ndarray, np.ndarray]] = []
    buffers = net.buffers
    any_open = False
    layer_in = inputs
    for L, xb in enumerate(net.layers):
        M, N = xb.shape
        if L - 1 in buffers:  # the previous layer's buffers drive fresh nodes, not its sense nodes
            out = al.block(f"b{L}_", (M,))
            raw_links.append((L - 1, buffers[L - 1], layer_in, out))
            layer_in = out
        s = al.block(f"s{L}_", (N,))  # first, so merged sense nodes keep the s-name
        r = al.block(f"r{L}_", (M, N))
        c = al.block(f"c{L}_", (M, N))
        ar_m = np.arange(M)
        ar_n = np.arange(N)

        def add(kind: str, i, j, a, b, val, L: int = L) -> None:
            i = np.asarray(i, dtype=np.int64).ravel()
            raw_edges.append(
                (
                    kind,
                    L,
                    i,
                    np.asarray(j, dtype=np.int64).ravel(),
                    np.asarray(a).ravel(),
                    np.asarray(b).ravel(),
                    np.broadcast_to(
                        np.asarray(val, dtype=np.float64).ravel() if np.ndim(val) else np.float64(val),
                        i.shape,
                    ).copy(),
                )
            )

        add("drv", ar_m, np.zeros(M), layer_in, r[:, 0], xb.r_driver)
        if N > 1:
            ii, jj = np.indices((M, N - 1))
            add("rw", ii, jj, r[:, :-1], r[:, 1:], xb.r_row)
        if M > 1:
            ii, jj = np.indices((M - 1, N))
            add("cw", ii, jj, c[:-1, :], c[1:, :], xb.r_col)
        add("sen", np.full(N, M - 1), ar_n, c[M - 1, :], s, xb.r_sense)
        if xb.r_ref is not None:
            add("ref", np.zeros(N), ar_n, s, np.zeros(N, dtype=np.int64), xb.r_ref)
        if xb.open_cells:  # closed cells only, row-major; open ones (G == 0) have no element
            ci, cj = np.nonzero(xb.G)
            rc, cc, cell_r = r[ci, cj], c[ci, cj], 1.0 / xb.G[ci, cj]
            any_open = True
        else:
            ci, cj = (a.ravel() for a in np.indices((M, N)))
            rc, cc, cell_r = r.ravel(), c.ravel(), 1.0 / xb.G.ravel()
        kind = xb.cell.kind
        if kind == "resistor":
            add("cell", ci, cj, rc, cc, cell_r)
        else:
            mid_block = al.block(f"m{L}_", (M, N))
            mid = mid_block[ci, cj] if xb.open_cells else mid_block.ravel()
            if kind == "diode":
                raw_diodes.append((L, ci, cj, rc, mid))
                add("cell", ci, cj, mid, cc, cell_r)
            elif ci.size:  # 1t1r; a layer without any device has no gate line either
                add("cell", ci, cj, rc, mid, cell_r)
                g = int(al.block(f"g{L}", ()))
                gate_raw[L] = g
                raw_mos.append((L, ci, cj, mid, np.full(ci.size, g), cc))
        sense_raw.append(s)
        layer_in = s

    # Merge nodes joined by zero-ohm edges.
    n_raw = al.count
    zero_a = [e[4][e[6] == 0.0] for e in raw_edges]
    zero_b = [e[5][e[6] == 0.0] for e in raw_edges]
    za = np.concatenate(zero_a) if zero_a else np.zeros(0, np.int64)
    zb = np.concatenate(zero_b) if zero_b else np.zeros(0, np.int64)
    adj = coo_matrix((np.ones(za.size), (za, zb)), shape=(n_raw, n_raw))
    _, comp = connected_components(adj, directed=False)
    # Representative = smallest raw id in the component; ground's component maps to 0.
    rep = np.full(comp.max() + 1, n_raw, dtype=np.int64)
    np.minimum.at(rep, comp, np.arange(n_raw))
    rep_of_raw = rep[comp]
    # Nodes no element or source touches (inner nodes of open cells) are left out; without open
    # cells every node is touched, and the marking is skipped.
    used = np.ones(n_raw, dtype=bool)
    if any_open:
        used[:] = False
        used[0] = True
        touched = (
            [e[4] for e in raw_edges]
            + [e[5] for e in raw_edges]
            + [d[3] for d in raw_diodes]
            + [d[4] for d in raw_diodes]
            + [m[3] for m in raw_mos]
            + [m[5] for m in raw_mos]
            + [inputs, np.array(list(gate_raw.values()), dtype=np.int64)]
            + [lk[3] for lk in raw_links]
        )
        for part in touched:
            used[part] = True
    reps = np.flatnonzero((rep_of_raw == np.arange(n_raw)) & used)  # sorted, so ground (raw 0) is first
    new_index = np.full(n_raw, -1, dtype=np.int64)
    new_index[reps] = np.arange(reps.size)
    remap = new_index[rep_of_raw]

    resistors = []
    for kind_, L, i, j, a, b, val in raw_edges:
        keep = val != 0.0
        if keep.any():
            resistors.append(
                ElementGroup(kind_, L, i[keep], j[keep], remap[a[keep]], remap[b[keep]], val[keep])
            )
    diodes = tuple(
        ElementGroup("dio", L, i, j, remap[a], remap[b], np.full(i.shape, np.nan))
        for L, i, j, a, b in raw_diodes
        if i.size
    )
    mosfets = tuple(MosGroup(L, i, j, remap[d], remap[g], remap[s]) for L, i, j, d, g, s in raw_mos)
    links = tuple(
        BufferLink(
            layer=k,
            buffer=buf,
            sense=remap[sense],
            out=remap[out],
            by_current=net.layers[k].r_ref is None,
            r_tia=net.layers[k].r_tia,
        )
        for k, buf, sense, out in raw_links
    )
    last = net.layers[-1]
    return Topology(
        node_raw=reps,
        blocks=tuple(al.blocks),
        resistors=tuple(resistors),
        diodes=diodes,
        mosfets=mosfets,
        input_nodes=remap[inputs],
        gate_nodes={L: int(remap[g]) for L, g in gate_raw.items()},
        sense_nodes=tuple(remap[s] for s in sense_raw),
        ammeter_layer=(len(net.layers) - 1) if last.r_ref is None else None,
        links=links,
    )


def layer_of(circuit: Circuit, L: int) -> Crossbar:
    """Layer ``L`` of a circuit (a lone crossbar is layer 0)."""
    return as_network(circuit).layers[L]


_NODE_RE = re.compile(r"^(?:(in)_(\d+)|([rcmsb])(\d+)_([0-9_]+)|(g)(\d+))$")


def segment_node(circuit: Circuit, name: str) -> tuple[int, str]:
    """Where node ``name`` of a buffered network lives: (segment index, its name in that segment).

    A buffered network is solved as its passive :attr:`~xbarsim.circuit.Network.segments`; a node
    of layer L keeps its kind and indices with L counted from the segment's first layer, and the
    buffer output b{L}_i feeding a segment is that segment's input node in_i.
    """
    net = as_network(circuit)
    if name == "0":
        return 0, "0"
    m = _NODE_RE.match(name) if isinstance(name, str) else None
    if m is None:
        raise InputError(f"no node named {name!r} in this circuit")
    if m.group(1):
        return 0, name
    kind, layer, rest = (m.group(3), m.group(4), m.group(5)) if m.group(3) else (m.group(6), m.group(7), "")
    L = int(layer)
    start = 0
    for k, seg in enumerate(net.segments):
        if L < start + len(seg.layers):
            if kind == "b":
                if L != start or k == 0:
                    raise InputError(f"no node named {name!r} in this circuit")
                return k, f"in_{rest}"
            return k, f"{kind}{L - start}" + (f"_{rest}" if rest else "")
        start += len(seg.layers)
    raise InputError(f"no node named {name!r} in this circuit")
