"""ngspice backend: the deck from :mod:`xbarsim.netlist`, run by ``ngspice -b`` in one process per batch.

Outputs (see :class:`~xbarsim.solution.Solution`):

* virtual-ground (last) layer: ``currents`` = ``i(Vam)``, the current into each sense node;
  ``voltages`` = 0;
* layers with ``r_ref``: ``voltages`` = sense-node voltages, ``currents`` = ``V / r_ref`` (the
  current through the reference resistor; for the last layer that is all the current the
  column delivers);
* ``power`` = sum over the network inputs of ``V_i * I_i``, ``I_i`` the current the source delivers
  (the sources of layer k > 0 are the previous layer's reference resistors, part of the circuit),
  plus what the buffers of a buffered network deliver.

The deck carries the driven voltages (after the first layer's driver) and a B source per buffered
column; the last layer's ADC is applied to the solution afterwards, as in every backend.

``options`` are whitelisted ngspice ``.options`` (see :data:`xbarsim.netlist.OPTION_KEYS`); with
ngspice's default ``reltol = 1e-3`` nonlinear cells converge to a few 1e-5 relative, pass
``options={"reltol": 1e-6}`` for tighter results.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping

import numpy as np

from .._validate import check_finite_result, check_int, check_voltages
from ..circuit import Circuit, Network, as_network, convert_outputs
from ..errors import InputError, SimulationError
from ..netlist import Deck, build_deck, check_options, checked_topology
from ..solution import Solution
from ..spice.rawfile import RawFile, parse_raw
from ..spice.runner import check_points, check_timeout, run_deck
from .base import BackendBase

log = logging.getLogger(__name__)


def _vector(raw: RawFile, name: str, backend: str) -> np.ndarray:
    """One saved vector; NaN or infinity from the simulator is an error naming the vector."""
    v = np.asarray(raw[name], dtype=np.float64)
    if not np.all(np.isfinite(v)):
        k = int(np.flatnonzero(~np.isfinite(v))[0])
        raise SimulationError(f"{backend} returned {v[k]} for {name} at input vector {k}")
    return v


def solution_from_raw(
    net: Network, x: np.ndarray, deck: Deck, raw: RawFile, log_text: str, backend: str, seconds: float
) -> Solution:
    """Assemble a :class:`Solution` from the vectors the deck saved (every one must be finite)."""
    B = int(x.shape[0])
    check_points(raw.n_points, B, log_text)

    def vec(name: str) -> np.ndarray:
        return _vector(raw, name, backend)

    currents: list[np.ndarray] = []
    voltages: list[np.ndarray] = []
    for L, xb in enumerate(net.layers):
        vecs = deck.sense_vectors[L]
        if vecs is None:
            i = np.stack([vec(v) for v in deck.layer_ammeters[L]], axis=1)
            currents.append(i)
            voltages.append(np.zeros_like(i))
        else:
            v = np.stack([vec(name) for name in vecs], axis=1)
            voltages.append(v)
            currents.append(v / xb.r_ref)
    delivered = -np.stack([vec(v) for v in deck.source_vectors], axis=1)
    power = np.sum(x * delivered, axis=1)
    for volts, amps in deck.buffer_vectors.values():
        v_buf = np.stack([vec(v) for v in volts], axis=1)
        power = power - np.sum(v_buf * np.stack([vec(a) for a in amps], axis=1), axis=1)
    check_finite_result(power, "power", backend)
    node_voltages = {
        name: (np.zeros(B) if v is None else vec(v).copy()) for name, v in deck.node_vectors.items()
    }
    return Solution.from_layers(
        currents,
        voltages,
        power,
        backend=backend,
        seconds=seconds,
        sensed_by_voltage=net.layers[-1].r_ref is not None,
        node_voltages=node_voltages,
    )


def check_max_batch(max_batch: object) -> int:
    return check_int(max_batch, "max_batch", minimum=1)


#: Called with (run index, number of runs, deck text) just before each run (see ``solve_writing``).
DeckSink = Callable[[int, int, str], None]


class DeckBackend(BackendBase):
    """Shared driver of the SPICE backends: split the batch, write the deck, run it, read the raw file.

    Subclasses set ``name``, ``options``, ``max_batch`` and implement :meth:`run` (deck text ->
    raw-file bytes and console text). The topology check (networkx) runs once per circuit object,
    before the batch is split, and its result is cached for as long as the circuit lives
    (:func:`xbarsim.netlist.checked_topology`).
    """

    name = "spice"
    options: dict[str, float | int]
    max_batch: int

    def run(self, deck_text: str) -> tuple[bytes, str]:
        raise NotImplementedError

    def solve(self, circuit: Circuit, V: np.ndarray, *, nodes: tuple[str, ...] = ()) -> Solution:
        return self.solve_writing(circuit, V, None, nodes=nodes)

    def n_runs(self, batch: int) -> int:
        """How many simulator runs a batch of ``batch`` vectors takes (``max_batch`` per run)."""
        return -(-batch // self.max_batch)

    def solve_writing(
        self, circuit: Circuit, V: np.ndarray, sink: DeckSink | None, *, nodes: tuple[str, ...] = ()
    ) -> Solution:
        """:meth:`solve`, handing each deck to ``sink`` right before it runs (the exact text run)."""
        t0 = time.perf_counter()
        net = as_network(circuit)
        x = check_voltages(V, net.n_inputs)
        topo = checked_topology(circuit)
        runs = self.n_runs(int(x.shape[0]))
        parts = []
        for r in range(runs):
            chunk = x[r * self.max_batch : (r + 1) * self.max_batch]
            t1 = time.perf_counter()
            deck = build_deck(
                net,
                chunk,
                title=f"xbarsim {self.name} backend",
                nodes=nodes,
                options=self.options,
                topology=topo,
            )
            if sink is not None:
                sink(r, runs, deck.text)
            raw_bytes, console = self.run(deck.text)
            raw = parse_raw(raw_bytes)
            log.debug("%s: %d vector(s) in %.3f s", self.name, chunk.shape[0], time.perf_counter() - t1)
            assert deck.inputs is not None  # the driven voltages (the first layer's driver applied)
            parts.append(
                solution_from_raw(net, deck.inputs, deck, raw, console, self.name, time.perf_counter() - t1)
            )
        seconds = time.perf_counter() - t0
        sol = parts[0] if len(parts) == 1 else Solution.concatenate(parts, seconds)
        return dataclasses.replace(convert_outputs(circuit, sol), seconds=seconds)


class NgspiceBackend(DeckBackend):
    """Solve through the ngspice executable; a batch of B vectors is one DC sweep in one process.

    Parameters
    ----------
    executable:
        Name or path of the ngspice program.
    timeout:
        Seconds allowed for each ngspice run (:class:`~xbarsim.errors.SimulationTimeout` beyond).
    options:
        Whitelisted ngspice ``.options`` with numeric values, e.g. ``{"reltol": 1e-6}``.
    keep_dir:
        When given, each run's deck, raw file and console output are kept in a new folder under it.
    max_batch:
        Vectors per ngspice run; larger batches are split into runs of this size (bounds the deck
        size: every vector adds one pwl point per input).
    """

    name = "ngspice"

    def __init__(
        self,
        executable: str = "ngspice",
        timeout: float = 600.0,
        options: Mapping[str, object] | None = None,
        keep_dir: str | os.PathLike[str] | None = None,
        max_batch: int = 1000,
    ) -> None:
        if not isinstance(executable, str) or not executable:
            raise InputError("executable must be a program name or path")
        self.executable = executable
        self.timeout = check_timeout(timeout)
        self.options = check_options(options)
        self.keep_dir = keep_dir
        self.max_batch = check_max_batch(max_batch)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if shutil.which("ngspice") is None:
            return "the ngspice executable is not on PATH (Debian/Ubuntu: apt-get install ngspice)"
        return None

    def run(self, deck_text: str) -> tuple[bytes, str]:
        out = run_deck(deck_text, executable=self.executable, timeout=self.timeout, keep_dir=self.keep_dir)
        return out.raw, out.log
