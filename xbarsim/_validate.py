"""Small validators shared by the dataclasses; each raises InputError with one clear line."""

from __future__ import annotations

import math
import re

import numpy as np

from .errors import InputError

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")

#: The one range of resistances and conductances every backend accepts, applied when a
#: :class:`~xbarsim.circuit.Crossbar` is built (so ideal, native, ngspice and pyspice refuse the
#: same circuits). A nonzero resistance below ``MIN_RESISTANCE`` ohm (write 0 for "same node")
#: makes a conductance of > 1e9 S that swamps the nodal matrix; above ``MAX_RESISTANCE`` an element
#: carries less than ngspice's default gmin (1e-12 S) leaks anyway, and tiny or denormal
#: conductances (1e-310 S) print as resistances ngspice reads as infinite.
MIN_RESISTANCE = 1e-9
MAX_RESISTANCE = 1e15
#: Cell conductances must lie in [G_MIN, G_MAX] siemens (the same limits seen as conductances).
G_MIN = 1.0 / MAX_RESISTANCE
G_MAX = 1.0 / MIN_RESISTANCE


def check_name(value: str, what: str) -> str:
    """Accept only identifiers that are safe inside a SPICE deck (no spaces, dots, newlines)."""
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise InputError(
            f"{what} must be a letter followed by up to 31 letters, digits or underscores, got {value!r}"
        )
    return value


def check_real(value: object, what: str, *, positive: bool = False, nonneg: bool = False) -> float:
    """Return ``value`` as a finite float, optionally > 0 or >= 0."""
    if isinstance(value, bool):
        raise InputError(f"{what} must be a number, got {value!r}")
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise InputError(f"{what} must be finite, got {x}")
    if positive and not x > 0:
        raise InputError(f"{what} must be > 0, got {x}")
    if nonneg and x < 0:
        raise InputError(f"{what} must be >= 0, got {x}")
    return x


def check_int(
    value: object,
    what: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    choices: tuple[int, ...] | None = None,
) -> int:
    """Return ``value`` as an ``int`` (NumPy integers accepted, ``bool`` and floats refused).

    ``minimum``/``maximum`` are inclusive bounds; ``choices`` a closed set of allowed values.
    The one integer check of the package: every "must be an integer >= k" goes through here.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{what} must be an integer, got {value!r}")
    x = int(value)
    if choices is not None and x not in choices:
        raise InputError(f"{what} must be one of {', '.join(map(str, choices))}, got {x}")
    if minimum is not None and x < minimum:
        raise InputError(f"{what} must be an integer >= {minimum}, got {x}")
    if maximum is not None and x > maximum:
        raise InputError(f"{what} must be an integer <= {maximum}, got {x}")
    return x


def check_conductance(G: object, what: str = "conductance matrix") -> np.ndarray:
    """Return a read-only float64 (M, N) copy of G; every entry finite and >= 0 siemens (0: open cell)."""
    try:
        arr = np.array(G, dtype=np.float64, copy=True)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be numeric") from None
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(
            f"{what} must be a non-empty 2-D array (M inputs x N outputs), got shape {arr.shape}"
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise InputError(f"{what} has a non-finite entry at [{i}, {j}]: {arr[i, j]}")
    negative = arr < 0
    if negative.any():
        i, j = np.argwhere(negative)[0]
        raise InputError(
            f"{what} must be >= 0 siemens everywhere (0 = open cell); entry [{i}, {j}] is {arr[i, j]}"
        )
    out = (arr != 0) & ((arr < G_MIN) | (arr > G_MAX))
    if out.any():
        i, j = np.argwhere(out)[0]
        raise InputError(
            f"{what} entry [{i}, {j}] is {float(arr[i, j])!r} S, outside the accepted {G_MIN:g}..{G_MAX:g} S"
            " (0 = open cell)"
        )
    arr.setflags(write=False)
    return arr


def check_resistance(value: object, what: str, *, zero_ok: bool = True) -> float:
    """Return ``value`` as a resistance in ohm: 0 (when ``zero_ok``: one node) or within the limits."""
    r = check_real(value, what, nonneg=zero_ok, positive=not zero_ok)
    if r == 0:
        return r
    if r < MIN_RESISTANCE:
        raise InputError(f"{what} {r!r} ohm is below {MIN_RESISTANCE:g} ohm; use 0 for an ideal connection")
    if r > MAX_RESISTANCE:
        raise InputError(f"{what} {r!r} ohm is above {MAX_RESISTANCE:g} ohm")
    return r


def check_finite_result(values: np.ndarray, what: str, backend: str) -> None:
    """Raise :class:`~xbarsim.errors.SimulationError` when a simulator result is NaN or infinite."""
    from .errors import SimulationError

    arr = np.asarray(values)
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(k) for k in np.argwhere(bad)[0])
        raise SimulationError(
            f"backend {backend} returned a non-finite {what} at {list(where)}: {arr[where]}"
        )


def check_voltages(V: object, m: int, what: str = "input voltages") -> np.ndarray:
    """Return V as a float64 (B, M) array; a single vector (M,) becomes (1, M)."""
    try:
        arr = np.array(V, dtype=np.float64, copy=True)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be numeric") from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise InputError(f"{what} must have shape (B, M) or (M,), got {arr.shape}")
    if arr.shape[1] != m:
        raise InputError(f"{what} have {arr.shape[1]} columns but the circuit has {m} inputs")
    if not np.all(np.isfinite(arr)):
        i, j = np.argwhere(~np.isfinite(arr))[0]
        raise InputError(f"{what} have a non-finite entry at [{i}, {j}]")
    return arr
