"""Sweep experiments are declared once: the registry's schema is the function's signature."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated

import numpy as np
import pytest
from conftest import requires_tf

from xbarsim.sweep.experiments import (
    EXPERIMENTS,
    Draw,
    Faults,
    P,
    ParamGroup,
    experiment,
    get_experiment,
    run_experiment,
    schema_of,
)
from xbarsim.sweep.spec import parse_spec

DATA = Path(__file__).resolve().parent / "data"


def test_every_registered_schema_is_its_function_signature() -> None:
    assert {"selftest", "crossbar_mc", "mnist_mc", "kim2024_mc"} <= set(EXPERIMENTS)
    for exp in EXPERIMENTS.values():
        sig = inspect.signature(exp.function())
        expanded: dict[str, object] = {}  # the signature, each parameter group spelled out
        for name, par in sig.parameters.items():
            if name in exp.groups:
                expanded.update({f.name: getattr(par.default, f.name) for f in fields(exp.groups[name])})
            else:
                expanded[name] = par.default
        assert list(exp.params) == list(expanded), exp.name
        assert exp.defaults() == expanded, exp.name
    assert get_experiment("mnist_mc").target == "xbarsim.experiments.montecarlo:mnist_mc"
    assert get_experiment("kim2024_mc").target == "xbarsim.experiments.montecarlo:kim2024_mc"


def test_a_parameter_added_to_the_function_appears_in_the_schema() -> None:
    def toy(a: Annotated[int, P("a", minimum=1)] = 2) -> dict[str, float]:
        return {"v": float(a)}

    def toy2(
        a: Annotated[int, P("a", minimum=1)] = 2, b: Annotated[float, P("new one", maximum=1.0)] = 0.5
    ) -> dict[str, float]:
        return {"v": a * b}

    assert list(schema_of(toy)) == ["a"]
    s2 = schema_of(toy2)
    assert list(s2) == ["a", "b"] and s2["b"].type is float and s2["b"].default == 0.5
    assert s2["b"].maximum == 1.0 and s2["b"].doc == "new one"
    try:
        experiment("toy2_test", metrics=("v",), doc="toy")(toy2)
        spec = parse_spec({"experiment": "toy2_test", "grid": {"b": [0.25, 0.5]}})
        assert [p["b"] for _, p in spec.points()] == [0.25, 0.5]
        with pytest.raises(Exception, match="must be <= 1.0"):
            parse_spec({"experiment": "toy2_test", "fixed": {"b": 2.0}})
    finally:
        EXPERIMENTS.pop("toy2_test", None)


@dataclass(frozen=True)
class Knobs(ParamGroup):
    """A toy parameter group (module level: annotations are resolved in the module's namespace)."""

    gain: Annotated[float, P("gain", minimum=0.0)] = 1.0
    taps: Annotated[int, P("taps", minimum=1)] = 3


def grouped_toy(x: Annotated[float, P("x")] = 2.0, knobs: Knobs = Knobs()) -> dict[str, float]:
    """A toy experiment with a parameter group (module level, so the registry can import it)."""
    assert isinstance(knobs, Knobs)
    return {"v": x * knobs.gain * knobs.taps}


def test_parameter_groups_are_declared_once_and_assembled_for_the_call() -> None:
    def clash(gain: Annotated[float, P("x")] = 2.0, knobs: Knobs = Knobs()) -> dict[str, float]:
        return {}

    try:
        experiment("group_test", metrics=("v",), doc="toy")(grouped_toy)
        exp = get_experiment("group_test")
        assert list(exp.params) == ["x", "gain", "taps"] and exp.groups == {"knobs": Knobs}
        assert exp.params["taps"].minimum == 1 and exp.params["gain"].default == 1.0
        assert run_experiment("group_test", {"x": 2.0, "gain": 0.5, "taps": 4}) == {"v": 4.0}
        with pytest.raises(Exception, match="must be >= 1"):
            parse_spec({"experiment": "group_test", "fixed": {"taps": 0}})
        with pytest.raises(TypeError, match="declared twice"):
            experiment("group_clash_test", metrics=(), doc="")(clash)
    finally:
        EXPERIMENTS.pop("group_test", None)
    assert "group_clash_test" not in EXPERIMENTS
    # the Monte-Carlo experiments share their fault and draw parameters through groups
    for name in ("crossbar_mc", "mnist_mc", "kim2024_mc"):
        assert set(get_experiment(name).groups.values()) == {Faults, Draw}


def test_undeclared_parameters_are_refused_at_registration() -> None:
    def no_hint(a=1) -> dict[str, float]:  # type: ignore[no-untyped-def]
        return {}

    def no_decl(a: int = 1) -> dict[str, float]:
        return {}

    def no_default(a: Annotated[int, P("a")]) -> dict[str, float]:
        return {}

    def star(**kw: Annotated[int, P("a")]) -> dict[str, float]:
        return {}

    for fn, msg in ((no_hint, "Annotated"), (no_decl, "Annotated"), (no_default, "default"), (star, "named")):
        with pytest.raises(TypeError, match=msg):
            experiment("bad_test", metrics=(), doc="")(fn)
    assert "bad_test" not in EXPERIMENTS


@requires_tf
def test_load_or_train_is_lazy_locked_and_atomic(tmp_path) -> None:
    """The data callable runs only when training; the cache holds model + record, no temp files."""
    from xbarsim.datasets.idx import load_binary
    from xbarsim.nn import keras_models as km

    calls = []

    def data() -> tuple[np.ndarray, np.ndarray]:
        calls.append(1)
        return load_binary("mnist", "train", data_dir=DATA, limit=200)

    path = tmp_path / "cache" / "m.keras"
    spec = km.ArchSpec("mlp", hidden=8)
    model, record = km.load_or_train(path, spec, data, epochs=1, seed=0, dataset="mnist")
    assert calls == [1] and record["dataset"] == "mnist" and record["epochs"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.history.json", "m.keras", "m.keras.lock"]
    model2, record2 = km.load_or_train(path, spec, data, epochs=1, seed=0, dataset="mnist")
    assert calls == [1]  # cached: the training data was never loaded again
    assert record2["history"] == record["history"]
    w1 = [w for layer in model.layers for w in layer.get_weights()]
    w2 = [w for layer in model2.layers for w in layer.get_weights()]
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2, strict=True))
    # the legacy form (x, y positional) still works
    x, y = load_binary("mnist", "train", data_dir=DATA, limit=100)
    km.load_or_train(tmp_path / "n.keras", spec, x, y, epochs=1, seed=0, dataset="mnist")
    assert (tmp_path / "n.keras").is_file() and (tmp_path / "n.history.json").is_file()


