"""Shared test helpers: dependency marks that skip locally but fail in CI.

Set ``XBARSIM_REQUIRE_ALL=1`` (``.ci/run`` does) and a test whose dependency is missing fails
instead of skipping, so nothing on the real path silently goes untested in CI.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

STRICT = os.environ.get("XBARSIM_REQUIRE_ALL", "") not in ("", "0")


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _has_libngspice() -> bool:
    from ctypes.util import find_library

    if os.environ.get("XBARSIM_LIBNGSPICE"):
        return os.path.exists(os.environ["XBARSIM_LIBNGSPICE"])
    if find_library("ngspice"):
        return True
    return any(
        os.path.exists(p)
        for p in ("/usr/lib/x86_64-linux-gnu/libngspice.so.0", "/usr/lib/aarch64-linux-gnu/libngspice.so.0")
    )


#: Keys every ``run_kim2024`` result (and the ``kim2024 --json`` file) carries besides ``per_voltage``.
KIM_RESULT_KEYS = frozenset(
    {"n_weights", "weight_range", "q", "levels", "level_counts", "accuracy_float", "accuracy_quantized"}
)

CHECKS = {
    "requires_ngspice": (lambda: shutil.which("ngspice") is not None, "ngspice executable not on PATH"),
    "requires_pyspice": (
        lambda: _has_module("PySpice") and _has_libngspice(),
        "PySpice or libngspice missing",
    ),
    "requires_tf": (
        lambda: _has_module("tensorflow") and _has_module("keras"),
        "TensorFlow/Keras not installed",
    ),
    "requires_dask": (lambda: _has_module("distributed"), "dask.distributed not installed"),
    "requires_plot": (lambda: _has_module("matplotlib"), "matplotlib not installed"),
}
_cache: dict[str, bool] = {}


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers():
        if mark.name in CHECKS:
            ok_fn, reason = CHECKS[mark.name]
            if mark.name not in _cache:
                _cache[mark.name] = bool(ok_fn())
            if not _cache[mark.name]:
                if STRICT:
                    pytest.fail(f"{reason} (XBARSIM_REQUIRE_ALL is set, so this is a failure)")
                pytest.skip(reason)


requires_ngspice = pytest.mark.requires_ngspice
requires_pyspice = pytest.mark.requires_pyspice
requires_tf = pytest.mark.requires_tf
requires_dask = pytest.mark.requires_dask
requires_plot = pytest.mark.requires_plot
