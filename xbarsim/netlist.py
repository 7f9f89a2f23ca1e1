"""Netlist writer: circuit + input vectors -> ngspice deck text (pure functions, no I/O).

The deck is printed from :func:`xbarsim.topology.build` alone, so it has exactly the elements the
native solver stamps. Names are deterministic:

* nodes: the topology's names (``in_i``, ``r{L}_{i}_{j}``, ``c{L}_{i}_{j}``, ``m{L}_{i}_{j}``,
  ``s{L}_{j}``, ``g{L}``; merged nodes keep their earliest member's name); ``0`` is ground;
* resistors ``R{kind}{L}_{i}_{j}`` (kind: drv, rw, cw, sen, ref, cell), diodes ``Ddio{L}_{i}_{j}``,
  transistors ``Mmos{L}_{i}_{j}`` (bulk on ground); elements are printed layer by layer, column by column
  (a node order that gives ngspice's sparse LU less fill-in, see :func:`_element_lines`);
* input sources ``Vin_{i}`` (one vector) or ``Bin_{i}`` (a batch) carrying the *driven* voltages
  (the first layer's driver applied by :func:`~xbarsim.circuit.drive_inputs`), gate sources ``Vg{L}``,
  zero-volt ammeters ``Vam{L}_{j}`` from each virtual-ground sense node to ground (the last layer's,
  and those of a layer whose ``r_tia`` amplifier feeds a buffer), so that ``i(Vam{L}_{j})`` is the
  current *into* the sense node;
* buffers ``Bbuf{k}_{j}``: a B source from node ``b{k+1}_{j}`` to ground,
  ``V = min(max((gain)*V(s{k}_{j})+(offset), lo), hi)`` (``(r_tia)*i(Vam{k}_{j})`` for a
  transimpedance layer; no min/max without a clamp), printed by :func:`buffer_expression` from
  validated floats only.

Batch of B vectors (one ngspice process): a DC sweep of the index source ``Vidx`` over 0..B-1;
every input is a B-source ``V = pwl(V(xidx), 0, v_0, 1, v_1, ..., B-1, v_B-1, B, v_B-1)``.
ngspice orders the matrix once and starts each point from the previous solution. The breakpoints
sit on the integers on purpose: ngspice's pwl takes the segment *starting* at the argument, so at
x = k it returns v_k exactly, and its derivative at the previous point k-1 is the slope towards
v_k, so the first Newton step already lands on the new inputs (2 iterations per vector on a
linear array instead of 3 with flat steps; the extra breakpoint at B keeps the last vector exact).
``bench/ngspice_batch.py`` measures this against one process per vector and an alter/op loop.
``.save`` keeps only the vectors the backends read (:class:`Deck` lists them).

Everything from user text is validated: names by :func:`~xbarsim._validate.check_name`, the title
is reduced to a safe character set, options are a whitelist of numeric keys, numbers are printed
with Python's exact ``repr``. Nothing passed in can start a control line.
"""

from __future__ import annotations

import math
import re
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypedDict, Unpack

import numpy as np

from .circuit import Circuit, Crossbar, Network, as_network, drive_inputs
from .errors import InputError, TopologyError
from .periphery import Buffer
from .spice.models import (
    DIODE_MODEL_NAME,
    NMOS_MODEL_NAME,
    diode_card,
    nmos_card,
    nmos_geometry,
    spice_number,
)
from .topology import Topology, build


def _periphery_note(xb: Crossbar) -> str:
    """Header text for a layer's driver, amplifier and converter (empty when it has none)."""
    d = xb.driver
    parts = []
    if d.offset != 0.0:
        parts.append(f"driver offset={spice_number(d.offset)} on {d.offset_inputs} rows")
    if d.bits is not None:
        parts.append(f"DAC {d.bits} bits [{spice_number(d.v_min)}, {spice_number(d.v_max)}]")  # type: ignore[arg-type]
    if xb.r_tia is not None:
        parts.append(f"r_tia={spice_number(xb.r_tia)}")
    if xb.adc is not None:
        parts.append(f"ADC {xb.adc.bits} bits (applied after the solve)")
    return ("; " + ", ".join(parts)) if parts else ""


