"""``xbarsim infer`` / ``train``: every argument checked before TensorFlow loads, one line per error."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import requires_tf
from oracles import assert_cli_errors_before_tensorflow

from xbarsim.cli import main

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def test_bad_arguments_fail_before_tensorflow_is_imported(tmp_path) -> None:
    model = tmp_path / "m.keras"
    model.write_bytes(b"not checked before the arguments")
    (tmp_path / "m.h5").write_bytes(b"x")
    base = ["infer", "--model", str(model), "--data-dir", str(DATA)]
    cases = [
        (base + ["--levels", "1"], "--levels must be >= 2"),
        (base + ["--tile", "1"], "--tile must be an integer >= 2"),
        (base + ["--batch", "0"], "--batch must be an integer >= 1"),
        (base + ["--cal-images", "0"], "--cal-images must be an integer >= 1"),
        (base + ["--r-wire", "nan"], "--r-wire must be finite"),
        (base + ["--r-wire", "-1"], "--r-wire must be >= 0"),
        (base + ["--timeout", "0"], "--timeout must be > 0"),
        (base + ["--limit", "0"], "--limit must be an integer >= 1"),
        (base + ["--json", str(tmp_path)], "--json names a directory"),
        (base + ["--json", str(tmp_path / "no" / "r.json")], "directory of --json does not exist"),
        (["infer", "--model", str(tmp_path / "m.h5"), "--data-dir", str(DATA)], "must be a .keras file"),
        (
            ["infer", "--model", str(model), "--data-dir", str(tmp_path / "nodata")],
            "data directory not found",
        ),
        (["infer", "--model", str(model), "--data-dir", str(tmp_path)], "files"),
        (["train", "--out", str(tmp_path / "t.keras"), "--epochs", "0", "--data-dir", str(DATA)], "--epochs"),
        (["train", "--out", str(tmp_path / "t.keras"), "--seed", "-1", "--data-dir", str(DATA)], "--seed"),
        (["train", "--out", str(tmp_path), "--data-dir", str(DATA)], "--out names a directory"),
    ]
    assert_cli_errors_before_tensorflow(cases, REPO)


@requires_tf
@pytest.mark.parametrize(
    "arch, message",
    [
        ({"input_shape": (14, 14, 1)}, "takes inputs of shape (14, 14, 1) but the mnist images are (28, 28)"),
        ({"n_classes": 5}, "has 5 outputs but mnist has 10 classes"),
    ],
)
def test_model_that_does_not_fit_the_dataset_one_line(tmp_path, capsys, arch, message) -> None:
    from xbarsim.nn import keras_models as km
    from xbarsim.sweep.experiments import get_experiment, run_experiment

    path = tmp_path / "wrong.keras"
    km.build_model(km.ArchSpec("mlp", hidden=8, **arch)).save(path)
    code = main(["infer", "--model", str(path), "--data-dir", str(DATA), "--limit", "20"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    params = {
        **get_experiment("mnist_mc").defaults(),
        "data_dir": str(DATA),
        "model": str(path),
        "n_test": 20,
    }
    with pytest.raises(Exception, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_experiment("mnist_mc", params)
