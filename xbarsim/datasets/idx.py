"""IDX loader for MNIST and Fashion-MNIST (gzip or raw), and the binarization of Romero-Zaliz 2021.

Where the files are looked for, in order:

1. ``data_dir`` given by the caller (``--data-dir``); when given, nothing else is tried;
2. the ``XBARSIM_DATA`` environment variable;
3. the Keras cache (``$KERAS_HOME/datasets`` or ``~/.keras/datasets``).

Inside a directory ``D`` the files may sit in ``D/<dataset>/`` or directly in ``D``; each file may be
gzip-compressed (``.gz``) or raw. For MNIST the Keras ``mnist.npz`` is accepted as well.
Only when nothing is found in 2.-3. (and no ``data_dir`` was given) the files are downloaded into
the Keras cache, and only if the download host answers; ``XBARSIM_NO_DOWNLOAD=1`` forbids it.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import urllib.request
from pathlib import Path
from typing import Literal, TypedDict, Unpack

import numpy as np

from .._validate import check_int
from ..errors import InputError

#: Classes of MNIST and Fashion-MNIST.
N_CLASSES = 10

log = logging.getLogger(__name__)

Split = Literal["train", "test"]
DATASETS: tuple[str, ...] = ("mnist", "fashion-mnist")
_ALIASES = {
    "mnist": "mnist",
    "fashion-mnist": "fashion-mnist",
    "fashion_mnist": "fashion-mnist",
    "fashion": "fashion-mnist",
}
_PREFIX = {"train": "train", "test": "t10k"}
#: IDX element type codes -> numpy dtype (big-endian).
_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_URLS = {
    "mnist": "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "fashion-mnist": "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
}
#: Pixel threshold of the binarization: pixel / 255 below it -> 0, else 1.
BINARY_THRESHOLD = 0.1


def canonical_name(dataset: str) -> str:
    """``"mnist"`` or ``"fashion-mnist"`` (accepts ``fashion_mnist`` and ``fashion``)."""
    key = str(dataset).strip().lower()
    if key not in _ALIASES:
        raise InputError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    return _ALIASES[key]


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (gzip detected by its magic bytes, not its name) into a numpy array.

    Raises :class:`InputError` on a missing file, a bad magic number, an unknown element type,
    or a payload shorter (truncated) or longer than the header says.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"IDX file not found: {p}")
    raw = p.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InputError(f"corrupt gzip in IDX file {p}: {exc}") from None
    return parse_idx(raw, str(p))


def parse_idx(raw: bytes, what: str = "IDX data") -> np.ndarray:
    """Parse the bytes of an uncompressed IDX file (pure function)."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise InputError(f"{what} is not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    code, ndim = raw[2], raw[3]
    if code not in _DTYPES:
        raise InputError(f"{what} has unknown IDX element type 0x{code:02x}")
    if ndim == 0:
        raise InputError(f"{what} declares 0 dimensions")
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise InputError(f"{what} is truncated inside its header")
    shape = tuple(int(x) for x in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_DTYPES[code])
    need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    have = len(raw) - head
    if have < need:
        raise InputError(f"{what} is truncated: header says {shape} ({need} bytes), file has {have}")
    if have > need:
        raise InputError(f"{what} has {have - need} bytes after the {shape} payload; not an IDX file")
    return (
        np.frombuffer(raw, dtype=dtype, count=need // dtype.itemsize, offset=head)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def write_idx(path: str | os.PathLike[str], arr: np.ndarray, *, compress: bool = True) -> Path:
    """Write ``arr`` (uint8 for images/labels) as an IDX file, gzip-compressed by default."""
    a = np.asarray(arr)
    inv = {np.dtype(v).newbyteorder("="): k for k, v in _DTYPES.items()}
    if a.dtype not in inv:
        raise InputError(f"cannot write dtype {a.dtype} as IDX")
    code = inv[a.dtype]
    body = bytes([0, 0, code, a.ndim]) + np.array(a.shape, dtype=">u4").tobytes()
    body += a.astype(np.dtype(_DTYPES[code])).tobytes()
    p = Path(path)
    p.write_bytes(gzip.compress(body, mtime=0) if compress else body)
    return p


def _file_names(split: Split) -> tuple[str, str]:
    pre = _PREFIX[split]
    return f"{pre}-images-idx3-ubyte", f"{pre}-labels-idx1-ubyte"


def _find_in(directory: Path, name: str, split: Split) -> tuple[Path, Path] | Path | None:
    """The (images, labels) files of ``split`` in ``directory`` (or ``mnist.npz``), else None."""
    img, lab = _file_names(split)
    for d in (directory / name, directory / name.replace("-", "_"), directory):
        found = []
        for base in (img, lab):
            hit = next((d / f for f in (base + ".gz", base) if (d / f).is_file()), None)
            found.append(hit)
        if all(found):
            return found[0], found[1]  # type: ignore[return-value]
    if name == "mnist" and (directory / "mnist.npz").is_file():
        return directory / "mnist.npz"
    return None


def keras_cache_dir() -> Path:
    """Directory where Keras caches datasets (``$KERAS_HOME/datasets`` or ``~/.keras/datasets``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def locate(dataset: str, split: Split = "train", data_dir: str | os.PathLike[str] | None = None):
    """Where the files of ``dataset``/``split`` are; raise :class:`InputError` saying where we looked."""
    name = canonical_name(dataset)
    if split not in _PREFIX:
        raise InputError(f"split must be 'train' or 'test', got {split!r}")
    if data_dir is not None:
        places = [Path(data_dir)]
        if not places[0].is_dir():
            raise InputError(f"data directory not found: {places[0]}")
    else:
        places = [Path(os.environ["XBARSIM_DATA"])] if os.environ.get("XBARSIM_DATA") else []
        places.append(keras_cache_dir())
    for d in places:
        hit = _find_in(d, name, split)
        if hit is not None:
            return hit
    img, lab = _file_names(split)
    raise InputError(
        f"{name} {split} files ({img}[.gz], {lab}[.gz]) not found in {', '.join(str(p) for p in places)}; "
        "pass --data-dir or set XBARSIM_DATA"
    )


def _download(name: str, split: Split) -> Path | None:
    """Fetch the IDX gz files into the Keras cache; None when offline or forbidden."""
    if os.environ.get("XBARSIM_NO_DOWNLOAD", "") not in ("", "0"):
        return None
    target = keras_cache_dir() / name
    base = _URLS[name]
    try:
        target.mkdir(parents=True, exist_ok=True)
        for f in _file_names(split):
            dest = target / (f + ".gz")
            if dest.is_file():
                continue
            log.info("downloading %s%s.gz", base, f)
            tmp = dest.with_suffix(".part")
            with urllib.request.urlopen(base + f + ".gz", timeout=30) as resp, open(tmp, "wb") as out:
                shutil.copyfileobj(resp, out)
            tmp.replace(dest)
    except OSError as exc:  # no network, DNS failure, HTTP error, read-only home
        log.info("download of %s failed: %s", name, exc)
        return None
    return target


def load(
    dataset: str,
    split: Split = "train",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) uint8 of one split of MNIST or Fashion-MNIST.

    ``limit`` keeps the first ``limit`` examples. Downloading happens only without ``data_dir``,
    with ``download=True``, when nothing is found locally and the host answers.
    """
    name = canonical_name(dataset)
    try:
        hit = locate(name, split, data_dir)
    except InputError:
        if data_dir is not None or not download or _download(name, split) is None:
            raise
        hit = locate(name, split, keras_cache_dir())
    if isinstance(hit, Path):  # Keras mnist.npz
        try:
            with np.load(hit) as z:
                key = "train" if split == "train" else "test"
                x, y = np.asarray(z[f"x_{key}"]), np.asarray(z[f"y_{key}"])
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"cannot read {hit}: {exc}") from None
    else:
        x, y = read_idx(hit[0]), read_idx(hit[1])
    if x.ndim != 3 or y.ndim != 1:
        raise InputError(
            f"{name} {split}: expected images (N, H, W) and labels (N,), got {x.shape} and {y.shape}"
        )
    if x.shape[0] != y.shape[0]:
        raise InputError(f"{name} {split}: {x.shape[0]} images but {y.shape[0]} labels")
    if limit is not None:
        n = check_int(limit, "limit", minimum=1)
        x, y = x[:n], y[:n]
    return np.ascontiguousarray(x, dtype=np.uint8), np.ascontiguousarray(y, dtype=np.uint8)


def binarize(images: np.ndarray, threshold: float = BINARY_THRESHOLD) -> np.ndarray:
    """0/1 float32 images: ``pixel / 255 < threshold`` -> 0, else 1 (Romero-Zaliz et al. 2021)."""
    x = np.asarray(images)
    return (x.astype(np.float32) / 255.0 >= threshold).astype(np.float32)


class LoadOptions(TypedDict, total=False):
    """The keyword options of :func:`load`, passed through by :func:`load_binary`."""

    data_dir: str | os.PathLike[str] | None
    limit: int | None
    download: bool


def load_binary(
    dataset: str, split: Split = "train", **options: Unpack[LoadOptions]
) -> tuple[np.ndarray, np.ndarray]:
    """Binarized images (N, 28, 28) float32 in {0, 1} and int64 labels (options as :func:`load`)."""
    x, y = load(dataset, split, **options)
    return binarize(x), y.astype(np.int64)


def check_fits(
    input_shape: tuple[int, ...], n_outputs: int, x: np.ndarray, y: np.ndarray, model: str, dataset: str
) -> None:
    """Refuse, in one line, a model whose input or class count does not fit the images and labels."""
    want = tuple(d for d in input_shape if d != 1)
    have = tuple(d for d in x.shape[1:] if d != 1)
    if want != have:
        raise InputError(
            f"{model} takes inputs of shape {tuple(input_shape)} but the {dataset} images are "
            f"{tuple(x.shape[1:])}"
        )
    if n_outputs != N_CLASSES or (y.size and int(np.max(y)) >= n_outputs):
        raise InputError(f"{model} has {n_outputs} outputs but {dataset} has {N_CLASSES} classes")