def _buffer_note(buf: Buffer, xb: Crossbar) -> str:
    sensed = "sense voltage" if xb.r_ref is not None else f"I*r_tia (r_tia={spice_number(xb.r_tia)})"  # type: ignore[arg-type]
    clamp = (
        "" if buf.clamp is None else f", clamp [{spice_number(buf.clamp[0])}, {spice_number(buf.clamp[1])}]"
    )
    return f"v = {spice_number(buf.gain)} * {sensed} + {spice_number(buf.offset)}{clamp}"


def buffer_expression(buf: Buffer, sensed: str) -> str:
    """B-source expression of ``buf`` applied to ``sensed`` (``V(node)`` or ``i(vam..)`` times r_tia).

    Every number is printed by :func:`spice_number` from a validated float, so nothing but
    digits, signs, exponents and this fixed text reaches the deck.
    """
    expr = f"({spice_number(buf.gain)})*{sensed}"
    if buf.offset != 0.0:
        expr = f"{expr}+({spice_number(buf.offset)})"
    if buf.clamp is not None:
        expr = f"min(max({expr}, {spice_number(buf.clamp[0])}), {spice_number(buf.clamp[1])})"
    return expr


def _buffer_lines(
    topo: Topology, name: Sequence[str], lines: list[str]
) -> dict[int, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Append one B source per buffered column; return the vectors that hold its voltage and current."""
    out: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    if topo.links:
        lines.append("* ideal buffers between layers: Bbuf{k}_{j} re-drives row j of layer k+1")
    for lk in topo.links:
        k = lk.layer
        volts, amps = [], []
        for j, (sn, on) in enumerate(zip(lk.sense.tolist(), lk.out.tolist())):
            if lk.by_current:
                sensed = f"({spice_number(lk.r_tia)})*i(Vam{k}_{j})"  # type: ignore[arg-type]
            else:
                sensed = f"V({name[sn]})"
            lines.append(f"Bbuf{k}_{j} {name[on]} 0 V={buffer_expression(lk.buffer, sensed)}")
            volts.append(f"v({name[on]})")
            amps.append(f"i(bbuf{k}_{j})")
        out[k] = (tuple(volts), tuple(amps))
    return out


#: ngspice ``.options`` keys a user may set, with their kind (float > 0, or int >= minimum).
OPTION_KEYS: dict[str, tuple[type, float]] = {
    "reltol": (float, 0.0),
    "abstol": (float, 0.0),
    "vntol": (float, 0.0),
    "gmin": (float, 0.0),
    "pivtol": (float, 0.0),
    "pivrel": (float, 0.0),
    "itl1": (int, 1),
    "itl2": (int, 1),
    "gminsteps": (int, 0),
    "srcsteps": (int, 0),
}

#: Index-sweep node and source of batch decks (not topology nodes: no topology name starts with x).
INDEX_NODE = "xidx"
INDEX_SOURCE = "Vidx"
_TITLE_KEEP = re.compile(r"[^A-Za-z0-9 _,:;=()/#%+-]")


def check_options(options: Mapping[str, object] | None) -> dict[str, float | int]:
    """Validate ngspice ``.options``: whitelisted keys, finite numbers only (raise InputError)."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise InputError("ngspice options must be a mapping of option name to number")
    out: dict[str, float | int] = {}
    for key, value in options.items():
        k = key.lower() if isinstance(key, str) else key
        if k not in OPTION_KEYS:
            raise InputError(f"ngspice option {key!r} is not allowed; choose from {', '.join(OPTION_KEYS)}")
        kind, minimum = OPTION_KEYS[k]
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise InputError(f"ngspice option {key} must be a number, got {value!r}")
        if kind is int:
            if float(value) != int(value) or int(value) < minimum:
                raise InputError(f"ngspice option {key} must be an integer >= {int(minimum)}, got {value!r}")
            out[k] = int(value)
        else:
            x = float(value)
            if not math.isfinite(x) or x <= minimum:
                raise InputError(f"ngspice option {key} must be a finite number > 0, got {value!r}")
            out[k] = x
    return out


def sanitize_title(title: object) -> str:
    """One safe line: letters, digits, spaces and ``_,:;=()/#%+-``; anything else becomes ``_``."""
    text = _TITLE_KEEP.sub("_", str(title))[:80].strip()
    return text or "xbarsim"


@dataclass(frozen=True)
class Deck:
    """A deck's text and the raw-file vectors that hold each result.

    Attributes
    ----------
    text:
        The ngspice deck.
    batch:
        B, the number of input vectors (0 when the deck was written without V).
    sense_vectors:
        Per layer, the (N_L,) ``v(node)`` names of its sense nodes, or ``None`` for a
        virtual-ground (ammeter) layer whose sense voltages are 0.
    ammeter_vectors:
        (N,) ``i(vam...)`` names of the ammeter layer (empty when every layer has ``r_ref``).
    source_vectors:
        (M0,) names of the input-source currents (current into the source's + terminal).
    node_vectors:
        ``{requested node: vector name}`` (``None`` for ground).
    inputs:
        (B, M0) voltages the input sources apply (after the first layer's driver), or ``None``.
    layer_ammeters:
        ``{layer: (N,) i(vam...) names}`` of every virtual-ground layer (the last one and those
        whose amplifier feeds a buffer).
    buffer_vectors:
        ``{layer k: (output voltages, source currents)}`` of the buffers after layer k.
    """

    text: str
    batch: int
    sense_vectors: tuple[tuple[str, ...] | None, ...]
    ammeter_vectors: tuple[str, ...]
    source_vectors: tuple[str, ...]
    node_vectors: dict[str, str | None]
    inputs: np.ndarray | None = None
    layer_ammeters: dict[int, tuple[str, ...]] = field(default_factory=dict)
    buffer_vectors: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)


