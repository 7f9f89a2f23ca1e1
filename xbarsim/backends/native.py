"""Native backend: sparse nodal analysis of the exact crossbar topology, validated against ngspice.

* Linear circuits (resistor cells; 1T1R with ``mos="linear"``) become one dense transfer matrix
  per circuit (cached), so a batch costs one matrix product (:mod:`xbarsim.native.linear`).
* Diode and 1T1R cells (``mos="level1"``, the ngspice MOS1 card) go through SPICE-style Newton
  (:mod:`xbarsim.native.newton`), each vector warm-started from the previous one.

``mos="linear"`` models the 1T1R transistor as its channel conductance at Vds = 0,
``beta * (v_gate - VTO)`` (0 when ``v_gate <= VTO``), in series with the cell's 1/G; the gmin
conductances ngspice puts from drain and source to the grounded bulk are kept in both modes.
Outputs follow :class:`~xbarsim.solution.Solution`: currents into virtual-ground sense nodes,
sense voltages of r_ref layers (their current is V / r_ref), power delivered by the input sources.

A network with buffered boundaries is solved segment by segment (:attr:`Network.segments`): an
ideal buffer draws no current, so each passive segment is an independent circuit whose inputs are
the previous segment's buffered outputs; each segment keeps its own cached factorization. The
first layer's driver and the last layer's ADC are the shared functions every backend applies.
"""

from __future__ import annotations

import dataclasses
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from .._validate import check_int, check_real
from ..circuit import Circuit, Network, as_network, convert_outputs, drive_inputs, periphery_nonlinear
from ..errors import ConvergenceError, InputError
from ..native.chord import ChordSolver
from ..native.linear import Transfer, transfer
from ..native.mna import MOS_MODES, Mna, node_index, stamp
from ..native.newton import NewtonOptions, NewtonSolver, _Failed
from ..native.outputs import Outputs
from ..solution import Solution
from ..spice.models import DEFAULT_GMIN
from ..topology import segment_node
from .base import BackendBase

_ORDERINGS = ("MMD_AT_PLUS_A", "MMD_ATA", "COLAMD", "NATURAL")
#: Nonlinear solution methods: chord iteration with one factorization (Newton as fallback), or Newton.
METHODS = ("chord", "newton")
#: Vectors the chord iteration carries at once: up to CHORD_BLOCK, and about CHORD_UNKNOWNS
#: unknowns in all (memory: a few copies of the node voltages; the structured solve's dense
#: products get faster with more right-hand sides).
CHORD_BLOCK = 256
CHORD_UNKNOWNS = 1_600_000
#: First chord block of a diode circuit (whether the chord pays off is decided on it).
PROBE_BLOCK = 16
#: Nonlinear batches are solved in chunks of about this many unknowns in total (K vectors at once).
CHUNK_UNKNOWNS = 10_000


@contextmanager
def _memory_guard(circuit: Circuit, batch: int | None = None) -> Iterator[None]:
    """Turn an allocation failure into one InputError line that states the size asked for."""
    try:
        yield
    except MemoryError:
        net = as_network(circuit)
        shape = " + ".join(f"{xb.G.shape[0]}x{xb.G.shape[1]}" for xb in net.layers)
        kinds = "/".join(dict.fromkeys(xb.cell.kind for xb in net.layers))
        what = f"for {batch} input vector(s)" if batch is not None else "(its one-time setup)"
        raise InputError(
            f"native: not enough memory to solve a {shape} {kinds} crossbar {what}: the {shape} circuit "
            "needs more memory than is available; use smaller tiles or batches"
        ) from None


class _Entry:
    """What the backend keeps per circuit object (dropped when the circuit is garbage collected)."""

    def __init__(self, circuit: Circuit, mna: Mna) -> None:
        self.ref = weakref.ref(circuit)
        self.mna = mna
        self.transfers: dict[tuple[int, ...], Transfer] = {}
        self.newton: NewtonSolver | None = None
        self.chord: ChordSolver | None = None
        self.chord_off = False


