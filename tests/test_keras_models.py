"""Keras trainer: architecture rules, real (tiny) training, saving with its record, NumPy extraction.

Real TensorFlow, 1 epoch on the committed 500-image subsets. Oracle for extraction: Keras' own
predict (float32), so NumPy float64 forwards agree to 1e-5.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import requires_tf

from xbarsim.datasets.idx import load_binary
from xbarsim.errors import InputError
from xbarsim.nn import keras_models as km

DATA = Path(__file__).resolve().parent / "data"


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"hidden": 4}, "hidden"),
        ({"hidden": 129}, "hidden"),
        ({"layers": 5}, "layers"),
        ({"arch": "rnn"}, "arch"),
        ({"arch": "cnn", "filters": 12}, "filters"),
        ({"arch": "cnn", "pool": 9}, "pool"),
        ({"arch": "cnn", "conv": 2, "pool": 8}, "does not fit"),
        ({"arch": "cnn", "conv": 3, "pool": 3}, "smaller than its 3x3 kernel"),
        ({"hidden": True}, "hidden"),
    ],
)
def test_archspec_validation(kw, match):
    with pytest.raises(InputError, match=match):
        km.ArchSpec(**kw)


def test_conv_shapes():
    assert km.ArchSpec("cnn", conv=2, filters=16, pool=2).conv_shapes() == [(13, 13, 16), (5, 5, 16)]
    assert km.ArchSpec("cnn", conv=1, pool=8).conv_shapes() == [(3, 3, 16)]
    assert km.ArchSpec("cnn", conv=3, pool=2).conv_shapes()[-1] == (1, 1, 16)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    x, y = load_binary("mnist", "train", data_dir=DATA)
    out = {}
    for spec in (
        km.ArchSpec("mlp", hidden=16, layers=2),
        km.ArchSpec("cnn", conv=2, filters=8, pool=2, hidden=16),
    ):
        res = km.train(spec, x, y, epochs=1, seed=3)
        path = km.save(res, tmp_path_factory.mktemp(spec.arch) / "model.keras")
        out[spec.arch] = (res, path)
    return out


@requires_tf
@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_train_save_load_extract(trained, arch):
    res, path = trained[arch]
    assert set(res.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 1 for v in res.history.values())
    rec = json.loads(km.history_path(path).read_text())
    assert rec["epochs"] == 1 and rec["seed"] == 3 and rec["optimizer"]["momentum"] == 0.9
    assert km.spec_from_record(rec) == res.spec
    model = km.load_model(path)
    ops = km.extract(model)
    xt, _ = load_binary("mnist", "test", data_dir=DATA, limit=50)
    ref = np.asarray(model.predict(xt[..., None], verbose=0), dtype=np.float64)
    np.testing.assert_allclose(km.forward(ops, xt), ref, atol=1e-5)
    if arch == "mlp":
        assert [type(o).__name__ for o in ops] == ["Flatten", "Dense", "Dense", "Dense"]
        assert km.n_synapses(ops) == 784 * 16 + 16 + 16 * 16 + 16 + 16 * 10 + 10
    else:
        assert [type(o).__name__ for o in ops] == [
            "Conv",
            "Pool",
            "Conv",
            "Pool",
            "Flatten",
            "Dense",
            "Dense",
        ]
        assert ops[2].W.shape == (3, 3, 8, 8) and ops[5].W.shape == (5 * 5 * 8, 16)


@requires_tf
def test_im2col_equals_keras_conv2d():
    import keras

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 9, 8, 2)).astype(np.float32)
    layer = keras.layers.Conv2D(5, (3, 3), activation="linear")
    layer.build((None, 9, 8, 2))
    W = rng.normal(size=(3, 3, 2, 5)).astype(np.float32)
    b = rng.normal(size=5).astype(np.float32)
    layer.set_weights([W, b])
    ref = np.asarray(layer(x), dtype=np.float64)
    got = km.im2col(x.astype(np.float64), 3, 3) @ W.reshape(18, 5).astype(np.float64) + b
    np.testing.assert_allclose(got, ref, atol=1e-5)


@requires_tf
def test_load_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        km.load_model(tmp_path / "none.keras")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="cannot load"):
        km.load_model(bad)


@requires_tf
def test_train_input_errors(trained, tmp_path):
    spec = km.ArchSpec("mlp", hidden=8)
    with pytest.raises(InputError, match="shape"):
        km.train(spec, np.zeros((4, 10, 10)), np.zeros(4), epochs=1)
    with pytest.raises(InputError, match="labels"):
        km.train(spec, np.zeros((4, 28, 28)), np.full(4, 11), epochs=1)
    with pytest.raises(InputError, match="epochs"):
        km.train(spec, np.zeros((4, 28, 28)), np.zeros(4), epochs=0)
    with pytest.raises(InputError, match=".keras"):
        km.save(trained["mlp"][0], tmp_path / "m.h5")


def test_forward_pool_errors():
    with pytest.raises(InputError, match="does not fit"):
        km.max_pool(np.zeros((1, 3, 3, 1)), 4)
    with pytest.raises(InputError, match="smaller"):
        km.im2col(np.zeros((1, 2, 5, 1)), 3, 3)