def node_names(topo: Topology) -> list[str]:
    """``topo.node_names`` computed block by block with NumPy (fast for large arrays)."""
    raw = topo.node_raw
    names = ["0"] * raw.size
    starts = np.array([b[0] for b in topo.blocks], dtype=np.int64)
    block_of = np.searchsorted(starts, raw, side="right") - 1
    for k, (start, prefix, shape) in enumerate(topo.blocks):
        idx = np.flatnonzero((block_of == k) & (raw != 0))
        if not idx.size:
            continue
        if not shape:
            text = [prefix] * idx.size
        else:
            coords = np.unravel_index(raw[idx] - start, shape)
            joined = coords[0].astype(str)
            for c in coords[1:]:
                joined = np.char.add(np.char.add(joined, "_"), c.astype(str))
            text = np.char.add(prefix, joined).tolist()
        for n, t in zip(idx.tolist(), text):
            names[n] = t
    return names


def _resolve_nodes(topo: Topology, names: Sequence[str], nodes: Iterable[str]) -> dict[str, int]:
    wanted = list(nodes)
    if not wanted:
        return {}
    index = {name: k for k, name in enumerate(names)}
    out: dict[str, int] = {}
    for name in wanted:
        if not isinstance(name, str) or name not in index:
            raise InputError(
                f"unknown node {name!r}; node names look like in_0, r0_1_2, c0_1_2, s0_3 "
                "(nodes joined by a zero resistance keep the name of their first member)"
            )
        out[name] = index[name]
    return out


def _chunks(items: Sequence[str], size: int) -> list[str]:
    return [", ".join(items[k : k + size]) for k in range(0, len(items), size)]