class NativeBackend(BackendBase):
    """Sparse nodal solver; see the module docstring.

    Parameters
    ----------
    mos:
        ``"level1"`` (ngspice MOS1 equations, Newton) or ``"linear"`` (channel conductance at Vds = 0).
    reltol, abstol, vntol, max_iter:
        SPICE convergence tests and the Newton iteration limit per attempt.
    gmin:
        Conductance in parallel with every junction (ngspice ``.options gmin``).
    ordering:
        SuperLU fill-reducing ordering used for the linear transfer setup.
    cache_size:
        Number of circuits whose factorization/transfer data are kept (keyed by object identity).
    chunk:
        Vectors Newton solves together in one block-diagonal system (0: about 10,000 unknowns in all,
        at most 32).
    method:
        ``"chord"`` (default): one Jacobian factored once per circuit, reused by every iteration and
        vector, to ~1e-11 of the root; vectors it cannot bring there go to Newton.
        ``"newton"``: SPICE Newton with a new factorization per iteration (the reference path).
    """

    name = "native"

    def __init__(
        self,
        *,
        mos: str = "level1",
        reltol: float = 1e-3,
        abstol: float = 1e-12,
        vntol: float = 1e-6,
        max_iter: int = 100,
        gmin: float = DEFAULT_GMIN,
        ordering: str = "MMD_AT_PLUS_A",
        cache_size: int = 8,
        chunk: int = 0,
        method: str = "chord",
    ) -> None:
        if mos not in MOS_MODES:
            raise InputError(f"unknown mos option {mos!r}; choose one of {', '.join(MOS_MODES)}")
        if ordering not in _ORDERINGS:
            raise InputError(f"unknown ordering {ordering!r}; choose one of {', '.join(_ORDERINGS)}")
        max_iter = check_int(max_iter, "max_iter", minimum=2)
        if method not in METHODS:
            raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        self.mos = mos
        self.method = method
        self.ordering = ordering
        self.options = NewtonOptions(
            reltol=check_real(reltol, "reltol", positive=True),
            abstol=check_real(abstol, "abstol", positive=True),
            vntol=check_real(vntol, "vntol", positive=True),
            max_iter=max_iter,
            gmin=check_real(gmin, "gmin", nonneg=True),
        )
        self.cache_size = check_int(cache_size, "cache_size", minimum=0)
        self.chunk = check_int(chunk, "chunk (0 = automatic)", minimum=0)
        self._cache: dict[int, _Entry] = {}

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return None

    # ------------------------------------------------------------------ cache
    def _entry(self, circuit: Circuit) -> _Entry:
        key = id(circuit)
        entry = self._cache.get(key)
        if entry is not None and entry.ref() is circuit:
            self._cache[key] = self._cache.pop(key)  # most recently used last
            return entry
        for k in [k for k, e in self._cache.items() if e.ref() is None]:
            del self._cache[k]
        while self._cache and len(self._cache) >= max(1, self.cache_size):
            del self._cache[next(iter(self._cache))]
        entry = _Entry(circuit, stamp(circuit, mos=self.mos, gmin=self.options.gmin))
        self._cache[key] = entry
        return entry

    def transfer(self, circuit: Circuit, nodes: tuple[str, ...] = ()) -> Transfer:
        """The (cached) transfer matrix of a linear circuit; raises InputError for nonlinear ones."""
        entry = self._entry(circuit)
        if not entry.mna.is_linear:
            raise InputError(
                "the transfer matrix exists only for linear cells (resistor, or 1t1r with mos='linear')"
            )
        ids = tuple(node_index(entry.mna.topo, n) for n in nodes)
        if ids not in entry.transfers:
            with _memory_guard(circuit):
                tr = transfer(entry.mna, np.array(ids, dtype=np.int64), ordering=self.ordering)
            entry.transfers[ids] = tr
        return entry.transfers[ids]

    def is_linear(self, circuit: Circuit) -> bool:
        """True when the stamped circuit is linear (resistor cells, or 1t1r with ``mos="linear"``)
        and its periphery too (no driver or buffer offset, DAC, clamp or ADC)."""
        net = as_network(circuit)
        if periphery_nonlinear(net):
            return False
        segments = net.segments if net.buffers else (circuit,)  # the object the cache is keyed by
        return all(bool(self._entry(seg).mna.is_linear) for seg in segments)

    def _probe(self, circuit: Circuit) -> np.ndarray:
        """(M0, N) ``T`` with ``solve(circuit, V).currents == V @ T``, from the cached :meth:`transfer`.

        Across a buffered boundary the segments' matrices chain through the sensing resistance
        (r_ref or r_tia) and the buffer gain.
        """
        net = as_network(circuit)
        extra = periphery_nonlinear(net)
        if extra:
            raise InputError(f"the circuit's {', '.join(extra)} is not linear: no transfer matrix, solve it")
        T = np.eye(net.n_inputs)
        k = -1  # index in `net` of the current segment's last layer
        for seg in net.segments if net.buffers else (circuit,):
            if k >= 0:  # the buffer after layer k: volts per ampere of its sensed outputs
                xb = net.layers[k]
                T = T * xb.handed_on_gain(net.buffers[k])
            tr = self.transfer(seg)
            layers = as_network(seg).layers
            r_ref = layers[-1].r_ref
            col = tr.cols["amm"] if r_ref is None else tr.cols[f"sense{len(layers) - 1}"]
            if np.any(tr.k0[col]):
                raise InputError("the outputs are affine in the inputs (fixed sources): no transfer matrix")
            Ts = tr.K[:, col] if r_ref is None else tr.K[:, col] / r_ref
            T = Ts if k < 0 else T @ Ts
            k += len(layers)
        return T

    # ------------------------------------------------------------------ solve
    def solve(self, circuit: Circuit, V: np.ndarray, *, nodes: tuple[str, ...] = ()) -> Solution:
        t0 = time.perf_counter()
        net = as_network(circuit)
        x = drive_inputs(net, V)
        nodes = tuple(nodes)
        with _memory_guard(circuit, x.shape[0]):
            sol = self._solve_segments(circuit, net, x, nodes)
        return dataclasses.replace(convert_outputs(net, sol), seconds=time.perf_counter() - t0)

    def _solve_segments(
        self, circuit: Circuit, net: Network, x: np.ndarray, nodes: tuple[str, ...]
    ) -> Solution:
        """The passive segments between buffers one after another (one segment without buffers)."""
        if not net.buffers:
            sol = self._solve_passive(circuit, x, nodes)
        else:
            where = [segment_node(net, n) for n in nodes]
            parts = []
            buffers = net.buffers
            node_v: dict[str, np.ndarray] = {}
            k = -1
            for s, seg in enumerate(net.segments):
                local = tuple(dict.fromkeys(ln for si, ln in where if si == s))
                part = self._solve_passive(seg, x, local)
                for name, (si, ln) in zip(nodes, where):
                    if si == s:
                        node_v[name] = part.node_voltages[ln]
                parts.append(part)
                k += len(seg.layers)
                if k in buffers:
                    xb = net.layers[k]
                    sensed = xb.sensed_voltages(part.currents, part.voltages)
                    x = buffers[k].apply(sensed)
            sol = Solution.from_layers(
                [c for p in parts for c in p.layer_currents],
                [v for p in parts for v in p.layer_voltages],
                np.sum([p.power for p in parts], axis=0),
                backend=self.name,
                seconds=0.0,
                sensed_by_voltage=net.layers[-1].r_ref is not None,
                node_voltages=node_v,
            )
        return sol

    def _solve_passive(self, circuit: Circuit, x: np.ndarray, nodes: tuple[str, ...]) -> Solution:
        """Solve a circuit without buffers for driven inputs ``x`` (no ADC); cached per ``circuit``."""
        net = as_network(circuit)
        entry = self._entry(circuit)
        mna = entry.mna
        if mna.is_linear:
            tr = self.transfer(circuit, nodes)
            out = tr.apply(x)
            amm = out[:, tr.cols["amm"]]
            src = out[:, tr.cols["src"]]
            sense = {
                L: out[:, tr.cols[f"sense{L}"]] for L in range(len(net.layers)) if f"sense{L}" in tr.cols
            }
            node_v = out[:, tr.cols["nodes"]]
        else:
            amm, src, sense, node_v = self._solve_nonlinear(entry, net, x, nodes)
        power = np.einsum("bi,bi->b", x, src)
        currents, voltages = [], []
        for L, xb in enumerate(net.layers):
            if L in sense:
                v = sense[L]
                voltages.append(v)
                currents.append(v / xb.r_ref)
            else:
                currents.append(amm)
                voltages.append(np.zeros_like(amm))
        return Solution.from_layers(
            currents,
            voltages,
            power,
            backend=self.name,
            seconds=0.0,
            sensed_by_voltage=net.layers[-1].r_ref is not None,
            node_voltages={name: node_v[:, k].copy() for k, name in enumerate(nodes)},
        )

    def _solve_nonlinear(self, entry: _Entry, net, x: np.ndarray, nodes: tuple[str, ...]):
        mna = entry.mna
        topo = mna.topo
        if entry.newton is None:
            entry.newton = NewtonSolver(mna, self.options)
        solver = entry.newton
        node_ids = np.array([node_index(topo, n) for n in nodes], dtype=np.int64)
        amm_nodes = (
            topo.sense_nodes[topo.ammeter_layer] if topo.ammeter_layer is not None else np.zeros(0, np.int64)
        )
        B = x.shape[0]
        xf_all = solver.mna.fixed_values(x)
        amm = np.zeros((B, amm_nodes.size))
        src = np.zeros((B, topo.input_nodes.size))
        sense = {
            L: np.zeros((B, topo.sense_nodes[L].size))
            for L in range(len(net.layers))
            if L != topo.ammeter_layer
        }
        node_v = np.zeros((B, node_ids.size))
        names = "+".join(mna.names)
        outs = Outputs(
            solver,
            leave=[amm_nodes, topo.input_nodes],
            watch=[topo.sense_nodes[L] for L in sense] + [node_ids],
        )
        warm = None
        b0 = 0
        while b0 < B:
            # A circuit whose first chord block went mostly to Newton (its Jacobian moves too much
            # between vectors) continues with Newton's warm-started chunks.
            chord = self.method == "chord" and not entry.chord_off
            if chord:  # diodes probe the chord with a small first block (they often need Newton)
                size = (
                    PROBE_BLOCK
                    if entry.chord is None and solver.nd
                    else max(16, min(CHORD_BLOCK, CHORD_UNKNOWNS // max(1, solver.n_u)))
                )
            else:
                size = self._chunk(solver)
            xf = xf_all[b0 : b0 + size]
            try:
                if chord:
                    xu = self._chord(entry, solver, xf, outs.u_cols)
                else:
                    xu, state = solver.solve_chunk(xf, warm)
                    warm = (xu[-1], tuple(a[-1] for a in state))
                    xu = xu[:, outs.u_cols]
            except _Failed as exc:
                raise ConvergenceError(
                    f"native: no DC operating point for array {names!r} at input vector {b0 + exc.index} "
                    f"(Newton, gmin stepping and source stepping failed: {exc})"
                ) from None
            xc = outs.values(xf, xu)
            sl = slice(b0, b0 + xf.shape[0])
            if amm_nodes.size:
                amm[sl] = -outs.leaving(xc, amm_nodes)
            src[sl] = outs.leaving(xc, topo.input_nodes)
            for L, arr in sense.items():
                arr[sl] = outs.at(xc, topo.sense_nodes[L])
            node_v[sl] = outs.at(xc, node_ids)
            b0 += xf.shape[0]
        if entry.chord is not None:  # scratch arrays live for one batch, not as long as the cache
            entry.chord.ws.clear()
        return amm, src, sense, node_v

    def _chunk(self, solver: NewtonSolver) -> int:
        return self.chunk if self.chunk else max(1, min(32, CHUNK_UNKNOWNS // max(1, solver.n_u)))

    def _chord(self, entry: _Entry, solver: NewtonSolver, xf: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Chord iteration on a block (unknowns ``cols`` kept); unconverged vectors go to Newton."""
        if entry.chord is None:
            entry.chord = ChordSolver(solver)
        xu, failed = entry.chord.solve(xf, self.options.max_iter, cols)
        # Most of a block left to Newton: this circuit's Jacobian varies too much between vectors
        # (e.g. diodes switching with binary inputs); later blocks go to Newton directly.
        entry.chord_off = 2 * int(failed.sum()) > failed.size
        todo = np.flatnonzero(failed)
        step = self._chunk(solver)
        for c0 in range(0, todo.size, step):
            idx = todo[c0 : c0 + step]
            solver._vd_inner = None
            try:
                full = solver.solve_chunk(xf[idx])[0]
                xu[idx] = full[:, cols]
            except _Failed as exc:
                exc.index = int(idx[exc.index])
                raise
        solver._vd_inner = None
        return xu

    def __repr__(self) -> str:
        return f"NativeBackend(mos={self.mos!r}, {self.options})"


__all__ = ["NativeBackend"]
