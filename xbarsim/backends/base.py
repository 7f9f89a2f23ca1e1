"""What every backend offers besides ``solve``: linearity, the transfer matrix, and its cache.

A linear circuit (resistor cells, wires, drivers, sense and reference resistors, buffers that only
amplify) obeys superposition, so its sensed currents are ``V @ T`` with ``T`` (M0, N) the currents per volt on
each input alone. Callers that evaluate the same array many times (a mapped network goes
through every tile for every batch of images) ask the backend for ``T`` once and then pay only
the product. The backend owns that cache because only it knows what is worth keeping
(the native backend keeps its factorization data, the ideal one needs nothing but G).

:class:`BackendBase` gives the generic version, built from ``solve`` alone: one solve of the
M0 unit vectors (at :attr:`BackendBase.probe_volts`) plus two random vectors whose currents
must equal their superposition, so a backend that is not linear on the circuit is caught
instead of trusted. The SPICE backends use it; ideal and native override it with exact
versions. Results are cached per circuit object in a :class:`CircuitCache`.

A driver offset, a DAC, a buffer offset or clamp, or an ADC breaks ``V @ T`` (offsets make it
affine, the rest nonlinear): such a circuit is not linear for every backend
(:func:`xbarsim.circuit.periphery_nonlinear` names the parts) and has no transfer matrix; solve it.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

import numpy as np

from .._validate import check_int
from ..circuit import Circuit, as_network, periphery_nonlinear
from ..errors import InputError
from ..solution import Solution, relative_error

T = TypeVar("T")

#: Largest superposition error (relative) a probed transfer matrix may show.
SUPERPOSITION_TOL = 1e-7


class CircuitCache(Generic[T]):
    """LRU of values per circuit *object* (identity, not equality; circuits are frozen).

    Keyed by ``id`` with a weak reference, so an entry goes away when its circuit is garbage
    collected and a new circuit that reuses the address never sees the old value. ``size`` is
    read on every insertion, so an owner can raise it at any time.
    """

    def __init__(self, size: Callable[[], int]) -> None:
        self._size = size
        self._data: OrderedDict[int, tuple[weakref.ref[Circuit], T]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, circuit: Circuit) -> bool:
        hit = self._data.get(id(circuit))
        return hit is not None and hit[0]() is circuit

    def get(self, circuit: Circuit) -> T | None:
        """The value stored for ``circuit`` (now the most recently used), or ``None``."""
        key = id(circuit)
        hit = self._data.get(key)
        if hit is None or hit[0]() is not circuit:
            return None
        self._data.move_to_end(key)
        return hit[1]

    def put(self, circuit: Circuit, value: T) -> T:
        """Store ``value`` for ``circuit``, evicting the least recently used beyond the size."""
        key = id(circuit)
        data = self._data

        def forget(ref: weakref.ref[Circuit]) -> None:
            if key in data and data[key][0] is ref:
                del data[key]

        data[key] = (weakref.ref(circuit, forget), value)
        data.move_to_end(key)
        while len(data) > max(1, self._size()):
            data.popitem(last=False)
        return value

    def clear(self) -> None:
        self._data.clear()


class BackendBase:
    """Generic ``is_linear`` / ``transfer_matrix`` for a backend that implements ``solve``.

    Subclasses set ``name`` and implement :meth:`solve` and ``unavailable_reason``. They need not
    call ``__init__``: the cache is created on first use.

    Attributes
    ----------
    cache_size:
        Circuits whose transfer matrix is kept (least recently used dropped first).
    probe_volts:
        Amplitude of the unit-vector probes of :meth:`transfer_matrix`.
    """

    name: str = "backend"
    cache_size: int = 64
    probe_volts: float = 1.0

    def solve(self, circuit: Circuit, V: np.ndarray, *, nodes: tuple[str, ...] = ()) -> Solution:
        raise NotImplementedError

    def _transfers(self) -> CircuitCache[np.ndarray]:
        cache = self.__dict__.get("_transfer_cache")
        if cache is None:
            cache = CircuitCache(lambda: check_int(self.cache_size, "cache_size", minimum=1))
            self.__dict__["_transfer_cache"] = cache
        return cache

    def is_linear(self, circuit: Circuit) -> bool:
        """True when every cell of the circuit is linear (wires and resistors always are) and so is
        its periphery (no driver or buffer offset, DAC, buffer clamp or ADC; buffer gains are linear)."""
        return all(xb.cell.is_linear for xb in as_network(circuit).layers) and not periphery_nonlinear(
            circuit
        )

    def transfer_matrix(self, circuit: Circuit) -> np.ndarray:
        """(M0, N) matrix T with ``solve(circuit, V).currents == V @ T`` (cached per circuit object).

        Raises :class:`InputError` when :meth:`is_linear` says no, or when the probed matrix
        fails the superposition check on two random vectors (a backend that is not linear here).
        """
        cache = self._transfers()
        T = cache.get(circuit)
        if T is None:
            T = self._probe(circuit)
            T.setflags(write=False)
            cache.put(circuit, T)
        return T

    def _probe(self, circuit: Circuit) -> np.ndarray:
        net = as_network(circuit)
        if not self.is_linear(circuit):
            kinds = sorted({xb.cell.kind for xb in net.layers})
            extra = "".join(f", {p}" for p in periphery_nonlinear(net))
            raise InputError(
                f"backend {self.name!r}: circuit {net.layers[0].name!r} is not linear "
                f"(cells: {', '.join(kinds)}{extra}); it has no transfer matrix, solve it directly"
            )
        m0 = net.n_inputs
        v = float(self.probe_volts)
        check = v * np.random.default_rng(0).random((2, m0))  # fixed vectors: the check is reproducible
        out = np.asarray(self.solve(circuit, np.vstack([v * np.eye(m0), check])).currents, dtype=np.float64)
        T = out[:m0] / v
        err = relative_error(check @ T, out[m0:])
        if err > SUPERPOSITION_TOL:
            raise InputError(
                f"circuit {net.layers[0].name!r} is not linear under backend {self.name!r} "
                f"(superposition error {err:.2e}); solve it directly"
            )
        return T


__all__ = ["SUPERPOSITION_TOL", "BackendBase", "CircuitCache"]