def _element_lines(net: Network, topo: Topology, name: Sequence[str]) -> list[str]:
    """Element lines sorted by (layer, column j, row i).

    ngspice numbers nodes in the order they first appear, and Sparse's Markowitz ordering breaks
    its many ties on a crossbar by that numbering. Column-by-column numbering gives less fill-in
    than grouping by element kind: measured 15-35 % less ngspice time per batch point on 32x32 and
    64x64 arrays with wires (resistor and diode cells).
    """
    text: list[str] = []
    keys: list[np.ndarray] = []
    seq = 0

    def add(layer: int, i: np.ndarray, j: np.ndarray, items: list[str]) -> None:
        nonlocal seq
        text.extend(items)
        keys.append(np.stack([np.full(i.size, layer), j, i, np.full(i.size, seq)], axis=1))
        seq += 1

    for grp in topo.resistors:
        pre = f"R{grp.kind}{grp.layer}_"
        values = [spice_number(r) for r in np.unique(grp.value)] if grp.value.size else []
        if len(values) == 1:  # wires, drivers, sense and reference resistors share one value
            vals = [values[0]] * grp.value.size
        else:
            vals = [repr(r) for r in grp.value.tolist()]  # finite floats: repr is spice_number
        add(
            grp.layer,
            grp.i,
            grp.j,
            [
                f"{pre}{i}_{j} {name[a]} {name[b]} {t}"
                for i, j, a, b, t in zip(
                    grp.i.tolist(), grp.j.tolist(), grp.n1.tolist(), grp.n2.tolist(), vals
                )
            ],
        )
    for grp in topo.diodes:  # anode on the row side
        model = f"{DIODE_MODEL_NAME}{grp.layer}"
        add(
            grp.layer,
            grp.i,
            grp.j,
            [
                f"Ddio{grp.layer}_{i}_{j} {name[a]} {name[b]} {model}"
                for i, j, a, b in zip(grp.i.tolist(), grp.j.tolist(), grp.n1.tolist(), grp.n2.tolist())
            ],
        )
    for mg in topo.mosfets:  # drain gate source bulk
        model = f"{NMOS_MODEL_NAME}{mg.layer} {nmos_geometry(net.layers[mg.layer].cell.nmos)}"
        add(
            mg.layer,
            mg.i,
            mg.j,
            [
                f"Mmos{mg.layer}_{i}_{j} {name[d]} {name[g]} {name[s]} 0 {model}"
                for i, j, d, g, s in zip(
                    mg.i.tolist(), mg.j.tolist(), mg.d.tolist(), mg.g.tolist(), mg.s.tolist()
                )
            ],
        )
    if not text:
        return []
    k = np.concatenate(keys)
    order = np.lexsort((k[:, 3], k[:, 2], k[:, 1], k[:, 0]))
    out: list[str] = []
    layer = -1
    for idx in order.tolist():
        if k[idx, 0] != layer:
            layer = int(k[idx, 0])
            out.append(
                f"* layer {layer} elements, column by column: R (resistors), D (diodes, anode on the "
                "row side), M (NMOS: drain gate source bulk)"
            )
        out.append(text[idx])
    return out


