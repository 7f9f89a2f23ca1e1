"""Parser for SPICE raw files (ngspice's binary and ascii formats, real data).

Pure: takes the file's bytes, never touches the disk or a process, so it is tested on committed
raw files. Binary data are read with ``np.frombuffer`` (little-endian float64, point-major).
A file may hold several plots (one per analysis); :func:`parse_raw_plots` returns all of them,
:func:`parse_raw` the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import SimulationError


@dataclass(frozen=True, eq=False)
class RawFile:
    """One plot of a raw file.

    Attributes
    ----------
    title, date, plotname, flags:
        Header fields as written by the simulator.
    names:
        Vector names in file order, lower-cased (ngspice writes ``v(node)``, ``i(vsource)``).
    types:
        Vector types (``voltage``, ``current``...), same order.
    data:
        (n_points, n_vectors) float64 array; column k is vector ``names[k]``.
    """

    title: str
    date: str
    plotname: str
    flags: str
    names: tuple[str, ...]
    types: tuple[str, ...]
    data: np.ndarray
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index.update({n: k for k, n in enumerate(self.names)})

    @property
    def n_points(self) -> int:
        return int(self.data.shape[0])

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._index

    def __getitem__(self, name: str) -> np.ndarray:
        """Vector ``name`` (case-insensitive) as an (n_points,) array."""
        try:
            return self.data[:, self._index[name.lower()]]
        except KeyError:
            raise KeyError(f"raw file has no vector {name!r}; it has {', '.join(self.names)}") from None


def _bad(msg: str) -> SimulationError:
    return SimulationError(f"unparsable raw file: {msg}")


def _read_header(data: bytes, pos: int) -> tuple[dict[str, str], list[tuple[str, str]], str, int]:
    """Header fields, variables, data-section kind (``binary``/``values``) and the data offset."""
    fields: dict[str, str] = {}
    variables: list[tuple[str, str]] = []
    n_vars = -1
    in_vars = False
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            raise _bad("header ends before its 'Binary:' or 'Values:' line")
        line = data[pos:end].decode("latin-1").rstrip("\r")
        pos = end + 1
        key = line.strip().lower()
        if key in ("binary:", "values:"):
            if n_vars < 0 or len(variables) != n_vars:
                raise _bad(f"expected {n_vars} variables, found {len(variables)}")
            return fields, variables, key[:-1], pos
        if in_vars and line[:1] in ("\t", " ") and len(variables) < n_vars:
            parts = line.split()
            if len(parts) < 3:
                raise _bad(f"bad variable line {line!r}")
            variables.append((parts[1].lower(), parts[2].lower()))
            continue
        in_vars = False
        if ":" not in line:
            if not line.strip():
                continue
            raise _bad(f"bad header line {line!r}")
        k, v = line.split(":", 1)
        k = k.strip().lower()
        fields[k] = v.strip()
        if k == "no. variables":
            n_vars = _int_field(v, k)
        elif k == "variables":
            in_vars = True
            if v.strip():  # some writers put the first variable on the same line
                parts = v.split()
                if len(parts) >= 3:
                    variables.append((parts[1].lower(), parts[2].lower()))


def _int_field(text: str, what: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise _bad(f"{what} is not an integer: {text.strip()!r}") from None
    if value < 0:
        raise _bad(f"{what} is negative")
    return value


def _parse_ascii(data: bytes, pos: int, n_points: int, n_vars: int) -> tuple[np.ndarray, int]:
    out = np.empty((n_points, n_vars), dtype=np.float64)
    need = n_points * (n_vars + 1)
    tokens: list[bytes] = []
    while len(tokens) < need:
        if pos >= len(data):
            raise _bad(f"ascii values end after {len(tokens)} of {need} numbers")
        end = data.find(b"\n", pos)
        if end < 0:
            end = len(data)
        tokens.extend(data[pos:end].split())
        pos = end + 1
    if len(tokens) != need:
        raise _bad("ascii values do not split into whole points")
    try:
        arr = np.array([float(t.split(b",")[0]) for t in tokens], dtype=np.float64).reshape(
            n_points, n_vars + 1
        )
    except ValueError as exc:
        raise _bad(f"ascii value is not a number ({exc})") from None
    out[:] = arr[:, 1:]
    return out, pos


def parse_raw_plots(data: bytes) -> list[RawFile]:
    """Every plot in a raw file (binary or ascii, real or complex; complex keeps the real part)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("parse_raw takes the raw file's bytes")
    data = bytes(data)
    plots: list[RawFile] = []
    pos = 0
    while pos < len(data) and data[pos:].strip():
        fields, variables, kind, pos = _read_header(data, pos)
        n_points = _int_field(fields.get("no. points", ""), "No. Points")
        n_vars = len(variables)
        flags = fields.get("flags", "real").lower()
        complex_ = "complex" in flags
        if kind == "binary":
            width = 2 if complex_ else 1
            count = n_points * n_vars * width
            if len(data) - pos < count * 8:
                raise _bad(
                    f"binary data truncated: {n_points} points of {n_vars} vectors need "
                    f"{count * 8} bytes, {len(data) - pos} present"
                )
            arr = np.frombuffer(data, dtype="<f8", count=count, offset=pos).reshape(n_points, n_vars, width)
            values = np.array(arr[:, :, 0], dtype=np.float64)
            pos += count * 8
        else:
            values, pos = _parse_ascii(data, pos, n_points, n_vars)
        plots.append(
            RawFile(
                title=fields.get("title", ""),
                date=fields.get("date", ""),
                plotname=fields.get("plotname", ""),
                flags=flags,
                names=tuple(v[0] for v in variables),
                types=tuple(v[1] for v in variables),
                data=values,
            )
        )
    if not plots:
        raise _bad("no plot in the file")
    return plots


def parse_raw(data: bytes) -> RawFile:
    """The first plot of a raw file (see :func:`parse_raw_plots`)."""
    return parse_raw_plots(data)[0]
