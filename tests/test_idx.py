"""IDX loader: committed subsets, gzip and raw files, search order, binarization, typed errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from xbarsim.datasets import idx
from xbarsim.errors import InputError

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def _no_download(monkeypatch):
    """Tests never download: forbid it and hide any user cache or data variable."""
    monkeypatch.setenv("XBARSIM_NO_DOWNLOAD", "1")
    monkeypatch.delenv("XBARSIM_DATA", raising=False)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_subsets_load(name):
    x, y = idx.load(name, "train", data_dir=DATA)
    xt, yt = idx.load(name, "test", data_dir=DATA)
    assert x.shape == (500, 28, 28) and x.dtype == np.uint8 and y.shape == (500,)
    assert xt.shape == (200, 28, 28) and yt.shape == (200,)
    assert set(np.unique(y)) == set(range(10))
    assert 0 < x.mean() < 255


def test_fashion_alias_and_limit():
    x, y = idx.load("fashion_mnist", "test", data_dir=DATA, limit=7)
    assert x.shape == (7, 28, 28) and y.shape == (7,)


def test_raw_equals_gzip(tmp_path):
    for f in (DATA / "mnist").iterdir():
        (tmp_path / f.name.removesuffix(".gz")).write_bytes(gzip.decompress(f.read_bytes()))
    a = idx.load("mnist", "test", data_dir=tmp_path)
    b = idx.load("mnist", "test", data_dir=DATA)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_write_read_roundtrip(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for compress in (True, False):
        p = idx.write_idx(tmp_path / f"a{compress}", arr, compress=compress)
        assert np.array_equal(idx.read_idx(p), arr)


def test_search_order_env_then_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(InputError, match="not found"):
        idx.load("mnist", "test", download=False)
    # Keras cache layout: ~/.keras/datasets/<name>/
    cache = tmp_path / "keras" / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    for f in (DATA / "fashion-mnist").iterdir():
        (cache / f.name).write_bytes(f.read_bytes())
    assert idx.load("fashion-mnist", "test")[0].shape == (200, 28, 28)
    monkeypatch.setenv("XBARSIM_DATA", str(DATA))
    assert idx.load("mnist", "test")[0].shape == (200, 28, 28)


def test_keras_mnist_npz(tmp_path):
    x, y = idx.load("mnist", "test", data_dir=DATA)
    np.savez(tmp_path / "mnist.npz", x_train=x[:5], y_train=y[:5], x_test=x, y_test=y)
    a, b = idx.load("mnist", "test", data_dir=tmp_path)
    assert np.array_equal(a, x) and np.array_equal(b, y)


def test_binarize_threshold():
    px = np.array([[0, 25, 26, 255]], dtype=np.uint8)  # 25/255 = 0.098 < 0.1 <= 26/255
    assert idx.binarize(px).tolist() == [[0.0, 0.0, 1.0, 1.0]]
    xb, yb = idx.load_binary("mnist", "test", data_dir=DATA, limit=20)
    assert set(np.unique(xb)) == {0.0, 1.0} and xb.dtype == np.float32 and yb.dtype == np.int64


def _idx_bytes(arr):
    a = np.asarray(arr, dtype=np.uint8)
    return bytes([0, 0, 8, a.ndim]) + np.array(a.shape, ">u4").tobytes() + a.tobytes()


@pytest.mark.parametrize(
    "payload, match",
    [
        (b"\x01\x02\x08\x01" + b"\x00" * 8, "bad magic"),
        (b"", "bad magic"),
        (bytes([0, 0, 0x42, 1]) + b"\x00\x00\x00\x01x", "element type"),
        (_idx_bytes(np.zeros((4, 3)))[:-2], "truncated"),
        (_idx_bytes(np.zeros((4, 3)))[:9], "truncated"),
        (_idx_bytes(np.zeros((4, 3))) + b"xx", "after"),
    ],
)
def test_corrupt_files(tmp_path, payload, match):
    p = tmp_path / "f"
    p.write_bytes(payload)
    with pytest.raises(InputError, match=match):
        idx.read_idx(p)


def test_truncated_gzip(tmp_path):
    raw = gzip.compress(_idx_bytes(np.zeros((50, 28, 28))))
    p = tmp_path / "t10k-images-idx3-ubyte.gz"
    p.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match="corrupt gzip"):
        idx.read_idx(p)


def test_missing_things(tmp_path):
    with pytest.raises(InputError, match="data directory not found"):
        idx.load("mnist", data_dir=tmp_path / "nope")
    with pytest.raises(InputError, match="not found in"):
        idx.load("mnist", data_dir=tmp_path)
    with pytest.raises(InputError, match="unknown dataset"):
        idx.load("cifar", data_dir=DATA)
    with pytest.raises(InputError, match="split"):
        idx.load("mnist", "val", data_dir=DATA)
    with pytest.raises(InputError, match="IDX file not found"):
        idx.read_idx(tmp_path / "x")


def test_label_count_mismatch(tmp_path):
    idx.write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    idx.write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(2, np.uint8))
    with pytest.raises(InputError, match="3 images but 2 labels"):
        idx.load("mnist", "test", data_dir=tmp_path)
