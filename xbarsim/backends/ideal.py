"""Ideal backend: the matrix product, with each cell's ideal law and no wire or loading effects.

* resistor: ``I = V @ G``.
* diode: each cell conducts ``G * max(V_row - v_threshold, 0)`` (the piecewise-linear law of the
  papers' "computer calculation"; the column is taken at 0 V).
* 1t1r: the transistor is an ideal switch: ``V @ G`` when ``v_gate > vto``, else no current.

A reference resistor is an ideal transimpedance: the sense voltage is ``I * r_ref`` and does not
load the column. In a Network each layer's sense voltages are the next layer's input voltages.
``power`` sums the power every layer's inputs deliver into its array (for layer k > 0 that comes
from ideal buffers, since no current is drawn from the reference resistors).
"""

from __future__ import annotations

import time

import numpy as np

from .._validate import check_voltages
from ..circuit import Circuit, Crossbar, as_network
from ..solution import Solution


def cell_currents(xb: Crossbar, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ideal column currents (B, N) and input-source currents (B, M) of one layer."""
    kind = xb.cell.kind
    if kind == "diode":
        drive = np.maximum(V - xb.cell.diode.v_threshold, 0.0)
    elif kind == "1t1r" and xb.cell.v_gate <= xb.cell.nmos.vto:
        drive = np.zeros_like(V)
    else:
        drive = V
    out = drive @ xb.G
    source = drive * xb.G.sum(axis=1)[None, :]
    return out, source


class IdealBackend:
    """NumPy matrix product; the reference every circuit result is compared with."""

    name = "ideal"

    def __init__(self) -> None:
        pass

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return None

    def solve(self, circuit: Circuit, V: np.ndarray, *, nodes: tuple[str, ...] = ()) -> Solution:
        t0 = time.perf_counter()
        net = as_network(circuit)
        x = check_voltages(V, net.n_inputs)
        if nodes:
            from ..errors import InputError

            raise InputError("the ideal backend has no internal nodes; drop nodes=")
        currents, voltages = [], []
        power = np.zeros(x.shape[0])
        for xb in net.layers:
            i_out, i_src = cell_currents(xb, x)
            power += np.sum(x * i_src, axis=1)
            v_out = i_out * xb.r_ref if xb.r_ref is not None else np.zeros_like(i_out)
            currents.append(i_out)
            voltages.append(v_out)
            x = v_out
        return Solution.from_layers(
            currents,
            voltages,
            power,
            backend=self.name,
            seconds=time.perf_counter() - t0,
            sensed_by_voltage=net.layers[-1].r_ref is not None,
        )