def build_deck(
    circuit: Circuit,
    V: np.ndarray | None = None,
    *,
    title: str = "xbarsim",
    nodes: Iterable[str] = (),
    options: Mapping[str, object] | None = None,
    topology: Topology | None = None,
) -> Deck:
    """The deck of ``circuit`` for the input vectors ``V`` ((B, M0), (M0,) or None) and its vector map.

    ``topology`` may pass ``build(circuit)`` when the caller already has it.
    """
    net = as_network(circuit)
    topo = build(net) if topology is None else topology
    opts = check_options(options)
    x = None if V is None else drive_inputs(net, V)
    batch = 0 if x is None else int(x.shape[0])
    name = node_names(topo)
    node_ids = _resolve_nodes(topo, name, nodes)

    lines: list[str] = [f"xbarsim deck: {sanitize_title(title)}"]
    lines.append("* written by xbarsim.netlist.write_netlist (deterministic names; see its docstring)")
    for L, xb in enumerate(net.layers):
        M, N = xb.shape
        ref = "virtual ground" if xb.r_ref is None else f"r_ref={spice_number(xb.r_ref)}"
        wires = (
            f"r_wire={spice_number(xb.r_wire)}"
            if xb.r_wire is not None
            else f"r_row={spice_number(xb.r_row)} r_col={spice_number(xb.r_col)}"
        )
        lines.append(
            f"* layer {L} {xb.name}: {M}x{N} {xb.cell.kind} cells, {wires} "
            f"r_driver={spice_number(xb.r_driver)} r_sense={spice_number(xb.r_sense)} {ref}"
            + _periphery_note(xb)
        )
        if L in net.buffers:
            lines.append(f"* buffer after layer {L}: {_buffer_note(net.buffers[L], xb)}")
    opt_text = " ".join(f"{k}={spice_number(v) if isinstance(v, float) else v}" for k, v in opts.items())
    lines.append(f".options temp=27 tnom=27{(' ' + opt_text) if opt_text else ''}")

    # Model cards: one per layer that needs it (layers may differ).
    for L, xb in enumerate(net.layers):
        if xb.cell.kind == "diode":
            lines.append(diode_card(xb.cell.diode, f"{DIODE_MODEL_NAME}{L}"))
        elif xb.cell.kind == "1t1r":
            lines.append(nmos_card(xb.cell.nmos, f"{NMOS_MODEL_NAME}{L}"))

    # Sources.
    source_vectors: list[str] = []
    lines.append("* input sources")
    inputs = topo.input_nodes
    if batch > 1:
        lines.append(f"{INDEX_SOURCE} {INDEX_NODE} 0 DC 0")
        for i, n in enumerate(inputs):
            vals = [spice_number(v) for v in x[:, i]]  # type: ignore[index]
            pts = [f"{k}, {v}" for k, v in enumerate(vals)] + [f"{batch}, {vals[-1]}"]
            body = _chunks(pts, 8)
            lines.append(
                f"Bin_{i} {name[n]} 0 V=pwl(V({INDEX_NODE}), {body[0]}" + ("" if len(body) > 1 else ")")
            )
            for c, chunk in enumerate(body[1:], start=1):
                lines.append(f"+ , {chunk}" + (")" if c == len(body) - 1 else ""))
            source_vectors.append(f"i(bin_{i})")
    else:
        for i, n in enumerate(inputs):
            v = 0.0 if x is None else x[0, i]
            lines.append(f"Vin_{i} {name[n]} 0 DC {spice_number(v)}")
            source_vectors.append(f"i(vin_{i})")
    for L, g in sorted(topo.gate_nodes.items()):
        lines.append(f"Vg{L} {name[g]} 0 DC {spice_number(net.layers[L].cell.v_gate)}")
    ammeter_vectors: tuple[str, ...] = ()
    layer_ammeters: dict[int, tuple[str, ...]] = {}
    amm_layers = [lk.layer for lk in topo.links if lk.by_current]
    if topo.ammeter_layer is not None:
        amm_layers.append(topo.ammeter_layer)
    if amm_layers:
        lines.append("* zero-volt ammeters: i(Vam) is the current into the sense node")
    for La in amm_layers:
        vecs = []
        for j, n in enumerate(topo.sense_nodes[La]):
            lines.append(f"Vam{La}_{j} {name[n]} 0 DC 0")
            vecs.append(f"i(vam{La}_{j})")
        layer_ammeters[La] = tuple(vecs)
    if topo.ammeter_layer is not None:
        ammeter_vectors = layer_ammeters[topo.ammeter_layer]
    buffer_vectors = _buffer_lines(topo, name, lines)

    # Elements, layer by layer and column by column (see _element_lines).
    lines.extend(_element_lines(net, topo, name))

    # What to keep, and the analysis.
    sense_vectors: list[tuple[str, ...] | None] = []
    for L, s_nodes in enumerate(topo.sense_nodes):
        if L in layer_ammeters:
            sense_vectors.append(None)
        else:
            sense_vectors.append(tuple(f"v({name[n]})" for n in s_nodes))
    node_vectors = {k: (None if n == 0 else f"v({name[n]})") for k, n in node_ids.items()}
    keep: list[str] = list(ammeter_vectors)
    for sv in sense_vectors:
        keep.extend(sv or ())
    for amm in layer_ammeters.values():
        keep.extend(amm)
    for volts, amps in buffer_vectors.values():
        keep.extend(volts + amps)
    keep.extend(source_vectors)
    keep.extend(v for v in node_vectors.values() if v is not None)
    keep = list(dict.fromkeys(keep))
    lines.append("* vectors written to the raw file")
    for k in range(0, len(keep), 10):
        lines.append(".save " + " ".join(keep[k : k + 10]))
    if batch > 1:
        lines.append(f".dc {INDEX_SOURCE} 0 {batch - 1} 1")
    else:
        lines.append(".op")
    lines.append(".end")
    return Deck(
        text="\n".join(lines) + "\n",
        batch=batch,
        sense_vectors=tuple(sense_vectors),
        ammeter_vectors=tuple(ammeter_vectors),
        source_vectors=tuple(source_vectors),
        node_vectors=node_vectors,
        inputs=x,
        layer_ammeters=layer_ammeters,
        buffer_vectors=buffer_vectors,
    )


class DeckOptions(TypedDict, total=False):
    """Keywords of :func:`write_netlist` (as :func:`build_deck`'s)."""

    title: str
    nodes: Iterable[str]
    options: Mapping[str, object] | None


def write_netlist(circuit: Circuit, V: np.ndarray | None = None, **kw: Unpack[DeckOptions]) -> str:
    """ngspice deck text of ``circuit`` driven by ``V`` ((B, M0), (M0,) or None for 0 V inputs).

    One vector gives an ``.op`` deck; B > 1 vectors give one DC sweep over the vector index.
    ``nodes`` adds node voltages to the saved vectors; ``options`` are whitelisted ``.options``;
    ``title`` is the deck's first line.
    """
    return build_deck(circuit, V, **kw).text


