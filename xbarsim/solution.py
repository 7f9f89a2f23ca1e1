"""The one result type every backend returns."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class Solution:
    """Operating points of a circuit for a batch of B input vectors.

    Attributes
    ----------
    currents:
        (B, N) current into each sense node of the last layer, amperes (positive into the node).
    voltages:
        (B, N) sense-node voltages of the last layer (zeros for a virtual-ground sense).
    layer_currents, layer_voltages:
        The same for every layer of a :class:`~xbarsim.circuit.Network` (one (B, N_L) array each;
        a virtual-ground layer with ``r_tia`` has voltages 0, its buffer sees ``currents * r_tia``).
    power:
        (B,) power delivered by the input sources (after the driver) and, in a buffered network, by
        the buffers, watts.
    backend:
        Name of the backend that produced this solution.
    seconds:
        Wall time spent in the backend's solve.
    node_voltages:
        ``{node name: (B,) volts}`` for the nodes asked for with ``nodes=``.
    sensed_by_voltage:
        True when the last layer has a reference resistor, so :attr:`outputs` are voltages.
    ignored:
        Parts of the described circuit the backend left out (the ``ideal`` backend:
        ``"r_wire"``, ``"r_driver"``, ``"r_sense"``, ``"r_ref"``, ``"diode"``, ``"transistor"``
        when present; empty for backends that solve the whole circuit).
    digital_outputs:
        (B, N) outputs after the last layer's ADC (``None`` without one); see :attr:`outputs`.
    """

    currents: np.ndarray
    voltages: np.ndarray
    layer_currents: tuple[np.ndarray, ...]
    layer_voltages: tuple[np.ndarray, ...]
    power: np.ndarray
    backend: str
    seconds: float = 0.0
    node_voltages: dict[str, np.ndarray] = field(default_factory=dict)
    sensed_by_voltage: bool = False
    ignored: tuple[str, ...] = ()
    digital_outputs: np.ndarray | None = None

    @classmethod
    def from_layers(
        cls,
        layer_currents: list[np.ndarray],
        layer_voltages: list[np.ndarray],
        power: np.ndarray,
        *,
        backend: str,
        seconds: float,
        sensed_by_voltage: bool,
        node_voltages: dict[str, np.ndarray] | None = None,
        ignored: tuple[str, ...] = (),
    ) -> Solution:
        """Assemble a solution from per-layer results (the last layer is the output)."""
        return cls(
            currents=layer_currents[-1],
            voltages=layer_voltages[-1],
            layer_currents=tuple(layer_currents),
            layer_voltages=tuple(layer_voltages),
            power=power,
            backend=backend,
            seconds=seconds,
            node_voltages=dict(node_voltages or {}),
            sensed_by_voltage=sensed_by_voltage,
            ignored=tuple(ignored),
        )

    @classmethod
    def concatenate(cls, parts: list[Solution], seconds: float) -> Solution:
        """One solution from the solutions of consecutive chunks of one batch."""
        first = parts[0]
        n_layers = len(first.layer_currents)
        return cls.from_layers(
            [np.concatenate([p.layer_currents[k] for p in parts]) for k in range(n_layers)],
            [np.concatenate([p.layer_voltages[k] for p in parts]) for k in range(n_layers)],
            np.concatenate([p.power for p in parts]),
            backend=first.backend,
            seconds=seconds,
            sensed_by_voltage=first.sensed_by_voltage,
            node_voltages={
                k: np.concatenate([p.node_voltages[k] for p in parts]) for k in first.node_voltages
            },
            ignored=first.ignored,
        )._with_digital(parts)

    def _with_digital(self, parts: list[Solution]) -> Solution:
        if any(p.digital_outputs is None for p in parts):
            return self
        digital = np.concatenate([p.digital_outputs for p in parts if p.digital_outputs is not None])
        return dataclasses.replace(self, digital_outputs=digital)

    @property
    def analog_outputs(self) -> np.ndarray:
        """What the last layer's sense delivers: voltages across ``r_ref`` if present, else currents."""
        return self.voltages if self.sensed_by_voltage else self.currents

    @property
    def outputs(self) -> np.ndarray:
        """The circuit's outputs: :attr:`digital_outputs` when the last layer has an ADC, else
        :attr:`analog_outputs` (in the same units: an ADC returns each code's value)."""
        return self.analog_outputs if self.digital_outputs is None else self.digital_outputs

    @property
    def batch_size(self) -> int:
        return int(self.currents.shape[0])


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max |b|: the agreement figure used in tests and benchmarks."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    if scale == 0.0:
        return diff
    return diff / scale
