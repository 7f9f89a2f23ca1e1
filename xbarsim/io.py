"""Reading and writing the arrays users hand to the CLI (``.npy`` or ``.csv``)."""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .errors import InputError

SUFFIXES = (".npy", ".csv")


def _suffix(path: Path, what: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"{what} file {str(path)!r} must end in .npy or .csv")
    return suffix


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` only if the block succeeds.

    Readers never see half a file, and a failure leaves the old file (and no temporary one).
    ``suffix`` keeps a file ending that a writer needs (e.g. ``.keras``).
    """
    out = Path(path)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part{suffix}")
    try:
        yield tmp
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


def check_output_path(path: str | Path, what: str = "output") -> Path:
    """An output file that can be written, checked before any long work: not a folder, in an
    existing writable folder, not a read-only file."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{what} names a directory, not a file ({p} is a directory); give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"directory of {what} does not exist: {parent}")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise InputError(f"{what} is not writable: {p}")
    return p


def read_text(path: str | Path, what: str) -> str:
    """The text of a UTF-8 file (a BOM is dropped); any other encoding is one clear InputError."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} file not found ({str(p)!r} does not exist)") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{what} file {str(p)!r} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}); save it as UTF-8"
        ) from None


def load_array(path: str | Path, what: str = "array") -> np.ndarray:
    """Load a numeric array from ``.npy`` (no pickles) or comma-separated UTF-8 ``.csv``."""
    p = Path(path)
    suffix = _suffix(p, what)
    if not p.is_file():
        raise InputError(f"{what} file {str(p)!r} does not exist")
    text = read_text(p, what) if suffix == ".csv" else ""
    try:
        if suffix == ".npy":
            arr = np.load(p, allow_pickle=False)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "input contained no data": checked below
                arr = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64, ndmin=1, comments="#")
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"cannot read {what} file {str(p)!r}: {' '.join(str(exc).split())}") from None
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise InputError(f"{what} file {str(p)!r} does not hold real numbers (dtype {arr.dtype})")
    if arr.size == 0:
        raise InputError(f"{what} file {str(p)!r} holds no numbers")
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