def check_topology(topo: Topology) -> None:
    """Raise :class:`TopologyError` naming a node without a DC path to ground or a dangling element.

    The graph (networkx) has an edge per resistor, diode, transistor channel (drain-source) and
    per source (input, gate, ammeter and buffer nodes to ground). Every node must be connected to
    ground, every element must join two different nodes, and every node that no source fixes must
    touch at least two elements (a node with one element makes that element carry no current),
    except the open end of a wire segment or reference resistor (a row or column past open cells).
    """
    import networkx as nx

    n_nodes = topo.n_nodes
    a_parts: list[np.ndarray] = []
    b_parts: list[np.ndarray] = []
    labels: list[tuple[str, int, np.ndarray, np.ndarray]] = []
    for grp in (*topo.resistors, *topo.diodes):
        a_parts.append(grp.n1)
        b_parts.append(grp.n2)
        labels.append((("R" + grp.kind) if grp.kind != "dio" else "Ddio", grp.layer, grp.i, grp.j))
    for mg in topo.mosfets:
        a_parts.append(mg.d)
        b_parts.append(mg.s)
        labels.append(("Mmos", mg.layer, mg.i, mg.j))
    fixed = topo.fixed_nodes()
    a = np.concatenate(a_parts) if a_parts else np.zeros(0, np.int64)
    b = np.concatenate(b_parts) if b_parts else np.zeros(0, np.int64)
    if np.any((a < 0) | (a >= n_nodes) | (b < 0) | (b >= n_nodes)):
        raise TopologyError("an element refers to a node that does not exist")

    loops = np.flatnonzero(a == b)
    if loops.size:
        k = int(loops[0])
        for prefix, L, ii, jj in labels:
            if k < ii.size:
                raise TopologyError(
                    f"element {prefix}{L}_{int(ii[k])}_{int(jj[k])} has both ends on node "
                    f"{topo.node_name(int(a[k]))}"
                )
            k -= ii.size

    graph = nx.Graph()
    graph.add_nodes_from(range(n_nodes))
    graph.add_edges_from(zip(a.tolist(), b.tolist()))
    graph.add_edges_from((int(n), 0) for n in fixed)
    grounded = nx.node_connected_component(graph, 0)
    if len(grounded) != n_nodes:
        bad = min(set(range(n_nodes)) - grounded)
        raise TopologyError(f"node {topo.node_name(bad)} has no DC path to ground (floating)")

    degree = np.bincount(np.concatenate([a, b]), minlength=n_nodes)
    degree[fixed] += 2
    degree[0] += 2
    # A wire segment (or a column's reference resistor) may end at a node with nothing else, past
    # open cells: it carries no current and the node's voltage is its neighbour's, not an error.
    device = [
        np.concatenate([g.n1, g.n2])
        for g in (*topo.resistors, *topo.diodes)
        if g.kind not in ("drv", "rw", "cw", "sen", "ref")
    ]
    device += [np.concatenate([mg.d, mg.s]) for mg in topo.mosfets]
    on_device = np.bincount(np.concatenate(device), minlength=n_nodes) if device else np.zeros(n_nodes, int)
    dangling = np.flatnonzero((degree < 2) & (on_device > 0))
    if dangling.size:
        raise TopologyError(
            f"node {topo.node_name(int(dangling[0]))} touches a single element "
            "(dangling element, no current path)"
        )


_CHECKED: weakref.WeakKeyDictionary[Circuit, Topology] = weakref.WeakKeyDictionary()
_CHECKED_LOCK = threading.Lock()


def checked_topology(circuit: Circuit) -> Topology:
    """``build(circuit)`` after :func:`check_topology`, computed once per circuit object.

    Circuits are frozen (their arrays are read-only), so the result stays valid as long as the
    object lives; it is held by a weak reference to the circuit. On a 256x256 diode array the
    networkx check costs ~0.6 s, more than writing the deck, so it must not run per ngspice run.
    """
    with _CHECKED_LOCK:
        topo = _CHECKED.get(circuit)
    if topo is None:
        topo = build(as_network(circuit))
        check_topology(topo)
        with _CHECKED_LOCK:
            _CHECKED[circuit] = topo
    return topo
