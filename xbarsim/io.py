"""Reading and writing the arrays users hand to the CLI (``.npy`` or ``.csv``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import InputError

SUFFIXES = (".npy", ".csv")


def _suffix(path: Path, what: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"{what} file {str(path)!r} must end in .npy or .csv")
    return suffix


def load_array(path: str | Path, what: str = "array") -> np.ndarray:
    """Load a numeric array from ``.npy`` (no pickles) or comma-separated ``.csv``."""
    p = Path(path)
    suffix = _suffix(p, what)
    if not p.is_file():
        raise InputError(f"{what} file {str(p)!r} does not exist")
    try:
        if suffix == ".npy":
            arr = np.load(p, allow_pickle=False)
        else:
            arr = np.loadtxt(p, delimiter=",", dtype=np.float64, ndmin=1, comments="#")
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"cannot read {what} file {str(p)!r}: {' '.join(str(exc).split())}") from None
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise InputError(f"{what} file {str(p)!r} does not hold real numbers (dtype {arr.dtype})")
    return np.asarray(arr, dtype=np.float64)


def save_array(path: str | Path, arr: np.ndarray, what: str = "output") -> Path:
    """Write ``arr`` as ``.npy`` or ``.csv`` (full float64 precision)."""
    p = Path(path)
    suffix = _suffix(p, what)
    if p.parent and not p.parent.exists():
        raise InputError(f"directory of {what} file {str(p)!r} does not exist")
    if suffix == ".npy":
        np.save(p, np.asarray(arr))
    else:
        np.savetxt(p, np.atleast_2d(arr), delimiter=",", fmt="%.17g")
    return p
