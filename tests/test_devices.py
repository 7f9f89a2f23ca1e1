"""Level tables: the illustrative HfO2 presets have exactly the agreed numbers; validation raises."""

from __future__ import annotations

import numpy as np
import pytest

from xbarsim.devices import PRESETS, LevelTable, preset, preset_for_levels
from xbarsim.errors import InputError


@pytest.mark.parametrize("n", [2, 3, 4, 5, 8])
def test_presets(n):
    t = preset(f"hfo2-1t1r-{n}")
    assert t.n_levels == n and t.illustrative and t.v_read == 0.2
    # read currents evenly spaced 5..40 uA at 0.2 V -> 25..200 uS
    np.testing.assert_allclose(t.read_currents, np.linspace(5e-6, 40e-6, n), rtol=1e-12)
    assert t.g_min == pytest.approx(25e-6, rel=1e-12) and t.g_max == pytest.approx(200e-6, rel=1e-12)
    assert "ILLUSTRATIVE" in t.source


def test_preset_names_and_errors():
    assert set(PRESETS) == {f"hfo2-1t1r-{n}" for n in (2, 3, 4, 5, 8)}
    assert "IGVVA" in PRESETS["hfo2-1t1r-8"].source
    with pytest.raises(InputError, match="presets: hfo2-1t1r-2"):
        preset("tio2")
    assert preset_for_levels(8) is PRESETS["hfo2-1t1r-8"]
    t6 = preset_for_levels(6)
    assert t6.n_levels == 6 and t6.illustrative
    with pytest.raises(InputError):
        preset_for_levels(1)


@pytest.mark.parametrize(
    "g, match",
    [
        ([1e-5], "at least 2"),
        ([2e-5, 1e-5], "ascending"),
        ([1e-5, 1e-5], "ascending"),
        ([0.0, 1e-5], "> 0"),
        ([1e-5, np.inf], "finite"),
        (["a", "b"], "numbers"),
    ],
)
def test_validation(g, match):
    with pytest.raises(InputError, match=match):
        LevelTable("t", g)


def test_bad_v_read():
    with pytest.raises(InputError, match="read voltage"):
        LevelTable("t", (1e-5, 2e-5), v_read=0)