@requires_tf
def test_two_processes_share_one_training_under_the_lock(tmp_path) -> None:
    """Two real processes ask for the same uncached model at once: one trains, the other loads it."""
    import json
    import os
    import subprocess
    import sys

    code = f"""
import json, os, sys
from xbarsim.datasets.idx import load_binary
from xbarsim.nn import keras_models as km

def data():
    with open(r"{tmp_path / "trained.log"}", "a") as fh:
        fh.write(f"{{os.getpid()}}\\n")
    return load_binary("mnist", "train", data_dir=r"{DATA}", limit=200)

_, rec = km.load_or_train(r"{tmp_path / "m.keras"}", km.ArchSpec("mlp", hidden=8), data,
                          epochs=1, seed=0, dataset="mnist")
print(json.dumps(rec["history"]))
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e.decode()[-500:] for _, e in outs]
    assert len((tmp_path / "trained.log").read_text().split()) == 1  # trained once
    h1, h2 = (json.loads(o.decode().splitlines()[-1]) for o, _ in outs)
    assert h1 == h2  # both got the same network's record


def test_parameters_added_later_keep_old_point_ids():
    """mnist_mc gained converter parameters; at their defaults the ids are those of earlier files."""
    from xbarsim.sweep.experiments import get_experiment
    from xbarsim.sweep.spec import parse_spec, point_id

    exp = get_experiment("mnist_mc")
    added = {k for k, p in exp.params.items() if p.added}
    assert {"adc_bits", "adc_range", "dac_bits", "cal_images"} <= added
    spec = parse_spec({"experiment": "mnist_mc", "grid": {"trial": [0, 1]}})
    for pid, params in spec.iter_points():
        old = {k: v for k, v in params.items() if k not in added}
        assert pid == point_id("mnist_mc", old)
    # the value the earlier releases gave the default point
    assert spec.points()[0][0].startswith("eaef25bf")
    on = parse_spec({"experiment": "mnist_mc", "fixed": {"adc_bits": 6}, "grid": {"trial": [0]}})
    pid_on, params_on = on.points()[0]
    at_default = {k for k in added if params_on[k] == exp.params[k].default}
    assert at_default == added - {"adc_bits"}
    ident = {k: v for k, v in params_on.items() if k not in at_default}
    assert pid_on != spec.points()[0][0] and pid_on == point_id("mnist_mc", ident)
