"""The Kim et al. 2024 schemes: a two-layer net on two chained diode-selector crossbars.

Unlike the tiled schemes of :mod:`xbarsim.mapping` (each layer read at a fixed voltage, its output
sensed and re-scaled digitally), the Kim circuit is analogue end to end: layer 1's columns end in
a reference resistor ``r_ref`` whose voltage drives layer 2's rows directly, and each cell is a
diode in series with its programmed resistance. So the mapping must give the right *argmax*
through the diodes, not an exact product.

``single`` (the paper's literal M x H -> H x O shape)
------------------------------------------------------
One column per hidden unit and one affine map over W1 and W2 together,
``G = g_off + a (w - w_min)``, ``a = (g_on - g_off) / (w_max - w_min)``. Layer 1's column voltage
is ``V_h = (V_in - V_th) u / (1 + u)`` with ``u = r_ref * sum(G over lit pixels)``, so every hidden
voltage carries an offset ``a * n_lit * (-w_min)`` that changes from digit to digit, and layer 2's
diodes turn it into a different threshold per digit: measured on 20 trained 5x5 nets this scheme
recognizes only 30-70 % of the digits even for the best r_ref (passive model, g_off/g_on from 1e-3
to 1e-1), and ngspice agrees. Its device levels are exactly the q quantization levels.

``differential`` (the default: negative weights through column pairs)
---------------------------------------------------------------------
* Layer 1 is M x (2H + 1): hidden unit j has a "+" column with ``G(max(w, 0))`` and a "-" column
  with ``G(max(-w, 0))``, ``G(v) = g_off + (g_on - g_off) * v / max|W1|``; the last column is a
  bias column with every cell at ``g_on``. Each column ends in ``r_ref`` to ground.
* Layer 2 is (2H + 1) x O, sensed as currents into virtual ground. Row "+j" holds ``w2[j]``, row
  "-j" holds ``-w2[j]`` and the bias row holds ``bias_scale * sum_j w2[j, :]``; one affine map
  ``G = g_off + (g_on - g_off) (s - min s) / (max s - min s)`` over these stacked values, so the
  affine offset adds the same current to every output and cannot change the argmax.
* Output k is then ``a * sum_j w2[j,k] (relu(V+_j - V_th) - relu(V-_j - V_th)) + beta' s_k``:
  an odd, saturating hidden response (like ``2 sigmoid(z) - 1``) plus the constant that
  ``sigmoid = (1 + tanh(z/2)) / 2`` needs.

``r_ref`` and ``bias_scale`` are circuit choices made per input voltage (the Kim experiment
calibrates them on an analytic model); nothing else about the weights is fitted.

Periphery: the input drivers may add an offset voltage (the paper adds the diode threshold,
0.65 V, to every input) and the layers may be coupled through ideal buffers instead of
passively. Both are part of the one :class:`~xbarsim.circuit.Network` the mapping returns: the
:class:`~xbarsim.periphery.Driver` is layer 1's ``Crossbar.driver`` and the
:class:`~xbarsim.periphery.Buffer` its ``coupling``, so every backend solves the paper's circuit
with ``backend.solve(network, V)`` on the *requested* input voltages, and a SPICE deck carries
the offset sources and the buffers' controlled sources.

Levels: as for the tiled schemes, every cell records which device level it holds
(:attr:`KimMapping.level_index` into :attr:`KimMapping.level_conductance`, the sorted distinct
conductances of both layers), so Monte-Carlo code can redraw each cell from its level's
distribution and rebuild the network with :meth:`KimMapping.with_conductances`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .._validate import check_real
from ..circuit import CellModel, Crossbar, Network
from ..errors import InputError
from ..periphery import Buffer, Driver

__all__ = ["KIM_SCHEMES", "KimMapping", "KimScheme", "kim_conductances", "map_kim"]

KimScheme = Literal["differential", "single"]
KIM_SCHEMES: tuple[str, ...] = ("differential", "single")


def _check_scheme(scheme: str) -> str:
    if scheme not in KIM_SCHEMES:
        raise InputError(f"mapping must be one of {', '.join(KIM_SCHEMES)}, got {scheme!r}")
    return scheme


def kim_conductances(
    W1: np.ndarray,
    W2: np.ndarray,
    *,
    scheme: str = "differential",
    g_on: float = 1e-4,
    g_off: float = 1e-7,
    bias_scale: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Conductance matrices (G1, G2) in siemens of weights W1 (M, H), W2 (H, O) under ``scheme``.

    Pure array code (no circuit objects), so a calibration can score many bias scales cheaply.
    ``single`` has no bias row: ``bias_scale`` must then be 0.
    """
    _check_scheme(scheme)
    g_on = check_real(g_on, "g_on", positive=True)
    g_off = check_real(g_off, "g_off", positive=True)
    if not g_off < g_on:
        raise InputError(f"need 0 < g_off < g_on, got {g_off}, {g_on}")
    bias_scale = check_real(bias_scale, "bias scale")
    A1 = np.asarray(W1, dtype=np.float64)
    A2 = np.asarray(W2, dtype=np.float64)
    if A1.ndim != 2 or A2.ndim != 2 or A1.shape[1] != A2.shape[0]:
        raise InputError(f"weight shapes do not chain: W1 {A1.shape}, W2 {A2.shape} (want (M, H), (H, O))")
    if scheme == "single":
        if bias_scale != 0.0:
            raise InputError(f"the single mapping has no bias row; bias scale must be 0, got {bias_scale}")
        lo = min(A1.min(), A2.min())
        span = max(A1.max(), A2.max()) - lo
        a = (g_on - g_off) / span if span > 0 else 0.0
        return g_off + a * (A1 - lo), g_off + a * (A2 - lo)
    M, H = A1.shape
    big = float(np.abs(A1).max())
    a1 = (g_on - g_off) / big if big > 0 else 0.0
    G1 = np.empty((M, 2 * H + 1))
    G1[:, 0 : 2 * H : 2] = g_off + a1 * np.maximum(A1, 0.0)
    G1[:, 1 : 2 * H : 2] = g_off + a1 * np.maximum(-A1, 0.0)
    G1[:, 2 * H] = g_on
    S = np.empty((2 * H + 1, A2.shape[1]))
    S[0 : 2 * H : 2] = A2
    S[1 : 2 * H : 2] = -A2
    S[2 * H] = bias_scale * A2.sum(axis=0)
    span = float(S.max() - S.min())
    a2 = (g_on - g_off) / span if span > 0 else 0.0
    return G1, g_off + a2 * (S - S.min())


