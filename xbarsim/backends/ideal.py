"""Ideal backend: the matrix product, with each cell's ideal law and no wire or loading effects.

* resistor: ``I = V @ G``.
* diode: each cell conducts ``G * max(V_row - v_threshold, 0)`` (the piecewise-linear law of the
  papers' "computer calculation"; the column is taken at 0 V).
* 1t1r: the transistor is an ideal switch: ``V @ G`` when ``v_gate > vto``, else no current.

A reference resistor is an ideal transimpedance: the sense voltage is ``I * r_ref`` and does not
load the column. In a Network each layer's sense voltages are the next layer's input voltages
(through the boundary's Buffer when there is one; an ``r_tia`` layer senses ``I * r_tia``). The
first layer's driver and the last layer's ADC act as in every backend
(:func:`xbarsim.circuit.drive_inputs`, :func:`xbarsim.circuit.convert_outputs`).
``power`` sums the power every layer's inputs deliver into its array (for layer k > 0 that comes
from ideal buffers, since no current is drawn from the reference resistors).

What this leaves out of a circuit is said, not hidden: :attr:`Solution.ignored` names it
(``r_wire`` -- or ``r_row`` / ``r_col`` when they differ --, ``r_driver``, ``r_sense``, ``r_ref`` -- its
loading of the column --, ``diode`` -- the
exponential law replaced by the threshold law --, ``transistor`` -- replaced by a switch), and
the first solve (or transfer matrix) that leaves out a given set logs a warning.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from ..circuit import (
    Circuit,
    Crossbar,
    Network,
    as_network,
    convert_outputs,
    drive_inputs,
    periphery_nonlinear,
)
from ..errors import InputError
from ..solution import Solution
from .base import BackendBase

log = logging.getLogger(__name__)
_WARNED: set[tuple[str, ...]] = set()  # sets of ignored parts already warned about in this process


def _switched_off(xb: Crossbar) -> bool:
    return xb.cell.kind == "1t1r" and xb.cell.v_gate <= xb.cell.nmos.vto


def cell_currents(xb: Crossbar, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ideal column currents (B, N) and input-source currents (B, M) of one layer."""
    if xb.cell.kind == "diode":
        drive = np.maximum(V - xb.cell.diode.v_threshold, 0.0)
    elif _switched_off(xb):
        drive = np.zeros_like(V)
    else:
        drive = V
    out = drive @ xb.G
    source = drive * xb.G.sum(axis=1)[None, :]
    return out, source


def ignored_parts(net: Network) -> tuple[str, ...]:
    """What of ``net`` the ideal laws leave out, in a fixed order (see the module docstring)."""
    layers = net.layers
    found = {
        "r_wire": any(xb.r_row == xb.r_col > 0 for xb in layers),
        "r_row": any(xb.r_row > 0 and xb.r_row != xb.r_col for xb in layers),
        "r_col": any(xb.r_col > 0 and xb.r_row != xb.r_col for xb in layers),
        "r_driver": any(xb.r_driver > 0 for xb in layers),
        "r_sense": any(xb.r_sense > 0 for xb in layers),
        "r_ref": any(xb.r_ref is not None for xb in layers),
        "diode": any(xb.cell.kind == "diode" for xb in layers),
        "transistor": any(xb.cell.kind == "1t1r" for xb in layers),
    }
    return tuple(name for name, hit in found.items() if hit)


def _warn_ignored(net: Network, warn: bool = True) -> tuple[str, ...]:
    """:func:`ignored_parts`, with a warning the first time this process leaves out that set."""
    ignored = ignored_parts(net)
    if warn and ignored and ignored not in _WARNED:
        _WARNED.add(ignored)
        log.warning(
            "ideal backend: %s left out of the circuit (see Solution.ignored); "
            "use backend='native' to solve what was described",
            ", ".join(ignored),
        )
    return ignored


class IdealBackend(BackendBase):
    """NumPy matrix product; the reference every circuit result is compared with.

    ``cache_size`` bounds the transfer matrices kept (:mod:`xbarsim.backends.base`). ``warn=False``
    is for callers that use the ideal law on purpose (the papers' "computer calculation"): what it
    leaves out is still listed in :attr:`Solution.ignored`, only the log warning is skipped.
    """

    name = "ideal"

    def __init__(self, *, cache_size: int = 64, warn: bool = True) -> None:
        if not isinstance(warn, bool):
            raise InputError(f"warn must be True or False, got {warn!r}")
        self.cache_size = cache_size
        self.warn = warn

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return None

    def is_linear(self, circuit: Circuit) -> bool:
        """Resistor and 1T1R (switch) cells are linear under the ideal laws; the diode threshold is not,
        nor are driver offsets, DACs, buffer offsets and clamps, or an ADC."""
        return all(xb.cell.kind != "diode" for xb in as_network(circuit).layers) and not periphery_nonlinear(
            circuit
        )

    def _probe(self, circuit: Circuit) -> np.ndarray:
        """Exact (M0, N) ``T`` (no probing needed): the product of every layer's G (0 for a
        switched-off 1T1R) and r_ref; :meth:`BackendBase.transfer_matrix` caches it."""
        if not self.is_linear(circuit):
            extra = periphery_nonlinear(circuit)
            raise InputError(
                f"the circuit has no transfer matrix ({', '.join(extra) if extra else 'diode threshold'})"
            )
        net = as_network(circuit)
        _warn_ignored(net, self.warn)
        T = np.eye(net.n_inputs)
        buffers = net.buffers
        for k, xb in enumerate(net.layers):
            G = np.zeros_like(xb.G) if _switched_off(xb) else xb.G
            T = T @ G if k else G  # layer 0: G itself, so V @ T is V @ G bit for bit
            if k < len(net.layers) - 1:
                T = T * xb.handed_on_gain(buffers.get(k))
        return np.array(T, dtype=np.float64)

    def solve(self, circuit: Circuit, V: np.ndarray, *, nodes: tuple[str, ...] = ()) -> Solution:
        t0 = time.perf_counter()
        net = as_network(circuit)
        x = drive_inputs(net, V)
        if nodes:
            raise InputError("the ideal backend has no internal nodes; drop nodes=")
        ignored = _warn_ignored(net, self.warn)
        currents, voltages = [], []
        power = np.zeros(x.shape[0])
        buffers = net.buffers
        for k, xb in enumerate(net.layers):
            i_out, i_src = cell_currents(xb, x)
            power += np.sum(x * i_src, axis=1)
            v_out = i_out * xb.r_ref if xb.r_ref is not None else np.zeros_like(i_out)
            currents.append(i_out)
            voltages.append(v_out)
            if k in buffers:
                x = buffers[k].apply(xb.sensed_voltages(i_out, v_out))
            else:
                x = v_out
        sol = Solution.from_layers(
            currents,
            voltages,
            power,
            backend=self.name,
            seconds=time.perf_counter() - t0,
            sensed_by_voltage=net.layers[-1].r_ref is not None,
            ignored=ignored,
        )
        return convert_outputs(net, sol)
