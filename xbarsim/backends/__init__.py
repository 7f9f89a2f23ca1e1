"""Backends behind one interface: ``solve(circuit, V) -> Solution``.

Each backend lives in its own module and is imported only when asked for, so ``import xbarsim``
never pulls in PySpice or SciPy's solvers. ``available_backends()`` lists the ones whose
dependencies are present; an unknown name raises an error that lists what exists.

Backend instances hold caches (the native backend keeps each linear circuit's factorization and
transfer matrix). :func:`get_backend` always builds a new instance; :func:`solve` with a backend
*name* reuses one: it keeps the :data:`SHARED_INSTANCES` most recently used instances, keyed by
(name, options, calling thread), so solving the same circuit again with ``solve(circuit, V2,
"native")`` costs only the product. Each thread gets its own instances (backend caches are not
locked). Pass an instance (``solve(circuit, V, be)``) to control its lifetime yourself, or call
:func:`clear_shared` to drop the shared ones.
"""

from __future__ import annotations

import importlib
import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Any, Protocol

import numpy as np

from ..circuit import Circuit
from ..errors import BackendUnavailable, InputError
from ..solution import Solution

#: name -> (module, class). Order is the order shown to users.
REGISTRY: dict[str, tuple[str, str]] = {
    "ideal": ("xbarsim.backends.ideal", "IdealBackend"),
    "native": ("xbarsim.backends.native", "NativeBackend"),
    "ngspice": ("xbarsim.backends.ngspice", "NgspiceBackend"),
    "pyspice": ("xbarsim.backends.pyspice_backend", "PySpiceBackend"),
}


#: How many backend instances :func:`solve` keeps for reuse (see the module docstring).
SHARED_INSTANCES = 8


class Backend(Protocol):
    """What every backend class provides (:class:`~xbarsim.backends.base.BackendBase` has generic
    ``is_linear``/``transfer_matrix``/``cache_size`` for a backend that only implements ``solve``)."""

    name: str
    #: Circuits whose cached data (transfer matrix, factorization) the instance keeps; callers may raise it.
    cache_size: int

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """``None`` when usable here, else a one-line reason (missing executable, package...)."""

    def solve(self, circuit: Circuit, V: np.ndarray, *, nodes: tuple[str, ...] = ()) -> Solution:
        """Operating points for each row of V ((B, M0) volts)."""

    def is_linear(self, circuit: Circuit) -> bool:
        """True when this backend's model of ``circuit`` obeys superposition."""

    def transfer_matrix(self, circuit: Circuit) -> np.ndarray:
        """(M0, N) ``T`` with ``solve(circuit, V).currents == V @ T`` (cached per circuit object).

        Raises :class:`~xbarsim.errors.InputError` when the circuit is not linear.
        """


def _backend_class(name: str) -> Any:
    if name not in REGISTRY:
        raise InputError(f"unknown backend {name!r}; choose one of {', '.join(REGISTRY)}")
    module, cls = REGISTRY[name]
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:  # a backend module missing its optional dependency
        raise BackendUnavailable(f"backend {name!r} cannot be imported: {exc}") from None
    return getattr(mod, cls)


def available_backends() -> list[str]:
    """Names of the backends usable on this machine."""
    names = []
    for name in REGISTRY:
        try:
            if _backend_class(name).unavailable_reason() is None:
                names.append(name)
        except BackendUnavailable:
            continue
    return names


def get_backend(name: str, **options: Any) -> Backend:
    """A new instance of backend ``name`` with its options; raise if unknown or unusable here."""
    cls = _backend_class(name)
    reason = cls.unavailable_reason()
    if reason is not None:
        raise BackendUnavailable(f"backend {name!r} is not usable here: {reason}")
    try:
        return cls(**options)
    except TypeError as exc:  # an option the backend does not take
        raise InputError(
            f"backend {name!r} does not accept these options ({', '.join(options)}): {exc}"
        ) from None


def _freeze(value: Any) -> Hashable:
    """A hashable image of an options value (mappings and sequences recursively)."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    hash(value)  # TypeError for anything else unhashable: such options are not shared
    return (type(value).__name__, value)


_SHARED: OrderedDict[Hashable, Backend] = OrderedDict()
_SHARED_LOCK = threading.Lock()


def shared_backend(name: str, options: Mapping[str, Any] | None = None) -> Backend:
    """The instance :func:`solve` uses for ``name`` with ``options`` in this thread (built once, reused)."""
    opts = dict(options or {})
    try:
        key: Hashable = (threading.get_ident(), name, _freeze(opts))
    except TypeError:  # an unhashable option value: a private instance
        return get_backend(name, **opts)
    with _SHARED_LOCK:
        be = _SHARED.get(key)
        if be is not None:
            _SHARED.move_to_end(key)
            return be
    be = get_backend(name, **opts)
    with _SHARED_LOCK:
        be = _SHARED.setdefault(key, be)
        _SHARED.move_to_end(key)
        while len(_SHARED) > SHARED_INSTANCES:
            _SHARED.popitem(last=False)
    return be


def clear_shared() -> None:
    """Forget the instances :func:`solve` keeps (and with them their caches)."""
    with _SHARED_LOCK:
        _SHARED.clear()


def solve(
    circuit: Circuit,
    V: np.ndarray,
    backend: str | Backend = "native",
    *,
    nodes: tuple[str, ...] = (),
    options: Mapping[str, Any] | None = None,
) -> Solution:
    """Solve ``circuit`` for the input voltages ``V`` ((B, M0) or (M0,)) with one backend.

    ``backend`` is a name (its instance is reused, see the module docstring) or an instance;
    ``options`` are the backend's constructor options, e.g. ``{"mos": "linear"}`` for native or
    ``{"options": {"reltol": 1e-6}}`` for ngspice, and go only with a name. The default ``native``
    solves everything the circuit describes; ``ideal`` leaves out wires, drivers, sense resistors
    and device physics and says so in :attr:`Solution.ignored`.
    """
    if isinstance(backend, str):
        be = shared_backend(backend, options)
    elif options:
        raise InputError("options= go with a backend name; an instance already has its options")
    else:
        be = backend
    return be.solve(circuit, V, nodes=tuple(nodes))
