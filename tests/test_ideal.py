"""Ideal backend: the matrix product and the cells' ideal laws (hand-computed oracles)."""

from __future__ import annotations

import numpy as np
import pytest

from xbarsim import CellModel, Crossbar, DiodeModel, Network, solve
from xbarsim.errors import InputError


def test_resistor_is_matrix_product() -> None:
    rng = np.random.default_rng(0)
    G = rng.uniform(1e-6, 1e-3, (5, 3))
    V = rng.uniform(-1, 1, (4, 5))
    sol = solve(Crossbar(G), V, "ideal")
    np.testing.assert_allclose(sol.currents, V @ G, rtol=1e-15)
    np.testing.assert_allclose(sol.power, np.sum(V * V * G.sum(1), axis=1), rtol=1e-14)
    assert sol.outputs is sol.currents and not sol.sensed_by_voltage


def test_diode_law_and_reference_resistor() -> None:
    G = np.array([[1e-3], [2e-3]])
    xb = Crossbar(G, cell=CellModel("diode", diode=DiodeModel(v_threshold=0.6)), r_ref=100.0)
    sol = solve(xb, [[1.0, 0.5]], "ideal")
    assert sol.currents[0, 0] == pytest.approx(0.4e-3, rel=1e-12)  # second cell is below threshold
    assert sol.voltages[0, 0] == pytest.approx(0.04, rel=1e-12)
    assert sol.outputs is sol.voltages


def test_1t1r_switch() -> None:
    G = np.full((2, 2), 1e-4)
    on = solve(Crossbar(G, cell=CellModel("1t1r", v_gate=3.0)), [1.0, 1.0], "ideal").currents
    off = solve(Crossbar(G, cell=CellModel("1t1r", v_gate=0.2)), [1.0, 1.0], "ideal").currents
    np.testing.assert_allclose(on, [[2e-4, 2e-4]])
    np.testing.assert_array_equal(off, 0.0)


def test_network_chains_voltages() -> None:
    l1 = Crossbar(np.full((2, 2), 1e-3), r_ref=1000.0)
    l2 = Crossbar(np.array([[1e-3], [3e-3]]))
    sol = solve(Network((l1, l2)), [1.0, 2.0], "ideal")
    h = np.array([3e-3, 3e-3]) * 1000.0
    np.testing.assert_allclose(sol.layer_voltages[0][0], h)
    np.testing.assert_allclose(sol.currents[0], [h @ np.array([1e-3, 3e-3])])


def test_voltage_shape_errors() -> None:
    xb = Crossbar(np.full((3, 2), 1e-3))
    with pytest.raises(InputError, match="3 inputs"):
        solve(xb, np.ones((2, 4)), "ideal")
    with pytest.raises(InputError, match="non-finite"):
        solve(xb, [1.0, np.nan, 0.0], "ideal")


def test_unknown_backend_lists_the_known_ones() -> None:
    with pytest.raises(InputError, match="ideal, native, ngspice, pyspice"):
        solve(Crossbar(np.full((1, 1), 1e-3)), [1.0], backend="hspice")


def test_ideal_on_purpose_lists_what_it_left_out_without_a_warning(caplog) -> None:
    """warn=False (the papers' computer calculation) keeps Solution.ignored, drops only the log line."""
    import logging

    from xbarsim.backends import get_backend
    from xbarsim.backends import ideal as ideal_module
    from xbarsim.circuit import Crossbar

    xb = Crossbar(G=np.full((3, 2), 1e-5), r_wire=2.0, r_driver=1.0)
    ideal_module._WARNED.clear()
    with caplog.at_level(logging.WARNING, logger="xbarsim.backends.ideal"):
        sol = get_backend("ideal", warn=False).solve(xb, np.ones(3))
    assert set(sol.ignored) == {"r_wire", "r_driver"} and not caplog.records
    with caplog.at_level(logging.WARNING, logger="xbarsim.backends.ideal"):
        get_backend("ideal").solve(xb, np.ones(3))
    assert len(caplog.records) == 1 and "r_wire" in caplog.records[0].getMessage()
