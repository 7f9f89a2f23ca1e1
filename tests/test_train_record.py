"""keras_models.TrainResult.record says how the model was really trained (real TensorFlow, tiny run)."""

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


@requires_tf
def test_record_holds_the_settings_used(tmp_path: Path) -> None:
    x, y = load_binary("mnist", "train", data_dir=DATA)
    x, y = x[:200], y[:200]
    spec = km.ArchSpec("mlp", hidden=16, layers=1)
    res = km.train(
        spec, x, y, epochs=1, batch_size=50, learning_rate=0.03, momentum=0.5, validation_split=0.25, seed=1
    )
    rec = res.record()
    assert rec["optimizer"] == {"name": "SGD", "learning_rate": 0.03, "momentum": 0.5}
    assert rec["batch_size"] == 50 and rec["validation_split"] == 0.25
    assert rec["epochs"] == 1 and rec["seed"] == 1
    # the model itself was compiled with them
    cfg = res.model.optimizer.get_config()
    assert cfg["learning_rate"] == pytest.approx(0.03) and cfg["momentum"] == pytest.approx(0.5)
    # 150 training images at batch 50 = 3 optimizer steps; validation on the other 50 ran
    assert int(res.model.optimizer.iterations.numpy()) == 3
    assert "val_loss" in res.history
    saved = json.loads(km.history_path(km.save(res, tmp_path / "m.keras")).read_text())
    assert saved["optimizer"]["learning_rate"] == 0.03 and saved["batch_size"] == 50
    assert np.isfinite(saved["history"]["loss"][0])


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": -0.1}, "learning rate"),
        ({"validation_split": 1.0}, "validation split"),
        ({"epochs": True}, "epochs"),
    ],
)
def test_bad_training_settings(kw: dict, match: str) -> None:
    x, y = np.zeros((4, 28, 28), dtype=np.float32), np.zeros(4, dtype=np.int64)
    with pytest.raises(InputError, match=match):
        km.train(km.ArchSpec("mlp", hidden=16, layers=1), x, y, **kw)