@dataclass(frozen=True, eq=False)
class KimMapping:
    """A two-layer net mapped onto the Kim circuit, with each cell's device level.

    Attributes
    ----------
    network:
        Layer 1 (``kim_l1``, columns into ``r_ref``, its driver the input drivers) chained to
        layer 2 (``kim_l2``, virtual ground), passively or through the buffer (``coupling``).
    level_index:
        Per layer, an int array shaped like that layer's G: index into ``level_conductance``.
    level_conductance:
        (K,) ascending distinct conductances (S) of both layers: the device levels.
    scheme:
        ``"differential"`` or ``"single"``.
    r_ref:
        Layer-1 reference resistance (ohm).
    bias_scale:
        Bias-row scale of the differential scheme (0 for single).
    """

    network: Network
    level_index: tuple[np.ndarray, ...]
    level_conductance: np.ndarray
    scheme: str
    r_ref: float
    bias_scale: float

    @property
    def driver(self) -> Driver:
        """Input drivers of layer 1 (offset voltage added to the driven rows; identity by default)."""
        return self.network.layers[0].driver

    @property
    def buffer(self) -> Buffer | None:
        """``None`` (passive: layer 1's r_ref voltages drive layer 2) or the buffer between the layers."""
        return self.network.buffers.get(0)

    @property
    def coupling(self) -> str:
        """``"passive"`` or ``"buffered"``."""
        return "passive" if self.buffer is None else "buffered"

    def with_conductances(self, G: Sequence[np.ndarray]) -> Network:
        """The same network (periphery included) with new per-layer conductance matrices."""
        layers = self.network.layers
        if len(G) != len(layers):
            raise InputError(f"need {len(layers)} conductance matrices, got {len(G)}")
        return Network(
            tuple(xb.replace(G=np.asarray(g)) for xb, g in zip(layers, G)), coupling=self.network.coupling
        )


def map_kim(
    W1: np.ndarray,
    W2: np.ndarray,
    *,
    r_ref: float,
    scheme: str = "differential",
    g_on: float = 1e-4,
    g_off: float = 1e-7,
    bias_scale: float = 0.0,
    cell: CellModel | None = None,
    r_wire: float = 0.0,
    r_driver: float = 0.0,
    driver: Driver | None = None,
    buffer: Buffer | None = None,
) -> KimMapping:
    """Map weights W1 (M, H), W2 (H, O) onto the two-layer circuit (see the module notes).

    ``cell`` defaults to a diode selector with the default :class:`~xbarsim.circuit.DiodeModel`;
    ``r_wire``/``r_driver`` apply to both layers (0 = ideal wiring, as in the paper). ``driver``
    (default: none, inputs applied as given) becomes layer 1's ``Crossbar.driver`` and ``buffer``
    (default: passive coupling) the network's ``coupling``.
    """
    driver = Driver() if driver is None else driver
    if not isinstance(driver, Driver):
        raise InputError(f"driver must be a xbarsim.periphery.Driver, got {type(driver).__name__}")
    if buffer is not None and not isinstance(buffer, Buffer):
        raise InputError(f"buffer must be None or a xbarsim.periphery.Buffer, got {type(buffer).__name__}")
    G1, G2 = kim_conductances(W1, W2, scheme=scheme, g_on=g_on, g_off=g_off, bias_scale=bias_scale)
    r_ref = check_real(r_ref, "r_ref", positive=True)
    cell = CellModel(kind="diode") if cell is None else cell
    net = Network(
        (
            Crossbar(G1, cell, r_wire=r_wire, r_driver=r_driver, r_ref=r_ref, driver=driver, name="kim_l1"),
            Crossbar(G2, cell, r_wire=r_wire, r_driver=r_driver, r_ref=None, name="kim_l2"),
        ),
        coupling="passive" if buffer is None else buffer,
    )
    table, inverse = np.unique(np.concatenate([G1.ravel(), G2.ravel()]), return_inverse=True)
    inverse = inverse.ravel()
    idx = (inverse[: G1.size].reshape(G1.shape), inverse[G1.size :].reshape(G2.shape))
    return KimMapping(net, idx, table, scheme, r_ref, float(bias_scale))
