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
from collections.abc import Mapping

import numpy as np

from .._validate import check_voltages
from ..circuit import Circuit, Network, as_network, convert_outputs
from ..errors import InputError
from ..netlist import Deck, build_deck, check_options, check_topology
from ..solution import Solution
from ..spice.rawfile import RawFile, parse_raw
from ..spice.runner import check_points, run_deck
from ..topology import build
from .base import BackendBase

log = logging.getLogger(__name__)


def prepare(
    circuit: Circuit, V: np.ndarray, nodes: tuple[str, ...], options: Mapping[str, object] | None, title: str
) -> tuple[Network, np.ndarray, Deck]:
    """Validate inputs, check the topology graph and write the deck (shared by both SPICE backends).

    Returns the network, the driven input voltages (the first layer's driver applied) and the deck.
    """
    net = as_network(circuit)
    topo = build(net)
    check_topology(topo)
    deck = build_deck(net, V, title=title, nodes=nodes, options=options, topology=topo)
    assert deck.inputs is not None
    return net, deck.inputs, deck


def solution_from_raw(
    net: Network, x: np.ndarray, deck: Deck, raw: RawFile, log_text: str, backend: str, seconds: float
) -> Solution:
    """Assemble a :class:`Solution` from the vectors the deck saved."""
    B = int(x.shape[0])
    check_points(raw.n_points, B, log_text)
    currents: list[np.ndarray] = []
    voltages: list[np.ndarray] = []
    for L, xb in enumerate(net.layers):
        vecs = deck.sense_vectors[L]
        if vecs is None:
            i = np.stack([raw[v] for v in deck.layer_ammeters[L]], axis=1)
            currents.append(i)
            voltages.append(np.zeros_like(i))
        else:
            v = np.stack([raw[name] for name in vecs], axis=1)
            voltages.append(v)
            currents.append(v / xb.r_ref)
    delivered = -np.stack([raw[v] for v in deck.source_vectors], axis=1)
    power = np.sum(x * delivered, axis=1)
    for volts, amps in deck.buffer_vectors.values():
        v_buf = np.stack([raw[v] for v in volts], axis=1)
        power = power - np.sum(v_buf * np.stack([raw[a] for a in amps], axis=1), axis=1)
    node_voltages = {
        name: (np.zeros(B) if vec is None else np.array(raw[vec], dtype=np.float64))
        for name, vec in deck.node_vectors.items()
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
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
        raise InputError(f"max_batch must be an integer >= 1, got {max_batch!r}")
    return max_batch


class DeckBackend(BackendBase):
    """Shared driver of the SPICE backends: split the batch, write the deck, run it, read the raw file.

    Subclasses set ``name``, ``options``, ``max_batch`` and implement :meth:`run` (deck text ->
    raw-file bytes and console text).
    """

    name = "spice"
    options: dict[str, float | int]
    max_batch: int

    def run(self, deck_text: str) -> tuple[bytes, str]:
        raise NotImplementedError

    def solve(self, circuit: Circuit, V: np.ndarray, *, nodes: tuple[str, ...] = ()) -> Solution:
        t0 = time.perf_counter()
        x = check_voltages(V, as_network(circuit).n_inputs)
        parts = [
            self._solve_chunk(circuit, x[k : k + self.max_batch], tuple(nodes))
            for k in range(0, x.shape[0], self.max_batch)
        ]
        seconds = time.perf_counter() - t0
        sol = parts[0] if len(parts) == 1 else Solution.concatenate(parts, seconds)
        return dataclasses.replace(convert_outputs(circuit, sol), seconds=seconds)

    def _solve_chunk(self, circuit: Circuit, V: np.ndarray, nodes: tuple[str, ...]) -> Solution:
        t0 = time.perf_counter()
        net, x, deck = prepare(circuit, V, nodes, self.options, f"xbarsim {self.name} backend")
        raw_bytes, console = self.run(deck.text)
        raw = parse_raw(raw_bytes)
        log.debug("%s: %d vector(s) in %.3f s", self.name, x.shape[0], time.perf_counter() - t0)
        return solution_from_raw(net, x, deck, raw, console, self.name, time.perf_counter() - t0)


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
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise InputError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        self.executable = executable
        self.timeout = float(timeout)
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
