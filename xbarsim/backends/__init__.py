"""Backends behind one interface: ``solve(circuit, V) -> Solution``.

Each backend lives in its own module and is imported only when asked for, so ``import xbarsim``
never pulls in PySpice or SciPy's solvers. ``available_backends()`` lists the ones whose
dependencies are present; an unknown name raises an error that lists what exists.
"""

from __future__ import annotations

import importlib
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


class Backend(Protocol):
    """What every backend class provides."""

    name: str

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """``None`` when usable here, else a one-line reason (missing executable, package...)."""

    def solve(self, circuit: Circuit, V: np.ndarray, *, nodes: tuple[str, ...] = ()) -> Solution:
        """Operating points for each row of V ((B, M0) volts)."""


def _backend_class(name: str) -> type:
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
    """Instantiate backend ``name`` with its options; raise if unknown or unusable here."""
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


def solve(
    circuit: Circuit,
    V: np.ndarray,
    backend: str | Backend = "ideal",
    *,
    nodes: tuple[str, ...] = (),
    **options: Any,
) -> Solution:
    """Solve ``circuit`` for the input voltages ``V`` ((B, M0) or (M0,)) with one backend."""
    be = get_backend(backend, **options) if isinstance(backend, str) else backend
    return be.solve(circuit, V, nodes=tuple(nodes))
